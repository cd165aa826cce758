//go:build unix

package conn

import (
	"os"
	"syscall"
)

func dupFD(f *os.File) (int, error) { return syscall.Dup(int(f.Fd())) }
