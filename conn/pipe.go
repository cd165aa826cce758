package conn

import (
	"fmt"
	"net"
	"os"
)

// Pipe returns the two ends of a duplex connection, as Python's
// multiprocessing.Pipe() (duplex=True) does: a Unix socketpair. Both ends
// send and receive.
func Pipe(opts *Options) (*Conn, *Conn, error) {
	a, b, err := SocketPair()
	if err != nil {
		return nil, nil, err
	}
	ca, err := FromFile(a, opts)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	cb, err := FromFile(b, opts)
	if err != nil {
		ca.Close()
		return nil, nil, err
	}
	return ca, cb, nil
}

// OneWayPipe returns the two ends of a one-way connection, as Python's
// multiprocessing.Pipe(duplex=False) does: an os.Pipe whose r end only
// receives and w end only sends. Sending on r or receiving on w returns
// ErrNotWritable or ErrNotReadable.
func OneWayPipe(opts *Options) (r, w *Conn, err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("conn: pipe: %w", err)
	}
	return newConn(pr, true, false, opts), newConn(pw, false, true, opts), nil
}

// FromFile returns a Conn over f, which it owns from now on. A socket is
// handed to the network poller (net.FileConn) and f is closed; any other
// file, such as a pipe, is used as it is. Both directions are enabled; use
// FromFileReadOnly or FromFileWriteOnly for the ends of a one-way pipe.
func FromFile(f *os.File, opts *Options) (*Conn, error) {
	return fromFile(f, true, true, opts)
}

// FromFileReadOnly is FromFile for an end that only receives, such as the
// read end of an os.Pipe or the first Conn of Python's Pipe(duplex=False).
func FromFileReadOnly(f *os.File, opts *Options) (*Conn, error) {
	return fromFile(f, true, false, opts)
}

// FromFileWriteOnly is FromFile for an end that only sends.
func FromFileWriteOnly(f *os.File, opts *Options) (*Conn, error) {
	return fromFile(f, false, true, opts)
}

func fromFile(f *os.File, readable, writable bool, opts *Options) (*Conn, error) {
	if isSocket(f) {
		nc, err := net.FileConn(f) // dups the fd and registers it with the poller
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("conn: %s: %w", f.Name(), err)
		}
		return newConn(nc, readable, writable, opts), nil
	}
	return newConn(f, readable, writable, opts), nil
}

// FromFD returns a Conn over an inherited file descriptor, as Python's
// multiprocessing.connection.Connection(fd) does. The Conn owns fd from now
// on. A pipe fd is switched to non-blocking mode so that deadlines and Close
// can interrupt a blocked call; that mode belongs to the open file
// description, so it is shared with any process that still holds a copy of
// the same end (a parent should close its copy of the end it handed down).
func FromFD(fd int, opts *Options) (*Conn, error) {
	return fromFD(fd, true, true, opts)
}

// FromFDReadOnly is FromFD for an end that only receives.
func FromFDReadOnly(fd int, opts *Options) (*Conn, error) { return fromFD(fd, true, false, opts) }

// FromFDWriteOnly is FromFD for an end that only sends.
func FromFDWriteOnly(fd int, opts *Options) (*Conn, error) { return fromFD(fd, false, true, opts) }

func isSocket(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeSocket != 0
}
