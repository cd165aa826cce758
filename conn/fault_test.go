//go:build unix

package conn

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/leakcheck"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// The fault tests: peers that die, stall, flood, lie, half-close or stop
// reading. Each ends with a defined error on the side that survives, within
// faultPrompt of the fault, and leaves no goroutine or descriptor behind
// (internal/leakcheck). The Python peers are testdata/fault_peer.py: one
// process per interpreter, forking a child per case so that a case can
// SIGKILL its peer at an exact point for the price of a fork.

// faultPrompt is how soon after a fault the surviving side must know.
const faultPrompt = time.Second

var faultKey = []byte("pipebridge fault key")

// faultDriver is one testdata/fault_peer.py process.
type faultDriver struct {
	p      pymatrix.Interpreter
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *tailBuffer
	done   chan struct{}
}

// faultLine is one line a child of the driver prints.
type faultLine struct {
	PID      int     `json:"pid"`
	Ready    bool    `json:"ready"`
	Addr     string  `json:"addr"`
	Result   string  `json:"result"`
	Msg      string  `json:"msg"`
	Elapsed  float64 `json:"elapsed"`
	Got      any     `json:"got"`
	Received int     `json:"received"`
	Error    string  `json:"error"`
}

func startFaultDriver(t *testing.T, p pymatrix.Interpreter) *faultDriver {
	t.Helper()
	cmd := p.Command("testdata/fault_peer.py")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	d := &faultDriver{p: p, cmd: cmd, stdin: stdin, lines: make(chan []byte, 16), stderr: &tailBuffer{max: 8192}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	require.NoError(t, cmd.Start())
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		// EOF on stdin: the driver kills its remaining children and exits.
		d.stdin.Close()
		select {
		case <-d.done:
			assert.NoError(t, waitErr, "python %s: the driver failed; stderr:\n%s", p.Version, d.stderr)
		case <-time.After(5 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			t.Errorf("python %s: the driver did not exit at the end of its input; stderr:\n%s", p.Version, d.stderr)
		}
		// A child that failed after the test stopped listening still
		// counts.
		for b := range d.lines {
			var l faultLine
			if err := json.Unmarshal(b, &l); err != nil || l.Error != "" {
				t.Errorf("python %s: left unread: %s", p.Version, b)
			}
		}
	})
	require.True(t, d.next(t).Ready)
	return d
}

// run sends one command; the driver forks a child for it.
func (d *faultDriver) run(t *testing.T, cmd map[string]any) {
	t.Helper()
	b, err := json.Marshal(cmd)
	require.NoError(t, err)
	_, err = d.stdin.Write(append(b, '\n'))
	require.NoError(t, err, "python %s: %s", d.p.Version, d.stderr)
}

// next returns the next line a child prints; an error line, or nothing
// within 10 s, fails t.
func (d *faultDriver) next(t *testing.T) faultLine {
	t.Helper()
	select {
	case b, ok := <-d.lines:
		require.True(t, ok, "python %s exited; stderr:\n%s", d.p.Version, d.stderr)
		var l faultLine
		require.NoError(t, json.Unmarshal(b, &l), "line %q", b)
		require.Empty(t, l.Error, "python %s: %s; stderr:\n%s", d.p.Version, l.Error, d.stderr)
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("python %s said nothing for 10 s; stderr:\n%s", d.p.Version, d.stderr)
		return faultLine{}
	}
}

// ready waits for the child's "ready" line and returns its pid.
func (d *faultDriver) ready(t *testing.T) int {
	t.Helper()
	l := d.next(t)
	require.True(t, l.Ready, "got %+v", l)
	require.NotZero(t, l.PID)
	return l.PID
}

// kill SIGKILLs a child of the driver and returns when it was sent.
func faultKill(t *testing.T, pid int) time.Time {
	t.Helper()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	return time.Now()
}

