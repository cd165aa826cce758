package pickle

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of typed decoding (Unmarshal into Go types) and of the encoding
// of typed values, on pickles made in Go; typed_python_test.go checks the
// same against every Python.

type tAddress struct {
	Street string `pickle:"street"`
	Zip    int    `pickle:"zip,omitempty"`
}

type tBase struct {
	ID      int64
	Created string `pickle:"created"`
}

type tOrder struct {
	tBase
	Customer string
	Qty      int             `pickle:"qty"`
	Price    float64         `pickle:"price"`
	Tags     []string        `pickle:"tags"`
	Ship     *tAddress       `pickle:"ship"`
	Bill     tAddress        `pickle:"bill"`
	Lines    map[int]string  `pickle:"lines"`
	Meta     map[string]any  `pickle:"meta"`
	Raw      []byte          `pickle:"raw"`
	Digest   [4]byte         `pickle:"digest"`
	Pair     [2]float32      `pickle:"pair"`
	Z        complex128      `pickle:"z"`
	Big      *big.Int        `pickle:"big"`
	Any      any             `pickle:"any"`
	Set      map[string]bool `pickle:"set"`
	UserID   int             // a Python user_id finds it
	Ignored  int             `pickle:"-"`
	private  int
}

// pick marshals the model value v at every protocol and returns the
// pickles.
func pickAll(t *testing.T, v any) map[int][]byte {
	t.Helper()
	out := map[int][]byte{}
	for p := 0; p <= HighestProtocol; p++ {
		b, err := EncodeOptions{Protocol: protoOption(p)}.Marshal(v)
		require.NoError(t, err, "protocol %d", p)
		out[p] = b
	}
	return out
}

func TestUnmarshalStruct(t *testing.T) {
	big1 := new(big.Int).Lsh(big.NewInt(1), 80)
	set, _ := NewSet("a", "b")
	src := mustDict(
		"ID", 7, "created", "today", "Customer", "ada", "qty", 3, "price", 2.5,
		"tags", []any{"x", "y"}, "ship", mustDict("street", "Main", "zip", 12345),
		"bill", mustDict("street", "Side"), "lines", mustDict(1, "one", 2, "two"),
		"meta", mustDict("k", []any{int64(1), "v"}), "raw", []byte("\x00\x01"),
		"digest", []byte("abcd"), "pair", Tuple{1.5, 2}, "z", complex(1, -1),
		"big", big1, "any", Tuple{1, "x"}, "set", set, "user_id", 42, "Ignored", 9,
		"unknown", "skipped",
	)
	want := tOrder{
		tBase: tBase{ID: 7, Created: "today"}, Customer: "ada", Qty: 3, Price: 2.5,
		Tags: []string{"x", "y"}, Ship: &tAddress{"Main", 12345}, Bill: tAddress{Street: "Side"},
		Lines: map[int]string{1: "one", 2: "two"}, Meta: map[string]any{"k": []any{int64(1), "v"}},
		Raw: []byte("\x00\x01"), Digest: [4]byte{'a', 'b', 'c', 'd'}, Pair: [2]float32{1.5, 2},
		Z: complex(1, -1), Big: big1, Any: Tuple{int64(1), "x"}, Set: map[string]bool{"a": true, "b": true},
		UserID: 42,
	}
	for proto, data := range pickAll(t, src) {
		var got tOrder
		require.NoError(t, Unmarshal(data, &got), "protocol %d", proto)
		assert.Equal(t, want, got, "protocol %d", proto)
	}
}

func TestUnmarshalKeepsAbsentFields(t *testing.T) {
	data, err := Marshal(mustDict("qty", 5))
	require.NoError(t, err)
	o := tOrder{Customer: "kept", Lines: map[int]string{9: "nine"}}
	require.NoError(t, Unmarshal(data, &o))
	assert.Equal(t, "kept", o.Customer)
	assert.Equal(t, 5, o.Qty)

	// A map is added to, as encoding/json does.
	data, err = Marshal(mustDict("lines", mustDict(1, "one")))
	require.NoError(t, err)
	require.NoError(t, Unmarshal(data, &o))
	assert.Equal(t, map[int]string{1: "one", 9: "nine"}, o.Lines)
}

