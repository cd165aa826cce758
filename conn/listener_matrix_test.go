package conn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pipebridge/pipebridge/pickle"
	"io"
	"net"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// pyPeer is one long-lived testdata/listener_peer.py process: it takes JSON
// commands on stdin and answers JSON lines on stdout, so that one interpreter
// start serves every case.
type pyPeer struct {
	p      pymatrix.Interpreter
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *tailBuffer
	done   chan struct{} // closed when the process has been waited for
}

func startPyPeer(t *testing.T, p pymatrix.Interpreter) *pyPeer {
	t.Helper()
	cmd := p.Command("testdata/listener_peer.py")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	pp := &pyPeer{p: p, cmd: cmd, stdin: stdin, lines: make(chan []byte, 4), stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = pp.stderr
	require.NoError(t, cmd.Start())
	go func() {
		defer close(pp.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			pp.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	go func() {
		cmd.Wait()
		close(pp.done)
	}()
	t.Cleanup(pp.stop)
	var ready struct{ Ready bool }
	pp.read(t, &ready)
	require.True(t, ready.Ready)
	return pp
}

// stop ends the peer: EOF on stdin asks it to exit; a peer stuck in a case
// is killed.
func (pp *pyPeer) stop() {
	pp.stdin.Close()
	select {
	case <-pp.done:
	case <-time.After(2 * time.Second):
		pp.cmd.Process.Kill()
		<-pp.done
	}
}

func (pp *pyPeer) send(t *testing.T, cmd map[string]any) {
	t.Helper()
	b, err := json.Marshal(cmd)
	require.NoError(t, err)
	_, err = pp.stdin.Write(append(b, '\n'))
	require.NoError(t, err, "python peer: %s", pp.stderr)
}

// read decodes the peer's next line into v; nothing within 15 s fails t.
func (pp *pyPeer) read(t *testing.T, v any) {
	t.Helper()
	select {
	case line, ok := <-pp.lines:
		require.True(t, ok, "python %s exited; stderr:\n%s", pp.p.Version, pp.stderr)
		require.NoError(t, json.Unmarshal(line, v), "line %q", line)
	case <-time.After(15 * time.Second):
		t.Fatalf("python %s said nothing for 15 s; stderr:\n%s", pp.p.Version, pp.stderr)
	}
}

// tailBuffer keeps the last max bytes written to it: the end of a child's
// output, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

type pyResult struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Msg      string `json:"msg"`
	Sent     int    `json:"sent"`
	Received int    `json:"received"`
}

// keyCase is the key axis of the matrix.
type keyCase string

const (
	keyNone  keyCase = "nokey"
	keyRight keyCase = "rightkey"
	keyWrong keyCase = "wrongkey"
	// keyEmpty: authkey=b'' in Python; Go runs the handshake with the empty
	// key exactly when that Python does (AuthenticateEmptyKey).
	keyEmpty keyCase = "emptykey"
	// keyLegacyRefused: the right key, but a Python 3.11 or older answers
	// our modern challenge with legacy HMAC-MD5 and AcceptDigests does not
	// allow it.
	keyLegacyRefused keyCase = "legacy-refused"
)

type matrixCase struct {
	goListens bool
	family    string // "tcp", "unix", "abstract", "tcp6" (Python listens)
	key       keyCase
	digest    Digest // the challenge Go delivers
}

func (mc matrixCase) name() string {
	dir := "py-listens"
	if mc.goListens {
		dir = "go-listens"
	}
	if mc.key == keyNone {
		return fmt.Sprintf("%s/%s/%s", dir, mc.family, mc.key)
	}
	return fmt.Sprintf("%s/%s/%s/%s", dir, mc.family, mc.key, mc.digest)
}

func matrixCases(p pymatrix.Interpreter) []matrixCase {
	families := []string{"tcp", "unix"}
	if runtime.GOOS == "linux" {
		families = append(families, "abstract")
	}
	var cases []matrixCase
	for _, goListens := range []bool{true, false} {
		for _, fam := range families {
			cases = append(cases, matrixCase{goListens, fam, keyNone, ""})
			for _, key := range []keyCase{keyRight, keyWrong} {
				for _, d := range []Digest{DigestLegacyMD5, DigestSHA256, DigestSHA3_384} {
					cases = append(cases, matrixCase{goListens, fam, key, d})
				}
			}
			cases = append(cases, matrixCase{goListens, fam, keyEmpty, DigestSHA256})
			// Only a Go Listener refuses: a Go client that was challenged
			// the legacy way accepts the legacy answer to its own.
			if !p.AtLeast(3, 12) && goListens {
				cases = append(cases, matrixCase{goListens, fam, keyLegacyRefused, DigestSHA256})
			}
		}
	}
	// Python's Client cannot reach IPv6, but its Listener can listen there.
	cases = append(cases,
		matrixCase{false, "tcp6", keyNone, ""},
		matrixCase{false, "tcp6", keyRight, DigestSHA256})
	return cases
}

// TestListenerMatrix runs Go's Listener against Python's Client and Python's
// Listener against Go's Dial, for every interpreter, address family, key
// situation and challenge digest.
func TestListenerMatrix(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		t.Parallel()
		peer := startPyPeer(t, p)
		for i, mc := range matrixCases(p) {
			ok := t.Run(mc.name(), func(t *testing.T) { runMatrixCase(t, peer, mc, i) })
			if !ok {
				// The peer may be stuck in the failed case: start afresh.
				peer.stop()
				peer = startPyPeer(t, p)
			}
		}
	})
}

