//go:build !unix

package pickle

import "time"

var processStart = time.Now()

// cpuTime stands in with wall time where getrusage does not exist.
func cpuTime() time.Duration { return time.Since(processStart) }