// faultListen is a Go Listener on a fresh Unix socket, closed at the end.
func faultListen(t *testing.T, opts *ListenOptions) *Listener {
	t.Helper()
	l, err := Listen(filepath.Join(t.TempDir(), "s"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// faultAccept accepts one connection, closed at the end.
func faultAccept(t *testing.T, l *Listener) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.AcceptContext(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// faultRawPair has the driver run cmd (its "addr" set to a Unix socket of
// ours) and returns the socket the child connects on, wrapped in a Conn too.
func faultRawPair(t *testing.T, d *faultDriver, cmd map[string]any) (*net.UnixConn, *Conn) {
	t.Helper()
	nl, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	require.NoError(t, err)
	defer nl.Close()
	cmd["addr"] = nl.Addr().String()
	d.run(t, cmd)
	nc, err := nl.Accept()
	require.NoError(t, err)
	c := New(nc, nil)
	t.Cleanup(func() { c.Close() })
	return nc.(*net.UnixConn), c
}

// faultResult runs f in a goroutine; the returned func causes the fault
// (after returns when it happened) and waits for f's error, returning it
// and how long after the fault it came. Still nothing 10 s later fails t.
func faultResult(t *testing.T, f func() error) func(after func() time.Time) (error, time.Duration) {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	return func(after func() time.Time) (error, time.Duration) {
		t.Helper()
		at := after()
		select {
		case err := <-errc:
			return err, time.Since(at)
		case <-time.After(10 * time.Second):
			t.Fatal("still blocked 10 s after the fault")
			return nil, 0
		}
	}
}

// faultPromptly runs attempt, which returns how long the surviving side
// took to notice its fault, until one attempt is within bound, three times
// at most. A side that hangs or waits for a timeout is slow every time; a
// machine busy with other work is rarely slow three times in a row, so this
// keeps the bound tight without making the test flaky. Every attempt's own
// checks count.
func faultPromptly(t *testing.T, bound time.Duration, attempt func(t *testing.T) time.Duration) {
	t.Helper()
	var took []time.Duration
	for range 3 {
		d := attempt(t)
		if t.Failed() || d < bound {
			return
		}
		took = append(took, d)
		t.Logf("slower than %v (%v); trying again", bound, d)
	}
	t.Errorf("the surviving side noticed the fault only after %v, more than %v each time", took, bound)
}

// A Python child killed between frames, inside a header and inside a body:
// the Go receiver blocked in RecvBytes gets io.EOF for the first and
// io.ErrUnexpectedEOF for the others, at once.
func TestPeerKilledMidFrame(t *testing.T) {
	p := pymatrix.Newest(t)
	for _, tc := range []struct {
		cut  string
		want error
	}{
		{"between", io.EOF},
		{"header", io.ErrUnexpectedEOF},
		{"body", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.cut, func(t *testing.T) {
			leakcheck.Check(t)
			d := startFaultDriver(t, p)
			faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
				l := faultListen(t, nil)
				d.run(t, map[string]any{"op": "frame", "addr": l.Addr().String(), "cut": tc.cut})
				c := faultAccept(t, l)
				got, err := c.RecvBytes()
				require.NoError(t, err)
				require.Equal(t, "first", string(got))
				pid := d.ready(t)
				wait := faultResult(t, func() error { _, err := c.RecvBytes(); return err })
				err, took := wait(func() time.Time { return faultKill(t, pid) })
				assert.Equal(t, tc.want, err, "got %v", err)
				_, err = c.RecvBytes()
				assert.Equal(t, tc.want, err, "the end sticks")
				return took
			})
		})
	}
}

// Wait over several connections wakes when one peer dies, and names that
// one only: its receive then says io.EOF, while the others still wait.
func TestWaitSeesDeadPeer(t *testing.T) {
	p := pymatrix.Newest(t)
	leakcheck.Check(t)
	d := startFaultDriver(t, p)
	faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
		l := faultListen(t, nil)
		var conns []*Conn
		var pids []int
		for range 3 {
			d.run(t, map[string]any{"op": "frame", "addr": l.Addr().String(), "cut": "between"})
			c := faultAccept(t, l)
			got, err := c.RecvBytes()
			require.NoError(t, err)
			require.Equal(t, "first", string(got))
			conns = append(conns, c)
			pids = append(pids, d.ready(t))
		}
		ready, err := Wait(conns, 0)
		require.NoError(t, err)
		require.Empty(t, ready, "nothing to receive yet")
		var got []*Conn
		wait := faultResult(t, func() error {
			var err error
			got, err = Wait(conns, -1)
			return err
		})
		err, took := wait(func() time.Time { return faultKill(t, pids[1]) })
		require.NoError(t, err)
		assert.Equal(t, []*Conn{conns[1]}, got)
		_, err = conns[1].RecvBytes()
		assert.Equal(t, io.EOF, err)
		ready, err = Wait(conns, 50*time.Millisecond)
		require.NoError(t, err)
		assert.Equal(t, []*Conn{conns[1]}, ready, "the end stays ready; the live ones are not")
		for _, pid := range []int{pids[0], pids[2]} {
			faultKill(t, pid)
		}
		return took
	})
}

