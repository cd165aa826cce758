// Package leakcheck fails a test that leaves goroutines or file descriptors
// behind.
//
// Check takes a snapshot of the running goroutines and the open file
// descriptors when a test starts and compares it with the state when the
// test ends (from t.Cleanup, so after the test's own cleanups, which ran
// first, have closed what they close). Goroutines and descriptors need a
// moment to go away after a Close, so the comparison is retried for a while
// before it fails; a failure prints the stack of every goroutine that was not
// there before and the target of every new descriptor.
//
// Goroutines are told apart by their ids, so a goroutine that existed before
// the test is never reported, whatever it does. Tests that run in parallel
// with the checked one start goroutines and open files of their own, which
// would be reported: do not use Check in a test that calls t.Parallel or
// runs beside one.
//
// Descriptors are read from /proc/self/fd, which exists on Linux; elsewhere
// only goroutines are checked.
package leakcheck

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout is how long Check waits for goroutines and descriptors to
// go away before it reports them.
const DefaultTimeout = 5 * time.Second

// Option changes what Check looks at.
type Option func(*config)

type config struct {
	timeout    time.Duration
	ignore     []string
	noFDs      bool
	noRoutines bool
}

// Timeout sets how long Check waits before it reports a leak; zero or
// negative means DefaultTimeout.
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// IgnoreFunction makes Check ignore new goroutines whose stack contains a
// call to the named function (as the stack shows it, e.g.
// "net/http.(*persistConn).readLoop").
func IgnoreFunction(name string) Option {
	return func(c *config) { c.ignore = append(c.ignore, name) }
}

// NoFDs checks goroutines only.
func NoFDs() Option { return func(c *config) { c.noFDs = true } }

// NoGoroutines checks file descriptors only.
func NoGoroutines() Option { return func(c *config) { c.noRoutines = true } }

// Check fails t if, when t ends, goroutines run or file descriptors are open
// that were not when Check was called. Call it first in the test, so that
// its cleanup runs after the test's other cleanups.
func Check(t testing.TB, opts ...Option) {
	t.Helper()
	s := Take(opts...)
	t.Cleanup(func() {
		if err := s.Leaks(); err != nil {
			t.Error(err)
		}
	})
}

// Snapshot is the goroutines and file descriptors of the process at one
// moment.
type Snapshot struct {
	cfg      config
	routines map[uint64]bool
	fds      map[int]string // descriptor → its /proc/self/fd link target
}

// Take takes a snapshot now.
func Take(opts ...Option) *Snapshot {
	s := &Snapshot{cfg: config{timeout: DefaultTimeout}, routines: map[uint64]bool{}}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.timeout <= 0 {
		s.cfg.timeout = DefaultTimeout
	}
	for _, g := range goroutines() {
		s.routines[g.id] = true
	}
	s.fds, _ = openFDs()
	return s
}

// Leaks compares the process with s until nothing new is left or the
// timeout has passed, and then returns an error describing what is still
// there, or nil.
func (s *Snapshot) Leaks() error {
	deadline := time.Now().Add(s.cfg.timeout)
	pause := time.Millisecond
	for {
		err := s.diff()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

func (s *Snapshot) diff() error {
	cfg := &s.cfg
	var msg strings.Builder
	if !cfg.noRoutines {
		var extra []goroutine
		for _, g := range goroutines() {
			if !s.routines[g.id] && !g.ignored(cfg.ignore) {
				extra = append(extra, g)
			}
		}
		if len(extra) > 0 {
			fmt.Fprintf(&msg, "leakcheck: %d goroutine(s) left running:\n", len(extra))
			for _, g := range extra {
				msg.WriteString("\n")
				msg.WriteString(g.stack)
				msg.WriteString("\n")
			}
		}
	}
	if !cfg.noFDs && s.fds != nil {
		now, err := openFDs()
		if err == nil {
			var extra []string
			for _, fd := range sortedKeys(now) {
				if target, had := s.fds[fd]; !had || target != now[fd] {
					extra = append(extra, fmt.Sprintf("  fd %d -> %s", fd, now[fd]))
				}
			}
			if len(extra) > 0 {
				fmt.Fprintf(&msg, "leakcheck: %d file descriptor(s) left open (%d before, %d now):\n%s\n",
					len(extra), len(s.fds), len(now), strings.Join(extra, "\n"))
			}
		}
	}
	if msg.Len() == 0 {
		return nil
	}
	return leakError(msg.String())
}

type leakError string

func (e leakError) Error() string { return string(e) }

// FDCount returns the number of open file descriptors of the process, or -1
// where /proc/self/fd cannot be read.
func FDCount() int {
	fds, err := openFDs()
	if err != nil {
		return -1
	}
	return len(fds)
}

func openFDs() (map[int]string, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	self := int(d.Fd())
	d.Close()
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string, len(names))
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == self {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + name)
		if err != nil {
			continue // closed meanwhile
		}
		fds[fd] = target
	}
	return fds, nil
}

func sortedKeys(m map[int]string) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type goroutine struct {
	id    uint64
	stack string
}

// ignored reports whether g should not count: it runs one of the functions
// the caller named, or it is the runtime's or the testing package's own.
func (g goroutine) ignored(names []string) bool {
	for _, list := range [][]string{names, builtinIgnores} {
		for _, name := range list {
			if strings.Contains(g.stack, name+"(") {
				return true
			}
		}
	}
	return false
}

// builtinIgnores are goroutines that the standard library starts once and
// keeps, the first time something needs them.
var builtinIgnores = []string{
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
}

// goroutines parses runtime.Stack of all goroutines, leaving out the caller.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, block := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the goroutine calling us
		}
		header, _, _ := bytes.Cut(block, []byte("\n"))
		// "goroutine 123 [chan receive]:"
		f := bytes.Fields(header)
		if len(f) < 2 || string(f[0]) != "goroutine" {
			continue
		}
		id, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, goroutine{id: id, stack: string(block)})
	}
	return out
}
