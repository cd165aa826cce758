package pickle

import (
	"fmt"
	"math/rand"
	rand2 "math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The typed decoder must agree with the reference path (the model's
// decoder, then conversion) on every pickle and target: same value, or
// same error.

type dtRec struct {
	ID    int              `pickle:"id"`
	Name  string           `pickle:"name"`
	Score float64          `pickle:"score"`
	On    bool             `pickle:"on"`
	Tags  []string         `pickle:"tags"`
	Vals  []float64        `pickle:"vals"`
	Sub   *dtRec           `pickle:"sub"`
	Subs  []dtRec          `pickle:"subs"`
	Ptrs  []*dtRec         `pickle:"ptrs"`
	M     map[string]int   `pickle:"m"`
	Any   any              `pickle:"any"`
	Pair  [2]int           `pickle:"pair"`
	Key   tKey             `pickle:"key"`
	Set   map[string]bool  `pickle:"set"`
	Small int8             `pickle:"small"`
	Lists [][]int          `pickle:"lists"`
	Maps  []map[string]any `pickle:"maps"`
}

// dtGen makes random values shaped like dtRec's dicts, mostly of the
// right types, sometimes not, with shared and nested parts.
type dtGen struct {
	r      *rand.Rand
	shared []any
}

func (g *dtGen) scalar() any {
	switch g.r.Intn(7) {
	case 0:
		return int64(g.r.Intn(600) - 300)
	case 1:
		return g.r.Float64()
	case 2:
		return fmt.Sprintf("s%d", g.r.Intn(5))
	case 3:
		return g.r.Intn(2) == 0
	case 4:
		return nil
	case 5:
		return []byte{byte(g.r.Intn(256))}
	}
	return Tuple{int64(g.r.Intn(3)), "t"}
}

func (g *dtGen) list(item func() any) []any {
	return g.listOf(item, true)
}

func (g *dtGen) listOf(item func() any, long bool) []any {
	n := g.r.Intn(4)
	if long && g.r.Intn(30) == 0 {
		n = 1000 + g.r.Intn(3) // batches of APPENDS
	}
	l := make([]any, n)
	for i := range l {
		l[i] = item()
	}
	return l
}

func (g *dtGen) wrong(right func() any) any {
	if g.r.Intn(25) == 0 {
		return g.scalar()
	}
	return right()
}

func (g *dtGen) rec(depth int) any {
	if depth > 0 && g.r.Intn(8) == 0 && len(g.shared) > 0 {
		return g.shared[g.r.Intn(len(g.shared))]
	}
	d := NewDict()
	set := func(k string, v func() any) {
		if g.r.Intn(3) > 0 {
			_ = d.Set(k, g.wrong(v))
		}
	}
	set("id", func() any { return int64(g.r.Intn(1000)) })
	set("name", func() any { return fmt.Sprintf("n%d", g.r.Intn(100)) })
	set("score", func() any { return g.r.Float64() * 10 })
	set("on", func() any { return g.r.Intn(2) == 0 })
	set("tags", func() any { return g.list(func() any { return fmt.Sprintf("t%d", g.r.Intn(4)) }) })
	set("vals", func() any {
		if g.r.Intn(5) == 0 {
			return Tuple{1.5, int64(2)}
		}
		return g.list(func() any { return g.r.Float64() })
	})
	if depth < 3 {
		set("sub", func() any { return g.rec(depth + 1) })
		set("subs", func() any { return g.listOf(func() any { return g.rec(depth + 1) }, false) })
		set("ptrs", func() any { return g.listOf(func() any { return g.rec(depth + 1) }, false) })
		set("maps", func() any { return g.listOf(func() any { return g.rec(depth + 1) }, false) })
	}
	set("m", func() any { return mustDict("a", int64(g.r.Intn(9)), "b", int64(1)) })
	set("any", func() any { return g.list(g.scalar) })
	set("pair", func() any { return Tuple{int64(g.r.Intn(9)), int64(g.r.Intn(9))} })
	set("key", func() any { return Tuple{int64(g.r.Intn(9)), "k"} })
	set("set", func() any { return mustSet("x", "y") })
	set("small", func() any { return int64(g.r.Intn(300) - 150) })
	set("lists", func() any { return []any{[]any{int64(1)}, []any{}, Tuple{int64(2)}} })
	set("user_id", func() any { return int64(1) }) // no such field
	var v any = d
	if g.r.Intn(4) == 0 {
		// An instance of a class, as dataclasses pickle.
		v = &Object{Callable: Global{"__main__", "Rec"}, New: true, Args: Tuple{}, State: d}
	}
	if g.r.Intn(4) == 0 {
		g.shared = append(g.shared, v)
	}
	return v
}

// dtTargets are the types the generated values are decoded into.
var dtTargets = []reflect.Type{
	reflect.TypeFor[dtRec](),
	reflect.TypeFor[*dtRec](),
	reflect.TypeFor[[]dtRec](),
	reflect.TypeFor[[]*dtRec](),
	reflect.TypeFor[map[string]any](),
	reflect.TypeFor[any](),
	reflect.TypeFor[[]map[string]any](),
	// Interface-typed keys, which Go cannot always compare (a tuple, a
	// bytes), and a set's shape.
	reflect.TypeFor[map[any]any](),
	reflect.TypeFor[[]any](),
	reflect.TypeFor[map[any]bool](),
}

// checkAgrees decodes data into a new value of type t both ways and
// reports whether the typed decoder took it without falling back.
func checkAgrees(t *testing.T, opts DecodeOptions, data []byte, typ reflect.Type, label string) bool {
	t.Helper()
	cfg := opts.config()
	got := reflect.New(typ)
	fast := unmarshalTyped(&cfg, data, decPlanFor(typ), got.UnsafePointer()) != errFallback
	got = reflect.New(typ)
	errGot := opts.Unmarshal(data, got.Interface())
	want := reflect.New(typ)
	errWant := cfg.unmarshalReference(data, want.Interface())
	if errWant != nil || errGot != nil {
		if errWant == nil || errGot == nil || errWant.Error() != errGot.Error() {
			t.Errorf("%s into %s: errors differ: typed %v, reference %v", label, typ, errGot, errWant)
		}
		return fast
	}
	if !sameResult(got.Interface(), want.Interface()) {
		t.Errorf("%s into %s: values differ\ntyped:     %s\nreference: %s", label, typ, clipS(got.Elem()), clipS(want.Elem()))
	}
	return fast
}

// sameResult compares decoded values by what they encode to (NaN is NaN,
// and sharing counts), or by reflect.DeepEqual for what cannot be encoded.
func sameResult(a, b any) bool {
	ea, err1 := Marshal(a)
	eb, err2 := Marshal(b)
	if err1 == nil && err2 == nil {
		return string(ea) == string(eb)
	}
	return reflect.DeepEqual(a, b)
}

func clipS(v reflect.Value) string {
	var s string
	switch v.Kind() {
	case reflect.Interface, reflect.Slice, reflect.Map:
		// describe stops at cycles, which %v follows forever.
		s = describe(v.Interface())
	default:
		s = fmt.Sprintf("%+v", v.Interface())
	}
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}

func TestTypedDecoderAgreesWithReference(t *testing.T) {
	g := &dtGen{r: rand.New(rand.NewSource(1))}
	n := 12
	if testing.Short() {
		n = 4
	}
	fast, total := 0, 0
	for i := 0; i < n; i++ {
		g.shared = nil
		var v any = g.rec(0)
		if i%3 == 0 {
			v = g.listOf(func() any { return g.rec(1) }, false)
		}
		for p := 0; p <= HighestProtocol; p++ {
			data, err := EncodeOptions{Protocol: protoOption(p)}.Marshal(v)
			require.NoError(t, err)
			for _, typ := range dtTargets {
				total++
				if checkAgrees(t, DecodeOptions{}, data, typ, fmt.Sprintf("value %d protocol %d", i, p)) {
					fast++
				}
			}
		}
	}
	t.Logf("%d decodings, %d without falling back", total, fast)
	// Protocols 0 and 1 and values of the wrong types fall back.
	assert.Greater(t, fast, total/10, "the typed decoder takes its share")
}

// Pickles that CPython writes for common data take the fast path.
func TestTypedDecoderFastPath(t *testing.T) {
	type rec struct {
		A int               `pickle:"a"`
		B []string          `pickle:"b"`
		C map[string]string `pickle:"c"`
		D [][]float64       `pickle:"d"`
		E *rec              `pickle:"e"`
		F any               `pickle:"f"`
		G tKey              `pickle:"g"`
	}
	v := []any{
		mustDict("a", 1, "b", []any{"x", "y"}, "c", mustDict("k", "v"), "d", []any{[]any{1.5}, []any{}},
			"e", mustDict("a", 2), "f", []any{1, "s", mustDict("n", nil)}, "g", Tuple{3, "t"}),
	}
	for p := 2; p <= HighestProtocol; p++ {
		data, err := EncodeOptions{Protocol: p}.Marshal(v)
		require.NoError(t, err)
		assert.True(t, checkAgrees(t, DecodeOptions{}, data, reflect.TypeFor[[]rec](), fmt.Sprint("protocol ", p)), "protocol %d fell back", p)
	}
	data, err := Marshal(recordDicts(buildRecordStructs()[:2000]))
	require.NoError(t, err)
	assert.True(t, checkAgrees(t, DecodeOptions{}, data, reflect.TypeFor[[]benchRecord](), "records"))
}

// FuzzTypedDecode: on any input, the typed decoder and the reference path
// agree, for 18 target types, with the default limits and with a low
// MaxContainerLen. Each input costs those 36 comparisons, so minimizing a
// large new input for the default 60 s takes most of a run; run it with
// a short minimization:
//
//	go test -run '^$' -fuzz '^FuzzTypedDecode$' -fuzztime 10m -fuzzminimizetime 3s ./pickle
func FuzzTypedDecode(f *testing.F) {
	g := &dtGen{r: rand.New(rand.NewSource(2))}
	for i := 0; i < 20; i++ {
		g.shared = nil
		data, err := EncodeOptions{Protocol: protoOption(i % 6)}.Marshal(g.rec(1))
		require.NoError(f, err)
		f.Add(data)
	}
	// Bugs found in review: a tuple key for an interface-keyed map (a
	// panic), and a list filled after a tuple took it (a lost cycle).
	f.Add([]byte("\x80\x02}K\x01K\x02\x86X\x01\x00\x00\x00ts."))
	f.Add([]byte("(]q\x00(h\x00tq\x01a1h\x01."))
	// Lists of numbers, which go into []float64 and []int64 through
	// tdec.appendNumbers; and a limit low enough for them to reach.
	rng := rand2.New(rand2.NewPCG(3, 4))
	f.Add(numRunPickle(rng, 60, 7, 0, true))
	f.Add(numRunPickle(rng, 30, 4, 3, false))
	targets := append(slices.Clip(dtTargets), numRunTargets...)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range targets {
			checkAgrees(t, DecodeOptions{MaxAllocFactor: 16}, data, typ, fmt.Sprintf("%q", clip(data)))
			checkAgrees(t, DecodeOptions{MaxAllocFactor: 16, MaxContainerLen: 20}, data, typ, fmt.Sprintf("MaxContainerLen 20: %q", clip(data)))
		}
	})
}

