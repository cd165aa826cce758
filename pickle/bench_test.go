package pickle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	ogórek "github.com/kisielk/og-rek"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The benchmark payloads, built in Go exactly as testdata/bench.py builds
// them in Python (TestBenchPayloadsMatchPython checks the pickles agree).

type benchPayload struct {
	name    string
	records int // items, for per-item figures
	build   func() any
}

var benchPayloads = []benchPayload{
	{"records", 200000, buildRecords},
	{"floats", 1000000, func() any {
		l := make([]any, 1000000)
		for i := range l {
			l[i] = float64(i) * 1.1
		}
		return l
	}},
	{"ints", 1000000, func() any {
		l := make([]any, 1000000)
		for i := range l {
			l[i] = int64(i)
		}
		return l
	}},
	{"bytes", 1, func() any {
		b := make([]byte, 0, 10<<20)
		for len(b) < 10<<20 {
			b = append(b, byte(len(b)))
		}
		return b
	}},
	{"strdict", 100000, func() any {
		d := NewDictSize(100000)
		for i := 0; i < 100000; i++ {
			_ = d.Set(fmt.Sprintf("key%d", i), fmt.Sprintf("value%d", i))
		}
		return d
	}},
}

func buildRecords() any {
	tags := [4]string{"alpha", "beta", "gamma", "delta"}
	l := make([]any, 200000)
	for i := range l {
		t := make([]any, i%4+1)
		for j := range t {
			t[j] = tags[j]
		}
		f := float64(i)
		l[i] = &Dict{entries: []dictEntry{
			{"id", int64(i)},
			{"name", fmt.Sprintf("user_%06d", i)},
			{"email", fmt.Sprintf("user%d@example.com", i)},
			{"score", f*0.5 + 0.25},
			{"active", i%3 != 0},
			{"tags", t},
			{"vals", []any{f * 1.5, f * 2.5, f * 3.5}},
			{"count", int64(i*7919) % 1000003},
		}}
	}
	return l
}

// benchRecord is the records payload as Go structs.
type benchRecord struct {
	ID     int64     `pickle:"id"`
	Name   string    `pickle:"name"`
	Email  string    `pickle:"email"`
	Score  float64   `pickle:"score"`
	Active bool      `pickle:"active"`
	Tags   []string  `pickle:"tags"`
	Vals   []float64 `pickle:"vals"`
	Count  int64     `pickle:"count"`
}

func buildRecordStructs() []benchRecord {
	tags := []string{"alpha", "beta", "gamma", "delta"}
	out := make([]benchRecord, 200000)
	for i := range out {
		f := float64(i)
		out[i] = benchRecord{int64(i), fmt.Sprintf("user_%06d", i), fmt.Sprintf("user%d@example.com", i),
			f*0.5 + 0.25, i%3 != 0, append([]string(nil), tags[:i%4+1]...), []float64{f * 1.5, f * 2.5, f * 3.5}, int64(i*7919) % 1000003}
	}
	return out
}

type builtPayload struct {
	value  any
	pickle []byte
}

var (
	pickleMu sync.Mutex
	pickles  = map[string][]byte{}
)

// payload builds a payload and its pickle. Only the pickles are cached:
// keeping every payload's values alive would make each garbage collection
// scan all of them, and charge that to whatever is being measured.
func payload(tb testing.TB, name string) builtPayload {
	for _, p := range benchPayloads {
		if p.name != name {
			continue
		}
		v := p.build()
		pickleMu.Lock()
		defer pickleMu.Unlock()
		b, ok := pickles[name]
		if !ok {
			var err error
			b, err = Marshal(v)
			require.NoError(tb, err)
			pickles[name] = b
		}
		runtime.GC()
		return builtPayload{v, b}
	}
	tb.Fatalf("no payload %q", name)
	return builtPayload{}
}

func BenchmarkDecode(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			data := payload(b, p.name).pickle
			b.ResetTimer()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := Unmarshal(data, &v); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, p.records)
		})
	}
}

func reportPerItem(b *testing.B, items int) {
	if items > 1 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(items), "ns/item")
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			bp := payload(b, p.name)
			v := bp.value
			b.SetBytes(int64(len(bp.pickle)))
			b.ResetTimer()
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = (EncodeOptions{}).AppendMarshal(buf[:0], v); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, p.records)
		})
	}
	b.Run("records_structs", func(b *testing.B) {
		v := buildRecordStructs()
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = (EncodeOptions{}).AppendMarshal(buf[:0], v); err != nil {
				b.Fatal(err)
			}
		}
		reportPerItem(b, len(v))
	})
}

