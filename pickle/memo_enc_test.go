package pickle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests pin what the encoder's memo tables find, the one thing about
// them that the output depends on: strMemo against a model of the
// documented two-generation window, pageMemo against a map, and whole
// encodings that cross the window's edges against digests of their output.

// strMemoModel is strMemo as its documentation describes it, with maps.
type strMemoModel struct {
	cur, prev map[memoKey]int32
	empty     map[uint8]int32
}

func newStrMemoModel() *strMemoModel {
	return &strMemoModel{cur: map[memoKey]int32{}, prev: map[memoKey]int32{}, empty: map[uint8]int32{}}
}

func (m *strMemoModel) get(k memoKey) (int32, bool) {
	if k.p == nil {
		idx, ok := m.empty[k.k]
		return idx, ok
	}
	if idx, ok := m.cur[k]; ok {
		return idx, true
	}
	if idx, ok := m.prev[k]; ok {
		m.put(k, idx) // found in the older generation: moves to the current
		return idx, true
	}
	return 0, false
}

func (m *strMemoModel) put(k memoKey, idx int32) {
	if k.p == nil {
		m.empty[k.k] = idx
		return
	}
	if len(m.cur) >= strMemoExact {
		// Even a string too long to be recorded ends a full generation.
		m.prev, m.cur = m.cur, map[memoKey]int32{}
	}
	if k.n < strMaxLen {
		m.cur[k] = idx
	}
}

// TestStrMemoMatchesModel drives strMemo and the model with the same long
// run of lookups, some of keys last seen just inside or just outside the
// window, and checks they answer alike.
func TestStrMemoMatchesModel(t *testing.T) {
	mem := make([]byte, 40000)
	var keys []memoKey // every key used, in order of first use
	kinds := []uint8{kStr, kBytes, kByteString}
	r := rand.New(rand.NewPCG(1, 2))
	edges := []int{1, 2, 3, 64, 4095, 4096, 4097, 8190, 8191, 8192, 8193, 12000}
	pick := func() memoKey {
		switch x := r.IntN(100); {
		case x < 2:
			return memoKey{k: kinds[r.IntN(len(kinds))]} // empty
		case x < 3:
			// Too long to be recorded; the memo never reads p's memory.
			return memoKey{p: unsafe.Pointer(&mem[r.IntN(len(mem))]), n: strMaxLen + r.IntN(3), k: kStr}
		case x < 50 || len(keys) == 0:
			// A new key; some share an address with an older one.
			k := memoKey{p: unsafe.Pointer(&mem[r.IntN(len(mem))]), n: 1 + r.IntN(40), k: kinds[r.IntN(len(kinds))]}
			keys = append(keys, k)
			return k
		case x < 80:
			d := edges[r.IntN(len(edges))] + r.IntN(3) - 1
			return keys[max(0, len(keys)-max(1, d))]
		default:
			return keys[r.IntN(len(keys))]
		}
	}
	for _, size := range []int{500, 60000} {
		var s strMemo
		m := newStrMemoModel()
		next := int32(0)
		for i := 0; i < size; i++ {
			k := pick()
			if len(m.cur) == strMemoExact && r.IntN(2) == 0 {
				// A full generation ends at the next put, even of a
				// string too long to record.
				k = memoKey{p: unsafe.Pointer(&mem[r.IntN(len(mem))]), n: strMaxLen, k: kBytes}
			}
			switch r.IntN(4) {
			case 0: // lookupStr, then memoizeStr on a miss
				got, ok := s.get(k)
				want, wantOK := m.get(k)
				require.Equal(t, wantOK, ok, "op %d: get %+v", i, k)
				if ok {
					require.Equal(t, want, got, "op %d: get %+v", i, k)
				} else {
					s.put(k, next)
					m.put(k, next)
					next++
				}
			default: // lookupOrAddStr
				got, ok := s.getOrPut(k, next)
				want, wantOK := m.get(k)
				if !wantOK {
					m.put(k, next)
					want = next
				}
				require.Equal(t, wantOK, ok, "op %d: getOrPut %+v", i, k)
				require.Equal(t, want, got, "op %d: getOrPut %+v", i, k)
				if !ok {
					next++
				}
			}
			if s.hotStrKey(k) {
				// The hot cache only ever holds keys of the current
				// generation, under the same index.
				idx, ok := m.cur[k]
				require.True(t, ok, "op %d: %+v hot but not current", i, k)
				h := s.hot[hotSlot(k.p)]
				require.Equal(t, idx, h.idx)
			}
		}
	}
}