// The handshake stages at which a Python peer is killed (see STAGES in
// fault_peer.py), and what Go's side must then find inside its *AuthError:
// io.EOF where the peer died between messages, io.ErrUnexpectedEOF inside
// one, and ECONNRESET where it died with our last message unread (the
// kernel resets the connection then, and Python too would raise
// ConnectionResetError) - or EPIPE, when the reset arrives while we are
// still writing that message.
type faultStage struct {
	stage string
	want  error
	alt   error // also acceptable, when timing decides between two
}

// A Python Client answers first, then delivers.
var faultClientStages = []faultStage{
	{"answer:after-recv", io.EOF, nil},
	{"answer:mid-response", io.ErrUnexpectedEOF, nil},
	{"deliver:before", io.EOF, nil},
	{"deliver:after-send", io.EOF, nil},
}

// A Python Listener delivers first, then answers.
var faultListenerStages = []faultStage{
	{"deliver:before", io.EOF, nil},
	{"deliver:after-send", io.EOF, nil},
	{"answer:before", syscall.ECONNRESET, syscall.EPIPE},
	{"answer:mid-response", io.ErrUnexpectedEOF, nil},
}

// A Python Client or Listener killed at each point of the handshake: Go's
// Accept, and Dial, fail promptly with an *AuthError that carries the cut,
// is no authentication failure and no timeout; the Listener goes on
// serving.
func TestPeerKilledMidHandshake(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		d := startFaultDriver(t, p)
		auth := Auth{Key: faultKey, AcceptDigests: AllDigests()}
		for _, st := range faultClientStages {
			t.Run("accept/"+st.stage, func(t *testing.T) {
				leakcheck.Check(t)
				faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
					l := faultListen(t, &ListenOptions{Auth: auth})
					d.run(t, map[string]any{"op": "client", "addr": l.Addr().String(), "key": hex.EncodeToString(faultKey), "stage": st.stage})
					pid := d.ready(t)
					wait := faultResult(t, func() error { _, err := l.Accept(); return err })
					err, took := wait(func() time.Time { return faultKill(t, pid) })
					faultCheckAuthCut(t, err, st)
					// One bad peer costs one connection: the next is served.
					go func() {
						c, err := Dial(l.Addr().String(), &DialOptions{Auth: auth})
						if err == nil {
							c.Close()
						}
					}()
					c, err := l.Accept()
					require.NoError(t, err)
					c.Close()
					return took
				})
			})
		}
		for _, st := range faultListenerStages {
			t.Run("dial/"+st.stage, func(t *testing.T) {
				leakcheck.Check(t)
				faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
					addr := filepath.Join(t.TempDir(), "py")
					d.run(t, map[string]any{"op": "listen", "addr": addr, "key": hex.EncodeToString(faultKey), "stage": st.stage})
					require.Equal(t, addr, d.next(t).Addr)
					wait := faultResult(t, func() error {
						c, err := Dial(addr, &DialOptions{Auth: auth})
						if err == nil {
							c.Close()
						}
						return err
					})
					err, took := wait(func() time.Time { return faultKill(t, d.ready(t)) })
					faultCheckAuthCut(t, err, st)
					return took
				})
			})
		}
	})
}