func BenchmarkOgrekDecode(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			data := payload(b, p.name).pickle
			b.ResetTimer()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				d := ogórek.NewDecoderWithConfig(bytes.NewReader(data), &ogórek.DecoderConfig{StrictUnicode: true, PyDict: true})
				if _, err := d.Decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOgrekEncode(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			bp := payload(b, p.name)
			v, err := ToOgrek(bp.value)
			require.NoError(b, err)
			b.SetBytes(int64(len(bp.pickle)))
			b.ResetTimer()
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := ogórek.NewEncoderWithConfig(&buf, &ogórek.EncoderConfig{Protocol: 4}).Encode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuPerOp is the CPU time per run of f, over a second of runs and three
// at least (cpuPerRun), after one run to warm up. CPU time, unlike wall
// time, does not count the time other processes take on a shared machine;
// testdata/bench.py measures CPython the same way. (A median of single
// runs, which this used to be, mostly left out the runs a collection cycle
// overlapped, and with them Go's cost of collecting.)
func cpuPerOp(f func()) time.Duration {
	f()
	return cpuPerRun(f, time.Second, 3)
}

// cpuPerRun runs f until it has used budget of CPU time and run least
// times, and returns the CPU time per run, garbage collection included. A run
// that a collection cycle overlaps costs several times one that none
// does, so with only a few runs a median would be either; the mean
// charges each run its share of the cycles, and waiting at the end for
// the marking of a cycle under way charges all of them to the runs
// (instead of letting it go on, uncounted, while Python times). Fast
// functions run in batches, so that reading the clock costs them nothing.
func cpuPerRun(f func(), budget time.Duration, least int) time.Duration {
	start := cpuTime()
	runs := 0
	for used := time.Duration(0); runs < least || used < budget; used = cpuTime() - start {
		batch := 1
		if used > 0 {
			batch = max(1, least-runs, int(int64(budget-used)*int64(runs)/int64(used)))
		}
		for range batch {
			f()
		}
		runs += batch
	}
	finishGCMark()
	return (cpuTime() - start) / time.Duration(runs)
}

// finishGCMark waits for the marking of a collection cycle under way, if
// any: turning the collector off does.
func finishGCMark() { debug.SetGCPercent(debug.SetGCPercent(-1)) }

// TestCPUTimes prints the CPU time of decoding and encoding each payload,
// with PICKLE_BENCH=1, for A/B runs of two test binaries. PICKLE_PAYLOADS
// names the payloads to time (all by default), PICKLE_OPS "decode" or
// "encode" to time only that:
//
//	PICKLE_BENCH=1 PICKLE_PAYLOADS=records,strdict PICKLE_OPS=encode go test -run 'TestCPUTimes$' -v ./pickle/
func TestCPUTimes(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1")
	}
	only, ops := os.Getenv("PICKLE_PAYLOADS"), os.Getenv("PICKLE_OPS")
	for _, p := range benchPayloads {
		if only != "" && !strings.Contains(only, p.name) {
			continue
		}
		bp := payload(t, p.name)
		line := fmt.Sprintf("%-8s", p.name)
		if ops == "" || ops == "decode" {
			dec := cpuPerOp(func() {
				var v any
				_ = Unmarshal(bp.pickle, &v)
			})
			line += fmt.Sprintf("  decode %8.2fms", float64(dec)/1e6)
		}
		if ops == "" || ops == "encode" {
			var buf []byte
			enc := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], bp.value) })
			line += fmt.Sprintf("  encode %8.2fms", float64(enc)/1e6)
		}
		t.Log(line)
	}
}

