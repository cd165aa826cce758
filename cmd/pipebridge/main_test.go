package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// running is the command line run in this process by startRun.
type running struct {
	lines  chan string    // standard output, line by line
	stderr *syncBuffer    // standard error
	status chan int       // the exit status, once run returns
	cancel func()         // what SIGINT or SIGTERM would do
	stdinW io.WriteCloser // standard input, when none was given
}

// startRun runs args as the command line, in a goroutine, with stdin (or a
// pipe the test writes to, when stdin is nil) and the environment vars.
func startRun(t *testing.T, stdin io.Reader, vars map[string]string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	r := &running{lines: make(chan string, 1024), stderr: &syncBuffer{}, status: make(chan int, 1), cancel: cancel}
	if stdin == nil {
		pr, pw := io.Pipe()
		stdin, r.stdinW = pr, pw
		t.Cleanup(func() { pw.Close() })
	}
	e := &env{
		stdin:  stdin,
		stdout: outW,
		stderr: r.stderr,
		lookupEnv: func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		},
		interruptible: func(parent context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(ctx)
		},
	}
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	go func() {
		status := run(args, e)
		outW.Close()
		r.status <- status
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.status:
		case <-time.After(10 * time.Second):
			t.Errorf("pipebridge %s did not end after cancel", strings.Join(args, " "))
		}
	})
	return r
}

// wait returns the exit status and the remaining output lines.
func (r *running) wait(t *testing.T) (int, []string) {
	t.Helper()
	select {
	case status := <-r.status:
		r.status <- status // for cleanup
		var out []string
		for l := range r.lines {
			out = append(out, l)
		}
		return status, out
	case <-time.After(15 * time.Second):
		t.Fatalf("still running after 15 s; stderr:\n%s", r.stderr)
	}
	return 0, nil
}

func (r *running) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		require.True(t, ok, "output ended; stderr:\n%s", r.stderr)
		return l
	case <-time.After(15 * time.Second):
		t.Fatalf("no output for 15 s; stderr:\n%s", r.stderr)
	}
	return ""
}

func (r *running) listening(t *testing.T) string {
	t.Helper()
	line := r.line(t)
	addr, ok := strings.CutPrefix(line, "listening ")
	require.True(t, ok, "first line is %q", line)
	return addr
}

// runCommand runs args to the end, with empty standard input.
func runCommand(t *testing.T, vars map[string]string, args ...string) (status int, stdout []string, stderr string) {
	t.Helper()
	r := startRun(t, strings.NewReader(""), vars, args...)
	status, stdout = r.wait(t)
	return status, stdout, r.stderr.String()
}