// pyOptions returns the Conn options that suit Python p.
func pyOptions(p pymatrix.Interpreter) *Options {
	o := &Options{NoLongHeaders: !p.AtLeast(3, 8)}
	if p.Major == 2 {
		// Python 2 reads up to protocol 2, and sends binary data as str.
		o.Codec = PickleCodec{
			Encode: pickle.EncodeOptions{Protocol: 2},
			Decode: pickle.DecodeOptions{Py2Str: pickle.Py2StrBytes},
		}
	}
	return o
}

func runMatrixCase(t *testing.T, peer *pyPeer, mc matrixCase, i int) {
	p := peer.p
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	goKey := []byte(fmt.Sprintf("matrix-key-%d", i))
	var auth Auth
	var pyKey any // hex, or nil for authkey=None
	if mc.key != keyNone {
		auth = Auth{Key: goKey, Digest: mc.digest}
		pyKey = hex.EncodeToString(goKey)
		if mc.key == keyWrong {
			pyKey = hex.EncodeToString(append(goKey, "-wrong"...))
		}
		if mc.key == keyEmpty {
			auth.Key = nil
			pyKey = ""
			// Every Python Client runs the handshake with b''; Listeners
			// only from 3.13 on.
			auth.AuthenticateEmptyKey = mc.goListens || p.AtLeast(3, 13)
		}
		if (mc.key == keyRight || mc.key == keyEmpty) && mc.goListens && !p.AtLeast(3, 12) && mc.digest != DigestLegacyMD5 {
			auth.AcceptDigests = []Digest{DigestLegacyMD5}
		}
	}
	succeed := mc.key == keyNone || mc.key == keyRight || mc.key == keyEmpty

	var c *Conn
	var err error
	if mc.goListens {
		address := map[string]string{"tcp": "127.0.0.1:0", "unix": "", "abstract": "@"}[mc.family]
		l, lerr := Listen(address, &ListenOptions{Auth: auth, Conn: pyOptions(p)})
		require.NoError(t, lerr)
		defer l.Close()
		peer.send(t, map[string]any{"op": "connect", "addr": l.Addr().String(), "key": pyKey})
		c, err = l.AcceptContext(ctx)
	} else {
		// Python 3.12+ can be made to deliver other digests than its
		// Listener's sha256: then Go answers them too.
		var pyDigest any
		if mc.key != keyNone && mc.key != keyEmpty && p.AtLeast(3, 12) {
			pyDigest = map[Digest]any{DigestLegacyMD5: "md5", DigestSHA3_384: "sha3_384"}[mc.digest]
		}
		peer.send(t, map[string]any{"op": "listen", "family": mc.family, "key": pyKey, "digest": pyDigest})
		var listening struct{ Addr string }
		peer.read(t, &listening)
		require.NotEmpty(t, listening.Addr)
		assert.Equal(t, map[string]Family{"tcp": FamilyTCP, "tcp6": FamilyTCP, "unix": FamilyUnix, "abstract": FamilyAbstract}[mc.family],
			mustParse(t, listening.Addr).Family)
		c, err = DialContext(ctx, listening.Addr, &DialOptions{Auth: auth, Conn: pyOptions(p)})
	}

	if succeed {
		require.NoError(t, err)
		defer c.Close()
		matrixExchange(t, c, p)
	} else {
		require.ErrorIs(t, err, ErrAuthentication)
		require.Nil(t, c)
	}
	var res pyResult
	peer.read(t, &res)
	if succeed {
		require.True(t, res.OK, "python: %s: %s", res.Error, res.Msg)
	} else {
		require.False(t, res.OK)
		require.Equal(t, "AuthenticationError", res.Error, "python: %s", res.Msg)
		t.Logf("go: %v; python: %s", err, res.Msg)
	}
}