// TestMarkCosts prints, with PICKLE_BENCH=1, the CPU time that a garbage
// collection cycle spends marking each payload's decoded value: what
// every cycle that finds the value alive pays for it, in the program
// that keeps it. Unlike a decoding's own time, it hardly varies from
// run to run, so it tells apart layouts of the decoded values (chunk
// sizes, say) whose effect on decoding time the machine's noise hides.
// PICKLE_PAYLOADS names the payloads, all by default.
func TestMarkCosts(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1")
	}
	only := os.Getenv("PICKLE_PAYLOADS")
	// gcCPU is the least CPU time of a forced collection in five
	// rounds of ten.
	gcCPU := func() time.Duration {
		runtime.GC()
		least := time.Duration(math.MaxInt64)
		for range 5 {
			start := cpuTime()
			for range 10 {
				runtime.GC()
			}
			least = min(least, (cpuTime()-start)/10)
		}
		return least
	}
	for _, p := range benchPayloads {
		if only != "" && !strings.Contains(only, p.name) {
			continue
		}
		data := payload(t, p.name).pickle
		without := gcCPU()
		var v any
		require.NoError(t, Unmarshal(data, &v))
		with := gcCPU()
		runtime.KeepAlive(v)
		t.Logf("%-8s a collection marks the decoded value in %6.2fms (%.2fms with it, %.2fms without)",
			p.name, float64(with-without)/1e6, float64(with)/1e6, float64(without)/1e6)
	}
}

// pyPayload is how bench.py describes a payload it built: its pickle's
// size and sha256, and the Python that pickled it.
type pyPayload struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	Python string `json:"python"`
}

// checkSamePickle fails the test if Go's pickle of a payload is not the
// one bench.py times: their figures would not be comparable.
func checkSamePickle(t *testing.T, py pyPayload, data []byte) {
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != py.SHA256 {
		t.Errorf("%s: Go's pickle differs from CPython's; figures are not comparable", py.Name)
	}
}

// The speed comparisons take their figures in paired rounds: for each
// payload, one CPython process (testdata/bench.py --serve) and Go take
// turns at timing their counterpart operations, each idle while the other
// times, and do so round after round. A shared machine's speed drifts (by
// up to 1.7x over tens of seconds here); within a round, a few seconds
// long, it is about the same for both sides, so a round's ratios hold even
// when its times do not. Each ratio printed is the median of the rounds'
// ratios, which leaves out a round that straddled a change, with their
// range; each time printed is the median of the rounds' times.
const (
	// benchRounds is how many rounds each payload gets; even, so that as
	// many run their steps backwards as forwards.
	benchRounds = 4
	// roundBudget is how much CPU time one side spends on timing one
	// operation in a round, and roundRuns how many runs it takes at
	// least: the figure is the CPU time per run over them. A run that a
	// collection cycle overlaps (in Go, or a full collection in CPython)
	// costs several times one that none does, so a step of one or two
	// runs would come out at one or the other, round by round; over
	// three runs or more, each run pays about its share of the cycles,
	// as it does in a program that keeps decoding.
	roundBudget = 300 * time.Millisecond
	roundRuns   = 3
)

// benchPy is CPython 3.11 running testdata/bench.py --serve: it times its C
// pickle on one payload at a time, one operation on request, and is idle
// between requests.
type benchPy struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
	exited bool
	err    error // of the exit, once exited
}

// startBenchPy starts bench.py --serve, and stops it when the test ends.
// The test skips if CPython 3.11 is not installed.
func startBenchPy(t *testing.T) *benchPy {
	var interp *pymatrix.Interpreter
	all, _ := pymatrix.All()
	for i := range all {
		if all[i].Major == 3 && all[i].Minor == 11 {
			interp = &all[i]
		}
	}
	if interp == nil {
		t.Skip("CPython 3.11 is not installed")
	}
	py := &benchPy{t: t, cmd: interp.Command("testdata/bench.py", "--serve")}
	py.cmd.Stderr = &py.stderr
	stdin, err := py.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := py.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, py.cmd.Start())
	py.stdin, py.stdout = stdin, bufio.NewReader(stdout)
	t.Cleanup(func() {
		_ = py.stdin.Close() // bench.py exits at the end of its input
		_ = py.wait()
	})
	return py
}

// wait waits for bench.py to exit, the first time, and returns how it did.
func (py *benchPy) wait() error {
	if !py.exited {
		py.exited = true
		py.err = py.cmd.Wait()
	}
	return py.err
}

