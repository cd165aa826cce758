//go:build unix

package main

// The hostile tests: `pipebridge echo --listen` keeps serving honest Python
// clients while other peers stall, send garbage, lie in their headers, die
// mid-frame, stop reading or open and drop connections by the hundred. Each
// bad peer costs its own connection and one line on standard error; the
// process stays up, its memory stays bounded, and SIGTERM still ends it
// with status 0.
//
// The honest clients are real Python processes (testdata/hostile_client.py,
// standard library only) of the oldest and the newest interpreter found; the
// bad peers are raw sockets driven from Go, and Python clients SIGKILLed in
// the middle of a frame. PIPEBRIDGE_LONG=1 makes each siege last
// hostileLongAttack instead of hostileAttack.
//
// TestEchoListenOutOfDescriptors floods echo with more connections than it
// has file descriptors.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

const (
	hostileAttack     = 3 * time.Second // a siege, in the default run
	hostileLongAttack = 2 * time.Minute // a siege, with PIPEBRIDGE_LONG set

	// The bounds. They are meant to catch a server that stalls (an accept
	// loop stuck behind a bad peer, a connection that never answers), not
	// one that is slow on a loaded two-core machine under -race: honest
	// round trips take milliseconds, a stall behind the bad peers here
	// takes as long as they hold their connections (the whole siege) or the
	// 10 s handshake timeout.
	hostileMaxP99     = 1500 * time.Millisecond // p99 of round trips and of connects
	hostileMaxLatency = 5 * time.Second         // any single round trip or connect

	// VmHWM of the echo process. Each lie of "1 GiB then EOF" makes a Conn
	// allocate the 64 MiB a header alone may cost (conn's # Limits), some
	// 30 a second, and each slow reader holds a 16 MiB message and its
	// re-encoding, so with the garbage collector's slack the peak is a few
	// hundred MiB; if either were kept after its connection ended, a
	// siege would pass 1 GiB in seconds.
	hostileMaxRSS = 1 << 30

	// hostileHold is the longest a bad peer holds its connection: longer
	// than the server's 10 s handshake timeout, so that in a long siege
	// silent peers meet it.
	hostileHold = 12 * time.Second

	hostileSlowBody = 16 << 20 // the message a slow reader never reads back
	hostileCutBody  = 4 << 20  // the message a killed Python client cuts in half
)

// hostileLine is the form of every line echo writes on standard error: a
// failed handshake, or a connection that failed after it.
var hostileLine = regexp.MustCompile(`^pipebridge echo: (conn: .+|connection [0-9]+: .+)$`)

// TestEchoListenHostile: echo --listen with a key on TCP, and without one on
// a Unix socket (objects) and on loopback TCP (bytes), under siege.
func TestEchoListenHostile(t *testing.T) {
	pys := pymatrix.Find(t)
	honest := []pymatrix.Interpreter{pys[0]}
	if len(pys) > 1 {
		honest = append(honest, pys[len(pys)-1])
	}
	attack := hostileAttack
	if os.Getenv("PIPEBRIDGE_LONG") != "" {
		attack = hostileLongAttack
	}
	for _, tc := range []struct {
		name    string
		address string // "": a Unix socket in t.TempDir()
		key     string
		mode    string
	}{
		{"key/tcp/objects", "127.0.0.1:0", "hostile key", "objects"},
		{"nokey/unix/objects", "", "", "objects"},
		{"nokey/tcp/bytes", "127.0.0.1:0", "", "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			address := tc.address
			if address == "" {
				address = filepath.Join(t.TempDir(), "echo.sock")
			}
			args := []string{"echo", "--listen", address, "--mode", tc.mode}
			if tc.key != "" {
				args = append(args, "--authkey-env", keyVar)
			}
			echo := startBinary(t, tc.key, "", args...)
			s := newHostileSiege(t, echo.listening(t), tc.key, tc.mode == "objects", attack)
			s.run(t, echo, honest)
		})
	}
}

