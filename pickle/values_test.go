package pickle

import (
	"fmt"
	"math"
	"math/big"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDictPythonKeys(t *testing.T) {
	d := NewDict()
	require.NoError(t, d.Set(int64(1), "int"))
	require.NoError(t, d.Set(1.0, "float"))
	require.NoError(t, d.Set(true, "bool"))
	require.NoError(t, d.Set(big.NewInt(1), "big"))
	require.NoError(t, d.Set(complex(1, 0), "complex"))
	assert.Equal(t, 1, d.Len(), "1 == 1.0 == True == complex(1, 0)")
	k, v := d.At(0)
	assert.Equal(t, int64(1), k, "the first spelling of the key is kept")
	assert.Equal(t, "complex", v)

	require.NoError(t, d.Set(Tuple{1, "a"}, "tuple"))
	got, ok := d.Get(Tuple{1.0, "a"})
	assert.True(t, ok)
	assert.Equal(t, "tuple", got)
	require.NoError(t, d.Set(mustFrozenSet(1, 2), "fs"))
	got, _ = d.Get(mustFrozenSet(2, 1))
	assert.Equal(t, "fs", got)
	require.NoError(t, d.Set(nil, "none"))
	require.NoError(t, d.Set([]byte("b"), "bytes"))
	require.NoError(t, d.Set("b", "str"))
	assert.Equal(t, 6, d.Len(), "bytes and str differ")
	require.NoError(t, d.Set(Global{"m", "n"}, "global"))
	o := &Object{Callable: Global{"m", "C"}}
	require.NoError(t, d.Set(o, "obj"))
	_, ok = d.Get(&Object{Callable: Global{"m", "C"}})
	assert.False(t, ok, "objects are keys by identity")

	for _, bad := range []any{[]any{1}, NewDict(), mustSet(1), ByteArray("x"), Tuple{[]any{}}} {
		err := d.Set(bad, 1)
		assert.ErrorIs(t, err, ErrUnhashable, "%T", bad)
		_, ok := d.Get(bad)
		assert.False(t, ok)
	}
	// Exact comparison of big ints and floats.
	two53 := new(big.Int).Lsh(big.NewInt(1), 53)
	require.NoError(t, d.Set(new(big.Int).Add(two53, big.NewInt(1)), "2^53+1"))
	_, ok = d.Get(float64(1 << 53))
	assert.False(t, ok)
	huge := new(big.Int).Lsh(big.NewInt(1), 80)
	require.NoError(t, d.Set(huge, "2^80"))
	got, ok = d.Get(math.Ldexp(1, 80))
	assert.True(t, ok)
	assert.Equal(t, "2^80", got)
	// NaN is never equal to itself as a key.
	require.NoError(t, d.Set(math.NaN(), 1))
	require.NoError(t, d.Set(math.NaN(), 2))
	assert.Equal(t, 2, countNaN(d))
}

func countNaN(d *Dict) int {
	n := 0
	for k := range d.All() {
		if f, ok := k.(float64); ok && math.IsNaN(f) {
			n++
		}
	}
	return n
}

func TestDictOrderAndIndex(t *testing.T) {
	d := NewDict()
	for i := 0; i < 100; i++ {
		require.NoError(t, d.Set(fmt.Sprint("k", 99-i), i))
	}
	assert.Equal(t, 100, d.Len())
	keys := d.Keys()
	assert.Equal(t, "k99", keys[0])
	assert.Equal(t, "k0", keys[99])
	for i := 0; i < 100; i++ {
		v, ok := d.Get(fmt.Sprint("k", 99-i))
		require.True(t, ok)
		require.Equal(t, i, v)
	}
	require.NoError(t, d.Set("k50", "updated"))
	assert.Equal(t, 100, d.Len())
	assert.Equal(t, "k50", d.Keys()[49])
	assert.True(t, d.Delete("k50"))
	assert.False(t, d.Delete("k50"))
	assert.Equal(t, 99, d.Len())
	_, ok := d.Get("k50")
	assert.False(t, ok)
	v, _ := d.Get("k49")
	assert.Equal(t, 50, v)
	for i := 0; i < 95; i++ {
		d.Delete(fmt.Sprint("k", i))
	}
	assert.Equal(t, []any{"k99", "k98", "k97", "k96", "k95"}, d.Keys())
	assert.Equal(t, []any{0, 1, 2, 3, 4}, d.Values())

	// Concurrent readers of a large Dict are safe.
	var wg sync.WaitGroup
	big := NewDict()
	for i := 0; i < 1000; i++ {
		_ = big.Set(i, i)
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				v, _ := big.Get(int64(i))
				assert.Equal(t, i, v)
			}
		}()
	}
	wg.Wait()
	var nilDict *Dict
	assert.Equal(t, 0, nilDict.Len())
	_, ok = nilDict.Get("x")
	assert.False(t, ok)
	assert.Equal(t, "{}", nilDict.String())
}

