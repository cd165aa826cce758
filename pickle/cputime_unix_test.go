//go:build unix

package pickle

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time this process has used (all threads: the
// garbage collector's work counts).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
