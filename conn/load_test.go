//go:build linux

package conn

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/leakcheck"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/pickle"
)

// The load tests: 128 concurrent clients exchanging a mix of pickled
// objects and raw bytes, every message checksummed and accounted for,
// while the memory of both sides is watched. testdata/load_peer.py
// describes the exchange. A short run is part of every `go test`;
// PIPEBRIDGE_LONG=1 makes each direction run for a minute.

const loadClients = 128

var loadKey = []byte("pipebridge load key")

// loadDuration is how long the clients exchange messages.
func loadDuration() time.Duration {
	if os.Getenv("PIPEBRIDGE_LONG") != "" {
		return 60 * time.Second
	}
	return 2 * time.Second
}

// loadSummary is what a Python process of load_peer.py prints at the end.
type loadSummary struct {
	Addr        string         `json:"addr"`
	Clients     int            `json:"clients"`
	Connections int            `json:"connections"`
	Messages    int64          `json:"messages"`
	Bytes       int64          `json:"bytes"`
	Errors      int            `json:"errors"`
	FirstError  string         `json:"first_error"`
	PerClient   map[string]int `json:"per_client"`
	MaxRSSKiB   int64          `json:"maxrss_kb"`
}

// loadTally counts, per client id, the messages that arrived whole.
type loadTally struct {
	mu        sync.Mutex
	perClient map[int64]int64
	bytes     int64
	errs      []string
}

func newLoadTally() *loadTally { return &loadTally{perClient: map[int64]int64{}} }

func (t *loadTally) add(cid int64, n int) {
	t.mu.Lock()
	t.perClient[cid]++
	t.bytes += int64(n)
	t.mu.Unlock()
}

func (t *loadTally) fail(format string, args ...any) {
	t.mu.Lock()
	if len(t.errs) < 10 {
		t.errs = append(t.errs, fmt.Sprintf(format, args...))
	}
	t.mu.Unlock()
}

func (t *loadTally) total() (n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.perClient {
		n += m
	}
	return n
}

// loadMemory samples this process's heap and RSS and a Python process's RSS
// while a load test runs, to tell flat memory from growing memory.
type loadMemory struct {
	pids  []int
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	goRSS []uint64 // KiB, one sample every loadSampleEvery
	pyRSS []uint64 // KiB, summed over pids
}

const loadSampleEvery = 50 * time.Millisecond

func loadWatchMemory(pids ...int) *loadMemory {
	// Reset this process's peak RSS, so that VmHWM is this test's own.
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	m := &loadMemory{pids: pids, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			g := loadProcKiB("self", "VmRSS")
			var p uint64
			for _, pid := range m.pids {
				p += loadProcKiB(strconv.Itoa(pid), "VmRSS")
			}
			m.mu.Lock()
			m.goRSS = append(m.goRSS, g)
			m.pyRSS = append(m.pyRSS, p)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-time.After(loadSampleEvery):
			}
		}
	}()
	return m
}

func (m *loadMemory) finish() {
	close(m.stop)
	<-m.done
}

// flat checks that the last third of a run needed no more memory than the
// middle third, give or take a quarter and slackKiB: memory that grows
// with the number of messages shows up as a rising last third. The first
// third is warm-up: interpreters starting, connections being set up, and
// buffers growing to the largest message each has seen so far. A short run
// can only catch gross growth; the minute of PIPEBRIDGE_LONG=1, with some
// hundred thousand messages, shows a leak of a few hundred bytes a message.
func (m *loadMemory) flat(t *testing.T, what string, samples []uint64, slackKiB uint64) {
	t.Helper()
	if len(samples) < 9 {
		return
	}
	third := len(samples) / 3
	middle := loadMax(samples[third : 2*third])
	last := loadMax(samples[2*third:])
	assert.LessOrEqual(t, last, middle+middle/4+slackKiB,
		"%s grew: peak %d KiB in the middle third of the run, %d KiB in the last", what, middle, last)
}

func loadMax(s []uint64) uint64 {
	var m uint64
	for _, x := range s {
		m = max(m, x)
	}
	return m
}

