package pickle

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
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

// cpythonRecords runs testdata/bench.py on the records payload with
// CPython 3.11.
func cpythonRecords(t *testing.T) cpythonFigures {
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
	out, err := py.Command("testdata/bench.py", "records").Output()
	require.NoError(t, err)
	var f cpythonFigures
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(string(out))), &f))
	return f
}

// TestCompareCPythonTyped measures, side by side in one run, typed
// decoding of the records pickle into []benchRecord against CPython 3.11's
// pickle.loads of the same bytes (with its garbage collector off, and on),
// and encoding []benchRecord against pickle.dumps of the list of dicts:
// the median CPU time of one operation, as TestCompareCPython measures.
// It runs only with PICKLE_BENCH=1:
//
//	PICKLE_BENCH=1 go test -run TestCompareCPythonTyped -v ./pickle/
func TestCompareCPythonTyped(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1 to compare with CPython")
	}
	f := cpythonRecords(t)
	data := payload(t, "records").pickle
	structs := buildRecordStructs()
	got, err := Marshal(structs)
	require.NoError(t, err)
	require.Equal(t, data, got)
	runtime.GC()
	dec := cpuPerOp(func() {
		var out []benchRecord
		if err := Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
	})
	var buf []byte
	enc := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], structs) })
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }
	ns := func(f float64) time.Duration { return time.Duration(f) }
	t.Logf("records (200000), CPU time per operation, median; CPython %s", f.Python)
	t.Logf("Unmarshal into []Record  %8s   pickle.loads gc off %8s (×%.2f)   gc on %8s (×%.2f)",
		ms(dec), ms(ns(f.LoadsNoGC)), f.LoadsNoGC/float64(dec), ms(ns(f.LoadsGC)), f.LoadsGC/float64(dec))
	t.Logf("Marshal of []Record      %8s   pickle.dumps of dicts %6s (×%.2f)",
		ms(enc), ms(ns(f.Dumps)), f.Dumps/float64(enc))
}