func faultCheckAuthCut(t *testing.T, err error, st faultStage) {
	t.Helper()
	require.Error(t, err)
	var ae *AuthError
	require.ErrorAs(t, err, &ae, "got %T %v", err, err)
	if st.alt == nil || !errors.Is(err, st.alt) {
		assert.ErrorIs(t, err, st.want)
	}
	assert.NotErrorIs(t, err, ErrAuthentication, "a peer that died did not fail a check")
	assert.False(t, ae.Timeout())
	assert.NotNil(t, ae.Addr, "the Listener or Dial names the peer")
}

// The Go side closes while Python blocks in recv(): every Python raises at
// once, EOFError when Go closed between messages, and when it closed inside
// one the "got end of file during message" of OSError (IOError in 2.7).
func TestGoCloseUnblocksPythonRecv(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		d := startFaultDriver(t, p)
		for _, midFrame := range []bool{false, true} {
			name := map[bool]string{false: "between", true: "mid-frame"}[midFrame]
			t.Run(name, func(t *testing.T) {
				leakcheck.Check(t)
				faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
					nc, c := faultRawPair(t, d, map[string]any{"op": "recv"})
					d.ready(t)
					time.Sleep(50 * time.Millisecond) // let Python block in recv
					if midFrame {
						_, err := nc.Write([]byte{0, 0, 0, 100, 'x'})
						require.NoError(t, err)
					}
					closed := time.Now()
					require.NoError(t, c.Close())
					res := d.next(t)
					took := time.Since(closed)
					switch {
					case !midFrame:
						assert.Equal(t, "EOFError", res.Result, "%+v", res)
					case p.Major == 2:
						assert.Equal(t, "IOError", res.Result, "%+v", res)
					default:
						assert.Equal(t, "OSError", res.Result, "%+v", res)
					}
					if midFrame {
						assert.Equal(t, "got end of file during message", res.Msg)
					}
					return took
				})
			})
		}
	})
}

// A peer that shuts down its write side is a clean end for the reader, and
// only for it: the other direction keeps working, both ways round.
func TestHalfClose(t *testing.T) {
	p := pymatrix.Newest(t)
	d := startFaultDriver(t, p)
	t.Run("python shuts down writing", func(t *testing.T) {
		leakcheck.Check(t)
		l := faultListen(t, nil)
		d.run(t, map[string]any{"op": "halfclose", "addr": l.Addr().String(), "count": 3})
		c := faultAccept(t, l)
		for i := range 3 {
			var v any
			require.NoError(t, c.Recv(&v))
			assert.Equal(t, "m"+string(rune('0'+i)), v)
		}
		var v any
		assert.Equal(t, io.EOF, c.Recv(&v), "the end of the peer's writing is a clean io.EOF")
		require.NoError(t, c.Send("still heard"), "our direction is open")
		res := d.next(t)
		assert.Equal(t, "still heard", res.Got)
	})
	t.Run("go shuts down writing", func(t *testing.T) {
		leakcheck.Check(t)
		nc, c := faultRawPair(t, d, map[string]any{"op": "readhalf"})
		for range 2 {
			require.NoError(t, c.SendBytes([]byte("before")))
		}
		require.NoError(t, nc.CloseWrite())
		res := d.next(t)
		assert.Equal(t, "EOFError", res.Result)
		assert.Equal(t, 2, res.Received)
		var v any
		require.NoError(t, c.Recv(&v), "the peer's direction is open")
		assert.Equal(t, "after-eof", v)
		assert.Equal(t, io.EOF, c.Recv(&v))
	})
}

