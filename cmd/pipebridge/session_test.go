//go:build unix

package main

// dial, listen and echo run in this process against Go peers: the
// semantics of the session (what is printed, when it ends, what a bad line
// or a bad message costs) and of the echo server, without Python.

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/pickle"
)

// goService listens on a fresh Unix socket and runs serve on the first
// connection; the returned address is what dial takes.
func goService(t *testing.T, auth conn.Auth, serve func(c *conn.Conn)) string {
	t.Helper()
	l, err := conn.Listen(filepath.Join(t.TempDir(), "svc.sock"), &conn.ListenOptions{Auth: auth})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

// recvValue receives one object within 10 s; it may run in a service's
// goroutine, so a failure is t.Errorf and nil.
func recvValue(t *testing.T, c *conn.Conn) any {
	var v any
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.Recv(&v); err != nil {
		t.Errorf("service: %v", err)
		return nil
	}
	return v
}

// TestDialSession: what arrives is printed in order, the unsolicited
// greeting first; input lines go out as objects; the session ends when the
// service closes.
func TestDialSession(t *testing.T) {
	addr := goService(t, conn.Auth{Key: []byte("k")}, func(c *conn.Conn) {
		c.Send("greeting")
		for i := 0; i < 3; i++ {
			v := recvValue(t, c)
			c.Send(pickle.Tuple{"re", v})
		}
	})
	input := "1\n\n# comment\n[None, b'x']\r\n{'k': {1, 2}}\n"
	r := startRun(t, strings.NewReader(input), map[string]string{"K": "k"}, "dial", addr, "--authkey-env", "K", "--wait", "-1")
	status, out := r.wait(t)
	assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
	assert.Equal(t, []string{"'greeting'", "('re', 1)", "('re', [None, b'x'])", "('re', {'k': {1, 2}})"}, out)
	assert.Empty(t, r.stderr.String())
}

// TestDialSessionJSON: --json prints the JSON mapping.
func TestDialSessionJSON(t *testing.T) {
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) {
		for i := 0; i < 2; i++ {
			c.Send(recvValue(t, c))
		}
	})
	r := startRun(t, strings.NewReader("(1, b'\\xff', float('nan'))\n{\"a\": [true, null]}\n"), nil, "dial", "--json", addr, "--wait=-1")
	status, out := r.wait(t)
	assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
	assert.Equal(t, []string{`[1,{"$bytes":"/w=="},{"$float":"nan"}]`, `{"a":[true,null]}`}, out)
}

// TestDialBadLine: a line that is not a literal is reported with its line
// and column and skipped; the others are sent; the status is 1.
func TestDialBadLine(t *testing.T) {
	got := make(chan any, 10)
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) {
		for i := 0; i < 2; i++ {
			got <- recvValue(t, c)
		}
	})
	r := startRun(t, strings.NewReader("1\n[1, 2\n3\n"), nil, "dial", addr, "--wait", "-1")
	status, out := r.wait(t)
	assert.Equal(t, 1, status)
	assert.Empty(t, out)
	assert.Equal(t, "pipebridge dial: line 2: column 6: expected ',' or ']', found end of line; not sent\n"+
		"pipebridge dial: 1 input line(s) or message(s) skipped (see above)\n", r.stderr.String())
	assert.Equal(t, int64(1), <-got)
	assert.Equal(t, int64(3), <-got)
}

// TestDialBadMessage: a message that is not a pickle is reported and
// skipped; the ones after it are printed.
func TestDialBadMessage(t *testing.T) {
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) {
		c.SendBytes([]byte("not a pickle"))
		c.Send("after")
	})
	r := startRun(t, strings.NewReader(""), nil, "dial", addr, "--wait", "-1")
	status, out := r.wait(t)
	assert.Equal(t, 1, status)
	assert.Equal(t, []string{"'after'"}, out)
	stderr := r.stderr.String()
	assert.Contains(t, stderr, "pipebridge dial: message 1: not a pickle (12 bytes): ")
	assert.Equal(t, 2, strings.Count(stderr, "\n"), stderr)
}

// TestDialWait: after standard input ends, dial prints what arrives until
// --wait passes with nothing, even if the service never closes; each
// arrival starts the wait again.
func TestDialWait(t *testing.T) {
	release := make(chan struct{})
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) {
		recvValue(t, c)
		for i := 0; i < 3; i++ {
			time.Sleep(100 * time.Millisecond) // each within the wait of the one before
			c.Send(int64(i))
		}
		<-release // open, but silent
	})
	defer close(release)
	start := time.Now()
	r := startRun(t, strings.NewReader("'go'\n"), nil, "dial", addr, "--wait", "0.4")
	status, out := r.wait(t)
	elapsed := time.Since(start)
	assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
	assert.Equal(t, []string{"0", "1", "2"}, out)
	assert.GreaterOrEqual(t, elapsed, 700*time.Millisecond)
	assert.Less(t, elapsed, 5*time.Second)
}