func TestUnmarshalScalars(t *testing.T) {
	cases := []struct {
		name   string
		python any
		target any // pointer to a zero value
		want   any
	}{
		{"int8", int64(-128), new(int8), int8(-128)},
		{"uint16", int64(65535), new(uint16), uint16(65535)},
		{"uint64_big", new(big.Int).SetUint64(math.MaxUint64), new(uint64), uint64(math.MaxUint64)},
		{"float_from_int", int64(3), new(float64), 3.0},
		{"float32", 0.5, new(float32), float32(0.5)},
		{"inf", math.Inf(1), new(float64), math.Inf(1)},
		{"minus_inf_float32", math.Inf(-1), new(float32), float32(math.Inf(-1))},
		{"complex_from_float", 2.0, new(complex64), complex64(2)},
		{"string", "héllo", new(string), "héllo"},
		{"named_string", "x", new(tName), tName("x")},
		{"bool", true, new(bool), true},
		{"bytes_into_bytearray", []byte("ab"), new(ByteArray), ByteArray("ab")},
		{"bytearray_into_bytes", ByteArray("ab"), new([]byte), []byte("ab")},
		{"list_of_ints_into_bytes", []any{int64(1), int64(2)}, new([]byte), []byte{1, 2}},
		{"tuple_into_slice", Tuple{int64(1), int64(2)}, new([]int), []int{1, 2}},
		{"frozenset_into_slice", mustFrozenSet(int64(3)), new([]int), []int{3}},
		{"set_into_map_struct", mustSet("a"), new(map[string]struct{}), map[string]struct{}{"a": {}}},
		{"array_short", []any{int64(1)}, new([3]int), [3]int{1, 0, 0}},
		{"array_long", []any{int64(1), int64(2), int64(3), int64(4)}, new([3]int), [3]int{1, 2, 3}},
		{"tuple_keys", mustDict(Tuple{int64(1), int64(2)}, "a"), new(map[[2]int]string), map[[2]int]string{{1, 2}: "a"}},
		{"struct_keys", mustDict(Tuple{int64(1), "b"}, "a"), new(map[tKey]string), map[tKey]string{{1, "b"}: "a"}},
		{"none_into_pointer", nil, ptrTo(ptrTo(5)), (*int)(nil)},
		{"none_into_slice", nil, &[]int{1}, []int(nil)},
		{"none_keeps_int", nil, ptrTo(5), 5},
		{"none_into_any", nil, ptrTo[any](5), nil},
		{"tuple_model", Tuple{"x"}, new(Tuple), Tuple{"x"}},
		{"dict_model", mustDict("k", "v"), new(*Dict), mustDict("k", "v")},
		{"global", Global{"m", "n"}, new(Global), Global{"m", "n"}},
		{"tuple_into_struct", Tuple{int64(1), "two"}, new(tKey), tKey{1, "two"}},
		{"nested_any", []any{mustDict("a", int64(1))}, new([]map[string]any), []map[string]any{{"a": int64(1)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for proto, data := range pickAll(t, c.python) {
				target := reflect.New(reflect.TypeOf(c.target).Elem())
				target.Elem().Set(reflect.ValueOf(c.target).Elem())
				require.NoError(t, Unmarshal(data, target.Interface()), "protocol %d", proto)
				got := target.Elem().Interface()
				if c.name == "dict_model" {
					assert.True(t, Equal(c.want, got), "protocol %d: %v", proto, got)
					continue
				}
				assert.Equal(t, c.want, got, "protocol %d", proto)
			}
		})
	}
}

type tName string

type tKey struct {
	N int
	S string
}

func ptrTo[T any](v T) *T { return &v }

func TestUnmarshalErrors(t *testing.T) {
	type Item struct {
		Qty int8 `pickle:"qty"`
	}
	type Order struct {
		Qty   int             `pickle:"qty"`
		Items []Item          `pickle:"items"`
		ByKey map[string]Item `pickle:"by_key"`
		Keys  map[int]bool
	}
	cases := []struct {
		name   string
		python any
		target any
		msg    string
	}{
		{"field", mustDict("qty", "three"), &Order{},
			"pickle: cannot unmarshal Python str into Go field Order.Qty of type int"},
		{"range", mustDict("items", []any{mustDict("qty", 1), mustDict("qty", 300)}), &Order{},
			"pickle: cannot unmarshal Python int 300 into Go field Order.Items[1].Qty of type int8"},
		{"map_value", mustDict("by_key", mustDict("a", mustDict("qty", 1.5))), &Order{},
			`pickle: cannot unmarshal Python float into Go field Order.ByKey["a"].Qty of type int8`},
		{"map_key", mustDict("Keys", mustDict("k", true)), &Order{},
			`pickle: cannot unmarshal Python str into Go value Order.Keys["k"](key) of type int`},
		{"top", "x", new(int), "pickle: cannot unmarshal Python str into Go value of type int"},
		{"unnamed_root", []any{mustDict("qty", "x")}, new([]Item),
			"pickle: cannot unmarshal Python str into Go field [0].Qty of type int8"},
		{"list_into_struct_field", mustDict("items", mustDict()), &Order{},
			"pickle: cannot unmarshal Python dict into Go field Order.Items of type []pickle.Item"},
		{"object", mustDict("qty", &Object{Callable: Global{"datetime", "date"}, Args: Tuple{2020, 1, 2}}), &Order{},
			"pickle: cannot unmarshal Python datetime.date into Go field Order.Qty of type int"},
		{"bytes_len", []byte("abc"), new([4]byte),
			"pickle: cannot unmarshal Python bytes into Go value of type [4]uint8: 3 bytes for 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := Marshal(c.python)
			require.NoError(t, err)
			err = Unmarshal(data, c.target)
			require.Error(t, err)
			assert.Equal(t, c.msg, err.Error())
			var te *UnmarshalTypeError
			assert.ErrorAs(t, err, &te)
		})
	}
}

