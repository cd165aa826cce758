package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	ogórek "github.com/kisielk/og-rek"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roundTrip(t *testing.T, v any, proto int) any {
	t.Helper()
	b, err := EncodeOptions{Protocol: proto}.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, Unmarshal(b, &out), "%q", b)
	return out
}

type Base struct {
	ID   int
	Name string `pickle:"name"`
}

type Extra struct {
	Name  string // shadowed by Base's tagged "name"? no: different keys
	Color string
}

type Conflict1 struct{ Dup int }
type Conflict2 struct{ Dup int }

type Record struct {
	Base
	*Extra
	Conflict1
	Conflict2
	Score   float64 `pickle:"score,omitempty"`
	Hidden  string  `pickle:"-"`
	Dash    string  `pickle:"-,"`
	private int
	Items   []Item
}

type Item struct {
	Meta map[string]any
}

func TestEncodeStruct(t *testing.T) {
	r := Record{Base: Base{ID: 1, Name: "n"}, Hidden: "h", Dash: "d", private: 3, Conflict1: Conflict1{1}, Conflict2: Conflict2{2}}
	got := roundTrip(t, r, 0).(*Dict)
	assert.Equal(t, []any{"ID", "name", "-", "Items"}, got.Keys(), "nil embedded pointer skipped, conflict dropped, omitempty")
	r.Extra = &Extra{Name: "e", Color: "red"}
	r.Score = 2.5
	got = roundTrip(t, &r, 4).(*Dict)
	assert.Equal(t, []any{"ID", "name", "Name", "Color", "score", "-", "Items"}, got.Keys())
	v, _ := got.Get("Items")
	assert.Equal(t, []any{}, v, "a nil slice is an empty list")

	// The field list is cached per type.
	p1, p2 := structInfoFor(reflect.TypeFor[Record]()), structInfoFor(reflect.TypeFor[Record]())
	assert.Same(t, p1, p2)
}

func TestEncodeUnsupported(t *testing.T) {
	r := Record{Items: []Item{{}, {}, {}, {Meta: map[string]any{"ok": 1, "x": make(chan int)}}}}
	dst := append(make([]byte, 0, 1024), "prefix"...)
	out, err := EncodeOptions{}.AppendMarshal(dst, r)
	require.Error(t, err)
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, `.Items[3].Meta["x"]`, ee.Path)
	assert.Equal(t, reflect.TypeFor[chan int](), ee.Type)
	var ute *UnsupportedTypeError
	assert.ErrorAs(t, err, &ute)
	assert.True(t, strings.HasPrefix(err.Error(), "pickle: "), err.Error())
	assert.Equal(t, "prefix", string(out), "nothing written")

	for _, v := range []any{func() {}, unsafe.Pointer(nil), []any{1, complex64(1), make(chan bool)}} {
		_, err := Marshal(v)
		assert.Error(t, err, "%T", v)
	}
	_, err = Marshal(map[string]any{"k": []any{1, "bad \xff utf8"}})
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, `["k"][1]`, ee.Path)
	assert.ErrorIs(t, err, ErrInvalidUTF8)

	_, err = EncodeOptions{Protocol: 6}.Marshal(1)
	assert.Error(t, err)
	// Array keys are written as tuples, which Python can hash.
	b, err := Marshal(map[[2]int]int{{1, 2}: 3})
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(b, &v))
	got, ok := v.(*Dict).Get(Tuple{1, 2})
	assert.True(t, ok)
	assert.Equal(t, int64(3), got)
	_, err = Marshal(map[*int]int{new(int): 1})
	assert.NoError(t, err, "pointer keys are what they point to")
}

func TestAppendMarshal(t *testing.T) {
	dst := make([]byte, 3, 100)
	copy(dst, "abc")
	out, err := EncodeOptions{}.AppendMarshal(dst, []any{1, "x"})
	require.NoError(t, err)
	assert.Equal(t, "abc", string(out[:3]))
	want, err := Marshal([]any{1, "x"})
	require.NoError(t, err)
	assert.Equal(t, want, out[3:])
}

