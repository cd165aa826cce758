//go:build unix

package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// testCalc is the Go object that Python clients call as "calc".
type testCalc struct {
	Label string

	mu       sync.Mutex
	n        int
	sleeping chan struct{} // receives when Sleep starts
	woke     chan error    // receives how Sleep ended
}

func (c *testCalc) Add(a, b int) int              { return a + b }
func (c *testCalc) Concat(parts ...string) string { return strings.Join(parts, "") }
func (c *testCalc) Echo(v any) any                { return v }
func (c *testCalc) Bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func (c *testCalc) Scale(x float64, kw bridge.Kwargs) (float64, error) {
	factor := 1.0
	if f, ok := kw["factor"]; ok {
		if err := pickle.Convert(f, &factor); err != nil {
			return 0, bridge.NewPythonError("TypeError", "factor: "+err.Error())
		}
	}
	return x * factor, nil
}

func (c *testCalc) Divide(a, b int) (int, error) {
	if b == 0 {
		return 0, bridge.NewPythonError("ZeroDivisionError", "division by zero")
	}
	return a / b, nil
}

func (c *testCalc) Fail(msg string) error { return errors.New(msg) }
func (c *testCalc) Panic()                { panic("boom") }

func (c *testCalc) Incr() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *testCalc) Sleep(ctx context.Context, seconds float64) error {
	if c.sleeping != nil {
		c.sleeping <- struct{}{}
	}
	select {
	case <-ctx.Done():
		if c.woke != nil {
			c.woke <- ctx.Err()
		}
		return ctx.Err()
	case <-time.After(time.Duration(seconds * float64(time.Second))):
		return nil
	}
}

type testCounter struct {
	mu         sync.Mutex
	value, inc int
}

func (c *testCounter) Incr() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.value += c.inc
	return c.value
}

func (c *testCounter) Get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// panickyValue panics when it is pickled.
type panickyValue struct{}

func (panickyValue) MarshalPickle() (any, error) { panic("cannot pickle me") }

// brokenError panics in Error when nil.
type brokenError struct{ msg string }

func (e *brokenError) Error() string { return e.msg }

type goManager struct {
	srv  *bridge.ManagerServer
	calc *testCalc
	addr string
	errs chan error // what ErrorHandler saw
}

// startGoManager serves the test objects on a new Listener at address;
// calc, if not nil, is the "calc" object.
func startGoManager(t testing.TB, address string, calc *testCalc) *goManager {
	t.Helper()
	if calc == nil {
		calc = &testCalc{}
	}
	calc.Label = "calc"
	g := &goManager{srv: bridge.NewManagerServer(), calc: calc, errs: make(chan error, 16)}
	g.srv.ErrorHandler = func(err error) {
		select {
		case g.errs <- err:
		default:
		}
	}
	require.NoError(t, g.srv.Register("calc", g.calc))
	require.NoError(t, g.srv.RegisterFactory("counter", func(start int, kw bridge.Kwargs) (*testCounter, error) {
		c := &testCounter{value: start, inc: 1}
		if s, ok := kw["step"]; ok {
			if err := pickle.Convert(s, &c.inc); err != nil {
				return nil, err
			}
		}
		return c, nil
	}))
	require.NoError(t, g.srv.Register("funcs", bridge.Methods{
		"upper":       strings.ToUpper,
		"join":        func(parts []string, sep string) string { return strings.Join(parts, sep) },
		"unpicklable": func() any { return panickyValue{} },
		"bad_error":   func() error { return (*brokenError)(nil) },
		"counter": func(start int) bridge.Shared {
			return bridge.Shared{TypeID: "counter", Value: &testCounter{value: start, inc: 1}}
		},
	}))
	l, err := conn.Listen(address, &conn.ListenOptions{Auth: conn.Auth{
		Key:           []byte(testKey),
		AcceptDigests: []conn.Digest{conn.DigestLegacyMD5},
	}})
	require.NoError(t, err)
	g.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- g.srv.Serve(l) }()
	t.Cleanup(func() {
		g.srv.Close()
		assert.ErrorIs(t, <-served, bridge.ErrServerClosed)
	})
	return g
}