// hotStrKey reports whether k is in s's hot cache.
func (s *strMemo) hotStrKey(k memoKey) bool {
	if k.p == nil || k.n >= strMaxLen {
		return false
	}
	h := s.hot[hotSlot(k.p)]
	return h.p == k.p && h.nk == uint32(k.n)<<8|uint32(k.k)
}

// TestPageMemoMatchesMap drives pageMemo and a map with the same lookups of
// keys that crowd its cells: several at one address (a slice and shorter
// slices of it, pointers of several types), keys 8 bytes apart, more Go
// types than a cell can number, and lengths too large to pack.
func TestPageMemoMatchesMap(t *testing.T) {
	mem := make([]byte, 1<<20)
	types := make([]byte, maxTypeID+200)
	r := rand.New(rand.NewPCG(3, 4))
	var keys []memoKey
	pick := func() memoKey {
		if len(keys) > 0 && r.IntN(3) == 0 {
			return keys[r.IntN(len(keys))]
		}
		var off int
		switch r.IntN(3) {
		case 0:
			off = r.IntN(len(mem))
		case 1:
			off = r.IntN(len(mem)/16) * 16
		default:
			off = r.IntN(len(mem)/8) * 8
		}
		k := memoKey{p: unsafe.Pointer(&mem[off]), k: kList + uint8(r.IntN(int(kMap-kList+1)))}
		switch r.IntN(10) {
		case 0:
			k.n = 1<<40 + r.IntN(2)
		case 1:
			k.n = 1<<12 - 1 + r.IntN(3)
		case 2:
			k.n = r.IntN(1 << 20)
		case 3, 4, 5:
			k.n = r.IntN(4)
		default:
			k.n = r.IntN(1 << 12)
		}
		if r.IntN(2) == 0 {
			k.t = unsafe.Pointer(&types[r.IntN(len(types))])
		}
		keys = append(keys, k)
		return k
	}
	for _, size := range []int{300, 100000} {
		var m pageMemo
		want := map[memoKey]int32{}
		for i := 0; i < size; i++ {
			k := pick()
			idx := int32(i)
			switch r.IntN(3) {
			case 0:
				got, ok := m.get(k)
				w, wok := want[k]
				require.Equal(t, wok, ok, "op %d: get %+v", i, k)
				if ok {
					require.Equal(t, w, got, "op %d: get %+v", i, k)
				}
			case 1:
				m.put(k, idx)
				want[k] = idx
			default:
				got, ok := m.getOrPut(k, idx)
				w, wok := want[k]
				if !wok {
					want[k], w = idx, idx
				}
				require.Equal(t, wok, ok, "op %d: getOrPut %+v", i, k)
				require.Equal(t, w, got, "op %d: getOrPut %+v", i, k)
			}
		}
		for k, w := range want {
			got, ok := m.get(k)
			require.True(t, ok, "%+v", k)
			require.Equal(t, w, got, "%+v", k)
		}
		m.release()
	}
}

// memoWorkload is a value whose pickle depends on every part of the memo:
// strings repeated at distances around the window's edges, strings that
// share their memory with others (substrings, a bytes and a Python 2 str
// of the same data), empty strings, and containers shared, sliced, and
// pointed to as several Go types.
func memoWorkload() any {
	r := rand.New(rand.NewPCG(5, 6))
	pool := make([]string, 20000)
	for i := range pool {
		pool[i] = fmt.Sprintf("s%d-%x", i, r.Uint32())
	}
	var strs []any
	used := 0
	edges := []int{1, 7, 4095, 4096, 4097, 8191, 8192, 8193, 10000}
	for len(strs) < 60000 {
		switch x := r.IntN(100); {
		case x < 45 && used < len(pool):
			strs = append(strs, pool[used])
			used++
		case x < 75 && len(strs) > 0:
			d := edges[r.IntN(len(edges))] + r.IntN(3) - 1
			strs = append(strs, strs[max(0, len(strs)-max(1, d))])
		case x < 80 && used > 0:
			s := pool[r.IntN(used)]
			strs = append(strs, s[:1+r.IntN(len(s))]) // a substring: another key at the same address
		case x < 84 && used > 0:
			s := pool[r.IntN(used)]
			strs = append(strs, ByteString(s), unsafe.Slice(unsafe.StringData(s), len(s)))
		case x < 86:
			strs = append(strs, "", ByteString(""), []byte{})
		default:
			strs = append(strs, pool[r.IntN(max(1, used))])
		}
	}

	type node struct {
		Name string
		Next *node
		Vals []int
	}
	backing := make([]any, 50)
	for i := range backing {
		backing[i] = int64(i)
	}
	var conts []any
	dicts := make([]*Dict, 3000)
	for i := range dicts {
		dicts[i] = NewDict()
		_ = dicts[i].Set("i", int64(i))
	}
	nodes := make([]node, 2000)
	for i := range nodes {
		nodes[i] = node{Name: pool[i%50], Next: &nodes[i/2], Vals: []int{i, i + 1}}
	}
	for i := 0; i < 20000; i++ {
		switch r.IntN(6) {
		case 0:
			conts = append(conts, dicts[r.IntN(len(dicts))])
		case 1:
			conts = append(conts, backing[:r.IntN(len(backing))]) // slices of one array
		case 2:
			n := &nodes[r.IntN(len(nodes))]
			conts = append(conts, n, &n.Name, n.Vals) // a struct and its first field share an address
		case 3:
			conts = append(conts, Tuple{dicts[r.IntN(len(dicts))], int64(i)})
		case 4:
			conts = append(conts, []any{int64(i)})
		default:
			conts = append(conts, map[string]any{"k": dicts[r.IntN(len(dicts))]})
		}
	}
	return []any{strs, conts, strs[:100]}
}