// call sends bench.py one command and decodes its answer into answer. If
// bench.py has died, the test fails with its stderr.
func (py *benchPy) call(command map[string]any, answer any) {
	line, err := json.Marshal(command)
	require.NoError(py.t, err)
	if _, err = py.stdin.Write(append(line, '\n')); err == nil {
		line, err = py.stdout.ReadBytes('\n')
	}
	if err != nil {
		_ = py.stdin.Close()
		py.t.Fatalf("bench.py --serve: %v (%v); its stderr:\n%s", err, py.wait(), py.stderr.String())
	}
	require.NoError(py.t, json.Unmarshal(line, answer), "bench.py answered %q", line)
}

// build makes bench.py build a payload and pickle it, and returns their
// description. bench.py keeps only that payload alive.
func (py *benchPy) build(name string) pyPayload {
	var p pyPayload
	py.call(map[string]any{"name": name, "op": "build"}, &p)
	require.Equal(py.t, name, p.Name)
	return p
}

// step is a round's step in which bench.py times op ("loads_gc",
// "loads_nogc" or "dumps") on the payload name, which it must have built
// last. The figure it gives is named op.
func (py *benchPy) step(name, op string) pairedStep {
	return pairedStep{op, func() time.Duration {
		var answer struct {
			NS int64 `json:"ns"`
		}
		py.call(map[string]any{"name": name, "op": op, "seconds": roundBudget.Seconds(), "least": roundRuns}, &answer)
		return time.Duration(answer.NS)
	}}
}

// pairedStep is one figure of a round: timing returns the CPU time per run
// of one operation, measured in Go or by bench.py.
type pairedStep struct {
	figure string
	timing func() time.Duration
}

// goStep is a round's step that times f in Go. It runs f once now, to warm
// it up.
func goStep(figure string, f func()) pairedStep {
	f()
	return pairedStep{figure, func() time.Duration { return cpuPerRun(f, roundBudget, roundRuns) }}
}

// roundTimes holds the times each figure took, one per round.
type roundTimes map[string][]time.Duration

// runRounds runs benchRounds rounds of steps, one step at a time. Odd
// rounds run them backwards, so that a steady drift of the machine's speed
// during a round favours neither side of a ratio over the rounds.
func runRounds(steps []pairedStep) roundTimes {
	finishGCMark() // of the warm-ups' garbage
	times := roundTimes{}
	for round := range benchRounds {
		for i := range steps {
			s := steps[i]
			if round%2 == 1 {
				s = steps[len(steps)-1-i]
			}
			times[s.figure] = append(times[s.figure], s.timing())
		}
	}
	return times
}

// median returns a figure's median time over the rounds.
func (rt roundTimes) median(figure string) time.Duration { return median(rt[figure]) }

// ratio sums up num's time over den's in each round.
func (rt roundTimes) ratio(num, den string) roundRatio {
	ratios := make([]float64, benchRounds)
	for i := range ratios {
		ratios[i] = float64(rt[num][i]) / float64(rt[den][i])
	}
	return roundRatio{median(ratios), slices.Min(ratios), slices.Max(ratios)}
}

// roundRatio is a ratio of times over the rounds: its median, and its
// range.
type roundRatio struct{ median, min, max float64 }

func (r roundRatio) String() string { return fmt.Sprintf("%.1f (%.1f–%.1f)", r.median, r.min, r.max) }