// A peer that never reads: the sender fills the socket buffers and blocks;
// a write deadline or a context ends the blocked send with a timeout, and
// Close from another goroutine unblocks it.
func TestSlowReader(t *testing.T) {
	p := pymatrix.Newest(t)
	d := startFaultDriver(t, p)
	chunk := make([]byte, 64<<10)
	const block = 300 * time.Millisecond // long enough for the buffers to fill
	// sendUntilError sends chunks until one fails, and returns how much went
	// out before.
	sendUntilError := func(send func() error) (sent int, err error) {
		for sent = 0; sent < 1<<12; sent++ { // 256 MiB would mean no back-pressure
			if err := send(); err != nil {
				return sent, err
			}
		}
		return sent, nil
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *Conn) (time.Time, int, error)
		want func(t *testing.T, err error)
	}{
		{"write deadline", func(t *testing.T, c *Conn) (time.Time, int, error) {
			at := time.Now().Add(block)
			require.NoError(t, c.SetWriteDeadline(at))
			sent, err := sendUntilError(func() error { return c.SendBytes(chunk) })
			return at, sent, err
		}, func(t *testing.T, err error) {
			assert.True(t, isTimeout(err), "got %v", err)
		}},
		{"context", func(t *testing.T, c *Conn) (time.Time, int, error) {
			ctx, cancel := context.WithCancel(context.Background())
			at := time.Now().Add(block)
			time.AfterFunc(block, cancel)
			sent, err := sendUntilError(func() error { return c.SendBytesContext(ctx, chunk) })
			return at, sent, err
		}, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, context.Canceled)
		}},
		{"close", func(t *testing.T, c *Conn) (time.Time, int, error) {
			at := time.Now().Add(block)
			time.AfterFunc(block, func() { c.Close() })
			sent, err := sendUntilError(func() error { return c.SendBytes(chunk) })
			return at, sent, err
		}, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, net.ErrClosed)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
				_, c := faultRawPair(t, d, map[string]any{"op": "stall"})
				d.ready(t)
				at, sent, err := tc.run(t, c)
				took := time.Since(at)
				t.Logf("%d KiB went out before the sender blocked; then %v", sent*len(chunk)>>10, err)
				require.Error(t, err, "the sender never blocked")
				tc.want(t, err)
				assert.GreaterOrEqual(t, took, -50*time.Millisecond, "the send failed before it was stopped")
				// Part of a frame may be out: later sends fail, and promptly.
				c.SetWriteDeadline(time.Now().Add(block)) // fails once closed
				wait := faultResult(t, func() error { return c.SendBytes(chunk) })
				err, later := wait(time.Now)
				assert.Error(t, err)
				return max(took, later)
			})
		})
	}
}

// faultAllocated returns the bytes allocated so far, all goroutines counted.
func faultAllocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func faultLongHeader(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xff, 0xff, 0xff, 0xff}, n)
}

// A header that claims 2^62 bytes: refused at once under the default limit;
// with no limit, it costs the 1 MiB a header alone may cost, then, in all,
// a few times the bytes that really arrive, and the cut is
// io.ErrUnexpectedEOF.
func TestHugeHeaderBoundedMemory(t *testing.T) {
	const MiB = 1 << 20
	for _, tc := range []struct {
		name   string
		limit  int64
		header []byte
		send   int    // body bytes the peer sends before it hangs up
		want   error  // nil: a *MessageTooLargeError
		budget uint64 // bytes the receive may allocate
	}{
		{"2^62, default limit", 0, faultLongHeader(1 << 62), 0, nil, MiB},
		{"2^64-1, no limit", -1, faultLongHeader(1<<64 - 1), 0, nil, MiB},
		{"2^62, no limit, nothing sent", -1, faultLongHeader(1 << 62), 0, io.ErrUnexpectedEOF, fuzzHeaderAlloc + MiB},
		{"2^62, no limit, 10 MiB sent", -1, faultLongHeader(1 << 62), 10 * MiB, io.ErrUnexpectedEOF, fuzzHeaderAlloc + 6*10*MiB + MiB},
		{"2^62, no limit, 72 MiB sent", -1, faultLongHeader(1 << 62), 72 * MiB, io.ErrUnexpectedEOF, fuzzHeaderAlloc + 6*72*MiB + MiB},
		{"1 GiB, default limit, nothing sent", 0, []byte{0x40, 0, 0, 0}, 0, io.ErrUnexpectedEOF, fuzzHeaderAlloc + MiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			faultPromptly(t, 5*time.Second, func(t *testing.T) time.Duration {
				return faultHugeHeader(t, tc.limit, tc.header, tc.send, tc.want, tc.budget)
			})
		})
	}
}

