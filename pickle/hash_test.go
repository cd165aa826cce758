package pickle

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// strHash takes strs of up to 16 bytes inline, in three ways by length,
// and longer ones through maphash. A str and an ASCII ByteString are the
// same key whatever their length, and a str key is found again however it
// got into the Dict.
func TestStrHashKeys(t *testing.T) {
	for n := 0; n <= 40; n++ {
		s := strings.Repeat("abcdefghij", 4)[:n]
		d := NewDict()
		require.NoError(t, d.Set(s, n))
		got, ok := d.Get(ByteString(s))
		assert.True(t, ok, "ByteString of %d bytes", n)
		assert.Equal(t, n, got)
		h, err := hashKey(s)
		require.NoError(t, err)
		hb, err := hashKey(ByteString(s))
		require.NoError(t, err)
		assert.Equal(t, h, hb, "%d bytes", n)
	}
	// A dict long enough for an index, filled by the decoder's path for
	// long dicts and looked up through Get.
	keys := make([]any, 3000)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i*7919)
	}
	b, err := Marshal(keys)
	require.NoError(t, err)
	var l any
	require.NoError(t, Unmarshal(b, &l))
	d := NewDict()
	for i, k := range l.([]any) {
		require.NoError(t, d.Set(k, i))
	}
	b, err = Marshal(d)
	require.NoError(t, err)
	var back any
	require.NoError(t, Unmarshal(b, &back))
	for i, k := range keys {
		got, ok := back.(*Dict).Get(k)
		require.True(t, ok, "%v", k)
		require.Equal(t, int64(i), got)
	}
}

// The index keeps 32 bits of a key's hash and finds its home slot from
// the low bits, so strs that differ little (the keys of the benchmark's
// dict, strs of every length with one byte changed) must spread over all
// 32: a few collisions among 100k strs is what chance gives.
func TestStrHashSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	sets := map[string][]string{}
	for i := range 100_000 {
		sets["key%d"] = append(sets["key%d"], fmt.Sprintf("key%d", i))
		b := []byte(strings.Repeat("x", 1+i%24))
		b[rng.IntN(len(b))] = byte(rng.IntN(256))
		sets["one byte changed"] = append(sets["one byte changed"], string(b))
	}
	for name, strs := range sets {
		seen := map[string]bool{}
		low := map[uint32]int{}
		collisions := 0
		for _, s := range strs {
			if seen[s] {
				continue
			}
			seen[s] = true
			h := uint32(strHash(s))
			if low[h] > 0 {
				collisions++
			}
			low[h]++
		}
		// 100k values in 2^32 give about 1.2 collisions.
		assert.LessOrEqual(t, collisions, 10, "%s: %d distinct strs", name, len(seen))
	}
}