func TestEncodeNils(t *testing.T) {
	var np *int
	var ni any
	var nd *Dict
	got := roundTrip(t, []any{np, ni, nd, []int(nil), map[string]int(nil), (*Record)(nil)}, 4)
	assert.Equal(t, []any{nil, nil, nil, []any{}, NewDict(), nil}, got)
}

func TestEncodeSharing(t *testing.T) {
	m := map[string]int{"a": 1}
	s := []string{"x"}
	p := &Base{ID: 7}
	b, err := Marshal([]any{m, m, s, s, p, p, s[:1], Tuple{1}, mustDict("k", m)})
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(b, &v))
	l := v.([]any)
	assert.Same(t, l[0].(*Dict), l[1].(*Dict))
	assert.Same(t, &l[2].([]any)[0], &l[3].([]any)[0])
	assert.Same(t, l[4].(*Dict), l[5].(*Dict))
	assert.Same(t, &l[2].([]any)[0], &l[6].([]any)[0], "same array and length: the same list")
	inner, _ := l[8].(*Dict).Get("k")
	assert.Same(t, l[0].(*Dict), inner.(*Dict))

	// Cycles through maps and pointers terminate.
	cm := map[string]any{}
	cm["self"] = cm
	got := roundTrip(t, cm, 2).(*Dict)
	self, _ := got.Get("self")
	assert.Same(t, got, self.(*Dict))

	type ring struct {
		Next *ring
		N    int
	}
	a := &ring{N: 1}
	a.Next = &ring{N: 2, Next: a}
	got = roundTrip(t, a, 3).(*Dict)
	next, _ := got.Get("Next")
	back, _ := next.(*Dict).Get("Next")
	assert.Same(t, got, back.(*Dict))

	// Distinct empty slices are distinct lists.
	got2 := roundTrip(t, []any{[]int{}, []int{}}, 2).([]any)
	assert.NotSame(t, unsafeData(got2[0].([]any)), unsafeData(got2[1].([]any)))
}

func TestEncodeNumbers(t *testing.T) {
	big1 := new(big.Int).Lsh(big.NewInt(1), 64)
	for p := -1; p <= 5; p++ {
		got := roundTrip(t, []any{uint64(math.MaxUint64), uint(1), int8(-1), *big1, float32(0.5), complex64(1i), math.MaxInt64, math.MinInt64}, p).([]any)
		want := []any{new(big.Int).SetUint64(math.MaxUint64), int64(1), int64(-1), big1, 0.5, complex(0, 1), int64(math.MaxInt64), int64(math.MinInt64)}
		assert.True(t, Equal(want, got), "protocol %d: %s", p, describe(got))
		_, isInt := got[6].(int64)
		assert.True(t, isInt, "int64 values decode as int64")
	}
}

func TestEncodeMapOrder(t *testing.T) {
	m := map[string]int{}
	for _, k := range strings.Fields("q w e r t y u i o p a s d f g h j k l") {
		m[k] = len(k)
	}
	first, err := Marshal(m)
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		again, err := Marshal(m)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
	got := roundTrip(t, map[any]int{"b": 1, 2: 2, 1.5: 3, "a": 4, nil: 5}, 4).(*Dict)
	assert.Equal(t, []any{nil, 1.5, int64(2), "a", "b"}, got.Keys())
}

type pickleTime struct{ sec int64 }

func (p pickleTime) MarshalPickle() (any, error) {
	if p.sec < 0 {
		return nil, errors.New("negative time")
	}
	return &Object{Callable: Global{"datetime", "datetime"}, Args: Tuple{"fromtimestamp", p.sec}}, nil
}

func TestMarshaler(t *testing.T) {
	got := roundTrip(t, map[string]any{"t": pickleTime{5}}, 4).(*Dict)
	v, _ := got.Get("t")
	assert.Equal(t, Global{"datetime", "datetime"}, v.(*Object).Callable)
	_, err := Marshal([]any{pickleTime{-1}})
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "[0]", ee.Path)
	assert.ErrorContains(t, err, "negative time")
}

