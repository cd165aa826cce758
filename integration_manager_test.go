//go:build unix

package pipebridge_test

// The multiprocessing.managers examples of pyexamples/, on every
// interpreter: Python calling a Go manager server (pipebridge
// serve-manager), and Go calling a Python one.

import (
	"bufio"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

func TestPyExamplePythonCallsGoManager(t *testing.T) {
	exe := pipebridgeBinary(t)
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		cmd := py.Command(filepath.Join("pyexamples", "python_calls_go_manager.py"), exe)
		out, err := runWithTimeout(t, cmd, 60*time.Second)
		require.NoError(t, err, "output:\n%s", out)
		assert.Contains(t, out, "calc.add(1, 2) = 3\n")
		assert.Contains(t, out, "gopy'\n")
		assert.Contains(t, out, "calc.divide(1, 0) raised ZeroDivisionError: division by zero")
		assert.Contains(t, out, "counter after 4 threads x 25 increments: 200")
		assert.Contains(t, out, "Go server exited with status 0")
	})
}

func TestPyExampleGoCallsPythonManager(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		const key = "not-a-real-secret"
		cmd := py.Command(filepath.Join("pyexamples", "go_calls_python_manager.py"), "127.0.0.1:0")
		cmd.Env = append(cmd.Env, "PIPEBRIDGE_AUTHKEY="+key)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		exited := make(chan struct{}) // closed when the server has exited
		var exitErr error             // cmd.Wait's, once exited is closed
		lines := bufio.NewReader(stdout)
		line, readErr := lines.ReadString('\n')
		go func() {
			exitErr = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		require.NoError(t, readErr)
		address, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		require.True(t, ok, "first line %q", line)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m, err := bridge.DialManager(ctx, address, []byte(key), nil)
		require.NoError(t, err)
		defer m.Close()

		inv, err := m.Create(ctx, "inventory", bridge.Kwargs{"owner": "go"})
		require.NoError(t, err)
		var n int
		require.NoError(t, inv.CallInto(ctx, &n, "add", "apples", 3))
		assert.Equal(t, 3, n)
		require.NoError(t, inv.CallInto(ctx, &n, "add", "pears", bridge.Kwargs{"count": 2}))
		assert.Equal(t, 2, n)
		var stock map[string]int
		require.NoError(t, inv.CallInto(ctx, &stock, "stock"))
		assert.Equal(t, map[string]int{"apples": 3, "pears": 2}, stock)
		var desc string
		require.NoError(t, inv.CallInto(ctx, &desc, "describe"))
		assert.Equal(t, "go's inventory: 2 kinds", desc)

		_, err = inv.Call(ctx, "take", "pears", 5)
		var pe *bridge.PythonError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "KeyError", pe.Type)
		assert.Equal(t, "not enough pears", pe.Message())

		pid, err := m.Create(ctx, "pid") // a function's result, as a shared object
		require.NoError(t, err)
		v, err := pid.Value(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(cmd.Process.Pid), v)

		require.NoError(t, pid.Close())
		require.NoError(t, inv.Close())
		require.NoError(t, m.Shutdown(ctx))
		select {
		case <-exited:
			assert.NoError(t, exitErr, "the Python server's exit after shutdown; stderr:\n%s", &stderr)
		case <-time.After(10 * time.Second):
			t.Error("the Python server did not exit after shutdown")
		}
	})
}