// loadProcKiB reads one "Name:   123 kB" line of /proc/PID/status.
func loadProcKiB(pid, name string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func loadHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// loadSeq returns the elements of a decoded tuple or list, whichever
// spelling the codec's value model gives them.
func loadSeq(v any) ([]any, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() != reflect.Interface {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func loadInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case *big.Int:
		return v.Int64(), v.IsInt64()
	}
	return 0, false
}

func loadString(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.String {
		return rv.String(), true
	}
	return "", false
}

// loadServe answers one connection as load_peer.py's serve does, checking
// each message's checksum and order.
func loadServe(c *Conn, tally *loadTally) {
	defer c.Close()
	for i := int64(0); ; i++ {
		if i%2 == 0 {
			var v any
			if err := c.Recv(&v); err != nil {
				if err != io.EOF {
					tally.fail("server: message %d: %v", i, err)
				}
				return
			}
			f, ok := loadSeq(v)
			if !ok || len(f) != 5 {
				tally.fail("server: message %d: %#v is no 5-tuple", i, v)
				return
			}
			cid, ok1 := loadInt(f[0])
			seq, ok2 := loadInt(f[1])
			text, ok3 := loadString(f[2])
			sum, ok4 := loadInt(f[3])
			if !ok1 || !ok2 || !ok3 || !ok4 || seq != i || int64(crc32.ChecksumIEEE([]byte(text))) != sum {
				tally.fail("server: message %d: bad checksum or order: %.80v", i, f)
				return
			}
			if err := loadCheckMixed(f[4]); err != nil {
				tally.fail("server: message %d: %v", i, err)
				return
			}
			if err := c.Send([]any{cid, seq, sum}); err != nil {
				tally.fail("server: answer %d: %v", i, err)
				return
			}
			tally.add(cid, len(text))
		} else {
			b, err := c.RecvBytes()
			if err != nil {
				if err != io.EOF { // a client may stop after any message
					tally.fail("server: message %d: %v", i, err)
				}
				return
			}
			if len(b) < 12 || int64(binary.BigEndian.Uint32(b[4:])) != i || binary.BigEndian.Uint32(b[8:]) != crc32.ChecksumIEEE(b[12:]) {
				tally.fail("server: message %d: bad checksum or order", i)
				return
			}
			if err := c.SendBytes(b); err != nil {
				tally.fail("server: echo %d: %v", i, err)
				return
			}
			tally.add(int64(binary.BigEndian.Uint32(b)), len(b))
		}
	}
}

// A Go Listener serves 128 Python clients at once, spread over every
// interpreter of the matrix, each sending objects and bytes as fast as the
// answers come back. Every message arrives intact and in order, each side
// counts the same messages per client, and memory stays flat.
func TestLoadGoListenerPythonClients(t *testing.T) {
	pys := pymatrix.Find(t)
	leakcheck.Check(t)
	l, err := Listen("127.0.0.1:0", &ListenOptions{
		Auth:       Auth{Key: loadKey, AcceptDigests: AllDigests()},
		Conn:       &Options{Codec: PickleCodec{Encode: pickle.EncodeOptions{Protocol: 2}}, MaxMessageSize: 1 << 20},
		MaxPending: loadClients,
	})
	require.NoError(t, err)
	defer l.Close()

	tally := newLoadTally()
	var served sync.WaitGroup
	var accepted atomic.Int64
	served.Add(1)
	go func() {
		defer served.Done()
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				tally.fail("accept: %v", err)
				continue
			}
			accepted.Add(1)
			served.Add(1)
			go func() { defer served.Done(); loadServe(c, tally) }()
		}
	}()

	// The clients: loadClients threads, shared out among the interpreters.
	dur := loadDuration()
	type proc struct {
		p      pymatrix.Interpreter
		cmd    *os.Process
		out    chan []byte
		exit   error // cmd.Wait's, set before out is sent on
		stderr *tailBuffer
		n      int
	}
	var procs []*proc
	first := 0
	for i, p := range pys {
		n := loadClients / len(pys)
		if i < loadClients%len(pys) {
			n++
		}
		cmd := p.Command("testdata/load_peer.py", "clients", l.Addr().String(), hex.EncodeToString(loadKey),
			strconv.Itoa(first), strconv.Itoa(n), strconv.FormatFloat(dur.Seconds(), 'f', 3, 64))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		pr := &proc{p: p, out: make(chan []byte, 1), stderr: &tailBuffer{max: 4096}, n: n}
		cmd.Stderr = pr.stderr
		require.NoError(t, cmd.Start())
		pr.cmd = cmd.Process
		go func() {
			b, err := io.ReadAll(stdout)
			pr.exit = cmd.Wait()
			if err != nil && pr.exit == nil {
				pr.exit = err
			}
			pr.out <- b
		}()
		t.Cleanup(func() { cmd.Process.Kill() })
		procs = append(procs, pr)
		first += n
	}
	pids := make([]int, len(procs))
	for i, pr := range procs {
		pids[i] = pr.cmd.Pid
	}
	mem := loadWatchMemory(pids...)
	start := time.Now()

	var py loadSummary
	py.PerClient = map[string]int{}
	var maxRSS []string
	for _, pr := range procs {
		var b []byte
		select {
		case b = <-pr.out:
		case <-time.After(dur + 60*time.Second):
			t.Fatalf("python %s clients did not finish; stderr:\n%s", pr.p.Version, pr.stderr)
		}
		require.NoError(t, pr.exit, "python %s clients; stderr:\n%s", pr.p.Version, pr.stderr)
		var s loadSummary
		require.NoError(t, json.Unmarshal(b, &s), "python %s printed %q; stderr:\n%s", pr.p.Version, b, pr.stderr)
		assert.Zero(t, s.Errors, "python %s: %s", pr.p.Version, s.FirstError)
		assert.Equal(t, pr.n, s.Clients, "python %s ran another number of clients", pr.p.Version)
		py.Messages += s.Messages
		py.Bytes += s.Bytes
		for k, v := range s.PerClient {
			py.PerClient[k] = v
		}
		py.MaxRSSKiB = max(py.MaxRSSKiB, s.MaxRSSKiB)
		maxRSS = append(maxRSS, fmt.Sprintf("%s %d MiB", pr.p.Short(), s.MaxRSSKiB>>10))
	}
	elapsed := time.Since(start)
	mem.finish()
	require.NoError(t, l.Close())
	served.Wait()

	assert.Empty(t, tally.errs)
	assert.Equal(t, int64(loadClients), accepted.Load(), "connections the Listener accepted")
	loadSameCounts(t, py.PerClient, tally)
	assert.Equal(t, py.Messages, tally.total())
	goHWM := loadProcKiB("self", "VmHWM")
	t.Logf("%d Python clients (%d interpreters) → Go Listener: %d messages, %.1f MB of payload in %v: %.0f messages/s; peak RSS: Go %d MiB, Python %s",
		loadClients, len(procs), py.Messages, float64(tally.bytes)/1e6, elapsed.Round(time.Millisecond), float64(py.Messages)/elapsed.Seconds(),
		goHWM>>10, strings.Join(maxRSS, ", "))
	mem.mu.Lock()
	defer mem.mu.Unlock()
	mem.flat(t, "Go's RSS", mem.goRSS, 16<<10)
	mem.flat(t, "the Python clients' RSS", mem.pyRSS, uint64(len(procs))*16<<10)
	assert.Greater(t, py.Messages, int64(loadClients), "hardly any traffic")
}