func faultHugeHeader(t *testing.T, limit int64, header []byte, send int, want error, budget uint64) time.Duration {
	a, b := net.Pipe()
	c := New(a, &Options{MaxMessageSize: limit})
	defer c.Close()
	body := make([]byte, 1<<20)
	go func() {
		defer b.Close()
		if _, err := b.Write(header); err != nil {
			return
		}
		for sent := 0; sent < send; sent += len(body) {
			if _, err := b.Write(body); err != nil {
				return
			}
		}
	}()
	runtime.GC()
	before := faultAllocated()
	start := time.Now()
	_, err := c.RecvBytes()
	elapsed := time.Since(start)
	allocated := faultAllocated() - before
	t.Logf("%v after %v, %d KiB allocated", err, elapsed.Round(time.Millisecond), allocated>>10)
	if want == nil {
		var tl *MessageTooLargeError
		assert.ErrorAs(t, err, &tl)
	} else {
		assert.Equal(t, want, err)
	}
	assert.LessOrEqual(t, allocated, budget)
	return elapsed
}

// A handshake peer that floods us with 10 MB, as one frame or as garbage,
// or that sends nothing: Accept and Dial fail quickly with an *AuthError,
// having read at most a few hundred bytes of it.
func TestHandshakePeerFloodsOrSaysNothing(t *testing.T) {
	const budget = 1 << 20 // what one failed handshake may allocate, Listener included
	flood := make([]byte, 10<<20)
	for i := range flood {
		flood[i] = byte(i*7 + i>>8)
	}
	frame := append(binary.BigEndian.AppendUint32(nil, uint32(len(flood)-4)), flood[4:]...)
	for _, tc := range []struct {
		name    string
		data    []byte // nil: nothing at all
		timeout bool
	}{
		{"10 MB frame", frame, false},
		{"10 MB garbage", flood, false},
		{"a 2^62 header", faultLongHeader(1 << 62), false},
		{"nothing", nil, true},
	} {
		// The peer writes data and then waits for us to hang up.
		peer := func(nc net.Conn) {
			defer nc.Close()
			if tc.data != nil {
				nc.Write(tc.data)
			}
			io.Copy(io.Discard, nc)
		}
		check := func(t *testing.T, err error, elapsed time.Duration, allocated uint64) time.Duration {
			t.Logf("%v after %v, %d KiB allocated", err, elapsed.Round(time.Millisecond), allocated>>10)
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.timeout, ae.Timeout(), "%v", err)
			assert.LessOrEqual(t, allocated, uint64(budget))
			return elapsed
		}
		auth := Auth{Key: faultKey, Timeout: 200 * time.Millisecond}
		t.Run("accept/"+tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
				l := faultListen(t, &ListenOptions{Auth: auth})
				runtime.GC()
				before := faultAllocated()
				start := time.Now()
				nc, err := net.Dial("unix", l.Addr().String())
				require.NoError(t, err)
				done := make(chan struct{})
				go func() { defer close(done); peer(nc) }()
				_, err = l.Accept()
				defer func() { <-done }()
				return check(t, err, time.Since(start), faultAllocated()-before)
			})
		})
		t.Run("dial/"+tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			faultPromptly(t, faultPrompt, func(t *testing.T) time.Duration {
				nl, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
				require.NoError(t, err)
				done := make(chan struct{})
				go func() {
					defer close(done)
					if nc, err := nl.Accept(); err == nil {
						peer(nc)
					}
				}()
				defer func() { nl.Close(); <-done }()
				runtime.GC()
				before := faultAllocated()
				start := time.Now()
				_, err = Dial(nl.Addr().String(), &DialOptions{Auth: auth})
				return check(t, err, time.Since(start), faultAllocated()-before)
			})
		})
	}
}

