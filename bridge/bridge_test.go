//go:build unix

package bridge_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/pickle"
)

// When run with PIPEBRIDGE_TEST_CHILD set, the test binary plays a Go child
// that picks up its inherited connection and echoes it.
func TestMain(m *testing.M) {
	if os.Getenv("PIPEBRIDGE_TEST_CHILD") == "echo" {
		os.Exit(goChild())
	}
	os.Exit(m.Run())
}

func goChild() int {
	c, err := bridge.Inherited(nil)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 3
	}
	defer c.Close()
	for {
		var v any
		err := c.Recv(&v)
		if err == io.EOF {
			return 0
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			return 4
		}
		if err := c.Send([]any{"echo", v}); err != nil {
			return 5
		}
	}
}

func TestStartGoChildInherits(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PIPEBRIDGE_TEST_CHILD=echo")
	p, err := bridge.Start(cmd, nil)
	require.NoError(t, err)
	require.NoError(t, p.Conn.Send("hi"))
	var got any
	require.NoError(t, p.Conn.Recv(&got))
	assert.Equal(t, []any{"echo", "hi"}, got)
	assert.NoError(t, p.Close(5*time.Second), "the child exits 0 when the parent closes")
}

func TestStartPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		script := `
import os, sys
try:
    from multiprocessing.connection import Connection
except ImportError:
    from _multiprocessing import Connection
c = Connection(int(os.environ["PIPEBRIDGE_FD"]))
while True:
    try:
        m = c.recv()
    except EOFError:
        break
    c.send([u"python", m])
`
		var opts *conn.Options
		if py.Major == 2 {
			opts = &conn.Options{Codec: conn.PickleCodec{Encode: pickle.EncodeOptions{Protocol: 2}}}
		}
		p, err := bridge.Start(py.Command("-c", script), opts)
		require.NoError(t, err)
		for _, m := range []any{"a", int64(2), []any{3.5}} {
			require.NoError(t, p.Conn.Send(m))
			var got any
			require.NoError(t, p.Conn.Recv(&got))
			assert.Equal(t, []any{"python", m}, got)
		}
		assert.NoError(t, p.Close(5*time.Second))
	})
}

func TestWaitReportsStderrTail(t *testing.T) {
	py := pymatrix.Newest(t)
	p, err := bridge.Start(py.Command("-c", "import sys; sys.stderr.write('boom: bad input\\n'); sys.exit(3)"), nil)
	require.NoError(t, err)
	err = p.Wait()
	var ee *bridge.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Contains(t, ee.Stderr, "boom: bad input")
	var xe *exec.ExitError
	require.ErrorAs(t, err, &xe, "the exec error stays reachable")
	assert.Equal(t, 3, xe.ExitCode())
	// The parent's end sees the child's exit as a clean EOF.
	_, err = p.Conn.RecvBytes()
	assert.Equal(t, io.EOF, err)
}

func TestCloseKillsAStuckChild(t *testing.T) {
	py := pymatrix.Newest(t)
	// A child that ignores EOF and sleeps: Close must not wait forever.
	p, err := bridge.Start(py.Command("-c", "import time; time.sleep(60)"), nil)
	require.NoError(t, err)
	start := time.Now()
	err = p.Close(200 * time.Millisecond)
	assert.Error(t, err, "a killed child reports its signal")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestInheritedWithoutEnv(t *testing.T) {
	t.Setenv(bridge.FDEnv, "")
	_, err := bridge.Inherited(nil)
	assert.True(t, errors.Is(err, bridge.ErrNoInheritedConn))
	t.Setenv(bridge.FDEnv, "x")
	_, err = bridge.Inherited(nil)
	assert.ErrorContains(t, err, "not a file descriptor")
}
