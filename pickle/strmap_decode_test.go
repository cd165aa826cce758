package pickle

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Long dicts decoded into maps of plain values of several types are moved
// once to a map sized by estimate, at their second batch: each holds every
// item, as the reference path decodes them, without falling back; and so
// do a map[string]any of strs with an int in some batches, and maps the
// pickle names twice. A map[string]string of those strs and ints is left
// to the reference path.
func TestTypedLongScalarMaps(t *testing.T) {
	const n = 5000
	strInt, intStr, strFloat, strBool := NewDict(), NewDict(), NewDict(), NewDict()
	mixed := NewDict()
	for i := 0; i < n; i++ {
		s := strconv.Itoa(i)
		require.NoError(t, strInt.Set(s, int64(i)))
		require.NoError(t, intStr.Set(int64(i), s))
		require.NoError(t, strFloat.Set(s, float64(i)/4))
		require.NoError(t, strBool.Set(s, i%3 == 0))
		var v any = s
		if i%1500 == 7 {
			v = int64(i) // not a str: the reflection path takes the rest of the batch
		}
		require.NoError(t, mixed.Set(s, v))
	}
	for _, c := range []struct {
		v   any
		typ reflect.Type
	}{
		{strInt, reflect.TypeFor[map[string]int64]()},
		{intStr, reflect.TypeFor[map[int64]string]()},
		{strFloat, reflect.TypeFor[map[string]float64]()},
		{strBool, reflect.TypeFor[map[string]bool]()},
		{[]any{strInt, strInt}, reflect.TypeFor[[]map[string]int]()},
		{mixed, reflect.TypeFor[map[string]any]()},
	} {
		data, err := Marshal(c.v)
		require.NoError(t, err)
		assert.True(t, checkAgrees(t, DecodeOptions{}, data, c.typ, "long map"), "%s falls back", c.typ)
		out := reflect.New(c.typ)
		require.NoError(t, Unmarshal(data, out.Interface()))
		if c.typ.Kind() == reflect.Map {
			assert.Equal(t, n, out.Elem().Len(), "%s", c.typ)
		}
	}

	// A map[string]string from a dict whose values are not all str: the
	// typed decoder leaves it to the reference path, which must agree.
	data, err := Marshal(mixed)
	require.NoError(t, err)
	checkAgrees(t, DecodeOptions{}, data, reflect.TypeFor[map[string]string](), "mixed values")
}
