package pickle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
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

// cpuPerOp runs f repeatedly and returns the median CPU time of a run.
// CPU time, unlike wall time, does not count the time other processes
// take on a shared machine; testdata/bench.py measures CPython the same
// way.
func cpuPerOp(f func()) time.Duration {
	f() // warm up
	var times []time.Duration
	start := cpuTime()
	for i := 0; i < 51 && (i < 7 || cpuTime()-start < 2*time.Second); i++ {
		t := cpuTime()
		f()
		times = append(times, cpuTime()-t)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// TestCPUTimes prints the CPU time of decoding and encoding each payload,
// with PICKLE_BENCH=1.
func TestCPUTimes(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1")
	}
	only := os.Getenv("PICKLE_PAYLOADS")
	for _, p := range benchPayloads {
		if only != "" && !strings.Contains(only, p.name) {
			continue
		}
		bp := payload(t, p.name)
		dec := cpuPerOp(func() {
			var v any
			_ = Unmarshal(bp.pickle, &v)
		})
		var buf []byte
		enc := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], bp.value) })
		t.Logf("%-8s decode %8.2fms  encode %8.2fms", p.name, float64(dec)/1e6, float64(enc)/1e6)
	}
}

type cpythonFigures struct {
	Name      string  `json:"name"`
	Size      int     `json:"size"`
	SHA256    string  `json:"sha256"`
	Python    string  `json:"python"`
	LoadsGC   float64 `json:"loads_gc_ns"`
	LoadsNoGC float64 `json:"loads_nogc_ns"`
	Dumps     float64 `json:"dumps_ns"`
}

func runBenchPy(t *testing.T) []cpythonFigures {
	var py *pymatrix.Interpreter
	all, _ := pymatrix.All()
	for i := range all {
		if all[i].Major == 3 && all[i].Minor == 11 {
			py = &all[i]
		}
	}
	if py == nil {
		t.Skip("CPython 3.11 is not installed")
	}
	out, err := py.Command("testdata/bench.py").Output()
	require.NoError(t, err)
	var figs []cpythonFigures
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var f cpythonFigures
		require.NoError(t, json.Unmarshal([]byte(line), &f))
		figs = append(figs, f)
	}
	return figs
}

// TestCompareCPython prints this package's speed next to CPython 3.11's
// C pickle and og-rek's, on the benchmark payloads: the median CPU time of
// one operation, for Go as for CPython (testdata/bench.py), since CPU time
// is what a shared machine does not inflate. It runs only with
// PICKLE_BENCH=1 (it takes a minute or two):
//
//	PICKLE_BENCH=1 go test -run TestCompareCPython -v ./pickle/
func TestCompareCPython(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1 to compare with CPython")
	}
	figs := runBenchPy(t)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "payload\tpickle\tGo decode\tCPython loads gc on / off\t× gc on\t× gc off\tas Recv × gc on\tog-rek decode\t× og-rek\tGo encode\tCPython dumps\t× dumps\tas Send × dumps\tog-rek encode\t× og-rek\tallocs/item\t\n")
	for _, f := range figs {
		p := payload(t, f.Name)
		sum := sha256.Sum256(p.pickle)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: Go's pickle differs from CPython's; figures are not comparable", f.Name)
		}
		dec := cpuPerOp(func() {
			var v any
			_ = Unmarshal(p.pickle, &v)
		})
		// conn's PickleCodec decodes received bodies with ShareLarge.
		decRecv := cpuPerOp(func() {
			var v any
			_ = DecodeOptions{ShareLarge: true}.Unmarshal(p.pickle, &v)
		})
		var buf []byte
		enc := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], p.value) })
		// conn's Send encodes into segments that share large payloads.
		var segs net.Buffers
		encSend := cpuPerOp(func() { segs, _ = EncodeOptions{}.AppendMarshalBuffers(segs[:0], buf[:0], p.value) })
		ogDec := cpuPerOp(func() {
			_, _ = ogórek.NewDecoderWithConfig(bytes.NewReader(p.pickle), &ogórek.DecoderConfig{StrictUnicode: true, PyDict: true}).Decode()
		})
		ogv, _ := ToOgrek(p.value)
		var obuf bytes.Buffer
		ogEnc := cpuPerOp(func() {
			obuf.Reset()
			_ = ogórek.NewEncoderWithConfig(&obuf, &ogórek.EncoderConfig{Protocol: 4}).Encode(ogv)
		})
		items := 1
		for _, bp := range benchPayloads {
			if bp.name == f.Name {
				items = bp.records
			}
		}
		allocs := testing.AllocsPerRun(2, func() {
			var v any
			_ = Unmarshal(p.pickle, &v)
		})
		ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
		ns := func(f float64) time.Duration { return time.Duration(f) }
		fmt.Fprintf(w, "%s\t%d\t%s\t%s / %s\t%.1f\t%.1f\t%.1f\t%s\t%.1f\t%s\t%s\t%.1f\t%.1f\t%s\t%.1f\t%.2f\t\n", f.Name, f.Size,
			ms(dec), ms(ns(f.LoadsGC)), ms(ns(f.LoadsNoGC)), f.LoadsGC/float64(dec), f.LoadsNoGC/float64(dec), f.LoadsGC/float64(decRecv), ms(ogDec), float64(ogDec)/float64(dec),
			ms(enc), ms(ns(f.Dumps)), f.Dumps/float64(enc), f.Dumps/float64(max(encSend, time.Nanosecond)), ms(ogEnc), float64(ogEnc)/float64(enc), allocs/float64(items))
		p = builtPayload{}
		runtime.GC()
	}
	w.Flush()
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
				var f cpythonFigures
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