// runPyClient runs testdata/manager_client.py and decodes its JSON.
func runPyClient(t testing.TB, py pymatrix.Interpreter, addr, mode string) map[string]any {
	t.Helper()
	cmd := py.Command(filepath.Join("testdata", "manager_client.py"), addr, mode)
	cmd.Env = append(cmd.Env, "MANAGER_AUTHKEY="+testKey)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "client: %s", &stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got), "output %q", out)
	return got
}

func TestManagerPythonCallsGo(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		g := startGoManager(t, "127.0.0.1:0", nil)
		got := runPyClient(t, py, g.addr, "all")

		assert.Equal(t, []any{"add", "bytes", "concat", "divide", "echo", "fail", "incr", "panic", "scale", "sleep"}, got["exposed"])
		assert.Equal(t, 3.0, got["add"])
		assert.Equal(t, "go-py", got["concat"])
		assert.Equal(t, 10.0, got["scale"], "keyword arguments reach a Kwargs parameter")
		assert.Equal(t, 2.5, got["scale_default"])
		assert.Equal(t, []any{1.0, "two", map[string]any{"three": 3.0}, nil, true}, got["echo"])
		bytesType := "bytes"
		if py.Major == 2 {
			bytesType = "str"
		}
		assert.Equal(t, []any{bytesType, []any{0.0, 1.0, 2.0}}, got["bytes"])
		assert.Equal(t, []any{"tuple", []any{1.0, 2.0}}, got["tuple"], "a tuple comes back a tuple")
		assert.Equal(t, "1267650600228229401496703205376", got["big"])
		assert.Equal(t, []any{"ZeroDivisionError", "division by zero"}, got["zero_division"], "a PythonError is raised as its class")
		assert.Equal(t, []any{"RuntimeError", "it broke"}, got["go_error"], "another error is raised as RuntimeError")
		if p, ok := got["panic"].([]any); assert.True(t, ok) && assert.Len(t, p, 2) {
			assert.Equal(t, "RemoteError", p[0])
			assert.Contains(t, p[1], "GoPanic: panic: boom")
			assert.Contains(t, p[1], "goroutine", "with the Go stack")
		}
		for _, k := range []string{"bad_arg", "bad_count", "bad_kw"} {
			if p, ok := got[k].([]any); assert.True(t, ok, k) && assert.Len(t, p, 2) {
				assert.Equal(t, "TypeError", p[0], k)
			}
		}
		assert.Contains(t, fmt.Sprint(got["bad_arg"]), "add() argument 1")
		assert.Equal(t, 42.0, got["after_errors"], "the connection goes on after errors and a panic")
		assert.Equal(t, map[string]any{"Label": "calc"}, got["value"])
		assert.Equal(t, 160.0, got["incr_count"])
		assert.Equal(t, 160.0, got["incr_distinct"], "8 threads on their own connections")
		assert.Equal(t, 160.0, got["incr_max"])
		assert.Equal(t, []any{12.0, 105.0, 12.0, 105.0}, got["counters"], "each create of a factory makes an object")
		assert.Equal(t, "SHOUT", got["upper"])
		assert.Equal(t, "a+b", got["join"])
		if p, ok := got["unpicklable"].([]any); assert.True(t, ok, "%v", got["unpicklable"]) && assert.Len(t, p, 2) {
			assert.Equal(t, "RemoteError", p[0])
			assert.Contains(t, p[1], "cannot pickle me", "a panic while pickling a result fails only that call")
		}
		if p, ok := got["bad_error"].([]any); assert.True(t, ok, "%v", got["bad_error"]) && assert.Len(t, p, 2) {
			assert.Equal(t, "RemoteError", p[0])
			assert.Contains(t, p[1], "GoPanic", "a panic in an error's Error method fails only that call")
		}
		assert.Equal(t, "STILL", got["after_panics"])
		assert.Equal(t, []any{"AutoProxy[counter]", 8.0, 9.0, 9.0}, got["proxied"], "a Shared result is a proxy")
		assert.Equal(t, []any{1.0, 0.0}, got["proxied_objects"], "which holds the one reference to its object")
		select {
		case err := <-g.errs:
			t.Errorf("server reported %v", err)
		default:
		}
	})
}