func TestSets(t *testing.T) {
	s := mustSet()
	for i := 0; i < 20; i++ {
		require.NoError(t, s.Add(i%10))
		require.NoError(t, s.Add(float64(i%10)))
	}
	assert.Equal(t, 10, s.Len())
	assert.True(t, s.Has(3.0))
	assert.True(t, s.Remove(int64(3)))
	assert.False(t, s.Has(3))
	assert.ErrorIs(t, s.Add([]any{}), ErrUnhashable)
	f := mustFrozenSet(1, 2, 2)
	assert.Equal(t, 2, f.Len())
	assert.True(t, Equal(f, mustSet(2, 1)), "set == frozenset with the same items")
	_, err := NewFrozenSet(NewDict())
	assert.Error(t, err)
	assert.Equal(t, "frozenset({1, 2})", f.String())
	assert.Equal(t, "set()", mustSet().String())
}

func TestEqual(t *testing.T) {
	cyc1, cyc2 := cyclicList(), cyclicList()
	tests := []struct {
		a, b any
		want bool
	}{
		{int64(1), 1.0, true},
		{true, 1, true},
		{big.NewInt(5), uint8(5), true},
		{complex(2, 0), 2, true},
		{complex(2, 1), 2, false},
		{math.NaN(), math.NaN(), true},
		{0.0, math.Copysign(0, -1), true},
		{"a", "a", true},
		{"a", []byte("a"), false},
		{ByteString("a"), "a", true},
		{ByteString("\xff"), "\xff", false},
		{[]byte("a"), ByteArray("a"), true},
		{[]any{1}, Tuple{1}, false},
		{[]any{1, "x"}, []int{1}, false},
		{[]int{1, 2}, []any{int64(1), 2.0}, true},
		{map[string]int{"a": 1}, mustDict("a", 1.0), true},
		{mustDict("a", 1, "b", 2), mustDict("b", 2, "a", 1), true},
		{mustDict("a", 1), mustDict("a", 2), false},
		{mustSet(1, 2), mustSet(2, 1), true},
		{mustSet(1), mustFrozenSet(1), true},
		{cyc1, cyc2, true},
		{Global{"a", "b"}, Global{"a", "b"}, true},
		{&Object{Callable: Global{"a", "b"}, Args: Tuple{1}}, &Object{Callable: Global{"a", "b"}, Args: Tuple{1.0}}, true},
		{&Object{Callable: Global{"a", "b"}, New: true}, &Object{Callable: Global{"a", "b"}}, false},
		{nil, nil, true},
		{nil, 0, false},
		{struct{ A int }{1}, mustDict("A", 1), true},
		{&struct{ A int }{1}, mustDict("A", 1), true},
	}
	for i, tt := range tests {
		assert.Equal(t, tt.want, Equal(tt.a, tt.b), "%d: Equal(%s, %s)", i, describe(tt.a), describe(tt.b))
		assert.Equal(t, tt.want, Equal(tt.b, tt.a), "%d: symmetric", i)
	}
}
