//go:build unix

package bridge_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/internal/leakcheck"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/pickle"
)

const testKey = "manager-test-key"

// pyManager is a Python manager server (testdata/manager_server.py).
type pyManager struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited
}

// startPyManager starts testdata/manager_server.py on address and waits
// until it listens. The process is killed when t ends.
func startPyManager(t testing.TB, py pymatrix.Interpreter, address string) *pyManager {
	t.Helper()
	cmd := py.Command(filepath.Join("testdata", "manager_server.py"), address)
	cmd.Env = append(cmd.Env, "MANAGER_AUTHKEY="+testKey)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	m := &pyManager{cmd: cmd, done: make(chan struct{})}
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	go func() {
		io.Copy(io.Discard, lines)
		cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-m.done
	})
	require.NoError(t, err, "manager server: %s", &stderr)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	require.True(t, ok, "first line %q", line)
	m.addr = addr
	return m
}

func dialTest(t testing.TB, ctx context.Context, addr string, opts *bridge.ManagerOptions) *bridge.Manager {
	t.Helper()
	m, err := bridge.DialManager(ctx, addr, []byte(testKey), opts)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func TestManagerGoCallsPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		srv := startPyManager(t, py, "127.0.0.1:0")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var opts bridge.ManagerOptions
		if py.Major == 2 {
			// Python 2's str is bytes; a Go string arrives as unicode.
			opts.Decode.Py2Str = pickle.Py2StrByteString
		}
		m := dialTest(t, ctx, srv.addr, &opts)
		assert.Equal(t, py.DefaultProtocol(), m.Protocol(), "requests use the server's own protocol")

		calc, err := m.Create(ctx, "calc", 10, bridge.Kwargs{"step": 5})
		require.NoError(t, err)
		assert.Equal(t, "calc", calc.Token().TypeID)
		assert.Subset(t, calc.Exposed(), []string{"add", "accumulate", "echo", "fail", "child"})

		t.Run("scalars", func(t *testing.T) {
			got, err := calc.Call(ctx, "add", 2, 3)
			require.NoError(t, err)
			assert.Equal(t, int64(5), got)

			got, err = calc.Call(ctx, "add", "go", "py")
			require.NoError(t, err)
			assert.Equal(t, "gopy", got)

			var b []byte
			require.NoError(t, calc.CallInto(ctx, &b, "add", []byte("ab"), []byte{0, 0xff}))
			assert.Equal(t, []byte{'a', 'b', 0, 0xff}, b)

			var l []int
			require.NoError(t, calc.CallInto(ctx, &l, "add", []int{1, 2}, []int{3}))
			assert.Equal(t, []int{1, 2, 3}, l)
		})

		t.Run("kwargs and state", func(t *testing.T) {
			var total int
			require.NoError(t, calc.CallInto(ctx, &total, "accumulate"))
			assert.Equal(t, 15, total, "start=10 and step=5 reached the constructor")
			require.NoError(t, calc.CallInto(ctx, &total, "accumulate", bridge.Kwargs{"n": 100}))
			assert.Equal(t, 115, total)

			var echoed struct {
				Args []any
				Kw   map[string]any
			}
			var raw []any
			require.NoError(t, calc.CallInto(ctx, &raw, "echo", 1, "two", bridge.Kwargs{"k": map[string]int{"a": 1}}))
			require.Len(t, raw, 2)
			require.NoError(t, pickle.Convert(raw[0], &echoed.Args))
			require.NoError(t, pickle.Convert(raw[1], &echoed.Kw))
			assert.Equal(t, []any{int64(1), "two"}, echoed.Args)
			kd, ok := echoed.Kw["k"].(*pickle.Dict)
			require.True(t, ok, "%T", echoed.Kw["k"])
			v, _ := kd.Get("a")
			assert.Equal(t, int64(1), v)

			var types []string
			require.NoError(t, calc.CallInto(ctx, &types, "types", 1, 1.5, "s", []byte("b"), []any{}, map[string]any{}, nil, true))
			str, byt := "str", "bytes"
			if py.Major == 2 {
				str, byt = "unicode", "str"
			}
			assert.Equal(t, []string{"int", "float", str, byt, "list", "dict", "NoneType", "bool"}, types)
		})

		t.Run("value", func(t *testing.T) {
			var st struct{ Total, Step int }
			require.NoError(t, calc.ValueInto(ctx, &st), "a Calc instance into a struct, by its attributes")
			assert.Equal(t, 115, st.Total)
			assert.Equal(t, 5, st.Step)

			lst, err := m.Create(ctx, "list", "a", 2, []byte("c"))
			require.NoError(t, err)
			v, err := lst.Value(ctx)
			require.NoError(t, err)
			var c any = []byte("c")
			if py.Major == 2 {
				c = pickle.ByteString("c")
			}
			assert.Equal(t, []any{"a", int64(2), c}, v)
			_, err = lst.Call(ctx, "append", 4) // list's own methods are exposed
			require.NoError(t, err)
			var items []any
			require.NoError(t, lst.ValueInto(ctx, &items))
			assert.Len(t, items, 4)
			assert.NoError(t, lst.Close())
		})

		t.Run("python exceptions", func(t *testing.T) {
			_, err := calc.Call(ctx, "fail", "value", "bad value")
			var pe *bridge.PythonError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "ValueError", pe.Type)
			assert.Equal(t, "bad value", pe.Message())
			assert.Empty(t, pe.Traceback)

			_, err = calc.Call(ctx, "fail", "key", "k")
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "KeyError", pe.Type)

			_, err = calc.Call(ctx, "fail", "custom", "mine")
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "__main__.CalcError", pe.Type)
			assert.Equal(t, []any{"mine", int64(42)}, pe.Args)

			_, err = calc.Call(ctx, "add", 1) // a TypeError of the call itself
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "TypeError", pe.Type)

			_, err = calc.Call(ctx, "nonexistent")
			assert.ErrorIs(t, err, bridge.ErrNotExposed)

			_, err = m.Create(ctx, "no-such-type")
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "KeyError", pe.Type, "the server's traceback names the exception")
			assert.Contains(t, pe.Traceback, "no-such-type")

			got, err := calc.Call(ctx, "add", 20, 22)
			require.NoError(t, err, "the connection stays usable after errors")
			assert.Equal(t, int64(42), got)
		})

		t.Run("returned proxy", func(t *testing.T) {
			got, err := calc.Call(ctx, "child", 7)
			require.NoError(t, err)
			child, ok := got.(*bridge.Proxy)
			require.True(t, ok, "%T", got)
			assert.Equal(t, "calcobj", child.Token().TypeID)
			assert.NotEqual(t, calc.Token().ID, child.Token().ID)
			var total int
			require.NoError(t, child.CallInto(ctx, &total, "accumulate"))
			assert.Equal(t, 8, total)
			assert.NoError(t, child.Close())
		})

		t.Run("concurrent", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 8 {
						var n int
						if err := calc.CallInto(ctx, &n, "add", g, i); err != nil {
							errs <- err
						} else if n != g+i {
							errs <- errors.New("wrong sum")
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})

		t.Run("refcounts", func(t *testing.T) {
			n, err := m.NumberOfObjects(ctx)
			require.NoError(t, err)
			extra, err := m.Create(ctx, "ident", 5)
			require.NoError(t, err)
			n2, err := m.NumberOfObjects(ctx)
			require.NoError(t, err)
			assert.Equal(t, n+1, n2)
			info, err := m.DebugInfo(ctx)
			require.NoError(t, err)
			assert.Contains(t, info, extra.Token().ID)
			require.NoError(t, extra.Close())
			assert.NoError(t, extra.Close(), "Close is idempotent")
			n3, err := m.NumberOfObjects(ctx)
			require.NoError(t, err)
			assert.Equal(t, n, n3)
		})

		require.NoError(t, calc.Close())
		require.NoError(t, m.Shutdown(ctx))
		select {
		case <-srv.done:
		case <-time.After(5 * time.Second):
			t.Error("the server did not exit after shutdown")
		}
		_, err = calc.Call(ctx, "add", 1, 2)
		assert.ErrorIs(t, err, bridge.ErrManagerClosed)
	})
}