// TestEchoListenOutOfDescriptors: a peer that opens more connections than
// echo may have file descriptors (ulimit -n 32) makes accept fail with
// EMFILE. Echo logs it and retries with a growing pause, not in a busy loop
// (a bounded number of lines), honest clients that arrive meanwhile wait in
// the kernel's backlog, and once the peer lets go they are served and echo
// exits 0 on SIGTERM as usual.
func TestEchoListenOutOfDescriptors(t *testing.T) {
	const (
		limit   = 32
		flood   = 60
		exhaust = time.Second // how long the flood holds on once accept fails
	)
	py := pymatrix.Newest(t)
	address := filepath.Join(t.TempDir(), "echo.sock")
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, limit), "sh",
		pipebridgeBinary(t), "echo", "--listen", address)
	echo := start(t, fmt.Sprintf("pipebridge echo --listen under ulimit -n %d", limit), cmd)
	require.Equal(t, address, echo.listening(t))
	s := newHostileSiege(t, address, "", true, 3*time.Second)

	var silent []net.Conn
	defer func() {
		for _, nc := range silent {
			nc.Close()
		}
	}()
	for range flood {
		nc, ok := s.dial()
		require.True(t, ok, "%v", s.problems)
		silent = append(silent, nc)
	}
	for end := time.Now().Add(20 * time.Second); !strings.Contains(echo.stderr.String(), "too many open files"); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(end), "accept never failed; stderr:\n%s", echo.stderr)
	}
	s.deadline = time.Now().Add(s.attack)
	wait := s.honestClients(t, []pymatrix.Interpreter{py})
	time.Sleep(exhaust)
	for _, nc := range silent {
		nc.Close()
	}
	results := wait()
	require.NoError(t, s.goRoundTrip(), "a round trip after the flood")
	require.NoError(t, echo.cmd.Process.Signal(syscall.SIGTERM))
	out, err := echo.rest(t)
	stderr := echo.stderr.String()
	require.NoError(t, err, "echo after SIGTERM; stderr:\n%s", hostileTail(stderr))
	assert.Empty(t, out)

	r := results[0]
	assert.Empty(t, r.Errors)
	assert.NotZero(t, r.OK)
	slowest := slices.Max(append(r.RTT, r.Connect...))
	got := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	t.Logf("%d honest round trips, the slowest %v (the first waited for the flood to end); %d lines on stderr",
		r.OK, hostileMS(slowest).Round(time.Millisecond), len(got))
	assert.Less(t, hostileMS(slowest), exhaust+hostileMaxLatency, "slowest honest round trip or connect")
	// Pauses of 5 ms doubling up to 1 s: about log2(200) + 1 lines a second
	// at first, then one a second.
	assert.LessOrEqual(t, len(got), 20, "lines on stderr; a busy accept loop?\n%s", hostileTail(stderr))
	for _, l := range got {
		if !assert.Regexp(t, `^pipebridge echo: conn: accept: .*too many open files$`, l) {
			break
		}
	}
}

// hostileSiege is one siege of one echo server.
type hostileSiege struct {
	network, dialAddr string // for net.Dial
	addr              string // as pipebridge and hostile_client.py write it
	key               []byte // nil: no handshake
	objects           bool
	attack            time.Duration
	deadline          time.Time // no bad peer starts after it

	wg       sync.WaitGroup
	mu       sync.Mutex
	peers    map[string]int // bad peers of each kind
	lines    int            // lines they should have caused on stderr
	problems []string       // what went wrong on the attackers' side
}

func newHostileSiege(t *testing.T, addr, key string, objects bool, attack time.Duration) *hostileSiege {
	s := &hostileSiege{addr: addr, objects: objects, attack: attack, peers: map[string]int{}}
	if key != "" {
		s.key = []byte(key)
	}
	a, err := conn.ParseAddress(addr)
	require.NoError(t, err)
	s.network = "unix"
	s.dialAddr = a.Path
	if a.Family == conn.FamilyTCP {
		s.network, s.dialAddr = "tcp", addr
	}
	return s
}

func (s *hostileSiege) keyed() bool { return s.key != nil }

func (s *hostileSiege) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// loop runs bad peers of one kind from workers goroutines, one after the
// other with a pause between them, until the deadline. Each peer returns
// whether it should cost a line on stderr, and false for ok if it could not
// play its part (a problem already reported).
func (s *hostileSiege) loop(kind string, workers int, pause time.Duration, peer func(rng *rand.Rand) (line, ok bool)) {
	for w := range workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			rng := rand.New(rand.NewSource(int64(len(kind)*1000 + w)))
			for time.Now().Before(s.deadline) {
				line, ok := peer(rng)
				if ok {
					s.mu.Lock()
					s.peers[kind]++
					if line {
						s.lines++
					}
					s.mu.Unlock()
				}
				time.Sleep(pause)
			}
		}()
	}
}