// Limits hold for typed values as for the model's.
func TestTypedDecoderLimits(t *testing.T) {
	data, err := Marshal(mustDict("id", 1, "name", "x", "score", 1.5))
	require.NoError(t, err)
	var r dtRec
	err = DecodeOptions{MaxContainerLen: 2}.Unmarshal(data, &r)
	assert.ErrorIs(t, err, ErrLimit)
	data, err = Marshal([]any{[]any{[]any{1}}})
	require.NoError(t, err)
	var nested [][][]int
	err = DecodeOptions{MaxDepth: 2}.Unmarshal(data, &nested)
	assert.ErrorIs(t, err, ErrLimit)
	require.NoError(t, DecodeOptions{MaxDepth: 3}.Unmarshal(data, &nested))
	data, err = Marshal(mustDict("name", strings.Repeat("x", 100)))
	require.NoError(t, err)
	err = DecodeOptions{MaxStringLen: 50}.Unmarshal(data, &r)
	assert.ErrorIs(t, err, ErrLimit)
}

// A slice that reaches MaxContainerLen as it grows must still be
// refused when it passes it. The typed decoder allocated backing arrays
// of at most MaxContainerLen items but recorded the capacity it had asked
// for, so a slice that passed the limit found room it did not have: no
// error, and the items past the limit written beyond the array's end.
// (Found by TestTypedNumberRunsAgreeWithReference, which crashed.)
func TestTypedSliceGrowsPastLimit(t *testing.T) {
	// 3000 ints in batches of 7 double a []int32 from 7 to 1792 items,
	// then ask for 3584, which MaxContainerLen cuts to 2999 or 999.
	ints := []byte{0x80, 4, opEmptyList}
	for i := 0; i < 3000; i += 7 {
		ints = append(ints, opMark)
		for j := i; j < min(i+7, 3000); j++ {
			ints = append(ints, opBinint2, byte(j), byte(j>>8))
		}
		ints = append(ints, opAppends)
	}
	ints = append(ints, opStop)
	// 2500 dicts in batches of 1000: the second batch guesses the slice
	// of structs' length, 2625, which MaxContainerLen cuts to 2400.
	recs := make([]any, 2500)
	for i := range recs {
		recs[i] = mustDict("a", i)
	}
	dicts, err := Marshal(recs)
	require.NoError(t, err)
	for _, c := range []struct {
		data  []byte
		limit int
		into  any
	}{
		{ints, 2999, new([]int32)},
		{ints, 999, new([]int32)},
		{ints, 2999, new([]int64)},
		{ints, 2999, new([]float64)},
		{dicts, 2400, new([]struct{ A int })},
	} {
		err := DecodeOptions{MaxContainerLen: c.limit}.Unmarshal(c.data, c.into)
		assert.ErrorIs(t, err, ErrLimit, "into %T, MaxContainerLen %d", c.into, c.limit)
		checkAgrees(t, DecodeOptions{MaxContainerLen: c.limit}, c.data, reflect.TypeOf(c.into).Elem(), fmt.Sprint("MaxContainerLen ", c.limit))
	}
}