func TestManagerDialWrongKey(t *testing.T) {
	leakcheck.Check(t)
	py := pymatrix.Newest(t)
	srv := startPyManager(t, py, filepath.Join(t.TempDir(), "m.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bridge.DialManager(ctx, srv.addr, []byte("wrong"), nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, conn.ErrAuthentication)
	var ae *conn.AuthError
	assert.ErrorAs(t, err, &ae)

	m, err := bridge.DialManager(ctx, srv.addr, []byte(testKey), nil)
	require.NoError(t, err, "the server serves others after a failed handshake (over a Unix socket)")
	c, err := m.Create(ctx, "ident", 1)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, m.Close())
}

// A Python server killed while Go waits for a reply: the call fails at
// once with ErrConnectionLost, and nothing is left behind.
func TestManagerServerKilledMidCall(t *testing.T) {
	leakcheck.Check(t)
	for _, py := range []pymatrix.Interpreter{pymatrix.Find(t)[0], pymatrix.Newest(t)} {
		t.Run("py"+py.Short(), func(t *testing.T) {
			srv := startPyManager(t, py, "127.0.0.1:0")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			m := dialTest(t, ctx, srv.addr, nil)
			calc, err := m.Create(ctx, "calc")
			require.NoError(t, err)
			var pid int
			require.NoError(t, calc.CallInto(ctx, &pid, "pid"))
			assert.Equal(t, srv.cmd.Process.Pid, pid)

			errc := make(chan error, 1)
			go func() {
				_, err := calc.Call(ctx, "sleep", 30)
				errc <- err
			}()
			time.Sleep(200 * time.Millisecond) // let the call reach the server
			require.NoError(t, srv.cmd.Process.Kill())
			killed := time.Now()
			select {
			case err := <-errc:
				assert.ErrorIs(t, err, bridge.ErrConnectionLost)
				assert.Less(t, time.Since(killed), time.Second)
			case <-time.After(5 * time.Second):
				t.Fatal("the call did not return after the server died")
			}
			<-srv.done
			_, err = calc.Call(ctx, "add", 1, 2)
			assert.Error(t, err, "a dead server refuses later calls")
			assert.Error(t, calc.Close(), "and releases")
			require.NoError(t, m.Close())
		})
	}
}

// A context that ends while a call waits returns at once with its error,
// and the Manager goes on working.
func TestManagerCallContextCancelled(t *testing.T) {
	leakcheck.Check(t)
	py := pymatrix.Newest(t)
	srv := startPyManager(t, py, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := dialTest(t, ctx, srv.addr, nil)
	calc, err := m.Create(ctx, "calc")
	require.NoError(t, err)

	callCtx, callCancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, callCancel)
	start := time.Now()
	_, err = calc.Call(callCtx, "sleep", 30)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)

	short, shortCancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer shortCancel()
	_, err = calc.Call(short, "sleep", 30)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	got, err := calc.Call(ctx, "add", 1, 2)
	require.NoError(t, err, "later calls use a fresh connection")
	assert.Equal(t, int64(3), got)
	require.NoError(t, calc.Close())
	require.NoError(t, m.Shutdown(ctx))
	<-srv.done
}

// Closing the Manager fails the calls in progress with ErrManagerClosed.
func TestManagerCloseDuringCall(t *testing.T) {
	leakcheck.Check(t)
	py := pymatrix.Newest(t)
	srv := startPyManager(t, py, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := bridge.DialManager(ctx, srv.addr, []byte(testKey), nil)
	require.NoError(t, err)
	calc, err := m.Create(ctx, "calc")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := calc.Call(ctx, "sleep", 30)
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, m.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, bridge.ErrManagerClosed)
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the call")
	}
	_, err = m.Create(ctx, "calc")
	assert.ErrorIs(t, err, bridge.ErrManagerClosed)
}
