//go:build unix

package bridge_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/internal/leakcheck"
	"github.com/pipebridge/pipebridge/pickle"
)

// Requests that are not (ident, methodname, args, kwds) get a traceback
// reply and a typed error for the server's ErrorHandler; the server goes on.
func TestManagerServerBadRequests(t *testing.T) {
	leakcheck.Check(t)
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), nil)
	auth := conn.Auth{Key: []byte(testKey)}
	// Values that hold themselves: quoting one in an error through fmt
	// would overflow the server's stack, which ends the process.
	self := make([]any, 1)
	self[0] = self
	for _, body := range [][]byte{
		[]byte("not a pickle"),
		mustPickle(t, "a string"),
		mustPickle(t, pickle.Tuple{nil, 7, pickle.Tuple{}, map[string]any{}}),
		mustPickle(t, pickle.Tuple{nil, "create", "args?", map[string]any{}}),
		mustPickle(t, self),
		mustPickle(t, pickle.Tuple{self, "create", pickle.Tuple{}, map[string]any{}}),
		mustPickle(t, pickle.Tuple{nil, self, pickle.Tuple{}, map[string]any{}}),
		mustPickle(t, pickle.Tuple{nil, "create", pickle.Tuple{}, self}),
	} {
		c, err := conn.Dial(g.addr, &conn.DialOptions{Auth: auth})
		require.NoError(t, err)
		require.NoError(t, c.SendBytes(body))
		var reply pickle.Tuple
		require.NoError(t, c.Recv(&reply))
		require.Len(t, reply, 2)
		assert.Equal(t, "#TRACEBACK", reply[0])
		assert.Contains(t, reply[1], "ProtocolError")
		c.Close()
		select {
		case err := <-g.errs:
			assert.ErrorIs(t, err, bridge.ErrBadMessage)
		case <-time.After(5 * time.Second):
			t.Fatal("no error reported")
		}
	}
	// Unknown server methods and objects, as Python's server answers them.
	for _, req := range []pickle.Tuple{
		{nil, "no_such_request", pickle.Tuple{}, map[string]any{}},
		{nil, "decref", pickle.Tuple{"ffff"}, map[string]any{}},
	} {
		c, err := conn.Dial(g.addr, &conn.DialOptions{Auth: auth})
		require.NoError(t, err)
		require.NoError(t, c.Send(req))
		var reply pickle.Tuple
		require.NoError(t, c.Recv(&reply))
		assert.Equal(t, "#TRACEBACK", reply[0], "%v", req)
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := bridge.DialManager(ctx, g.addr, []byte(testKey), nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Create(ctx, "calc")
	require.NoError(t, err, "the server still serves")
}

func mustPickle(t *testing.T, v any) []byte {
	b, err := pickle.Marshal(v)
	require.NoError(t, err)
	return b
}

// A server that answers with nonsense makes typed errors, not panics.
func TestManagerClientBadReplies(t *testing.T) {
	leakcheck.Check(t)
	for name, reply := range map[string]any{
		"not a tuple":  "hello",
		"short tuple":  pickle.Tuple{"#RETURN"},
		"unknown kind": pickle.Tuple{"#WHAT", nil},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := conn.Listen(filepath.Join(t.TempDir(), "s"), &conn.ListenOptions{Auth: conn.Auth{Key: []byte(testKey)}})
			require.NoError(t, err)
			defer l.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				var req any
				if c.Recv(&req) == nil {
					c.Send(reply)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = bridge.DialManager(ctx, l.Addr().String(), []byte(testKey), nil)
			assert.ErrorIs(t, err, bridge.ErrBadMessage)
			<-done
		})
	}
}

// Shutdown lets a call in progress finish and reply, then stops.
func TestManagerServerGracefulShutdown(t *testing.T) {
	leakcheck.Check(t)
	calc := &testCalc{sleeping: make(chan struct{}, 1)}
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), calc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := bridge.DialManager(ctx, g.addr, []byte(testKey), nil)
	require.NoError(t, err)
	defer m.Close()
	p, err := m.Create(ctx, "calc")
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, "sleep", 0.3)
		res <- err
	}()
	<-calc.sleeping
	require.NoError(t, g.srv.Shutdown(ctx))
	assert.NoError(t, <-res, "the call in progress finished and replied")
	_, err = m.Create(ctx, "calc")
	assert.Error(t, err, "the server is gone")
}

// A protocol no Python speaks is refused before anything is sent; a
// negative one used to be taken as 2 while Protocol reported it.
func TestManagerDialBadProtocol(t *testing.T) {
	leakcheck.Check(t)
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range []int{-1, 1, 6} {
		m, err := bridge.DialManager(ctx, g.addr, []byte(testKey), &bridge.ManagerOptions{Protocol: p})
		if !assert.Error(t, err, "protocol %d", p) {
			m.Close()
		}
	}
	m, err := bridge.DialManager(ctx, g.addr, []byte(testKey), &bridge.ManagerOptions{Protocol: 5})
	require.NoError(t, err)
	assert.Equal(t, 5, m.Protocol())
	require.NoError(t, m.Close())
}