// The typed decoder stores into the target as it goes. When it gives up
// part-way (here at a bytes key in a dict bound for a map[string]int), the
// reference path must see the target as the caller gave it: zero, or with
// the contents that decoding merges into. (Found by FuzzTypedDecode.)
func TestTypedFallbackAfterPartialStore(t *testing.T) {
	// An outer dict's items start with "m": {"0": 48, b"0": 48}; the
	// typed decoder stores "0" in M before the bytes key, then STOP finds
	// a MARK still open and it falls back. The pickle's value is the inner
	// dict, which has no "m".
	data := []byte("c0000\n000\nq0)\x81q1}q2(B\x02\x00\x00\x0000C\x03000B\x02\x00\x00\x0000q70B\x04\x00\x00\x000000q80q9X\x01\x00\x00\x00mqA}qB(X\x01\x00\x00\x000qCK0B\x01\x00\x00\x000qXK0u.")
	var r dtRec
	require.NoError(t, Unmarshal(data, &r))
	assert.Nil(t, r.M)
	checkAgrees(t, DecodeOptions{}, data, reflect.TypeFor[dtRec](), "partial store")

	data, err := Marshal(mustDict("name", "x", "m", mustDict("a", 1), "any", mustDict([]byte("k"), 2)))
	require.NoError(t, err)
	kept := dtRec{ID: 7, M: map[string]int{"old": 1}}
	require.NoError(t, Unmarshal(data, &kept))
	assert.Equal(t, 7, kept.ID, "a field the pickle does not name keeps its value")
	assert.Equal(t, map[string]int{"old": 1, "a": 1}, kept.M, "an existing map is added to")
	assert.Equal(t, "x", kept.Name)
}