func TestUnknownFields(t *testing.T) {
	type Strict struct {
		A int `pickle:"a"`
	}
	type WithExtra struct {
		A     int            `pickle:"a"`
		Extra map[string]any `pickle:",extra"`
	}
	type WithDict struct {
		A    int   `pickle:"a"`
		Rest *Dict `pickle:",extra"`
	}
	data, err := Marshal(mustDict("a", 1, "b", "x", 3, "y"))
	require.NoError(t, err)

	var s Strict
	require.NoError(t, Unmarshal(data, &s))
	assert.Equal(t, 1, s.A)

	err = DecodeOptions{UnknownFields: RejectUnknown}.Unmarshal(data, &s)
	assert.ErrorIs(t, err, ErrUnknownField)
	assert.EqualError(t, err, `pickle: cannot unmarshal Python dict into Go value of type pickle.Strict: unknown field "b"`)

	var w WithExtra
	require.NoError(t, Unmarshal(data, &w))
	assert.Equal(t, WithExtra{A: 1, Extra: map[string]any{"b": "x"}}, w)
	// A key that is not a str has no place in a map[string]any.
	err = DecodeOptions{UnknownFields: RejectUnknown}.Unmarshal(data, &w)
	assert.EqualError(t, err, `pickle: cannot unmarshal Python dict into Go value of type pickle.WithExtra: unknown field 3`)

	var d WithDict
	require.NoError(t, Unmarshal(data, &d))
	assert.True(t, Equal(mustDict("b", "x", 3, "y"), d.Rest), "%v", d.Rest)

	// The extra entries are written back after the fields.
	back, err := Marshal(d)
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(back, &v))
	assert.Equal(t, "{a: 1, b: x, 3: y}", v.(*Dict).String())
}

func TestUnmarshalSharedPointers(t *testing.T) {
	type Node struct {
		Name string
		Next *Node
	}
	shared := mustDict("Name", "s")
	loop := mustDict("Name", "loop")
	_ = loop.Set("Next", loop)
	data, err := Marshal([]any{shared, shared, loop})
	require.NoError(t, err)
	var nodes []*Node
	require.NoError(t, Unmarshal(data, &nodes))
	require.Len(t, nodes, 3)
	assert.Same(t, nodes[0], nodes[1])
	assert.Same(t, nodes[2], nodes[2].Next)

	// Values are copies; the cycle closes at the first pointer.
	var vals []Node
	require.NoError(t, Unmarshal(data, &vals))
	assert.Same(t, vals[2].Next, vals[2].Next.Next)
	assert.Equal(t, "loop", vals[2].Name)

	// A cycle through a list closes at the slice, which shares its array.
	type Loop struct{ L []Loop }
	cyc := mustDict()
	_ = cyc.Set("L", []any{cyc})
	data, err = Marshal(cyc)
	require.NoError(t, err)
	var l Loop
	require.NoError(t, Unmarshal(data, &l))
	assert.Same(t, &l.L[0], &l.L[0].L[0])
}

func TestUnmarshalTargets(t *testing.T) {
	data, err := Marshal(1)
	require.NoError(t, err)
	var i int
	assert.ErrorIs(t, Unmarshal(data, i), ErrUnsupportedTarget)
	assert.ErrorIs(t, Unmarshal(data, (*int)(nil)), ErrUnsupportedTarget)
	var ch chan int
	err = Unmarshal(data, &ch)
	var te *UnmarshalTypeError
	require.ErrorAs(t, err, &te)
	var ut *UnsupportedTypeError
	assert.ErrorAs(t, err, &ut)
	// The stream decoder takes typed targets too.
	dec := NewDecoder(strings.NewReader(string(data) + string(data)))
	require.NoError(t, dec.Decode(&i))
	var f float64
	require.NoError(t, dec.Decode(&f))
	assert.Equal(t, 1, i)
	assert.Equal(t, 1.0, f)
}