func TestManagerPythonWrongKey(t *testing.T) {
	ran := 0
	for _, py := range pymatrix.Find(t) {
		if py.Major != 2 && !py.AtLeast(3, 12) {
			continue // the oldest and the modern handshakes
		}
		ran++
		t.Run("py"+py.Short(), func(t *testing.T) {
			g := startGoManager(t, "@pipebridge-manager-test-"+py.Short()+fmt.Sprint(time.Now().UnixNano()), nil)
			got := runPyClient(t, py, g.addr, "wrongkey")
			assert.NotNil(t, got["auth_error"], "Python raised AuthenticationError")
			select {
			case err := <-g.errs:
				assert.ErrorIs(t, err, conn.ErrAuthentication)
			case <-time.After(5 * time.Second):
				t.Error("the server reported no handshake failure")
			}
		})
	}
	assert.NotZero(t, ran, "no Python 2.7 or 3.12+ found: the wrong-key handshake went unchecked")
}

// A Go client of a Go server: the protocol both ways in one process.
func TestManagerGoCallsGo(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), nil)
	m, err := bridge.DialManager(ctx, g.addr, []byte(testKey), nil)
	require.NoError(t, err)
	defer m.Close()
	calc, err := m.Create(ctx, "calc")
	require.NoError(t, err)
	var n int
	require.NoError(t, calc.CallInto(ctx, &n, "add", 2, 40))
	assert.Equal(t, 42, n)
	_, err = calc.Call(ctx, "divide", 1, 0)
	var pe *bridge.PythonError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "ZeroDivisionError", pe.Type)

	k, err := m.Create(ctx, "counter", 5, bridge.Kwargs{"step": 10})
	require.NoError(t, err)
	require.NoError(t, k.CallInto(ctx, &n, "incr"))
	assert.Equal(t, 15, n)
	objects, err := m.NumberOfObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, objects)
	require.NoError(t, k.Close())
	require.NoError(t, calc.Close())
	objects, err = m.NumberOfObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, objects)

	funcs, err := m.Create(ctx, "funcs")
	require.NoError(t, err)
	res, err := funcs.Call(ctx, "counter", 41)
	require.NoError(t, err)
	shared, ok := res.(*bridge.Proxy)
	require.True(t, ok, "a Shared result is a *Proxy: %T", res)
	assert.Equal(t, "counter", shared.Token().TypeID)
	assert.Equal(t, []string{"get", "incr"}, shared.Exposed())
	require.NoError(t, shared.CallInto(ctx, &n, "incr"))
	assert.Equal(t, 42, n)
	objects, err = m.NumberOfObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, objects)
	require.NoError(t, shared.Close())
	require.NoError(t, funcs.Close())
	objects, err = m.NumberOfObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, objects)

	_, err = m.Create(ctx, "calc", 1)
	require.ErrorAs(t, err, &pe, "a shared object takes no arguments")
	assert.Equal(t, "TypeError", pe.Type)
	_, err = m.Create(ctx, "nothing")
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "KeyError", pe.Type)
	assert.Contains(t, pe.Traceback, "nothing")
}

// A Python client killed while a Go method runs: the method's context is
// cancelled, and the server goes on serving others.
func TestManagerPythonClientKilledMidCall(t *testing.T) {
	leakcheck.Check(t)
	py := pymatrix.Newest(t)
	g := startGoManager(t, "127.0.0.1:0", &testCalc{sleeping: make(chan struct{}, 1), woke: make(chan error, 1)})

	cmd := py.Command(filepath.Join("testdata", "manager_client.py"), g.addr, "sleep")
	cmd.Env = append(cmd.Env, "MANAGER_AUTHKEY="+testKey)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "calling\n", line)
	select {
	case <-g.calc.sleeping:
	case <-time.After(10 * time.Second):
		t.Fatal("the Go method was not called")
	}
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	select {
	case err := <-g.calc.woke:
		assert.ErrorIs(t, err, context.Canceled, "the client's hang-up cancels the method's context")
	case <-time.After(2 * time.Second):
		t.Fatal("the method's context was not cancelled")
	}

	got := runPyClient(t, py, g.addr, "all")
	assert.Equal(t, 3.0, got["add"], "the server serves the next client")
}