func (s *hostileSiege) dial() (net.Conn, bool) {
	nc, err := net.Dial(s.network, s.dialAddr)
	if err != nil {
		s.problem("dial: %v", err)
		return nil, false
	}
	return nc, true
}

// open dials and, with a key, passes the handshake as an honest client
// would: what the peer does next it does as an authenticated peer.
func (s *hostileSiege) open() (net.Conn, bool) {
	nc, ok := s.dial()
	if !ok || !s.keyed() {
		return nc, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Authenticate(ctx, conn.New(nc, nil), conn.RoleClient, &conn.Auth{Key: s.key}); err != nil {
		nc.Close()
		s.problem("a bad peer's handshake: %v", err)
		return nil, false
	}
	return nc, true
}

// holdUntil is when a peer that holds its connection lets go.
func (s *hostileSiege) holdUntil() time.Time {
	if t := time.Now().Add(hostileHold); t.Before(s.deadline) {
		return t
	}
	return s.deadline
}

// hold keeps nc open, reading and dropping whatever arrives, until the
// server closes it or holdUntil.
func (s *hostileSiege) hold(nc net.Conn) {
	nc.SetReadDeadline(s.holdUntil())
	io.Copy(io.Discard, nc)
}

// closedByServer reads until the server closes nc, which it must do
// promptly after a frame it refuses.
func (s *hostileSiege) closedByServer(nc net.Conn, what string) {
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil && os.IsTimeout(err) {
		s.problem("%s: the server kept the connection open for 20 s", what)
	}
}

func hostileHeader(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func hostileLongHeader(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xff, 0xff, 0xff, 0xff}, n)
}

func hostileRandom(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// hostileBody is an echoable message of n bytes and more: in objects mode a
// pickle of a bytes object (protocol 3, BINBYTES), in bytes mode n bytes.
func (s *hostileSiege) hostileBody(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i)
	}
	if !s.objects {
		return data
	}
	p := binary.LittleEndian.AppendUint32([]byte{0x80, 3, 'B'}, uint32(n))
	return append(append(p, data...), '.')
}