// TestEncoderMemoGolden pins the pickles of memoWorkload at each protocol:
// changes to the memo tables must not change what they find.
func TestEncoderMemoGolden(t *testing.T) {
	want := map[int]string{
		Protocol0: "9f68152f073828d67c832db4bd8c85d07986dcee15c4b0d0bcd0a72dc0941255",
		1:         "dcea93eb8658115cf7b3cff29823ba048b941afae44054af3945962e0e759102",
		2:         "99b51070b8b17fe8a7653bdedad31452898b72bb07ce83829963669067dbf994",
		3:         "885a4a64787eb97cc94ce9944210a40cca3a2179b18acefb4ccae022e04ff5f6",
		4:         "59980e8fd69903fd89951e019f435d8a6db6084476d1ffffe126c2f005ebbbf0",
		5:         "150e03fbe290a5321d2b57b98d49a69b9bf65725d9fcc0cc23c4523b1c8530a5",
	}
	v := memoWorkload()
	// The same workload at other addresses, which must not matter.
	pad := make([][]byte, 1000)
	for i := range pad {
		pad[i] = make([]byte, 1+i*37%500)
	}
	v2 := memoWorkload()
	for _, proto := range []int{Protocol0, 1, 2, 3, 4, 5} {
		for _, v := range []any{v, v2} {
			b, err := EncodeOptions{Protocol: proto}.Marshal(v)
			require.NoError(t, err)
			sum := sha256.Sum256(b)
			assert.Equal(t, want[proto], hex.EncodeToString(sum[:]), "protocol %d", proto)
		}
	}
	runtime.KeepAlive(pad)
}

// TestHotCacheSpreadsPackedStrings checks that strings packed a few to 8
// bytes, as Go packs string literals (the keys of records, say), each keep
// a place in the hot cache: otherwise each lookup of one evicts another,
// and every key of every record costs a full lookup.
func TestHotCacheSpreadsPackedStrings(t *testing.T) {
	packed := "abcdefghijkl"
	keys := make([]memoKey, len(packed))
	for i := range keys {
		keys[i] = strKey(packed[i:i+1], kStr)
	}
	var s strMemo
	for i, k := range keys {
		_, found := s.getOrPut(k, int32(i))
		require.False(t, found)
	}
	for round := 0; round < 2; round++ {
		for i, k := range keys {
			idx, found := s.getOrPut(k, -1)
			require.True(t, found)
			require.Equal(t, int32(i), idx)
		}
	}
	for i, k := range keys {
		assert.True(t, s.hotStrKey(k), "%q not in the hot cache", packed[i:i+1])
	}
}