// 128 Go clients against one Python Listener (the newest Python), each
// sending objects and bytes as fast as the answers come back. Every message
// arrives intact and in order, both sides count the same messages per
// client, and memory stays flat.
func TestLoadPythonListenerGoClients(t *testing.T) {
	p := pymatrix.Newest(t)
	leakcheck.Check(t)
	cmd := p.Command("testdata/load_peer.py", "listen", hex.EncodeToString(loadKey))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	defer func() {
		// Reading is over: the Listener may exit, and is made to if it
		// does not.
		stdin.Close()
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err := <-waited:
			assert.NoError(t, err, "python %s Listener; stderr:\n%s", p.Version, stderr)
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-waited
			t.Errorf("python %s Listener did not exit; stderr:\n%s", p.Version, stderr)
		}
	}()
	lines := bufio.NewReader(stdout)
	readSummary := func() loadSummary {
		line, err := lines.ReadBytes('\n')
		require.NoError(t, err, "python %s: %s", p.Version, stderr)
		var s loadSummary
		require.NoError(t, json.Unmarshal(line, &s), "line %q", line)
		return s
	}
	addr := readSummary().Addr
	require.NotEmpty(t, addr)

	dur := loadDuration()
	mem := loadWatchMemory(cmd.Process.Pid)
	tally := newLoadTally()
	start := time.Now()
	var wg sync.WaitGroup
	deadline := start.Add(dur)
	for cid := range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadClient(int64(cid), addr, deadline, tally)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	mem.finish()

	fmt.Fprintf(stdin, "%d\n", loadClients)
	stdin.Close()
	py := readSummary()

	assert.Empty(t, tally.errs)
	assert.Zero(t, py.Errors, py.FirstError)
	assert.Equal(t, loadClients, py.Connections)
	loadSameCounts(t, py.PerClient, tally)
	assert.Equal(t, py.Messages, tally.total())
	goHWM := loadProcKiB("self", "VmHWM")
	t.Logf("%d Go clients → Python %s Listener: %d messages, %.1f MB of payload in %v: %.0f messages/s; peak RSS: Go %d MiB, Python %d MiB",
		loadClients, p.Short(), tally.total(), float64(tally.bytes)/1e6, elapsed.Round(time.Millisecond), float64(tally.total())/elapsed.Seconds(),
		goHWM>>10, py.MaxRSSKiB>>10)
	mem.mu.Lock()
	defer mem.mu.Unlock()
	mem.flat(t, "Go's RSS", mem.goRSS, 16<<10)
	mem.flat(t, "the Python Listener's RSS", mem.pyRSS, 16<<10)
	assert.Greater(t, tally.total(), int64(loadClients), "hardly any traffic")
}