// tCustom decodes and encodes itself.
type tCustom struct {
	a, b int
}

func (c *tCustom) UnmarshalPickle(v any) error {
	t, ok := v.(Tuple)
	if !ok || len(t) != 2 {
		return errors.New("want a pair")
	}
	if err := Convert(t[0], &c.a); err != nil {
		return err
	}
	return Convert(t[1], &c.b)
}

func (c tCustom) MarshalPickle() (any, error) { return Tuple{c.a, c.b}, nil }

func TestMarshalerUnmarshaler(t *testing.T) {
	type Holder struct {
		C  tCustom
		P  *tCustom
		Cs []tCustom
	}
	h := Holder{C: tCustom{1, 2}, P: &tCustom{3, 4}, Cs: []tCustom{{5, 6}}}
	data, err := Marshal(h)
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(data, &v))
	assert.Equal(t, "{C: [1 2], P: [3 4], Cs: [[5 6]]}", v.(*Dict).String())
	var back Holder
	require.NoError(t, Unmarshal(data, &back))
	assert.Equal(t, h, back)

	bad, err := Marshal(mustDict("C", "x"))
	require.NoError(t, err)
	err = Unmarshal(bad, &back)
	assert.EqualError(t, err, "pickle: cannot unmarshal Python str into Go field Holder.C of type pickle.tCustom: want a pair")
}

func TestMarshalRoundTrip(t *testing.T) {
	o := tOrder{
		tBase: tBase{ID: 1, Created: "c"}, Customer: "bob", Qty: 2, Price: 0.5, Tags: []string{"t"},
		Ship: &tAddress{"s", 1}, Lines: map[int]string{3: "x"}, Meta: map[string]any{"m": int64(1)},
		Raw: []byte{1}, Digest: [4]byte{1, 2, 3, 4}, Pair: [2]float32{1, 2}, Z: 1i, Big: big.NewInt(5),
		Any: "any", Set: map[string]bool{"on": true}, UserID: 3, Ignored: 5,
	}
	for p := 0; p <= HighestProtocol; p++ {
		data, err := EncodeOptions{Protocol: protoOption(p)}.Marshal(&o)
		require.NoError(t, err)
		var back tOrder
		require.NoError(t, Unmarshal(data, &back), "protocol %d", p)
		want := o
		want.Ignored = 0
		want.Digest = [4]byte{1, 2, 3, 4}
		assert.Equal(t, want, back, "protocol %d", p)
	}
}

type tNest []tNest

// A pickle of 100 bytes can stand for 2**40 Go values when one list is
// shared by two places at every level: it decodes to slices that share
// their arrays as the lists are shared, so decoding stays linear.
func TestUnmarshalSharedLists(t *testing.T) {
	v := []any{}
	for i := 0; i < 40; i++ {
		v = []any{v, v}
	}
	data, err := Marshal(v)
	require.NoError(t, err)
	require.Less(t, len(data), 1000)
	var n tNest
	require.NoError(t, Unmarshal(data, &n))
	assert.Same(t, &n[0][0], &n[1][0])
	opts := DecodeOptions{}
	cfg := opts.config()
	var ref tNest
	require.NoError(t, cfg.unmarshalReference(data, &ref))
	assert.Same(t, &ref[0][0], &ref[1][0])

	// A shared dict is one map.
	m := mustDict("k", int64(1))
	data, err = Marshal([]any{m, m})
	require.NoError(t, err)
	var maps []map[string]int
	require.NoError(t, cfg.unmarshalReference(data, &maps))
	maps[0]["new"] = 2
	assert.Equal(t, 2, maps[1]["new"])
}

// NaN is never equal to itself, so TestUnmarshalScalars cannot hold it.
func TestUnmarshalNaN(t *testing.T) {
	for proto, data := range pickAll(t, math.NaN()) {
		var f64 float64
		require.NoError(t, Unmarshal(data, &f64), "protocol %d", proto)
		assert.True(t, math.IsNaN(f64), "protocol %d: %v", proto, f64)
		var f32 float32
		require.NoError(t, Unmarshal(data, &f32), "protocol %d", proto)
		assert.True(t, math.IsNaN(float64(f32)), "protocol %d: %v", proto, f32)
	}
}
