package pickle

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests from a second review of the typed decoder: each pickle here made
// the typed decoder give another value or error than the reference path.

type r2Rec struct {
	Name  string `pickle:"name"`
	T     any    `pickle:"t"`
	X     int    `pickle:"x"`
	Class Global `pickle:",class"`
}

// r2Pickle is tsPickle, with "GLOBAL" standing for the opcode GLOBAL of
// __main__.Rec.
func r2Pickle(parts ...any) []byte {
	var out []any
	for _, p := range parts {
		if p == "GLOBAL" {
			for _, b := range []byte("c__main__\nRec\n") {
				out = append(out, b)
			}
			continue
		}
		out = append(out, p)
	}
	return tsPickle(out...)
}

// BUILD makes an instance whose state is a dict built as a struct that
// very struct (adopt). A SETITEM on the instance after its BUILD then set
// the struct's field over the state's, where the reference path keeps
// such items apart (the instance's dict items) and applies the state
// after them: {"name": "a"} as state then "name": "b" gave "b" instead of
// "a".
func TestTypedSetitemAfterBuild(t *testing.T) {
	p := r2Pickle("GLOBAL", opEmptyTuple, opNewobj, opEmptyDict, "name", "a", opSetitem, opBuild,
		"name", "b", opSetitem)
	var r r2Rec
	require.NoError(t, Unmarshal(p, &r))
	assert.Equal(t, "a", r.Name)
	checkAgrees(t, DecodeOptions{}, p, reflect.TypeFor[r2Rec](), "SETITEM after BUILD")
}

// An instance (or its state dict) fetched from the memo before its BUILD
// and kept in a tuple is a copy of the slot as it was then. Adopting the
// state as the instance did not reach that copy: the tuple, stored after
// the BUILD, held the instance without its state (an empty Rec, an
// Object without state), where the reference path has the instance with
// its state. Likewise a copy of the state dict, which adopt turns into
// the instance (its class field set) behind the copy's back.
func TestTypedCopyBeforeBuild(t *testing.T) {
	// {"t": obj, "x": (obj,)}, the tuple made from a copy of obj before
	// its BUILD and kept in the memo meanwhile.
	obj := r2Pickle(opEmptyDict, "t", "GLOBAL", opEmptyTuple, opNewobj, opMemoize,
		opBinget, byte(0), opTuple1, opMemoize, opPop,
		opEmptyDict, "name", "a", opSetitem, opBuild, opSetitem,
		"x", opBinget, byte(1), opSetitem)
	type outer struct {
		T r2Rec   `pickle:"t"`
		X []r2Rec `pickle:"x"`
	}
	var o outer
	require.NoError(t, Unmarshal(obj, &o))
	require.Len(t, o.X, 1)
	assert.Equal(t, "a", o.X[0].Name)
	checkAgrees(t, DecodeOptions{}, obj, reflect.TypeFor[outer](), "instance copied before BUILD")
	type outerAny struct {
		T r2Rec `pickle:"t"`
		X any   `pickle:"x"`
	}
	checkAgrees(t, DecodeOptions{}, obj, reflect.TypeFor[outerAny](), "instance copied before BUILD, as any")

	// {"t": obj, "x": (state,)}: a copy of the state dict, made before
	// the BUILD; the reference path converts the dict, without the class.
	state := r2Pickle(opEmptyDict, "t", "GLOBAL", opEmptyTuple, opNewobj,
		opEmptyDict, opMemoize, "name", "a", opSetitem,
		opBinget, byte(0), opTuple1, opMemoize, opPop,
		opBuild, opSetitem, "x", opBinget, byte(1), opSetitem)
	var s outer
	require.NoError(t, Unmarshal(state, &s))
	require.Len(t, s.X, 1)
	assert.Equal(t, Global{}, s.X[0].Class)
	checkAgrees(t, DecodeOptions{}, state, reflect.TypeFor[outer](), "state copied before BUILD")
}

type r2Two struct {
	A []int `pickle:"a"`
	B []int `pickle:"b"`
}

type r2Wrap struct {
	S []int `pickle:"s"`
}