// loadText is random text of about n bytes, some of it outside ASCII.
func loadText(rng *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 éۀ中"
	r := []rune(letters)
	var b strings.Builder
	for b.Len() < n {
		b.WriteRune(r[rng.IntN(len(r))])
	}
	return b.String()
}

// loadSize is mostly small, sometimes large, as load_peer.py's sizes.
func loadSize(rng *rand.Rand) int {
	switch r := rng.Float64(); {
	case r < 0.8:
		return rng.IntN(513)
	case r < 0.98:
		return 512 + rng.IntN(16<<10)
	default:
		return 16<<10 + rng.IntN(240<<10)
	}
}

// loadClient runs load_peer.py's exchange from Go until deadline.
func loadClient(cid int64, addr string, deadline time.Time, tally *loadTally) {
	c, err := Dial(addr, &DialOptions{Auth: Auth{Key: loadKey}})
	if err != nil {
		tally.fail("client %d: dial: %v", cid, err)
		return
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(uint64(cid), 1))
	bytesSrc := rand.NewChaCha8([32]byte{byte(cid), byte(cid >> 8)})
	mixed := map[string]any{"s": "héllo", "f": 1.5, "l": []any{int64(1), nil, true, false}, "big": new(big.Int).Lsh(big.NewInt(1), 70)}
	payload := make([]byte, 12+256<<10) // a header and the largest body loadSize gives
	var echo []byte
	for i := int64(0); time.Now().Before(deadline); i++ {
		n := loadSize(rng)
		if i%2 == 0 {
			text := loadText(rng, n)
			sum := int64(crc32.ChecksumIEEE([]byte(text)))
			if err := c.Send([]any{cid, i, text, sum, mixed}); err != nil {
				tally.fail("client %d message %d: %v", cid, i, err)
				return
			}
			var v any
			if err := c.Recv(&v); err != nil {
				tally.fail("client %d answer %d: %v", cid, i, err)
				return
			}
			f, ok := loadSeq(v)
			if !ok || len(f) != 3 || !loadEq(f[0], cid) || !loadEq(f[1], i) || !loadEq(f[2], sum) {
				tally.fail("client %d answer %d: %#v", cid, i, v)
				return
			}
			tally.add(cid, len(text))
		} else {
			body := payload[:12+n]
			bytesSrc.Read(body[12:])
			binary.BigEndian.PutUint32(body, uint32(cid))
			binary.BigEndian.PutUint32(body[4:], uint32(i))
			binary.BigEndian.PutUint32(body[8:], crc32.ChecksumIEEE(body[12:]))
			if err := c.SendBytes(body); err != nil {
				tally.fail("client %d message %d: %v", cid, i, err)
				return
			}
			// The echo goes into a buffer reused from message to message.
			got, err := c.RecvBytesAppend(echo[:0])
			if err != nil {
				tally.fail("client %d echo %d: %v", cid, i, err)
				return
			}
			echo = got
			if string(got) != string(body) {
				tally.fail("client %d echo %d differs", cid, i)
				return
			}
			tally.add(cid, len(body))
		}
	}
}

// loadSameCounts checks that Python and Go counted the same messages for
// every client, one id at a time, so that a lost or doubled message shows.
func loadSameCounts(t *testing.T, py map[string]int, tally *loadTally) {
	t.Helper()
	tally.mu.Lock()
	defer tally.mu.Unlock()
	ids := map[int64]bool{}
	for cid := range py {
		id, err := strconv.ParseInt(cid, 10, 64)
		require.NoError(t, err)
		ids[id] = true
	}
	for id := range tally.perClient {
		ids[id] = true
	}
	for id := range ids {
		assert.Equal(t, int64(py[strconv.FormatInt(id, 10)]), tally.perClient[id], "client %d: Python and Go counted different messages", id)
	}
}

func loadEq(v any, want int64) bool {
	got, ok := loadInt(v)
	return ok && got == want
}

// loadCheckMixed checks the MIXED dict of load_peer.py as Go decoded it.
func loadCheckMixed(v any) error {
	d, ok := v.(*pickle.Dict)
	if !ok || d.Len() != 5 {
		return fmt.Errorf("MIXED is %T %v, want a dict of 5 entries", v, v)
	}
	get := func(k string) any { x, _ := d.Get(k); return x }
	want := map[string]any{
		"s":   "h\u00e9llo",
		"f":   1.5,
		"l":   []any{int64(1), nil, true, false},
		"big": new(big.Int).Lsh(big.NewInt(1), 70),
		"t":   pickle.Tuple{int64(7), "x"},
	}
	for k, w := range want {
		if !pickle.Equal(w, get(k)) {
			return fmt.Errorf("MIXED[%q] is %#v, want %#v", k, get(k), w)
		}
	}
	return nil
}