// TestDialWaitZero: --wait 0 closes as soon as standard input ends.
func TestDialWaitZero(t *testing.T) {
	closed := make(chan error, 1)
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) {
		recvValue(t, c)
		var v any
		closed <- c.Recv(&v)
	})
	r := startRun(t, strings.NewReader("1\n"), nil, "dial", addr, "--wait", "0")
	status, _ := r.wait(t)
	assert.Equal(t, 0, status)
	select {
	case err := <-closed:
		assert.ErrorIs(t, err, io.EOF, "the service sees the end of the stream")
	case <-time.After(5 * time.Second):
		t.Fatal("dial did not close the connection")
	}
}

// TestDialPeerCloses: the session ends when the service closes, even with
// standard input still open; an interrupt ends a session that waits.
func TestDialPeerCloses(t *testing.T) {
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) {
		c.Send("bye")
	})
	r := startRun(t, nil, nil, "dial", addr)
	status, out := r.wait(t)
	assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
	assert.Equal(t, []string{"'bye'"}, out)

	hold := make(chan struct{})
	defer close(hold)
	addr = goService(t, conn.Auth{}, func(c *conn.Conn) { <-hold })
	r = startRun(t, nil, nil, "dial", addr, "--wait", "-1")
	time.Sleep(100 * time.Millisecond)
	r.cancel()
	status, _ = r.wait(t)
	assert.Equal(t, 0, status, "an interrupt is a normal end; stderr:\n%s", r.stderr)
}

// TestDialWrongKey: a handshake that fails is an error, status 1.
func TestDialWrongKey(t *testing.T) {
	addr := goService(t, conn.Auth{Key: []byte("right")}, func(c *conn.Conn) {})
	status, _, stderr := runCommand(t, map[string]string{"K": "wrong"}, "dial", addr, "--authkey-env", "K")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "pipebridge dial: conn: authentication failed")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}

// TestListenSession: listen turns away a client with a wrong key, talks to
// the next one, and stops listening.
func TestListenSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.sock")
	r := startRun(t, strings.NewReader("'from stdin'\n"), map[string]string{"K": "key"}, "listen", path, "--authkey-env", "K", "--wait", "-1")
	require.Equal(t, path, r.listening(t))

	_, err := conn.Dial(path, &conn.DialOptions{Auth: conn.Auth{Key: []byte("nope")}})
	require.ErrorIs(t, err, conn.ErrAuthentication)
	// The Listener runs handshakes side by side, so the failure reaches
	// listen's log after the client has heard of it: wait for it before
	// the next client, whose connection would end the listening.
	require.Eventually(t, func() bool {
		return strings.Contains(r.stderr.String(), "pipebridge listen: conn: authentication failed")
	}, 10*time.Second, 5*time.Millisecond, "the failed handshake is logged")
	c, err := conn.Dial(path, &conn.DialOptions{Auth: conn.Auth{Key: []byte("key")}})
	require.NoError(t, err)
	assert.Equal(t, "from stdin", recvValue(t, c))
	require.NoError(t, c.Send([]any{int64(1), "x"}))
	require.Equal(t, "[1, 'x']", r.line(t))
	// Only one connection: the socket is gone.
	_, err = conn.Dial(path, nil)
	assert.Error(t, err)
	require.NoError(t, c.Close())

	status, out := r.wait(t)
	assert.Equal(t, 0, status)
	assert.Empty(t, out)
	stderr := r.stderr.String()
	assert.Contains(t, stderr, "pipebridge listen: conn: authentication failed")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}

// TestListenInterrupted: an interrupt before anyone connects ends listen
// with status 0 and removes the socket.
func TestListenInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.sock")
	r := startRun(t, nil, nil, "listen", path)
	r.listening(t)
	assert.FileExists(t, path)
	r.cancel()
	status, _ := r.wait(t)
	assert.Equal(t, 0, status)
	assert.NoFileExists(t, path)
}

// TestEchoListen: echo --listen serves many clients at once, each for as
// long as it likes; a wrong key costs one line on standard error; an
// interrupt ends it with status 0.
func TestEchoListen(t *testing.T) {
	for _, address := range []string{"127.0.0.1:0", filepath.Join(t.TempDir(), "e.sock"), "@"} {
		t.Run(address, func(t *testing.T) {
			r := startRun(t, nil, map[string]string{"K": "key"}, "echo", "--listen", address, "--authkey-env", "K")
			addr := r.listening(t)
			_, err := conn.Dial(addr, &conn.DialOptions{Auth: conn.Auth{Key: []byte("wrong")}})
			require.ErrorIs(t, err, conn.ErrAuthentication)

			const clients = 8
			var conns []*conn.Conn
			for i := 0; i < clients; i++ {
				c, err := conn.Dial(addr, &conn.DialOptions{Auth: conn.Auth{Key: []byte("key")}})
				require.NoError(t, err)
				defer c.Close()
				conns = append(conns, c)
			}
			// Every client is open at once; the last first.
			var wg sync.WaitGroup
			for i := clients - 1; i >= 0; i-- {
				wg.Add(1)
				go func(i int, c *conn.Conn) {
					defer wg.Done()
					for j := 0; j < 50; j++ {
						v := pickle.Tuple{int64(i), int64(j), "x"}
						if err := c.Send(v); err != nil {
							t.Error(err)
							return
						}
						if back := recvValue(t, c); !pickle.Equal(v, back) {
							t.Errorf("client %d: sent %v, got %v", i, v, back)
							return
						}
					}
				}(i, conns[i])
			}
			wg.Wait()

			r.cancel()
			status, out := r.wait(t)
			assert.Equal(t, 0, status)
			assert.Empty(t, out)
			stderr := r.stderr.String()
			assert.Contains(t, stderr, "pipebridge echo: conn: authentication failed")
			assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
			for _, c := range conns {
				var v any
				assert.Error(t, c.Recv(&v), "open connections are closed on the way out")
			}
		})
	}
}