func TestEncodeOgrek(t *testing.T) {
	d := ogórek.NewDict()
	d.Set("k", ogórek.Tuple{1, ogórek.Bytes("b")})
	v := []any{ogórek.None{}, d, ogórek.ByteString("s"), ogórek.Class{Module: "copy_reg", Name: "_reconstructor"},
		ogórek.Call{Callable: ogórek.Class{Module: "decimal", Name: "Decimal"}, Args: ogórek.Tuple{"1"}}, ogórek.Ref{Pid: "p"}}
	want := []any{nil, mustDict("k", Tuple{1, []byte("b")}), ByteString("s"), Global{"copyreg", "_reconstructor"},
		&Object{Callable: Global{"decimal", "Decimal"}, Args: Tuple{"1"}}, PersistentRef{ID: "p"}}
	for p := -1; p <= HighestProtocol; p++ {
		b, err := EncodeOptions{Protocol: p}.Marshal(v)
		require.NoError(t, err, "protocol %d", p)
		var back any
		require.NoError(t, DecodeOptions{Py2Str: Py2StrByteString}.Unmarshal(b, &back), "protocol %d", p)
		assert.True(t, Equal(want, back), "protocol %d: got %s", p, describe(back))
	}
}

func TestToOgrek(t *testing.T) {
	l := make([]any, 2)
	l[0] = l
	l[1] = Tuple{"t"}
	v := []any{nil, int64(1), 1.5, "s", ByteString("b"), []byte("x"), ByteArray("y"), mustDict("k", 1),
		mustSet(1), mustFrozenSet(2), complex(1, 2), Global{"m", "n"}, PersistentRef{ID: "p"},
		&Object{Callable: Global{"m", "f"}, Args: Tuple{1}}, l, big.NewInt(3)}
	out, err := ToOgrek(v)
	require.NoError(t, err)
	o := out.([]any)
	assert.Equal(t, ogórek.None{}, o[0])
	assert.Equal(t, ogórek.ByteString("b"), o[4])
	assert.Equal(t, ogórek.Bytes("x"), o[5])
	assert.Equal(t, []byte("y"), o[6])
	assert.Equal(t, int64(1), o[7].(ogórek.Dict).Get("k"))
	assert.Equal(t, ogórek.Call{Callable: ogórek.Class{Module: "builtins", Name: "set"}, Args: ogórek.Tuple{[]any{int64(1)}}}, o[8])
	assert.Equal(t, ogórek.Class{Module: "m", Name: "n"}, o[11])
	assert.Equal(t, ogórek.Ref{Pid: "p"}, o[12])
	assert.Equal(t, ogórek.Call{Callable: ogórek.Class{Module: "m", Name: "f"}, Args: ogórek.Tuple{int64(1)}}, o[13])
	cyc := o[14].([]any)
	assert.Same(t, &cyc[0], &cyc[0].([]any)[0], "cycles are kept")
	// og-rek's encoder accepts the result.
	var buf bytes.Buffer
	require.NoError(t, ogórek.NewEncoderWithConfig(&buf, &ogórek.EncoderConfig{Protocol: 2}).Encode(o[:14]))

	_, err = ToOgrek(&Object{Callable: Global{"m", "C"}, New: true})
	assert.Error(t, err)
	_, err = ToOgrek(make(chan int))
	assert.Error(t, err)
}

func TestEncodeDepth(t *testing.T) {
	type deep struct{ Next any }
	var v any = 1
	for i := 0; i < 200; i++ {
		v = deep{v}
	}
	_, err := EncodeOptions{MaxDepth: 100}.Marshal(v)
	assert.ErrorIs(t, err, ErrEncodeDepth)
	_, err = Marshal(v)
	assert.NoError(t, err)
}

func TestEncodeDeterministic(t *testing.T) {
	build := func() any {
		d := NewDict()
		for i := 0; i < 20000; i++ {
			_ = d.Set(fmt.Sprintf("k%d", i), []any{fmt.Sprintf("v%d", i%50), "const", i})
		}
		return d
	}
	a, err := Marshal(build())
	require.NoError(t, err)
	runtime.GC()
	b, err := Marshal(build())
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same value built twice, at other addresses, encodes the same")
	var v any
	require.NoError(t, Unmarshal(a, &v))
	assert.True(t, Equal(build(), v))
}
