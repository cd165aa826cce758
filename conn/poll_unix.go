//go:build unix

package conn

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// pollFD checks without waiting whether rw's descriptor is readable; ok is
// false when rw has no descriptor to ask.
func pollFD(rw io.ReadWriteCloser) (ready, ok bool) {
	sc, isSC := rw.(syscall.Conn)
	if !isSC {
		return false, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var n int
	var perr error
	err = raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, perr = unix.Poll(fds, 0)
			if perr != syscall.EINTR {
				break
			}
		}
	})
	if err != nil || perr != nil {
		// A closed or broken descriptor: a receive would not block.
		return true, true
	}
	return n > 0, true
}
