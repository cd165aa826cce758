package pickle

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Benchmarks of typed decoding and encoding on the records payload, next
// to the any-model ones of bench_test.go: the same pickle decoded into
// []benchRecord, and []benchRecord encoded (to the same bytes as the list
// of dicts).

func BenchmarkUnmarshalRecords(b *testing.B) {
	data := payload(b, "records").pickle
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var out []benchRecord
		if err := Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
	reportPerItem(b, 200000)
}

func BenchmarkMarshalRecords(b *testing.B) {
	v := buildRecordStructs()
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = (EncodeOptions{}).AppendMarshal(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
	reportPerItem(b, len(v))
}

// recordDicts returns records as the model's dicts, as testdata/bench.py
// builds them.
func recordDicts(recs []benchRecord) []any {
	out := make([]any, len(recs))
	for i, r := range recs {
		tags := make([]any, len(r.Tags))
		for j, t := range r.Tags {
			tags[j] = t
		}
		vals := make([]any, len(r.Vals))
		for j, v := range r.Vals {
			vals[j] = v
		}
		out[i] = mustDict("id", r.ID, "name", r.Name, "email", r.Email, "score", r.Score, "active", r.Active,
			"tags", tags, "vals", vals, "count", r.Count)
	}
	return out
}

// TestTypedRecordsMatch: struct records encode to exactly the pickle of
// the same records as dicts (so CPython's figures for that pickle apply),
// and decode from it to the same structs, without falling back.
func TestTypedRecordsMatch(t *testing.T) {
	structs := buildRecordStructs()[:3000]
	data, err := Marshal(recordDicts(structs))
	require.NoError(t, err)
	got, err := Marshal(structs)
	require.NoError(t, err)
	require.Equal(t, data, got, "the structs encode as the list of dicts does")
	var back []benchRecord
	opts := DecodeOptions{}
	cfg := opts.config()
	rv := reflect.ValueOf(&back)
	require.NoError(t, unmarshalTyped(&cfg, data, decPlanFor(rv.Type().Elem()), rv.UnsafePointer()), "no fallback")
	require.True(t, reflect.DeepEqual(structs, back))
}

// typedPayload is a benchmark payload decoded into, and encoded from, the
// Go type a program that knows its shape would use.
type typedPayload struct {
	name   string
	decode func(data []byte) error
	value  func() any // the Go value to encode
}

var typedPayloads = []typedPayload{
	{"records", func(data []byte) error {
		var out []benchRecord
		return Unmarshal(data, &out)
	}, func() any { return buildRecordStructs() }},
	{"floats", func(data []byte) error {
		var out []float64
		return Unmarshal(data, &out)
	}, func() any {
		l := make([]float64, 1000000)
		for i := range l {
			l[i] = float64(i) * 1.1
		}
		return l
	}},
	{"ints", func(data []byte) error {
		var out []int64
		return Unmarshal(data, &out)
	}, func() any {
		l := make([]int64, 1000000)
		for i := range l {
			l[i] = int64(i)
		}
		return l
	}},
	{"bytes", func(data []byte) error {
		var out []byte
		return Unmarshal(data, &out)
	}, func() any { return benchPayloads[3].build() }},
	{"strdict", func(data []byte) error {
		var out map[string]string
		return Unmarshal(data, &out)
	}, func() any {
		m := make(map[string]string, 100000)
		for i := 0; i < 100000; i++ {
			m[fmt.Sprintf("key%d", i)] = fmt.Sprintf("value%d", i)
		}
		return m
	}},
}

// TestCompareCPythonTyped measures, side by side in one run, typed
// decoding of each benchmark pickle into the Go type a program would use
// ([]benchRecord, []float64, []int64, []byte, map[string]string) against
// CPython 3.11's pickle.loads of the same bytes (with its garbage collector
// on, and off), and encoding that Go value against pickle.dumps: the CPU
// time of one operation, taken in paired rounds as TestCompareCPython
// takes it, so each ratio is the median of the rounds' ratios, with their
// range in parentheses. Typed records encode to exactly CPython's bytes;
// the map's items come out in Go's sorted key order, the same dict for
// Python. It runs only with PICKLE_BENCH=1:
//
//	PICKLE_BENCH=1 go test -run 'TestCompareCPythonTyped$' -v ./pickle/
func TestCompareCPythonTyped(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1 to compare with CPython")
	}
	py := startBenchPy(t)
	for i, tp := range typedPayloads {
		pyp := py.build(tp.name)
		if i == 0 {
			t.Logf("CPU time of one operation, median over %d paired rounds with CPython %s; ratios: median over the rounds (min–max)", benchRounds, pyp.Python)
		}
		data := payload(t, tp.name).pickle
		checkSamePickle(t, pyp, data)
		v := tp.value()
		if tp.name == "records" {
			got, err := Marshal(v)
			require.NoError(t, err)
			require.Equal(t, data, got)
		}
		runtime.GC()
		var buf []byte
		rt := runRounds([]pairedStep{
			py.step(tp.name, "loads_gc"),
			goStep("Unmarshal", func() {
				if err := tp.decode(data); err != nil {
					t.Fatal(err)
				}
			}),
			py.step(tp.name, "loads_nogc"),
			py.step(tp.name, "dumps"),
			goStep("Marshal", func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], v) }),
		})
		ms := func(figure string) string { return fmt.Sprintf("%.2fms", float64(rt.median(figure))/1e6) }
		t.Logf("%-8s Unmarshal into %-18T %9s  loads gc on %9s ×%-15s gc off %9s ×%-15s  Marshal %9s  dumps %9s ×%s",
			tp.name, v, ms("Unmarshal"), ms("loads_gc"), rt.ratio("loads_gc", "Unmarshal"), ms("loads_nogc"), rt.ratio("loads_nogc", "Unmarshal"),
			ms("Marshal"), ms("dumps"), rt.ratio("dumps", "Marshal"))
		v = nil
		runtime.GC()
	}
}

// BenchmarkUnmarshalTyped decodes each benchmark pickle into the Go type
// of typedPayloads.
func BenchmarkUnmarshalTyped(b *testing.B) {
	for _, p := range typedPayloads {
		b.Run(p.name, func(b *testing.B) {
			data := payload(b, p.name).pickle
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
