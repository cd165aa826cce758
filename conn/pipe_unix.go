//go:build unix

package conn

import (
	"fmt"
	"os"
	"syscall"
)

// SocketPair returns two connected Unix stream sockets as files in blocking
// mode, the form a child process expects: put one in exec.Cmd.ExtraFiles
// (and close it after Start), and wrap the other with FromFile. Python
// rebuilds its end with multiprocessing.connection.Connection(fd).
func SocketPair() (a, b *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("conn: socketpair: %w", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return os.NewFile(uintptr(fds[0]), "socketpair"), os.NewFile(uintptr(fds[1]), "socketpair"), nil
}

func fromFD(fd int, readable, writable bool, opts *Options) (*Conn, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("conn: fd %d: %w", fd, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		// os.NewFile uses the poller only for fds already non-blocking.
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("conn: fd %d: %w", fd, err)
		}
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("fd %d", fd))
	return fromFile(f, readable, writable, opts)
}