func median[T ~int64 | ~float64](xs []T) T {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestCompareCPython prints this package's speed next to CPython 3.11's
// C pickle and og-rek's, on the benchmark payloads: the CPU time of one
// operation, for Go as for CPython, since CPU time is what a shared
// machine does not inflate. The figures are taken in paired rounds (see
// benchRounds), CPython's turn and Go's alternating: each ratio is the
// median of the rounds' ratios, with their range in parentheses, and each
// time the median of the rounds' times. It runs only with PICKLE_BENCH=1
// (it takes a minute or two). PICKLE_PAYLOADS names the payloads to
// compare, all by default:
//
//	PICKLE_BENCH=1 go test -run 'TestCompareCPython$' -v ./pickle/
func TestCompareCPython(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1 to compare with CPython")
	}
	only := os.Getenv("PICKLE_PAYLOADS")
	py := startBenchPy(t)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "payload\tpickle\tGo decode\tCPython loads gc on / off\t× gc on\t× gc off\tas Recv × gc on\tog-rek decode\t× og-rek\tGo encode\tCPython dumps\t× dumps\tas Send × dumps\tog-rek encode\t× og-rek\tallocs/item\t\n")
	var python string
	for _, bp := range benchPayloads {
		if only != "" && !strings.Contains(only, bp.name) {
			continue
		}
		pyp := py.build(bp.name)
		python = pyp.Python
		p := payload(t, bp.name)
		checkSamePickle(t, pyp, p.pickle)
		ogv, err := ToOgrek(p.value)
		require.NoError(t, err)
		var buf []byte
		var segs net.Buffers
		var obuf bytes.Buffer
		rt := runRounds([]pairedStep{
			py.step(bp.name, "loads_gc"),
			goStep("decode", func() {
				var v any
				_ = Unmarshal(p.pickle, &v)
			}),
			py.step(bp.name, "loads_nogc"),
			// conn's PickleCodec decodes received bodies with ShareLarge.
			goStep("decode as Recv", func() {
				var v any
				_ = DecodeOptions{ShareLarge: true}.Unmarshal(p.pickle, &v)
			}),
			goStep("og-rek decode", func() {
				_, _ = ogórek.NewDecoderWithConfig(bytes.NewReader(p.pickle), &ogórek.DecoderConfig{StrictUnicode: true, PyDict: true}).Decode()
			}),
			py.step(bp.name, "dumps"),
			goStep("encode", func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], p.value) }),
			// conn's Send encodes into segments that share large payloads.
			goStep("encode as Send", func() { segs, _ = EncodeOptions{}.AppendMarshalBuffers(segs[:0], buf[:0], p.value) }),
			goStep("og-rek encode", func() {
				obuf.Reset()
				_ = ogórek.NewEncoderWithConfig(&obuf, &ogórek.EncoderConfig{Protocol: 4}).Encode(ogv)
			}),
		})
		allocs := testing.AllocsPerRun(2, func() {
			var v any
			_ = Unmarshal(p.pickle, &v)
		})
		ms := func(figure string) string { return fmt.Sprintf("%.2fms", float64(rt.median(figure))/1e6) }
		fmt.Fprintf(w, "%s\t%d\t%s\t%s / %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t\n", bp.name, pyp.Size,
			ms("decode"), ms("loads_gc"), ms("loads_nogc"), rt.ratio("loads_gc", "decode"), rt.ratio("loads_nogc", "decode"),
			rt.ratio("loads_gc", "decode as Recv"), ms("og-rek decode"), rt.ratio("og-rek decode", "decode"),
			ms("encode"), ms("dumps"), rt.ratio("dumps", "encode"), rt.ratio("dumps", "encode as Send"),
			ms("og-rek encode"), rt.ratio("og-rek encode", "encode"), allocs/float64(bp.records))
		p, ogv = builtPayload{}, nil
		runtime.GC()
	}
	w.Flush()
	fmt.Printf("CPU time of one operation, median over %d paired rounds with CPython %s; ratios: median over the rounds (min–max)\n", benchRounds, python)
}

// TestBenchPayloadsMatchPython checks that Go encodes each benchmark
// payload to exactly the bytes CPython's pickle.dumps writes at protocol
// 4 (frames, memo and all), so that the benchmarks time both on the same
// pickle. It runs every Python 3 interpreter's bench.py --digests.
func TestBenchPayloadsMatchPython(t *testing.T) {
	digests := map[string]string{}
	for _, p := range benchPayloads {
		b, err := Marshal(p.build())
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		digests[p.name] = hex.EncodeToString(sum[:])
	}
	for _, py := range pymatrix.Find(t) {
		if py.Major < 3 {
			continue // Python 2 has no protocol 4
		}
		t.Run("py"+py.Short(), func(t *testing.T) {
			t.Parallel()
			out, err := py.Command("testdata/bench.py", "--digests").Output()
			require.NoError(t, err)
			seen := 0
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				var f pyPayload
				require.NoError(t, json.Unmarshal([]byte(line), &f))
				seen++
				if f.Name == "bytes" && !py.AtLeast(3, 7) {
					// Python 3.6 writes a large bytes inside its frame;
					// 3.7 and later, and Go, outside any frame.
					assert.NotEqual(t, digests[f.Name], f.SHA256)
					continue
				}
				assert.Equal(t, digests[f.Name], f.SHA256, "%s: Go's pickle differs from Python %s's", f.Name, f.Python)
			}
			assert.Equal(t, len(benchPayloads), seen)
		})
	}
}