// TestPageMemoReusedPage checks that a page back from the pool holds no
// keys: release empties pages by clearing their bits of use alone, and
// leaves what their cells held. The pool mostly gives back the page last
// put, but not always: under the race detector it drops a quarter of what
// it is given, and then the second memo below gets another page, and
// tests nothing. Rounds go on until it has had the first memo's page.
func TestPageMemoReusedPage(t *testing.T) {
	aligned := func() unsafe.Pointer {
		b := make([]byte, 2<<pageShift)
		off := (1<<pageShift - uintptr(unsafe.Pointer(&b[0]))&(1<<pageShift-1)) & (1<<pageShift - 1)
		return unsafe.Pointer(&b[off])
	}
	a, b := aligned(), aligned()
	key := func(page unsafe.Pointer, cell int, kind uint8) memoKey {
		return memoKey{p: unsafe.Add(page, cell<<cellShift), k: kind}
	}
	// Enough keys to move the memo to pages, on cells 0-299 of one page.
	fill := func(m *pageMemo, page unsafe.Pointer, kind uint8) {
		for i := 0; i < pageMemoSmall+1; i++ {
			m.put(key(page, i%300, kind+uint8(i/300)), int32(i))
		}
	}
	for round := 0; round < 20; round++ {
		var m1 pageMemo
		fill(&m1, a, kList)
		for i := 300; i < cellsPerPage; i++ {
			m1.put(key(a, i, kDict), int32(i))
		}
		pg := m1.page(a, false)
		m1.release()

		var m2 pageMemo
		fill(&m2, b, kList)
		reused := m2.page(b, false) == pg
		for i := 300; i < cellsPerPage; i++ {
			_, ok := m2.get(key(b, i, kDict))
			require.False(t, ok, "cell %d", i)
		}
		m2.release()
		if reused {
			return
		}
	}
	t.Log("the pool never gave back the page: nothing was tested")
}

// TestPageMemoReleaseForgetsPages checks that a released memo keeps no
// way to its pages, which are the pool's now and may be another memo's:
// not even through its cache of the pages last looked up.
func TestPageMemoReleaseForgetsPages(t *testing.T) {
	b := make([]byte, 2<<pageShift)
	page := unsafe.Pointer(&b[0])
	var m pageMemo
	for i := 0; i < pageMemoSmall+1; i++ {
		m.put(memoKey{p: unsafe.Add(page, i%cellsPerPage<<cellShift), k: kList + uint8(i/cellsPerPage)}, int32(i))
	}
	require.NotNil(t, m.page(page, false), "the memo never moved to pages: nothing is tested")
	m.release()
	assert.True(t, m.page(page, false) == nil, "the released memo still finds its page")
}

// TestPutEncoderClearsMemo checks that a pooled encoder keeps its string
// tables empty: a tag left behind would make a slot look taken forever,
// and an entry would keep the caller's string alive. It looks at what
// reset leaves, without pooling the encoder: one in the pool may be taken
// by an encoding in another goroutine at any moment.
func TestPutEncoderClearsMemo(t *testing.T) {
	strs := make([]any, 1500)
	for i := range strs {
		strs[i] = fmt.Sprintf("s%d", i)
	}
	o := EncodeOptions{}
	e := getEncoder(&o, DefaultProtocol, nil)
	require.NoError(t, e.dump([]any{strs, strs, ""}))
	require.Greater(t, len(e.strs.cur.tags), 0)
	e.reset() // what putEncoder does before it pools e
	for _, m := range []*strTable{&e.strs.cur, &e.strs.prev} {
		assert.Empty(t, m.entries)
		for i, t2 := range m.tags {
			if t2 != 0 {
				t.Fatalf("tags %#x left in group %d", t2, i)
			}
		}
		for i, e := range m.entries[:cap(m.entries)] {
			if e != (strEntry{}) {
				t.Fatalf("entry %d left", i)
			}
		}
	}
	assert.Zero(t, e.strs.empty)
	assert.Zero(t, e.strs.hot)
}

// TestStrMemoOlderRange checks the older generation's range of addresses,
// which lookups outside it skip: the strings at both of its ends are found.
func TestStrMemoOlderRange(t *testing.T) {
	mem := make([]byte, 2*strMemoExact)
	key := func(i, n int) memoKey { return memoKey{p: unsafe.Pointer(&mem[i]), n: n, k: kStr} }
	var s strMemo
	for i := 0; i < strMemoExact; i++ {
		_, found := s.getOrPut(key(i, 1), int32(i))
		require.False(t, found)
	}
	_, found := s.getOrPut(key(strMemoExact+10, 1), strMemoExact) // starts the next generation
	require.False(t, found)
	for _, i := range []int{0, strMemoExact - 1, 1} {
		idx, found := s.get(key(i, 1))
		require.True(t, found, "string %d", i)
		assert.Equal(t, int32(i), idx)
	}
	for _, k := range []memoKey{key(strMemoExact, 1), key(strMemoExact+11, 1), key(2, 2)} {
		_, found := s.get(k)
		assert.False(t, found, "%+v", k)
	}
}
