package pickle

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Maps with string keys take a path without reflection; it must write
// exactly what the reflection path writes (which a PersistentID hook that
// declines every value forces), at every protocol.
func TestStrMapFastPathMatchesReflection(t *testing.T) {
	shared := map[string]any{"s": 1}
	big := map[string]string{}
	for i := 0; i < 2500; i++ {
		big[fmt.Sprint("key", i)] = fmt.Sprint("value", i%7)
	}
	type holder struct {
		M map[string]any    `pickle:"m"`
		S map[string]string `pickle:"s"`
	}
	values := []any{
		map[string]any{},
		map[string]any(nil),
		map[string]string{"b": "2", "a": "1", "": "empty", "é": "accent"},
		map[string]any{"z": []any{1, 2.5, "x"}, "a": map[string]any{"n": nil}, "m": shared, "m2": shared},
		big,
		[]any{big, big},
		holder{M: shared, S: big},
		&holder{M: map[string]any{"self": shared}},
	}
	decline := func(any) (any, error) { return nil, nil }
	for _, proto := range []int{Protocol0, 1, 2, 3, 4, 5} {
		for i, v := range values {
			fast, err := EncodeOptions{Protocol: proto}.Marshal(v)
			require.NoError(t, err)
			slow, err := EncodeOptions{Protocol: proto, PersistentID: decline}.Marshal(v)
			require.NoError(t, err)
			assert.Equal(t, slow, fast, "value %d, protocol %d", i, proto)
		}
	}
	// Decoded, the big map is equal, sorted by key.
	data, err := Marshal(big)
	require.NoError(t, err)
	var back map[string]string
	require.NoError(t, Unmarshal(data, &back))
	assert.Equal(t, big, back)
	var d *Dict
	require.NoError(t, Unmarshal(data, &d))
	keys := d.Keys()
	for i := 1; i < len(keys); i++ {
		require.Less(t, keys[i-1].(string), keys[i].(string))
	}
}

// An unencodable value in a string-keyed map is an error naming its path,
// and nothing is written.
func TestStrMapFastPathErrors(t *testing.T) {
	v := map[string]any{"a": 1, "bad": []any{make(chan int)}}
	out, err := Marshal(v)
	require.Error(t, err)
	assert.Nil(t, out)
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, `["bad"][0]`, ee.Path)
	_, err = Marshal(map[string]string{"bad": "\xff"})
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, `["bad"]`, ee.Path)
}
