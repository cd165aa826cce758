package pickle

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Benchmarks of the string-keyed map path of strmap.go: the strdict
// payload's 100k entries ("key%d" -> "value%d") as a map[string]string
// and as a map[string]any, encoded, and the map[string]string decoded
// back (BenchmarkUnmarshalTyped/strdict decodes the same pickle).

func strdictMap() map[string]string {
	m := make(map[string]string, 100000)
	for i := 0; i < 100000; i++ {
		m[fmt.Sprintf("key%d", i)] = fmt.Sprintf("value%d", i)
	}
	return m
}

// smallStrMaps returns many small maps, as records: what a fixed cost
// per map shows in.
func smallStrMaps() []map[string]any {
	small := make([]map[string]any, 20000)
	for i := range small {
		small[i] = map[string]any{"id": int64(i), "name": fmt.Sprintf("user_%06d", i), "score": float64(i) / 2,
			"active": i%3 == 0, "email": fmt.Sprintf("user%d@example.com", i), "count": int64(i * 7)}
	}
	return small
}

func BenchmarkMarshalStrMap(b *testing.B) {
	ss := strdictMap()
	sa := make(map[string]any, len(ss))
	for k, v := range ss {
		sa[k] = v
	}
	small := smallStrMaps()
	for _, c := range []struct {
		name string
		v    any
	}{{"string", ss}, {"any", sa}, {"small", small}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = (EncodeOptions{}).AppendMarshal(buf[:0], c.v); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
			reportPerItem(b, len(ss))
		})
	}
}

func BenchmarkUnmarshalStrMap(b *testing.B) {
	data, err := Marshal(strdictMap())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var out map[string]string
		if err := Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
	reportPerItem(b, 100000)
}

// TestStrMapCPUTimes prints the CPU time of one Marshal of the strdict
// map as a map[string]string and a map[string]any, of one Unmarshal of it
// into a map[string]string (the median, as TestCompareCPythonTyped
// measures), without CPython's side, and of one Marshal of 20k small
// maps. CPU time is less disturbed by other
// programs on the machine than the benchmarks' wall time. It runs only
// with PICKLE_BENCH=1:
//
//	PICKLE_BENCH=1 go test -run TestStrMapCPUTimes -v ./pickle/
func TestStrMapCPUTimes(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1")
	}
	ss := strdictMap()
	sa := make(map[string]any, len(ss))
	for k, v := range ss {
		sa[k] = v
	}
	data, err := Marshal(ss)
	require.NoError(t, err)
	var buf []byte
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
	runtime.GC()
	encS := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], ss) })
	runtime.GC()
	encA := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], sa) })
	small := smallStrMaps()
	runtime.GC()
	encSmall := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], small) })
	small = nil
	runtime.GC()
	dec := cpuPerOp(func() {
		var out map[string]string
		if err := Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
	})
	// What Unmarshal cannot do without: a map of that size, and its
	// inserts (of strings in one buffer, as the decoder's arena holds
	// them).
	keys, vals := make([]string, 0, len(ss)), make([]string, 0, len(ss))
	var arena []byte
	for k, v := range ss {
		arena = append(arena, k...)
		arena = append(arena, v...)
	}
	all := string(arena)
	pos := 0
	for k, v := range ss {
		keys, vals = append(keys, all[pos:pos+len(k)]), append(vals, all[pos+len(k):pos+len(k)+len(v)])
		pos += len(k) + len(v)
	}
	runtime.GC()
	insert := cpuPerOp(func() {
		m := make(map[string]string, len(keys))
		for i, k := range keys {
			m[k] = vals[i]
		}
	})
	t.Logf("strdict Marshal map[string]string %s  map[string]any %s  Unmarshal map[string]string %s (inserts alone %s)  20k small maps Marshal %s",
		ms(encS), ms(encA), ms(dec), ms(insert), ms(encSmall))
}
