package pickle

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CPython's protocol 1 pickle of t = ([],); t[0].append(t): the tuple is
// built around the list while the list is empty, and the list is filled
// afterwards. Into []any, the list inside the tuple must be the filled
// list itself (the typed decoder used to keep it as it was, empty).
func TestTypedCycleThroughTupleMatchesModel(t *testing.T) {
	data := []byte("(]q\x00(h\x00tq\x01a1h\x01.")
	var v []any
	require.NoError(t, Unmarshal(data, &v))
	require.Len(t, v, 1)
	l, ok := v[0].([]any)
	require.True(t, ok, "%T", v[0])
	require.Len(t, l, 1)
	tup, ok := l[0].(Tuple)
	require.True(t, ok, "%T", l[0])
	inner, ok := tup[0].([]any)
	require.True(t, ok, "%T", tup[0])
	assert.Len(t, inner, 1, "the list in the tuple is the filled list")
	assert.Equal(t, unsafe.SliceData(l), unsafe.SliceData(inner), "and the same list")

	var m any
	require.NoError(t, Unmarshal(data, &m))
	mt := m.(Tuple)
	assert.Len(t, mt[0].([]any), 1)
}

// A dict key or set element that Go cannot compare (a tuple or bytes into
// an interface-typed key) is an error naming the key, not a panic.
func TestUnmarshalKeyNotComparable(t *testing.T) {
	cases := []struct {
		name   string
		pickle string // protocol 2
		into   func() any
		path   string
	}{
		{"tuple key into map[any]any", "\x80\x02}K\x01K\x02\x86X\x01\x00\x00\x00ts.", func() any { return new(map[any]any) }, "[[1 2]](key)"},
		{"bytes key into map[any]int", "\x80\x03}C\x01kK\x01s.", func() any { return new(map[any]int) }, "[[107]](key)"},
		{"tuple in a set into map[any]bool", "\x80\x04\x8f(K\x01K\x02\x86\x90.", func() any { return new(map[any]bool) }, "[[1 2]](key)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := c.into()
			var err error
			require.NotPanics(t, func() { err = Unmarshal([]byte(c.pickle), target) })
			var ute *UnmarshalTypeError
			require.ErrorAs(t, err, &ute)
			assert.True(t, errors.Is(err, ErrKeyNotComparable), "%v", err)
			assert.Equal(t, c.path, ute.Path)
			// Into *Dict, the same pickle decodes.
			var d *Dict
			if c.name != "tuple in a set into map[any]bool" {
				require.NoError(t, Unmarshal([]byte(c.pickle), &d))
				assert.Equal(t, 1, d.Len())
			}
		})
	}
}
