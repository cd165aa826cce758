//go:build unix

package bridge_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// Shutdown while clients call without pause: every call the server ran
// (every request it read) got its reply. A request read just as its
// connection went idle used to run with its reply lost.
func TestManagerServerShutdownUnderLoad(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	var total int64
	for round := range 30 {
		calc := &testCalc{}
		g := startGoManager(t, filepath.Join(dir, fmt.Sprintf("m%d.sock", round)), calc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := bridge.DialManager(ctx, g.addr, []byte(testKey), &bridge.ManagerOptions{MaxIdleConns: 8})
		require.NoError(t, err)
		p, err := m.Create(ctx, "calc")
		require.NoError(t, err)

		var replies atomic.Int64
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := p.Call(ctx, "incr"); err != nil {
						return
					}
					replies.Add(1)
				}
			}()
		}
		time.Sleep(time.Duration(5+round%10) * time.Millisecond)
		start := time.Now()
		require.NoError(t, g.srv.Shutdown(ctx))
		assert.Less(t, time.Since(start), 2*time.Second, "Shutdown waits for no idle connection")
		wg.Wait()
		m.Close()
		cancel()

		calc.mu.Lock()
		ran := calc.n
		calc.mu.Unlock()
		require.Equal(t, int64(ran), replies.Load(), "round %d: calls run vs replies received", round)
		total += replies.Load()
	}
	// Zero calls run and zero replies are equal too.
	assert.Positive(t, total, "no call went through in any round")
}

// The same with Python clients: four threads call until the server is
// gone, and every call the Go server ran returned in Python.
func TestManagerServerShutdownPythonClients(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		calc := &testCalc{}
		g := startGoManager(t, "127.0.0.1:0", calc)
		cmd := py.Command(filepath.Join("testdata", "manager_client.py"), g.addr, "hammer")
		cmd.Env = append(cmd.Env, "MANAGER_AUTHKEY="+testKey)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		lines := bufio.NewReader(out)
		line, err := lines.ReadString('\n')
		require.NoError(t, err, "client: %s", &stderr)
		require.Equal(t, "calling\n", line)
		time.Sleep(100 * time.Millisecond)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, g.srv.Shutdown(ctx))
		rest, err := io.ReadAll(lines)
		require.NoError(t, err)
		require.NoError(t, cmd.Wait(), "client: %s", &stderr)
		var got struct{ Returned int }
		require.NoError(t, json.Unmarshal(rest, &got), "output %q", rest)
		calc.mu.Lock()
		ran := calc.n
		calc.mu.Unlock()
		assert.Positive(t, ran)
		assert.Equal(t, ran, got.Returned, "calls run vs calls returned in Python")
	})
}

// Shutdown does not wait for connections with no request on them: a
// Python client's idle proxy connection, and a connection that passed the
// handshake but has sent nothing yet.
func TestManagerServerShutdownIdle(t *testing.T) {
	leakcheck.Check(t)
	py := pymatrix.Newest(t)
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), nil)

	cmd := py.Command(filepath.Join("testdata", "manager_client.py"), g.addr, "idle")
	cmd.Env = append(cmd.Env, "MANAGER_AUTHKEY="+testKey)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "idle\n", line)

	silent, err := conn.Dial(g.addr, &conn.DialOptions{Auth: conn.Auth{Key: []byte(testKey)}})
	require.NoError(t, err)
	defer silent.Close()
	time.Sleep(50 * time.Millisecond) // let the server take it

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, g.srv.Shutdown(ctx))
	assert.Less(t, time.Since(start), time.Second)
	_, err = silent.RecvBytes()
	assert.Error(t, err, "the server closed the silent connection")
	stdin.Close()
	require.NoError(t, cmd.Wait())
}

// A request that has partly arrived when Shutdown begins is still read to
// its end, run and replied to; Shutdown waits for it.
func TestManagerServerShutdownPartialRequest(t *testing.T) {
	leakcheck.Check(t)
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), nil)
	nc, err := net.Dial("unix", g.addr)
	require.NoError(t, err)
	c := conn.New(nc, nil)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, conn.Authenticate(ctx, c, conn.RoleClient, &conn.Auth{Key: []byte(testKey)}))

	body, err := pickle.Marshal(pickle.Tuple{nil, "number_of_objects", pickle.Tuple{}, map[string]any{}})
	require.NoError(t, err)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	frame = append(frame, body...)
	half := len(frame) / 2
	_, err = nc.Write(frame[:half])
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // let the server read it

	shut := make(chan error, 1)
	go func() { shut <- g.srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v before the request was served", err)
	case <-time.After(200 * time.Millisecond):
	}
	_, err = nc.Write(frame[half:])
	require.NoError(t, err)
	var reply pickle.Tuple
	require.NoError(t, c.Recv(&reply))
	assert.Equal(t, pickle.Tuple{"#RETURN", int64(0)}, reply)
	require.NoError(t, <-shut)
}

// A client that stalls in the middle of a request holds Shutdown only
// until its context ends; the server is then closed.
func TestManagerServerShutdownStalledRequest(t *testing.T) {
	leakcheck.Check(t)
	g := startGoManager(t, filepath.Join(t.TempDir(), "m.sock"), nil)
	c2, err := net.Dial("unix", g.addr)
	require.NoError(t, err)
	defer c2.Close()
	cc := conn.New(c2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, conn.Authenticate(ctx, cc, conn.RoleClient, &conn.Auth{Key: []byte(testKey)}))
	_, err = c2.Write([]byte{0, 0, 0, 100, 0x80}) // 100 bytes promised, 1 sent
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)

	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	assert.ErrorIs(t, g.srv.Shutdown(short), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	_, err = cc.RecvBytes()
	assert.Error(t, err, "the stalled connection is closed")
}