// attackers starts every kind of bad peer.
func (s *hostileSiege) attackers(py pymatrix.Interpreter) {
	const pause = 30 * time.Millisecond
	keyed := s.keyed()

	// Connect and say nothing: in the handshake with a key (fewer at once
	// than the Listener's 64 pending handshakes), between frames without.
	s.loop("silent", 16, pause, func(*rand.Rand) (bool, bool) {
		nc, ok := s.dial()
		if !ok {
			return false, false
		}
		defer nc.Close()
		s.hold(nc)
		return keyed, true
	})
	// Stall inside a frame: after part of a header, after part of a body.
	s.loop("partial header", 2, pause, func(*rand.Rand) (bool, bool) {
		nc, ok := s.open()
		if !ok {
			return false, false
		}
		defer nc.Close()
		nc.Write([]byte{0, 0})
		s.hold(nc)
		return true, true
	})
	s.loop("partial body", 2, pause, func(rng *rand.Rand) (bool, bool) {
		nc, ok := s.open()
		if !ok {
			return false, false
		}
		defer nc.Close()
		nc.Write(append(hostileHeader(1000), hostileRandom(rng, 500)...))
		s.hold(nc)
		return true, true
	})
	// Garbage from the first byte (a negative length; with a key, in the
	// handshake).
	s.loop("garbage", 2, pause, func(rng *rand.Rand) (bool, bool) {
		nc, ok := s.dial()
		if !ok {
			return false, false
		}
		defer nc.Close()
		b := hostileRandom(rng, 1+rng.Intn(64<<10))
		b[0] = 0x80 + byte(rng.Intn(0x7f))
		nc.Write(b)
		return true, true
	})
	// Well-formed frames of random bytes or text: not pickles, which
	// objects mode refuses; bytes mode echoes them, then meets a frame cut
	// short.
	s.loop("random frames", 2, pause, func(rng *rand.Rand) (bool, bool) {
		nc, ok := s.open()
		if !ok {
			return false, false
		}
		defer nc.Close()
		var b []byte
		for range 1 + rng.Intn(3) {
			body := hostileRandom(rng, 32+rng.Intn(4096))
			if rng.Intn(2) == 0 {
				body = []byte("this is not a pickle, it is text\n")
			}
			b = append(append(b, hostileHeader(len(body))...), body...)
		}
		if !s.objects {
			b = append(b, hostileHeader(100)...)
		}
		nc.Write(b)
		if s.objects {
			s.closedByServer(nc, "a frame that is not a pickle")
		}
		return true, true
	})
	// Lying headers, refused at once (the limit is 1 GiB), and lengths
	// followed by the end of the stream. With a key both before the
	// handshake (in it) and after.
	lies := []struct {
		name   string
		header []byte
		cut    bool // the peer hangs up at once instead of waiting to be closed
	}{
		{"-1 and 2^62", hostileLongHeader(1 << 62), false},
		{"-1 and 2^64-1", hostileLongHeader(1<<64 - 1), false},
		{"2^31-1", hostileHeader(0x7fffffff), false},
		{"1 GiB then EOF", hostileHeader(1 << 30), true},
		{"100000 then EOF", append(hostileHeader(100000), "0123456789"...), true},
	}
	for _, lie := range lies {
		s.loop("lie: "+lie.name, 1, pause, func(*rand.Rand) (bool, bool) {
			nc, ok := s.open()
			if !ok {
				return false, false
			}
			defer nc.Close()
			nc.Write(lie.header)
			if !lie.cut {
				s.closedByServer(nc, "lie "+lie.name)
			}
			return true, true
		})
		if keyed {
			s.loop("lie in the handshake: "+lie.name, 1, pause, func(*rand.Rand) (bool, bool) {
				nc, ok := s.dial()
				if !ok {
					return false, false
				}
				defer nc.Close()
				nc.Write(lie.header)
				s.closedByServer(nc, "lie in the handshake "+lie.name)
				return true, true
			})
		}
	}
	// Send a large message and never read the echo, which fills the
	// socket buffers and blocks the server's write to this connection.
	slow := s.hostileBody(hostileSlowBody)
	s.loop("slow reader", 2, pause, func(*rand.Rand) (bool, bool) {
		nc, ok := s.open()
		if !ok {
			return false, false
		}
		defer nc.Close()
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(64 << 10) // no autotuning up to a 32 MiB window
		}
		if _, err := nc.Write(append(hostileHeader(len(slow)), slow...)); err != nil {
			s.problem("slow reader: %v", err)
			return false, false
		}
		time.Sleep(time.Until(s.holdUntil()))
		return true, true
	})
	// Open and drop connections, 20 at a time; on TCP with a key, half of
	// them with a reset. Without a key, a connection dropped before its
	// first frame is a clean end, not a failure.
	s.loop("churn", 1, pause, func(*rand.Rand) (bool, bool) {
		var ncs []net.Conn
		for range 20 {
			nc, ok := s.dial()
			if !ok {
				break
			}
			ncs = append(ncs, nc)
		}
		for i, nc := range ncs {
			if tc, ok := nc.(*net.TCPConn); ok && keyed && i%2 == 0 {
				tc.SetLinger(0)
			}
			nc.Close()
		}
		s.mu.Lock()
		s.peers["churn"] += len(ncs) - 1 // loop counts one
		if keyed {
			s.lines += len(ncs) - 1
		}
		s.mu.Unlock()
		return keyed, len(ncs) > 0
	})
	// Python clients that write half of a large message and are SIGKILLed.
	s.loop("killed mid-frame", 1, pause, func(*rand.Rand) (bool, bool) {
		return true, s.killMidFrame(py)
	})
}

// killMidFrame runs one hostile_client.py cut and SIGKILLs it once it has
// written half its message.
func (s *hostileSiege) killMidFrame(py pymatrix.Interpreter) bool {
	mode := "bytes"
	if s.objects {
		mode = "objects"
	}
	cfg, _ := json.Marshal(map[string]any{"addr": s.addr, "key": s.hexKey(), "mode": mode, "size": hostileCutBody})
	cmd := py.Command(filepath.Join("testdata", "hostile_client.py"), "cut", string(cfg))
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		s.problem("cut client: %v", err)
		return false
	}
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(stdout, b, len(`{"cut": true}`))
		line <- string(b[:n])
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, `"cut": true`) {
			s.problem("cut client printed %q; stderr: %s", l, stderr)
		}
	case <-time.After(30 * time.Second):
		s.problem("cut client: nothing within 30 s; stderr: %s", stderr)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	return true
}