// A long dict decoded into map[string]string (without reflection, and
// moved once to a map sized by estimate) or map[string]int (by
// reflection) holds every item, the later value of a repeated key.
func TestTypedLongMaps(t *testing.T) {
	d := NewDict()
	for i := 0; i < 5000; i++ {
		require.NoError(t, d.Set(strconv.Itoa(i), strconv.Itoa(i*7)))
	}
	data, err := Marshal([]any{d, d})
	require.NoError(t, err)
	var ms []map[string]string
	require.NoError(t, Unmarshal(data, &ms))
	require.Len(t, ms, 2)
	require.Len(t, ms[0], 5000)
	assert.Equal(t, "34993", ms[0]["4999"])
	assert.Equal(t, ms[0], ms[1])
	checkAgrees(t, DecodeOptions{}, data, reflect.TypeFor[[]map[string]string](), "long map")

	// A repeated key keeps its later value, as in Python.
	dup := []byte("\x80\x04}(X\x01\x00\x00\x00aX\x01\x00\x00\x001X\x01\x00\x00\x00aX\x01\x00\x00\x002u.")
	var m map[string]string
	require.NoError(t, Unmarshal(dup, &m))
	assert.Equal(t, map[string]string{"a": "2"}, m)
	checkAgrees(t, DecodeOptions{}, dup, reflect.TypeFor[map[string]string](), "repeated key")
}

// The typed decoder streams a dict's items into the struct it expects
// them for. When the pickle then discards that dict (POP, POP_MARK), the
// items were never the value's: the reference path decides, and the
// target keeps nothing of them. (Found by FuzzTypedDecode.)
func TestTypedDiscardedContainer(t *testing.T) {
	for _, p := range []string{
		"\x80\x02c__main__\nRec\n)\x81}(X\x02\x00\x00\x00idK\x05u0.",  // POP
		"\x80\x02c__main__\nRec\n)\x81(}(X\x02\x00\x00\x00idK\x05u1.", // POP_MARK
	} {
		var r dtRec
		require.NoError(t, Unmarshal([]byte(p), &r))
		assert.Equal(t, 0, r.ID, "%q", p)
		checkAgrees(t, DecodeOptions{}, []byte(p), reflect.TypeFor[dtRec](), fmt.Sprintf("%q", p))
	}
}
