package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNothingLeaked(t *testing.T) {
	s := Take(Timeout(time.Second))
	done := make(chan struct{})
	go func() { <-done }()
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	close(done)
	f.Close()
	assert.NoError(t, s.Leaks(), "a goroutine that ends and a file that is closed are no leak")
}

func leakyGoroutine(stop chan struct{}) { <-stop }

func TestGoroutineLeak(t *testing.T) {
	s := Take(Timeout(50 * time.Millisecond))
	stop := make(chan struct{})
	defer close(stop)
	go leakyGoroutine(stop)
	err := s.Leaks()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 goroutine(s) left running")
	assert.Contains(t, err.Error(), "leakcheck.leakyGoroutine", "the stack of the leaked goroutine is printed")

	assert.NoError(t, Take(Timeout(50*time.Millisecond)).Leaks(),
		"a goroutine that existed before the snapshot is never reported")
}

func TestIgnoreFunction(t *testing.T) {
	s := Take(Timeout(50*time.Millisecond), IgnoreFunction("github.com/pipebridge/pipebridge/internal/leakcheck.leakyGoroutine"))
	stop := make(chan struct{})
	defer close(stop)
	go leakyGoroutine(stop)
	assert.NoError(t, s.Leaks())
}

func TestFDLeak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("descriptors are counted through /proc/self/fd")
	}
	s := Take(Timeout(50 * time.Millisecond))
	before := FDCount()
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, before+1, FDCount())
	err = s.Leaks()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 file descriptor(s) left open")
	assert.True(t, strings.Contains(err.Error(), "-> /dev/null"), "the target is named: %v", err)
	assert.NoError(t, Take(Timeout(50*time.Millisecond)).Leaks())
	assert.NoError(t, s.cfgWith(NoFDs()).Leaks(), "NoFDs checks goroutines only")
}

// cfgWith returns a copy of s with more options applied.
func (s *Snapshot) cfgWith(opts ...Option) *Snapshot {
	c := *s
	for _, o := range opts {
		o(&c.cfg)
	}
	return &c
}

func TestCheckReportsThroughT(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	ft := &fakeT{TB: t}
	func() {
		Check(ft, Timeout(50*time.Millisecond))
		go leakyGoroutine(stop)
	}()
	ft.cleanup()
	require.Len(t, ft.errors, 1)
	assert.Contains(t, ft.errors[0], "leakyGoroutine")
}

type fakeT struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Error(args ...any) { f.errors = append(f.errors, fmt.Sprint(args...)) }

func (f *fakeT) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}