// matrixExchange is Go's half of the peer script's exchange().
func matrixExchange(t *testing.T, c *Conn, p pymatrix.Interpreter) {
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, c.Send([]any{"h\u00e9llo", int64(42), map[string]any{"k": []any{int64(1), int64(2)}}, []byte("\x00\x01")}))
	var v any
	require.NoError(t, c.Recv(&v))
	require.Equal(t, []any{"ok", int64(42)}, v)

	payload := bytes.Repeat([]byte("pipebridge\x00\xff"), 100)
	require.NoError(t, c.SendBytes(payload))
	got, err := c.RecvBytes()
	require.NoError(t, err)
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	require.Equal(t, payload, got)

	require.NoError(t, c.Recv(&v))
	// Python 2's b'\xff\x00' is a str, read as []byte by pyOptions.
	want := []any{"py", int64(p.Major), map[string]any{"n": []any{int64(1), int64(2), int64(3)}}, []byte("\xff\x00"), "w\u00f6rld"}
	require.Equal(t, want, plainValue(v))
	require.NoError(t, c.Send("bye"))
}

// plainValue turns the codec's dicts into map[string]any for comparison.
func plainValue(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plainValue(x)
		}
		return out
	case *pickle.Dict:
		out := map[string]any{}
		for k, x := range v.All() {
			out[fmt.Sprint(plainValue(k))] = plainValue(x)
		}
		return out
	}
	return v
}

// TestListenerManyPythonClients has one Go Listener serve 64 Python clients
// at once (threads of one Python process), each sending 1,000 objects and
// checking 1,000 echoes; every message is accounted for on both sides.
func TestListenerManyPythonClients(t *testing.T) {
	const clients, count = 64, 1000
	p := pymatrix.Newest(t)
	peer := startPyPeer(t, p)
	key := []byte("swarm-key")
	l, err := Listen("127.0.0.1:0", &ListenOptions{Auth: Auth{Key: key}, Conn: pyOptions(p)})
	require.NoError(t, err)

	var mu sync.Mutex
	perClient := map[int64]int{}
	var conns []*Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		// On an early failure, end the serving goroutines before t ends.
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	serve := func(c *Conn) {
		defer wg.Done()
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		var id int64 = -1
		next := 0
		for {
			var v any
			if err := c.Recv(&v); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("client %d after %d messages: %v", id, next, err)
				}
				break
			}
			tup, ok := v.(pickle.Tuple)
			if !ok || len(tup) != 2 {
				t.Errorf("unexpected message %#v", v)
				return
			}
			if id < 0 {
				id = tup[0].(int64)
			}
			if tup[0] != id || tup[1] != int64(next) {
				t.Errorf("client %d: message %d is %v", id, next, tup)
				return
			}
			next++
			if err := c.Send(v); err != nil {
				t.Errorf("client %d: echo %d: %v", id, next, err)
				return
			}
		}
		mu.Lock()
		perClient[id] += next
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if !assert.NoError(t, err) {
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go serve(c)
		}
	}()

	start := time.Now()
	peer.send(t, map[string]any{"op": "swarm", "addr": l.Addr().String(), "key": hex.EncodeToString(key), "clients": clients, "count": count})
	var res pyResult
	peer.read(t, &res)
	t.Logf("%d clients × %d objects each way with Python %s: %v", clients, count, p.Version, time.Since(start))
	require.True(t, res.OK, "python: %s", res.Msg)
	assert.Equal(t, clients*count, res.Sent)
	assert.Equal(t, clients*count, res.Received)

	require.NoError(t, l.Close())
	wg.Wait()
	assert.Len(t, perClient, clients)
	total := 0
	for id, n := range perClient {
		assert.Equal(t, count, n, "client %d", id)
		total += n
	}
	assert.Equal(t, clients*count, total)
}
