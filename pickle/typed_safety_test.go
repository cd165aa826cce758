package pickle

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the typed decoder's writes into Go memory: each pickle here
// made it write where it must not, or keep a value the reference path
// does not give.

type tsVals struct {
	Vals []float64 `pickle:"vals"`
}

// After BUILD adopts a memoized dict as an instance's struct, the dict's
// memo entry is emptied, but the dict's slot left on the stack still
// names that entry as its own. The typed decoder let the pickle put a new
// value (here a []float64 being built) at the freed index; filling the
// old dict then counted its pairs into the slice's entry, whose length
// grew past its backing array. With MaxContainerLen off (negative), the
// caller got a slice of 80 floats over an array of 72: the last 8 were
// another object's memory, and writing them would corrupt the heap.
func TestTypedMemoReusedAfterAdopt(t *testing.T) {
	p := []byte{0x80, 4, opEmptyDict, opMemoize} // the target's dict, memo 0
	p = append(p, "c__main__\nRec\n"...)
	// An instance whose state is the dict (BUILD): memo 0 is emptied.
	// The tuple and POP take the instance away, leaving the dict.
	p = append(p, opEmptyTuple, opNewobj, opBinget, 0, opBuild, opTuple1, opPop)
	// A []float64 for the dict's "vals", put at memo 0 again, with 72
	// floats; then taken off the stack without storing it.
	p = append(p, opMark, opShortBinunicode, 4)
	p = append(p, "vals"...)
	p = append(p, opEmptyList, opBinput, 0, opMark)
	for i := 0; i < 72; i++ {
		p = append(p, opBinint1, byte(i))
	}
	p = append(p, opAppends, opTuple2, opPopMark)
	// Eight pairs into the dict, each "vals": the slice.
	p = append(p, opMark)
	for i := 0; i < 8; i++ {
		p = append(p, opShortBinunicode, 4)
		p = append(p, "vals"...)
		p = append(p, opBinget, 0)
	}
	p = append(p, opSetitems, opStop)

	opts := DecodeOptions{MaxContainerLen: -1}
	var v tsVals
	require.NoError(t, opts.Unmarshal(p, &v))
	assert.Len(t, v.Vals, 72)
	checkAgrees(t, opts, p, reflect.TypeFor[tsVals](), "memo index reused after adopt")
}

type tsNode struct {
	Name string  `pickle:"name"`
	Next *tsNode `pickle:"next"`
}

type tsTree struct {
	Kids []tsTree `pickle:"kids"`
	Name string   `pickle:"name"`
}

// tsPickle writes a protocol 4 pickle of parts: opcodes (bytes), strs
// (SHORT_BINUNICODE) and small ints (BININT1), then STOP.
func tsPickle(parts ...any) []byte {
	b := []byte{0x80, 4}
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case string:
			b = append(b, opShortBinunicode, byte(len(v)))
			b = append(b, v...)
		case int:
			b = append(b, opBinint1, byte(v))
		}
	}
	return append(b, opStop)
}

// A slice of structs builds each dict in the place of the item it is
// expected to become (claim). When the dict turns out to be something
// else's (here "next" of the first item, given after that item's first
// SETITEM, so predicted as the list's third item), the typed decoder gave
// its place to the next dict predicted there: it zeroed it and built that
// dict over it, under the pointer the first item already held. The first
// item's Next then pointed at the third item ("d") instead of "n".
// Likewise a dict put in a tuple, whose place the tuple then took: the
// place was zeroed before the tuple was stored, and the tuple's dict with
// it. Claimed places are now never given to another value.
func TestTypedClaimedPlaceReused(t *testing.T) {
	next := tsPickle(opEmptyList, opMark,
		opEmptyDict, "name", "b", opSetitem, "next", opEmptyDict, "name", "n", opSetitem, opSetitem,
		opEmptyDict, "name", "c", opSetitem,
		opEmptyDict, "name", "d", opSetitem,
		opAppends)
	var nodes []tsNode
	require.NoError(t, Unmarshal(next, &nodes))
	require.Len(t, nodes, 3)
	require.NotNil(t, nodes[0].Next)
	assert.Equal(t, "n", nodes[0].Next.Name)
	checkAgrees(t, DecodeOptions{}, next, reflect.TypeFor[[]tsNode](), "dict claimed, then stored elsewhere")

	// [(({"name": "a"},),)]: the tuple's first field, Kids, holds the dict.
	tuple := tsPickle(opEmptyList, opEmptyDict, "name", "a", opSetitem, opTuple1, opTuple1, opAppend)
	var trees []tsTree
	require.NoError(t, Unmarshal(tuple, &trees))
	require.Len(t, trees, 1)
	require.Len(t, trees[0].Kids, 1)
	assert.Equal(t, "a", trees[0].Kids[0].Name)
	checkAgrees(t, DecodeOptions{}, tuple, reflect.TypeFor[[]tsTree](), "dict claimed, then put in a tuple")
}

