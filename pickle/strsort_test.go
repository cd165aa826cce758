package pickle

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// sortedByStrKeys sorts keys with sortStrKeys and returns them in its
// order.
func sortedByStrKeys(keys []string) []string {
	recs := make([]keyRec, len(keys))
	for i, k := range keys {
		recs[i] = keyRec{keyPrefix(k), int32(i)}
	}
	sortStrKeys(recs, func(i int32) string { return keys[i] })
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = keys[r.i]
	}
	return out
}

// checkStrKeys fails t unless sortStrKeys puts keys in slices.Sort's
// order.
func checkStrKeys(t *testing.T, name string, keys []string) {
	t.Helper()
	want := slices.Clone(keys)
	slices.Sort(want)
	got := sortedByStrKeys(keys)
	if !slices.Equal(want, got) {
		i := 0
		for i < len(want) && want[i] == got[i] {
			i++
		}
		t.Fatalf("%s, %d keys: first difference at %d: want %q, got %q", name, len(keys), i, want[i], got[i])
	}
}

// strKeySets are key generators for the sort's tests: each returns n keys
// (with repeats where its alphabet runs out), shuffled by r.
var strKeySets = []struct {
	name string
	gen  func(r *rand.Rand, n int) []string
}{
	{"key%d", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(i int) string { return fmt.Sprintf("key%d", i) })
	}},
	{"random bytes", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(int) string { return randStr(r, r.IntN(20), 256) })
	}},
	// Few distinct bytes, zero among them: many equal and zero-padded
	// prefixes, keys that are prefixes of others, repeats.
	{"small alphabet", func(r *rand.Rand, n int) []string {
		const alpha = "\x00\x01a\xff"
		return genKeys(r, n, func(int) string {
			b := make([]byte, r.IntN(20))
			for i := range b {
				b[i] = alpha[r.IntN(len(alpha))]
			}
			return string(b)
		})
	}},
	{"trailing zeros", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(i int) string {
			return []string{"", "a", "ab", "abcdefgh"}[i%4] + strings.Repeat("\x00", i/4%40) + []string{"", "\x00", "\x01", "z"}[i/160%4]
		})
	}},
	// A long shared prefix, not a multiple of 8 long, then digits.
	{"shared long prefix", func(r *rand.Rand, n int) []string {
		p := "https://example.com/some/long/path/to/items/"
		return genKeys(r, n, func(i int) string { return p + fmt.Sprint(i) })
	}},
	// Keys that agree on 8 bytes and more, but differ in length first.
	{"equal 8-byte prefixes", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(i int) string {
			return strings.Repeat("abcdefgh", 1+i%3) + randStr(r, r.IntN(12), 3)
		})
	}},
	{"non-ASCII", func(r *rand.Rand, n int) []string {
		runes := []rune("aé€\U0010ffff\u00ff\u0100日本語")
		return genKeys(r, n, func(int) string {
			var b strings.Builder
			for range r.IntN(8) {
				b.WriteRune(runes[r.IntN(len(runes))])
			}
			return b.String()
		})
	}},
	// Keys that split from the rest one at a time, deep in a long common
	// prefix: many 8-byte steps.
	{"staircase", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(i int) string {
			return strings.Repeat("x", i%300) + string(rune('a'+i/300%26)) + strings.Repeat("y", i%7)
		})
	}},
	{"one byte", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(int) string { return randStr(r, 1, 256) })
	}},
	{"all equal", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(int) string { return "same key, longer than eight bytes" })
	}},
	{"empty", func(r *rand.Rand, n int) []string {
		return genKeys(r, n, func(i int) string { return strings.Repeat("\x00", i%2) })
	}},
}

func genKeys(r *rand.Rand, n int, key func(i int) string) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = key(i)
	}
	r.Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

func randStr(r *rand.Rand, n, alphabet int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(alphabet))
	}
	return string(b)
}

// sortStrKeys puts keys in Go's string order, for every kind of key and
// every length around its thresholds, as the encoder's output depends on
// it.
func TestSortStrKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 7, 8, 9, radixMin - 1, radixMin, radixMin + 1, 2 * radixMin, 100, 257, 1000, 4099, 10000}
	if !testing.Short() {
		sizes = append(sizes, 100000)
	}
	for _, set := range strKeySets {
		for _, n := range sizes {
			checkStrKeys(t, set.name, set.gen(r, n))
		}
	}
	// Distinct keys, as a map holds them.
	for _, set := range strKeySets {
		keys := set.gen(r, 3000)
		distinct := slices.Collect(maps.Keys(setOf(keys)))
		checkStrKeys(t, set.name+", distinct", distinct)
	}
}

func setOf(keys []string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// Random mixes of the key sets, so that ranges of one kind of key meet
// another inside a sort.
func TestSortStrKeysMixed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		var keys []string
		for range 1 + r.IntN(4) {
			set := strKeySets[r.IntN(len(strKeySets))]
			keys = append(keys, set.gen(r, r.IntN(3*radixMin))...)
		}
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		checkStrKeys(t, fmt.Sprint("round ", round), keys)
	}
}

// Maps whose keys take each of the sort's paths are written in key
// order, by both fast paths (of keys that are valid UTF-8), to the bytes
// the reflection path writes (which a PersistentID hook that declines
// every value forces; it sorts keys by comparison).
func TestStrMapKeyOrderLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, set := range strKeySets {
		m := map[string]string{}
		ma := map[string]any{}
		for _, k := range set.gen(r, 2000) {
			if !utf8.ValidString(k) {
				continue // not a str to Python
			}
			m[k] = k
			ma[k] = int64(len(k))
		}
		want := slices.Sorted(maps.Keys(m))
		for _, v := range []any{m, ma} {
			data, err := Marshal(v)
			require.NoError(t, err)
			slow, err := EncodeOptions{PersistentID: func(any) (any, error) { return nil, nil }}.Marshal(v)
			require.NoError(t, err)
			require.Equal(t, slow, data, "%s, %T", set.name, v)
			var d *Dict
			require.NoError(t, Unmarshal(data, &d))
			got := make([]string, 0, d.Len())
			for k := range d.All() {
				got = append(got, k.(string))
			}
			require.Equal(t, want, got, "%s, %T", set.name, v)
		}
	}
}

// BenchmarkSortStrKeys sorts the keys of a map by radix (sortStrKeys) and
// by comparison alone (sortStrKeysCmp, as saveStrMap did before), for the
// strdict keys and a few other shapes of keys and sizes.
func BenchmarkSortStrKeys(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, set := range strKeySets[:3] {
		for _, n := range []int{10, 100, 1000, 100000} {
			keys := set.gen(r, n)
			recs := make([]keyRec, n)
			key := func(i int32) string { return keys[i] }
			fill := func() {
				for i, k := range keys {
					recs[i] = keyRec{keyPrefix(k), int32(i)}
				}
			}
			b.Run(fmt.Sprintf("%s/%d/radix", set.name, n), func(b *testing.B) {
				for b.Loop() {
					fill()
					sortStrKeys(recs, key)
				}
			})
			b.Run(fmt.Sprintf("%s/%d/cmp", set.name, n), func(b *testing.B) {
				for b.Loop() {
					fill()
					sortStrKeysCmp(recs, key)
				}
			})
		}
	}
}