// A Listener under attack keeps serving honest clients, Go and Python:
// peers that stall in the handshake, send garbage, lie in headers before
// and after authenticating, use the wrong key, or die mid-frame each cost
// one connection, and memory stays bounded.
func TestListenerSurvivesBadPeers(t *testing.T) {
	p := pymatrix.Newest(t)
	leakcheck.Check(t)
	d := startFaultDriver(t, p)
	// An honest client served in turn with the stallers would wait for
	// their timeouts, 8 × 500 ms.
	faultPromptly(t, 2*time.Second, func(t *testing.T) time.Duration { return faultSiege(t, d) })
}

// faultSiege runs one siege of a Listener and returns how long the slowest
// honest round trip took.
func faultSiege(t *testing.T, d *faultDriver) time.Duration {
	const maxMessage = 1 << 20
	auth := Auth{Key: faultKey, Timeout: 500 * time.Millisecond, AcceptDigests: AllDigests()}
	l := faultListen(t, &ListenOptions{Auth: auth, Conn: &Options{MaxMessageSize: maxMessage}})
	addr := l.Addr().String()

	// The server: echo every message; count how each connection ends.
	var mu sync.Mutex
	ends := map[string]int{}
	count := func(what string) { mu.Lock(); ends[what]++; mu.Unlock() }
	var serving sync.WaitGroup
	serving.Add(1)
	go func() {
		defer serving.Done()
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				var ae *AuthError
				switch {
				case errors.Is(err, ErrAuthentication):
					count("auth: refused")
				case errors.As(err, &ae) && ae.Timeout():
					count("auth: timeout")
				case errors.As(err, &ae):
					count("auth: i/o")
				default:
					count("accept: " + err.Error())
				}
				continue
			}
			serving.Add(1)
			go func() {
				defer serving.Done()
				defer c.Close()
				for {
					b, err := c.RecvBytes()
					if err != nil {
						var tl *MessageTooLargeError
						switch {
						case err == io.EOF:
							count("conn: eof")
						case err == io.ErrUnexpectedEOF:
							count("conn: cut short")
						case errors.As(err, &tl):
							count("conn: too large")
						default:
							count("conn: " + err.Error())
						}
						return
					}
					if err := c.SendBytes(b); err != nil {
						count("conn: send: " + err.Error())
						return
					}
				}
			}()
		}
	}()

	// The heap's high-water mark while the attack goes on.
	runtime.GC() // what earlier tests left is not ours
	var peak uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak = max(peak, faultHeapInUse())
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	var attackers sync.WaitGroup
	attack := func(n int, f func(i int)) {
		for i := range n {
			attackers.Add(1)
			go func() { defer attackers.Done(); f(i) }()
		}
	}
	raw := func(f func(nc net.Conn)) func(int) {
		return func(int) {
			nc, err := net.Dial("unix", addr)
			if err != nil {
				return
			}
			defer nc.Close()
			f(nc)
		}
	}
	authed := func(f func(nc net.Conn)) func(int) {
		return raw(func(nc net.Conn) {
			if err := Authenticate(context.Background(), New(nc, nil), RoleClient, &Auth{Key: faultKey}); err != nil {
				count("attacker: " + err.Error())
				return
			}
			f(nc)
		})
	}
	garbage := make([]byte, 1<<20)
	for i := range garbage {
		garbage[i] = byte(i*13 + i>>9)
	}
	// Stallers: connect and say nothing until the Listener gives up.
	attack(8, raw(func(nc net.Conn) { io.Copy(io.Discard, nc) }))
	// Garbage: a megabyte of it.
	attack(8, raw(func(nc net.Conn) { nc.Write(garbage); io.Copy(io.Discard, nc) }))
	// Liars in the handshake: a response claiming 2^62 bytes or 1 GiB.
	attack(4, raw(func(nc net.Conn) { nc.Write(faultLongHeader(1 << 62)); io.Copy(io.Discard, nc) }))
	attack(4, raw(func(nc net.Conn) { nc.Write([]byte{0x40, 0, 0, 0}); io.Copy(io.Discard, nc) }))
	// The wrong key.
	attack(4, func(int) {
		_, err := Dial(addr, &DialOptions{Auth: Auth{Key: []byte("wrong")}})
		if !errors.Is(err, ErrAuthentication) {
			count("attacker with the wrong key: " + faultErrString(err))
		}
	})
	// Liars after the handshake: 1 GiB announced against a 1 MiB limit;
	// a frame within the limit, cut short.
	attack(4, authed(func(nc net.Conn) { nc.Write(faultLongHeader(1 << 30)); io.Copy(io.Discard, nc) }))
	attack(4, authed(func(nc net.Conn) { nc.Write([]byte{0, 0x08, 0, 0, 'x'}) }))

	// Honest Go clients, round trip after round trip, while all that goes on.
	const honest, rounds = 4, 25
	var clients sync.WaitGroup
	var worst time.Duration
	for i := range honest {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for r := range rounds {
				start := time.Now()
				err := faultRoundTrip(addr, []byte{byte(i), byte(r)})
				el := time.Since(start)
				mu.Lock()
				worst = max(worst, el)
				mu.Unlock()
				if err != nil {
					count("honest: " + err.Error())
				}
			}
		}()
	}
	// Python children that authenticate, send a message, start another and
	// are SIGKILLed mid-frame.
	for range 3 {
		d.run(t, map[string]any{"op": "frame", "addr": addr, "cut": "body", "key": hex.EncodeToString(faultKey), "echo": true})
		faultKill(t, d.ready(t))
	}
	clients.Wait()
	attackers.Wait()
	// A peer may see its connection closed a moment before the Listener
	// hands the failure to Accept: wait for every outcome before closing.
	const outcomes = 8 + 8 + 4 + 4 + 4 + 4 + 4 + 3 + honest*rounds
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := 0
		for _, k := range ends {
			n += k
		}
		mu.Unlock()
		if n >= outcomes {
			break
		}
	}

	close(stopSampling)
	<-sampled
	require.NoError(t, l.Close())
	serving.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("connections ended: %v; slowest honest round trip %v; heap in use at most %d KiB", ends, worst, peak>>10)
	for what, n := range ends {
		assert.True(t, strings.HasPrefix(what, "auth: ") || slices.Contains([]string{"conn: eof", "conn: cut short", "conn: too large"}, what),
			"%d× %s", n, what)
	}
	assert.Equal(t, 8, ends["auth: timeout"], "the stallers")
	assert.Equal(t, 8+4+4+4, ends["auth: refused"], "garbage, liars and wrong keys")
	assert.Equal(t, 4, ends["conn: too large"])
	assert.Equal(t, 4+3, ends["conn: cut short"])
	assert.Equal(t, honest*rounds, ends["conn: eof"])
	assert.Less(t, peak, uint64(64<<20), "memory grew with the attack")
	return worst
}

// faultHeapInUse returns the bytes of live and not yet swept heap objects,
// without stopping the world.
func faultHeapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func faultErrString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// faultRoundTrip dials, sends msg, checks the echo and hangs up.
func faultRoundTrip(addr string, msg []byte) error {
	c, err := Dial(addr, &DialOptions{Auth: Auth{Key: faultKey}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendBytes(msg); err != nil {
		return err
	}
	got, err := c.RecvBytes()
	if err != nil {
		return err
	}
	if string(got) != string(msg) {
		return errors.New("echo differs")
	}
	return nil
}
