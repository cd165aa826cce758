//go:build !unix

package conn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// On Windows, Python's Pipe() is a message-mode named pipe with no length
// header at all, so a socketpair-style Conn would not be what Python
// expects; that transport is not implemented. TCP Listeners and Clients
// work on every system.

// SocketPair is not available on this system.
func SocketPair() (a, b *os.File, err error) {
	return nil, nil, fmt.Errorf("conn: socketpair on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func fromFD(fd int, readable, writable bool, opts *Options) (*Conn, error) {
	return nil, fmt.Errorf("conn: inherited fd on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