// A tuple stored twice as a slice of the same type is one slice in the
// reference path, as a list shared by two places is (the converter
// finds it by the tuple's identity). The typed decoder made a new slice
// at each store, so the two fields did not share their array: a write
// through one was not seen through the other, and the results encoded
// differently. The same when the tuple is inside another one stored twice
// as a struct, or is also converted by the reference rules (in a list
// built in the model).
func TestTypedTupleStoredTwice(t *testing.T) {
	twice := tsPickle(opEmptyDict, opMark, "a", 1, 2, opTuple2, opMemoize, "b", opBinget, byte(0), opSetitems)
	var v r2Two
	require.NoError(t, Unmarshal(twice, &v))
	require.Len(t, v.A, 2)
	require.Len(t, v.B, 2)
	v.A[0] = 7
	assert.Equal(t, 7, v.B[0], "one array")
	checkAgrees(t, DecodeOptions{}, twice, reflect.TypeFor[r2Two](), "tuple stored twice")

	// [((1, 2),), ((1, 2),)] into []r2Wrap: the inner tuple is shared.
	nested := tsPickle(opEmptyList, opMark, 1, 2, opTuple2, opMemoize, opTuple1, opMemoize,
		opBinget, byte(1), opAppends)
	checkAgrees(t, DecodeOptions{}, nested, reflect.TypeFor[[]r2Wrap](), "tuple in a tuple stored twice")

	// {"p": (1, 2), "a": the tuple}: the first converted by the reference
	// rules (into a *[]int), the second stored.
	type withPtr struct {
		A []int  `pickle:"a"`
		P *[]int `pickle:"p"`
	}
	conv := tsPickle(opEmptyDict, opMark, "p", 1, 2, opTuple2, opMemoize, "a", opBinget, byte(0), opSetitems)
	checkAgrees(t, DecodeOptions{}, conv, reflect.TypeFor[withPtr](), "tuple converted, then stored")
	conv2 := tsPickle(opEmptyDict, opMark, "a", 1, 2, opTuple2, opMemoize, "p", opBinget, byte(0), opSetitems)
	checkAgrees(t, DecodeOptions{}, conv2, reflect.TypeFor[withPtr](), "tuple stored, then converted")
}

// The reference path counts MaxDepth as it converts, one level for each
// container and one more for each pointer it follows: a linked list of
// six tsNode dicts is six deep in the pickle but twelve in Go. The
// typed decoder checked the pickle's nesting only, and decoded what the
// reference path refuses with MaxDepth exceeded: a chain of six nodes
// with MaxDepth 10 (with the default 10000, a chain of 5001), a pointer
// target, or a str into a *string field with MaxDepth 1.
func TestTypedMaxDepthCountsPointers(t *testing.T) {
	var parts []any
	const nodes = 6
	for i := 0; i < nodes; i++ {
		parts = append(parts, opEmptyDict, opMark, "name", "n")
		if i < nodes-1 {
			parts = append(parts, "next")
		}
	}
	for i := 0; i < nodes; i++ {
		parts = append(parts, opSetitems)
	}
	chain := tsPickle(parts...)
	opts := DecodeOptions{MaxDepth: 10}
	var n tsNode
	err := opts.Unmarshal(chain, &n)
	var le *LimitError
	if assert.ErrorAs(t, err, &le) {
		assert.Equal(t, "MaxDepth", le.Limit)
	}
	checkAgrees(t, opts, chain, reflect.TypeFor[tsNode](), "chain of pointers")
	checkAgrees(t, DecodeOptions{MaxDepth: 12}, chain, reflect.TypeFor[tsNode](), "chain of pointers, within")

	one := tsPickle(opEmptyDict, "x", 1, opSetitem)
	checkAgrees(t, DecodeOptions{MaxDepth: 1}, one, reflect.TypeFor[*tsInner](), "pointer target")
	checkAgrees(t, DecodeOptions{MaxDepth: 2}, one, reflect.TypeFor[*tsInner](), "pointer target, within")

	type strPtr struct {
		S *string `pickle:"s"`
	}
	str := tsPickle(opEmptyDict, "s", "v", opSetitem)
	checkAgrees(t, DecodeOptions{MaxDepth: 1}, str, reflect.TypeFor[strPtr](), "str into a pointer field")
	checkAgrees(t, DecodeOptions{MaxDepth: 2}, str, reflect.TypeFor[strPtr](), "str into a pointer field, within")
}

// Python's dict keys 1, 1.0 and True are one key (and two equal
// frozensets are one key); the reference path builds the dict so, with
// one entry, before converting it. Into a map whose key type holds model
// values (map[any]int), the typed decoder stored each key as the Go
// value it is, and Go's map kept int64(1), float64(1) and true apart:
// {1: 1, True: 2} gave two entries where the reference path gives
// {1: 2}.
func TestTypedMapKeysEqualInPython(t *testing.T) {
	one := []any{opBinfloat, byte(0x3f), byte(0xf0), byte(0), byte(0), byte(0), byte(0), byte(0), byte(0)}
	for _, c := range []struct {
		name string
		p    []byte
	}{
		{"1 and True", tsPickle(opEmptyDict, opMark, 1, 1, opNewtrue, 2, opSetitems)},
		{"1 and 1.0", tsPickle(append(append([]any{opEmptyDict, opMark, 1, 1}, one...), 2, opSetitems)...)},
		{"1 and True, two batches", tsPickle(opEmptyDict, opMark, 1, 1, opSetitems, opMark, opNewtrue, 2, opSetitems)},
		{"equal frozensets", tsPickle(opEmptyDict, opMark, opMark, 1, opFrozenset, 1, opMark, 1, opFrozenset, 2, opSetitems)},
	} {
		var m map[any]int
		require.NoError(t, Unmarshal(c.p, &m), c.name)
		assert.Len(t, m, 1, c.name)
		checkAgrees(t, DecodeOptions{}, c.p, reflect.TypeFor[map[any]int](), c.name)
	}
}