// TestEchoListenDefaultAddress: --listen "" is a Unix socket in a new
// temporary directory, as Python's Listener() without an address; it is
// removed on the way out.
func TestEchoListenDefaultAddress(t *testing.T) {
	r := startRun(t, nil, nil, "echo", "--listen", "")
	addr := r.listening(t)
	assert.True(t, filepath.IsAbs(addr), addr)
	c, err := conn.Dial(addr, nil)
	require.NoError(t, err)
	require.NoError(t, c.Send("x"))
	assert.Equal(t, "x", recvValue(t, c))
	c.Close()
	r.cancel()
	status, _ := r.wait(t)
	assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
	assert.NoFileExists(t, addr)
}

// TestEchoListenBrokenClient: a client whose message cannot be decoded
// costs that connection only.
func TestEchoListenBrokenClient(t *testing.T) {
	r := startRun(t, nil, nil, "echo", "--listen", filepath.Join(t.TempDir(), "e.sock"))
	addr := r.listening(t)
	bad, err := conn.Dial(addr, nil)
	require.NoError(t, err)
	defer bad.Close()
	require.NoError(t, bad.SendBytes([]byte("not a pickle")))
	_, err = bad.RecvBytes()
	require.Error(t, err, "the echo closed the broken connection")

	good, err := conn.Dial(addr, nil)
	require.NoError(t, err)
	defer good.Close()
	require.NoError(t, good.Send("still here"))
	assert.Equal(t, "still here", recvValue(t, good))

	r.cancel()
	status, _ := r.wait(t)
	assert.Equal(t, 0, status)
	assert.Regexp(t, `^pipebridge echo: connection 1: message 1: pickle: .*\n$`, r.stderr.String())
}

// TestEchoDial: echo --dial echoes until the Listener closes, in bytes
// mode too, and re-encodes at the protocol each message came in.
func TestEchoDial(t *testing.T) {
	for _, mode := range []string{"objects", "bytes"} {
		t.Run(mode, func(t *testing.T) {
			var sent, back [][]byte
			served := make(chan struct{})
			addr := goService(t, conn.Auth{Key: []byte("k")}, func(c *conn.Conn) {
				defer close(served)
				for proto := 0; proto <= pickle.HighestProtocol; proto++ {
					body, err := encodeOptions(proto).Marshal([]any{int64(proto), "x", []byte("y")})
					if err == nil {
						err = c.SendBytes(body)
					}
					var got []byte
					if err == nil {
						got, err = c.RecvBytes()
					}
					if err != nil {
						t.Errorf("protocol %d: %v", proto, err)
						return
					}
					sent, back = append(sent, body), append(back, got)
				}
			})
			r := startRun(t, nil, map[string]string{"K": "k"}, "echo", "--dial", addr, "--authkey-env", "K", "--mode", mode)
			status, out := r.wait(t)
			assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
			assert.Empty(t, out)
			<-served
			require.Len(t, back, pickle.HighestProtocol+1)
			for i := range sent {
				if mode == "bytes" {
					assert.Equal(t, sent[i], back[i])
					continue
				}
				p, err := pickle.Protocol(back[i])
				require.NoError(t, err)
				assert.Equal(t, i, p, "echoed at the protocol it came in")
				var a, b any
				require.NoError(t, pickle.Unmarshal(sent[i], &a))
				require.NoError(t, pickle.Unmarshal(back[i], &b))
				assert.True(t, pickle.Equal(a, b), fmt.Sprint(a, b))
			}
		})
	}
}

// TestEchoDialInterrupted: an interrupt ends echo --dial with status 0.
func TestEchoDialInterrupted(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	addr := goService(t, conn.Auth{}, func(c *conn.Conn) { <-hold })
	r := startRun(t, nil, nil, "echo", "--dial", addr)
	time.Sleep(100 * time.Millisecond)
	r.cancel()
	status, _ := r.wait(t)
	assert.Equal(t, 0, status, "stderr:\n%s", r.stderr)
}