// TestUsage: mistakes on the command line are one line on standard error
// with status 2; failures to do what was asked one line with status 1; -h
// prints the usage with status 0.
func TestUsage(t *testing.T) {
	vars := map[string]string{"EMPTY": "", "KEY": "k"}
	missing := filepath.Join(t.TempDir(), "nobody-listens")
	tests := []struct {
		args   []string
		status int
		stderr string // a substring; errors must be one line
	}{
		{nil, 2, "usage: pipebridge <command>"},
		{[]string{"-h"}, 0, "Run 'pipebridge <command> -h'"},
		{[]string{"help"}, 0, "  listen "},
		{[]string{"bogus"}, 2, `pipebridge: unknown command "bogus" (commands: demo, echo, dial, listen, repickle, dis, serve-manager; see pipebridge -h)`},
		{[]string{"echo"}, 2, "pipebridge echo: exactly one of --fd, --listen and --dial is required (see pipebridge echo -h)"},
		{[]string{"echo", "--fd", "3", "--listen", "x"}, 2, "exactly one of --fd, --listen and --dial"},
		{[]string{"echo", "--listen", "x", "--dial", "y"}, 2, "exactly one of --fd, --listen and --dial"},
		{[]string{"echo", "--listen", "", "--dial", ""}, 2, "exactly one of --fd, --listen and --dial"},
		{[]string{"echo", "--fd", "3", "--mode", "text"}, 2, `--mode must be objects or bytes, not "text"`},
		{[]string{"echo", "--fd", "3", "--protocol", "6"}, 2, "--protocol must be 0 to 5, not 6"},
		{[]string{"echo", "--fd", "3", "--protocol", "x"}, 2, `invalid value "x" for flag -protocol`},
		{[]string{"echo", "--fd", "3", "--protocol", "-1"}, 2, "--protocol must be 0 to 5, not -1"},
		{[]string{"echo", "--fd", "-3"}, 2, "--fd must be 0 or more, not -3"},
		{[]string{"echo", "--fd", "x"}, 2, `invalid value "x" for flag -fd: not a number`},
		{[]string{"echo", "--fd", "3", "--authkey-env", "KEY"}, 2, "--authkey-env applies to --listen and --dial, not --fd"},
		{[]string{"echo", "--dial", "x", "--insecure"}, 2, "--insecure applies to --listen only"},
		{[]string{"echo", "--listen", "127.0.0.1:0", "--authkey-env", "UNSET"}, 2, "environment variable UNSET is not set"},
		{[]string{"echo", "--listen", "127.0.0.1:0", "--authkey-env", "EMPTY"}, 2, "environment variable EMPTY is empty (leave out --authkey-env for no key)"},
		{[]string{"echo", "--nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"echo", "--fd", "3", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"echo", "-h"}, 0, "listening ADDRESS"},
		{[]string{"echo", "--listen", "0.0.0.0:0"}, 1, "pipebridge echo: conn: refusing to listen on a non-loopback TCP address without an authentication key"},
		{[]string{"echo", "--dial", missing}, 1, "pipebridge echo: "},
		{[]string{"dial"}, 2, "pipebridge dial: ADDRESS is required"},
		{[]string{"dial", "a", "b"}, 2, `unexpected argument "b" after ADDRESS`},
		{[]string{"dial", "x", "--protocol", "-1"}, 2, "--protocol must be 0 to 5, not -1"},
		{[]string{"dial", "x", "--wait", "soon"}, 2, `invalid value "soon" for flag -wait: not a duration`},
		{[]string{"dial", "x", "--authkey-env", "UNSET"}, 2, "environment variable UNSET is not set"},
		{[]string{"dial", missing}, 1, "pipebridge dial: "},
		{[]string{"dial", "-h"}, 0, "Python 2.7 reads protocols 0 to 2, so use --protocol 2 with it"},
		{[]string{"listen"}, 2, "pipebridge listen: ADDRESS is required"},
		{[]string{"listen", "-h"}, 0, "listening ADDRESS"},
		{[]string{"listen", "0.0.0.0:0"}, 1, "pipebridge listen: conn: refusing to listen on a non-loopback TCP address"},
		{[]string{"listen", "0.0.0.0:0", "--authkey-env", "EMPTY"}, 2, "is empty"},
		{[]string{"demo", "--python", missing}, 1, "pipebridge demo: cannot run"},
		{[]string{"demo", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			status, stdout, stderr := runCommand(t, vars, tt.args...)
			assert.Equal(t, tt.status, status, "stderr:\n%s", stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.stderr)
			if tt.status != 0 && tt.args != nil {
				assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line:\n%s", stderr)
			}
		})
	}
}

// TestInsecureListen: --insecure allows a TCP listener on every interface
// without a key.
func TestInsecureListen(t *testing.T) {
	for _, args := range [][]string{
		{"echo", "--listen", "0.0.0.0:0", "--insecure"},
		{"listen", "0.0.0.0:0", "--insecure"},
	} {
		r := startRun(t, nil, nil, args...)
		assert.Regexp(t, `:[1-9][0-9]*$`, r.listening(t)) // [::]:port or 0.0.0.0:port
		r.cancel()
		status, out := r.wait(t)
		assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
		assert.Empty(t, out)
		assert.Empty(t, r.stderr.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseInterspersed(t *testing.T) {
	fs := newFlags("test", io.Discard)
	j := fs.Bool("json", false, "")
	w := fs.String("w", "", "")
	pos, err := parseInterspersed(fs, []string{"--json", "a", "--w", "x", "b", "--", "--c", "-d"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "--c", "-d"}, pos)
	assert.True(t, *j)
	assert.Equal(t, "x", *w)
}

func TestRecovered(t *testing.T) {
	err := func() (err error) {
		defer recovered(&err)
		panic("boom")
	}()
	assert.EqualError(t, err, "internal error: boom")
}