// A str key caches the struct field it names in its slot (the field's
// index, and in aux the plan it is for). MEMOIZE cleared the index but
// not the plan, so the key then named "no field" of that plan: here
// "name", read as a key once (the MARK's prediction) before MEMOIZE, was
// dropped as an unknown field from both pairs that use it.
func TestTypedMemoizedKeyKeepsField(t *testing.T) {
	p := tsPickle(opEmptyDict, "name", opMark, opPopMark, opMemoize, "v", opSetitem,
		opBinget, byte(0), "w", opSetitem)
	var n tsNode
	require.NoError(t, Unmarshal(p, &n))
	assert.Equal(t, "w", n.Name)
	checkAgrees(t, DecodeOptions{}, p, reflect.TypeFor[tsNode](), "memoized key")
}

// ADDITEMS adds to a set only, APPEND(S) to a list or an instance: the
// reference path refuses the others. The typed decoder took ADDITEMS on
// a dict as SETITEMS and APPENDS on a set as ADDITEMS, and decoded both
// pickles without error.
func TestTypedItemsOpcodeFitsContainer(t *testing.T) {
	for _, c := range []struct {
		data []byte
		into reflect.Type
	}{
		{tsPickle(opEmptyDict, opMark, "name", "x", opAdditems), reflect.TypeFor[tsNode]()},
		{tsPickle(opEmptyDict, opMark, "name", "x", opAdditems), reflect.TypeFor[map[string]string]()},
		{tsPickle(opEmptySet, opMark, "a", "b", opAppends), reflect.TypeFor[map[string]bool]()},
	} {
		err := Unmarshal(c.data, reflect.New(c.into).Interface())
		assert.ErrorIs(t, err, ErrType, "into %s", c.into)
		checkAgrees(t, DecodeOptions{}, c.data, c.into, "items opcode")
	}
}

type tsInner struct {
	X int `pickle:"x"`
	Y int `pickle:"y"`
}

type tsOuter struct {
	A tsInner        `pickle:"a"`
	B tsInner        `pickle:"b"`
	P *tsInner       `pickle:"p"`
	M map[string]int `pickle:"m"`
}

// A dict bound for a struct field, or for what a set pointer field points
// to, is built in place. When its key came again (which Python never
// writes, but a pickle can), the second dict was built over the first:
// {"a": {"x": 1}, "a": {"y": 2}} gave A{X:1, Y:2} where the reference
// path gives A{Y:2}, a map field merged both maps, and an empty dict
// memoized as the first "a" and fetched again as "b" showed the second's
// contents. A struct now records the fields it has set, and a field set
// twice makes the typed decoder fall back. (Found by review.)
func TestTypedRepeatedFieldKey(t *testing.T) {
	x1 := []any{opEmptyDict, "x", 1, opSetitem}
	y2 := []any{opEmptyDict, "y", 2, opSetitem}
	cat := func(parts ...[]any) []any {
		var all []any
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	for _, c := range []struct {
		name  string
		parts []any
		want  tsOuter
	}{
		{"struct field", cat([]any{opEmptyDict, opMark, "a"}, x1, []any{"a"}, y2, []any{opSetitems}),
			tsOuter{A: tsInner{Y: 2}}},
		{"struct field, two batches", cat([]any{opEmptyDict, opMark, "a"}, x1, []any{opSetitems, opMark, "a"}, y2, []any{opSetitems}),
			tsOuter{A: tsInner{Y: 2}}},
		{"pointer field", cat([]any{opEmptyDict, opMark, "p"}, x1, []any{"p"}, y2, []any{opSetitems}),
			tsOuter{P: &tsInner{Y: 2}}},
		{"map field", cat([]any{opEmptyDict, opMark, "m"}, x1, []any{"m"}, y2, []any{opSetitems}),
			tsOuter{M: map[string]int{"y": 2}}},
		{"empty dict fetched again", cat([]any{opEmptyDict, opMark, "a", opEmptyDict, opMemoize, "a"}, y2, []any{"b", opBinget, byte(0), opSetitems}),
			tsOuter{A: tsInner{Y: 2}}},
	} {
		p := tsPickle(c.parts...)
		var got tsOuter
		require.NoError(t, Unmarshal(p, &got), c.name)
		assert.Equal(t, c.want, got, c.name)
		checkAgrees(t, DecodeOptions{}, p, reflect.TypeFor[tsOuter](), c.name)
	}

	// A struct's fields from the 33rd on are recorded apart.
	fields := make([]reflect.StructField, 34)
	for i := range fields {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[int](), Tag: reflect.StructTag(fmt.Sprintf(`pickle:"f%d"`, i))}
	}
	fields[33].Type = reflect.TypeFor[tsInner]()
	big := reflect.StructOf(fields)
	p := tsPickle(cat([]any{opEmptyDict, opMark, "f0", 5, "f33"}, x1, []any{"f33"}, y2, []any{opSetitems})...)
	got := reflect.New(big)
	require.NoError(t, Unmarshal(p, got.Interface()))
	assert.Equal(t, tsInner{Y: 2}, got.Elem().Field(33).Interface())
	assert.Equal(t, 5, got.Elem().Field(0).Interface())
	checkAgrees(t, DecodeOptions{}, p, big, "field 33")
}