func (s *hostileSiege) hexKey() any {
	if s.key == nil {
		return nil
	}
	return hex.EncodeToString(s.key)
}

// hostileResult is what an honest hostile_client.py reports.
type hostileResult struct {
	OK      int
	Errors  []string
	RTT     []float64 // milliseconds
	Connect []float64
}

// run lays siege to echo, with honest clients of each interpreter in
// honest, and checks the outcome.
func (s *hostileSiege) run(t *testing.T, echo *proc, honest []pymatrix.Interpreter) {
	pid := echo.cmd.Process.Pid
	s.deadline = time.Now().Add(s.attack)
	s.attackers(honest[len(honest)-1])

	wait := s.honestClients(t, honest)
	results := wait()
	honestDone := time.Now()
	s.wg.Wait()
	attackDone := time.Now()

	// Each bad peer's line may come a moment after the peer gave up.
	s.mu.Lock()
	lines := s.lines
	s.mu.Unlock()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && strings.Count(echo.stderr.String(), "\n") < lines; {
		time.Sleep(10 * time.Millisecond)
	}

	// Still serving: alive, and a last honest round trip passes, from Go.
	select {
	case <-echo.done:
		t.Fatalf("echo exited during the siege (%v); stderr:\n%s", echo.err, hostileTail(echo.stderr.String()))
	default:
	}
	require.NoError(t, syscall.Kill(pid, 0), "echo is gone")
	require.NoError(t, s.goRoundTrip(), "a round trip after the siege")
	peak, rssErr := hostilePeakRSS(pid)

	// SIGTERM with bad peers still attached: a silent one, one inside a
	// frame and a slow reader. They cost no lines: echo is shutting down.
	var attached []net.Conn
	if nc, ok := s.dial(); ok {
		attached = append(attached, nc)
	}
	if nc, ok := s.open(); ok {
		nc.Write(hostileHeader(1000))
		attached = append(attached, nc)
	}
	if nc, ok := s.open(); ok {
		slow := s.hostileBody(hostileSlowBody)
		go nc.Write(append(hostileHeader(len(slow)), slow...))
		attached = append(attached, nc)
	}
	time.Sleep(200 * time.Millisecond)
	termAt := time.Now()
	require.NoError(t, echo.cmd.Process.Signal(syscall.SIGTERM))
	out, err := echo.rest(t)
	t.Logf("after the deadline: honest clients done %v, bad peers %v, SIGTERM %v; exit %v after it",
		honestDone.Sub(s.deadline).Round(time.Millisecond), attackDone.Sub(s.deadline).Round(time.Millisecond),
		termAt.Sub(s.deadline).Round(time.Millisecond), time.Since(termAt).Round(time.Millisecond))
	for _, nc := range attached {
		nc.Close()
	}
	stderr := echo.stderr.String()
	require.NoError(t, err, "echo after SIGTERM; stderr:\n%s", hostileTail(stderr))
	assert.Empty(t, out)

	// The report.
	var rtt, connects []float64
	ok := 0
	for i, r := range results {
		ok += r.OK
		rtt = append(rtt, r.RTT...)
		connects = append(connects, r.Connect...)
		assert.Empty(t, r.Errors, "honest client %s", honest[i].Version)
		assert.NotZero(t, r.OK, "honest client %s made no round trip", honest[i].Version)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var peers []string
	for _, k := range slices.Sorted(maps.Keys(s.peers)) {
		peers = append(peers, fmt.Sprintf("%s %d", k, s.peers[k]))
	}
	t.Logf("siege of %v: %d honest round trips (%s) in %d connections (%s); bad peers: %s; %d refused (lines on stderr)",
		s.attack, ok, hostileStats(rtt), len(connects), hostileStats(connects), strings.Join(peers, ", "), strings.Count(stderr, "\n"))
	if rssErr != nil {
		t.Logf("peak RSS not measured: %v", rssErr)
	} else {
		t.Logf("peak RSS of echo (VmHWM) %d MiB", peak>>20)
		assert.Less(t, peak, uint64(hostileMaxRSS), "peak RSS of echo")
	}

	assert.Empty(t, s.problems, "the bad peers could not play their part")
	for _, lat := range []struct {
		what string
		ms   []float64
	}{{"round trip", rtt}, {"connect", connects}} {
		if len(lat.ms) == 0 {
			continue
		}
		sort.Float64s(lat.ms)
		assert.Less(t, hostileMS(hostilePercentile(lat.ms, 99)), hostileMaxP99, "p99 %s", lat.what)
		assert.Less(t, hostileMS(lat.ms[len(lat.ms)-1]), hostileMaxLatency, "slowest %s", lat.what)
	}
	got := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if stderr == "" {
		got = nil
	}
	assert.Equal(t, s.lines, len(got), "one line on stderr per bad peer that failed; stderr:\n%s", hostileTail(stderr))
	shapes := map[string]int{}
	for _, l := range got {
		if !assert.Regexp(t, hostileLine, l) || !assert.NotContains(t, l, "internal error") {
			break
		}
		shapes[hostileDigits.ReplaceAllString(l, "N")]++
	}
	for _, sh := range slices.Sorted(maps.Keys(shapes)) {
		t.Logf("%5d× %s", shapes[sh], sh)
	}
}

// hostileDigits are the numbers in an error line, which vary from peer to
// peer: the lines are summarised by their shapes.
var hostileDigits = regexp.MustCompile(`\b[0-9a-f]{2}( [0-9a-f]{2}){3}\b|[0-9]+`)

// honestClients starts an honest hostile_client.py of each interpreter, for
// the length of the siege; wait waits for their results.
func (s *hostileSiege) honestClients(t *testing.T, honest []pymatrix.Interpreter) (wait func() []hostileResult) {
	mode := "bytes"
	if s.objects {
		mode = "objects"
	}
	results := make([]hostileResult, len(honest))
	var clients sync.WaitGroup
	for i, py := range honest {
		out := filepath.Join(t.TempDir(), "honest.json")
		cfg, err := json.Marshal(map[string]any{"addr": s.addr, "key": s.hexKey(), "mode": mode,
			"seconds": s.attack.Seconds(), "per_conn": 10, "seed": i, "out": out})
		require.NoError(t, err)
		p := start(t, "honest python "+py.Version, py.Command(filepath.Join("testdata", "hostile_client.py"), "honest", string(cfg)))
		clients.Add(1)
		go func() {
			defer clients.Done()
			select {
			case l, ok := <-p.lines:
				if ok {
					b, err := os.ReadFile(out)
					if err == nil {
						err = json.Unmarshal(b, &results[i])
					}
					if err != nil {
						results[i].Errors = append(results[i].Errors, fmt.Sprintf("%s printed %q; its result: %v", p.name, l, err))
					}
				} else {
					<-p.done
					results[i].Errors = append(results[i].Errors, fmt.Sprintf("%s ended (%v) without a result; stderr:\n%s", p.name, p.err, p.stderr))
				}
			case <-time.After(s.attack + 2*time.Minute):
				results[i].Errors = append(results[i].Errors, fmt.Sprintf("%s: no result %v after the siege began (a stalled server?)", p.name, s.attack+2*time.Minute))
			}
		}()
	}
	return func() []hostileResult {
		clients.Wait()
		return results
	}
}

// goRoundTrip connects from Go and checks one echo.
func (s *hostileSiege) goRoundTrip() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := conn.DialContext(ctx, s.addr, &conn.DialOptions{Auth: conn.Auth{Key: s.key}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendContext(ctx, []any{"after the siege", int64(1)}); err != nil {
		return err
	}
	var back any
	if err := c.RecvContext(ctx, &back); err != nil {
		return err
	}
	if fmt.Sprint(back) != "[after the siege 1]" {
		return fmt.Errorf("echo sent back %#v", back)
	}
	return nil
}

// hostilePeakRSS returns the VmHWM of process pid, in bytes.
func hostilePeakRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func hostileMS(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// hostilePercentile returns the p-th percentile of sorted (nearest rank).
func hostilePercentile(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func hostileStats(ms []float64) string {
	if len(ms) == 0 {
		return "none"
	}
	s := slices.Sorted(slices.Values(ms))
	return fmt.Sprintf("p50 %v, p99 %v, max %v", hostileMS(hostilePercentile(s, 50)).Round(10*time.Microsecond),
		hostileMS(hostilePercentile(s, 99)).Round(10*time.Microsecond), hostileMS(s[len(s)-1]).Round(10*time.Microsecond))
}

// hostileTail is the end of a long stderr, for failure messages.
func hostileTail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 30 {
		return fmt.Sprintf("[%d lines before]\n%s", len(lines)-30, strings.Join(lines[len(lines)-30:], "\n"))
	}
	return s
}
