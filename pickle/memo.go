package pickle

import (
	"math/bits"
	"sync"
	"unsafe"
)

// memoTable maps the identity of values already written (memoKey) to their
// memo index: an open-addressing table with linear probing, several times
// faster than a Go map for these keys. It serves small sets of keys; see
// pageMemo for the large ones.
type memoTable struct {
	slots []memoEntry
	n     int
	shift uint
}

type memoEntry struct {
	p   unsafe.Pointer // nil: empty slot
	nk  uint64         // length << 8 | kind
	t   unsafe.Pointer
	idx int32
}

func (m *memoTable) hash(p unsafe.Pointer, nk uint64, t unsafe.Pointer) uint64 {
	h := uint64(uintptr(p))*0x9E3779B97F4A7C15 ^ nk*0xC2B2AE3D27D4EB4F ^ uint64(uintptr(t))
	return h >> m.shift
}

func (m *memoTable) get(k memoKey) (int32, bool) {
	if m.n == 0 || k.p == nil {
		return 0, false
	}
	nk := uint64(k.n)<<8 | uint64(k.k)
	mask := uint64(len(m.slots) - 1)
	for i := m.hash(k.p, nk, k.t); ; i = (i + 1) & mask {
		e := &m.slots[i]
		if e.p == k.p && e.nk == nk && e.t == k.t {
			return e.idx, true
		}
		if e.p == nil {
			return 0, false
		}
	}
}

func (m *memoTable) put(k memoKey, idx int32) {
	if k.p == nil {
		return
	}
	if (m.n+1)*2 > len(m.slots) {
		m.grow()
	}
	nk := uint64(k.n)<<8 | uint64(k.k)
	mask := uint64(len(m.slots) - 1)
	for i := m.hash(k.p, nk, k.t); ; i = (i + 1) & mask {
		e := &m.slots[i]
		if e.p == nil {
			*e = memoEntry{k.p, nk, k.t, idx}
			m.n++
			return
		}
		if e.p == k.p && e.nk == nk && e.t == k.t {
			e.idx = idx
			return
		}
	}
}

func (m *memoTable) grow() {
	old := m.slots
	size := max(8, 2*len(old))
	m.slots = make([]memoEntry, size)
	m.shift = uint(64 - bits.Len64(uint64(size-1)))
	m.n = 0
	for _, e := range old {
		if e.p != nil {
			mask := uint64(len(m.slots) - 1)
			for i := m.hash(e.p, e.nk, e.t); ; i = (i + 1) & mask {
				if m.slots[i].p == nil {
					m.slots[i] = e
					m.n++
					break
				}
			}
		}
	}
}

// Strings (str, bytes, Python 2 str) are memoized as CPython memoizes
// them, by identity. A table over every string of a large value would make
// encoding a sequence of cache misses, so strings are looked up in two
// generations of strMemoExact strings each: the current one and the one
// before; a string found in the older moves to the current, and when the
// current is full it becomes the older and the oldest is forgotten. Pickles
// with fewer strings come out byte for byte as CPython's; in larger ones a
// string not seen for a while is written again, which Python cannot tell
// apart from a shared one. What is found depends only on the order of the
// strings, never on memory addresses, so output is deterministic.
const strMemoExact = 1 << 12

type strMemo struct {
	cur, prev strTable
	empty     [kByteString + 1]int32 // memo index + 1 of the empty string of each kind
	// hot holds strings recently found again, such as the keys of many
	// dicts, where they are found at the cost of one compare. An entry is
	// only a shortcut to one of cur: it is cleared when cur is.
	hot [64]strEntry
}

// hotSlot spreads addresses over the hot cache by all their bits: string
// literals, such as the keys of records, are packed several to 8 bytes.
func hotSlot(p unsafe.Pointer) uintptr { return uintptr(p) * 0x9E3779B97F4A7C15 >> 58 }

// hotStr looks str up in the hot cache only: the memo index of a str
// found there, which get would find too.
func (s *strMemo) hotStr(str string) (int32, bool) {
	p := unsafe.Pointer(unsafe.StringData(str))
	h := &s.hot[hotSlot(p)]
	if h.p == p && h.nk == uint32(len(str))<<8|uint32(kStr) && len(str) > 0 && len(str) < strMaxLen {
		return h.idx, true
	}
	return 0, false
}

// get returns the memo index of k, if it is in either generation.
func (s *strMemo) get(k memoKey) (int32, bool) {
	return s.find(k, 0, false)
}

// getOrPut is get, and on a miss put(k, idx), in one look at each
// generation.
func (s *strMemo) getOrPut(k memoKey, idx int32) (int32, bool) {
	return s.find(k, idx, true)
}

// put records k, which get has just missed, under idx.
func (s *strMemo) put(k memoKey, idx int32) {
	s.find(k, idx, true)
}

// find looks k up and, on a miss with add set, records it under idx. A
// string found in the older generation is recorded in the current one,
// under the index it has.
func (s *strMemo) find(k memoKey, idx int32, add bool) (int32, bool) {
	if k.p == nil {
		// Every empty string is the same, as CPython's '' and b'' are.
		if got := s.empty[k.k]; got != 0 {
			return got - 1, true
		}
		if add {
			s.empty[k.k] = idx + 1
		}
		return idx, false
	}
	if k.n >= strMaxLen {
		// Not recorded, but recording it would end a full generation.
		if add && len(s.cur.entries) >= strMemoExact {
			s.nextGeneration()
		}
		return idx, false
	}
	nk := uint32(k.n)<<8 | uint32(k.k)
	h := &s.hot[hotSlot(k.p)]
	if h.p == k.p && h.nk == nk {
		return h.idx, true
	}
	hash := strKeyHash(k.p, nk)
	if n := len(s.cur.entries); n < strMemoExact && (n+1)*2 > len(s.cur.at) {
		s.cur.grow()
	}
	slot, e := s.cur.find(hash, k.p, nk)
	if e != nil {
		*h = *e
		return e.idx, true
	}
	found := false
	if s.prev.spans(k.p) {
		if _, e := s.prev.find(hash, k.p, nk); e != nil {
			idx, found = e.idx, true
		}
	}
	if !found && !add {
		return idx, false
	}
	if len(s.cur.entries) >= strMemoExact {
		s.nextGeneration()
		slot, _ = s.cur.find(hash, k.p, nk)
	}
	s.cur.add(slot, hash, strEntry{k.p, nk, idx})
	return idx, found
}

// nextGeneration makes the full current generation the older one, and
// forgets the older one's strings.
func (s *strMemo) nextGeneration() {
	next := s.prev
	s.prev = s.cur
	if len(next.at) < len(s.prev.at) {
		next.alloc(len(s.prev.at))
	}
	next.clear()
	s.cur = next
	s.hot = [64]strEntry{}
}

// strTable is a hash table of string keys. Most of the strings of a large
// pickle are written once, and looking one up that is not there reads
// only tags, a byte per slot kept apart: a group of 8 in one word, with no
// branch that depends on which of them are taken. A generation's tags
// take 8 KiB and stay in the processor's cache. A slot that is taken also
// has the number of its entry, in at (16 KiB), and the 16-byte entries
// themselves are kept in the order they were added, so that recording a
// string writes the next entry instead of one anywhere in 128 KiB: in the
// records benchmark, where 100 MB of values stream through the cache,
// that was a cache miss per string. An entry is read only where a tag
// matches (one time in 128 for another key). Slots are probed a group at
// a time, from the key's home group to the first group with a free slot.
// Strings of 16 MiB or more are not looked up.
//
// A table also keeps the range of its strings' addresses. The older
// generation is never added to, and strings are mostly allocated in the
// order they are written, so a new one usually lies above all of that
// generation's and is known not to be there without a look (this matters
// only for speed: the range holds every address in the table).
type strTable struct {
	tags    []uint64 // a byte per slot: 0 if free, else 0x80 | 7 bits of the key's hash
	at      []uint16 // per taken slot, the index of its entry
	entries []strEntry
	lo, hi  uintptr // the least and greatest address of an entry; lo > hi, or both 0, if none
}

type strEntry struct {
	p   unsafe.Pointer
	nk  uint32 // length << 8 | kind
	idx int32
}

const strMaxLen = 1 << 24

func strKeyHash(p unsafe.Pointer, nk uint32) uint64 {
	return (uint64(uintptr(p)) ^ uint64(nk)<<40) * 0x9E3779B97F4A7C15
}

// strTag is the tag of a key with hash h: bits that the group number,
// which takes bits 32 and up, does not use.
func strTag(h uint64) uint8 { return uint8(h>>56) | 0x80 }

const (
	lsbs = 0x0101010101010101
	msbs = 0x8080808080808080
)

// find returns the entry of the key (p, nk), whose hash is h, or nil and
// the free slot where the key would go. m must have a free slot.
func (m *strTable) find(h uint64, p unsafe.Pointer, nk uint32) (uint64, *strEntry) {
	mask := uint64(len(m.tags) - 1)
	tag := uint64(strTag(h)) * lsbs
	for g := h >> 32 & mask; ; g = (g + 1) & mask {
		w := m.tags[g]
		// The bytes of w equal to the tag, and perhaps bytes above
		// one that is (the borrow): each is checked against its entry.
		x := w ^ tag
		for match := (x - lsbs) &^ x & msbs; match != 0; match &= match - 1 {
			i := g*8 + uint64(bits.TrailingZeros64(match))/8
			if e := &m.entries[m.at[i]]; e.p == p && e.nk == nk {
				return i, e
			}
		}
		if free := ^w & msbs; free != 0 {
			return g*8 + uint64(bits.TrailingZeros64(free))/8, nil
		}
	}
}

// add records e, whose key has hash h, in the free slot.
func (m *strTable) add(slot uint64, h uint64, e strEntry) {
	m.tags[slot/8] |= uint64(strTag(h)) << (slot % 8 * 8)
	m.at[slot] = uint16(len(m.entries))
	m.entries = append(m.entries, e)
	m.lo = min(m.lo, uintptr(e.p))
	m.hi = max(m.hi, uintptr(e.p))
}

// spans reports whether p lies within the range of m's addresses, where
// a key at p may be. Addresses are only compared as integers, never made
// pointers again, and Go's collector does not move heap values.
func (m *strTable) spans(p unsafe.Pointer) bool {
	return m.lo <= uintptr(p) && uintptr(p) <= m.hi
}

// alloc makes m an empty table of size slots, a power of 2 from 8, with
// room for the size/2 entries it takes before it grows.
func (m *strTable) alloc(size int) {
	m.tags = make([]uint64, size/8)
	m.at = make([]uint16, size)
	m.entries = make([]strEntry, 0, size/2)
	m.lo, m.hi = ^uintptr(0), 0
}

// clear empties m. Its entries need no clearing until the encoder is
// pooled (see putEncoder): the strings they point to are the caller's, or
// the encoder's in keep, until the encoding ends.
func (m *strTable) clear() {
	clear(m.tags)
	m.entries = m.entries[:0]
	m.lo, m.hi = ^uintptr(0), 0
}

func (m *strTable) grow() {
	old := m.entries
	m.alloc(max(8, 2*len(m.at)))
	for _, e := range old {
		h := strKeyHash(e.p, e.nk)
		slot, _ := m.find(h, e.p, e.nk)
		m.add(slot, h, e)
	}
}

// pageMemo maps container identities (memoKey) to memo indices, exactly.
// A hash table over a million pointers turns every lookup into a cache
// miss; pageMemo instead follows the address space: a directory of 8 KiB
// pages, each with an 8-byte cell per 16 bytes for the value that starts
// there. Values allocated together, which are usually written together,
// share pages, so lookups stay in cache. A cell holds the memo index and
// the rest of the key (offset in the cell, length, kind and Go type); keys
// sharing a cell (a slice and a shorter slice of it, say), and keys whose
// rest does not fit (slices of 4096 items or more), go to an overflow map.
type pageMemo struct {
	small  memoTable // the first pageMemoSmall keys, so small pickles need no pages
	paged  bool      // small is full and its keys moved to pages
	dir    map[uintptr]*memoPage
	recent [16]struct {
		page uintptr
		p    *memoPage
	}
	types    map[unsafe.Pointer]uint64 // Go types of keys, numbered from 1
	lastType [4]struct {               // the types last looked up, by the bits of their address
		t   unsafe.Pointer
		tid uint64
	}
	overflow map[memoKey]int32
}

const (
	pageMemoSmall = 1 << 10
	pageShift     = 13
	cellShift     = 4
	maxTypeID     = 1<<12 - 1
	_             = uint8(15 - kMap) // kinds fit in 4 bits
)

// A memoCell holds a key's check (see pageMemo.check) in its high half
// and its memo index in the low half.
type memoCell uint64

func (c memoCell) check() uint32 { return uint32(c >> 32) }
func (c memoCell) idx() int32    { return int32(uint32(c)) }

func newCell(check uint32, idx int32) memoCell {
	return memoCell(check)<<32 | memoCell(uint32(idx))
}

const cellsPerPage = 1 << (pageShift - cellShift)

type memoPage struct {
	// used has a bit per cell, set once the cell holds a key. Most
	// lookups are of containers not seen before, which the bit tells
	// without reading the cell: the bits of a page share a cache line,
	// where its cells take a line per 8. A page is emptied by clearing
	// used alone; a cell whose bit is clear holds nothing.
	used  [cellsPerPage / 64]uint64
	cells [cellsPerPage]memoCell
}

// cell returns the cell at p and whether it holds a key.
func (pg *memoPage) cell(p unsafe.Pointer) (*memoCell, bool) {
	i := cellOf(p)
	return &pg.cells[i], pg.used[i/64]&(1<<(i%64)) != 0
}

// fill records a key in the cell at p, which holds none.
func (pg *memoPage) fill(p unsafe.Pointer, c memoCell) {
	i := cellOf(p)
	pg.used[i/64] |= 1 << (i % 64)
	pg.cells[i] = c
}

func (m *pageMemo) page(p unsafe.Pointer, create bool) *memoPage {
	pn := uintptr(p) >> pageShift
	r := &m.recent[pn&15]
	if r.p != nil && r.page == pn {
		return r.p
	}
	pg := m.dir[pn]
	if pg == nil {
		if !create {
			return nil
		}
		if m.dir == nil {
			m.dir = make(map[uintptr]*memoPage)
		}
		pg = newPage()
		m.dir[pn] = pg
	}
	r.page, r.p = pn, pg
	return pg
}

// check packs the part of k that the cell's position does not give, or
// reports false if it does not fit (the key then lives in the overflow
// map): 12 bits of length, 12 of Go type, 4 of offset in the cell and 4
// of kind. Longer slices are few, and each costs more to write than a
// map entry.
func (m *pageMemo) check(k memoKey, create bool) (uint32, bool) {
	var tid uint64
	if k.t != nil {
		lt := &m.lastType[uintptr(k.t)>>4&3]
		if lt.t == k.t {
			tid = lt.tid
		} else {
			tid = m.types[k.t]
		}
		if tid != 0 {
			lt.t, lt.tid = k.t, tid
		} else {
			if !create || len(m.types) >= maxTypeID {
				return 0, false
			}
			if m.types == nil {
				m.types = make(map[unsafe.Pointer]uint64)
			}
			tid = uint64(len(m.types) + 1)
			m.types[k.t] = tid
		}
	}
	if uint(k.n) >= 1<<12 {
		return 0, false
	}
	return uint32(k.n)<<20 | uint32(tid)<<8 | uint32(uintptr(k.p)&(1<<cellShift-1))<<4 | uint32(k.k), true
}

func cellOf(p unsafe.Pointer) uintptr {
	return uintptr(p) & (1<<pageShift - 1) >> cellShift
}

func (m *pageMemo) get(k memoKey) (int32, bool) {
	if k.p == nil {
		return 0, false
	}
	if !m.paged {
		return m.small.get(k)
	}
	if ck, ok := m.check(k, false); ok {
		if pg := m.page(k.p, false); pg != nil {
			if c, used := pg.cell(k.p); used && c.check() == ck {
				return c.idx(), true
			}
		}
	}
	if m.overflow != nil {
		idx, ok := m.overflow[k]
		return idx, ok
	}
	return 0, false
}

// getOrPut is get, and on a miss put(k, idx), finding k's cell once.
func (m *pageMemo) getOrPut(k memoKey, idx int32) (int32, bool) {
	if k.p == nil {
		return idx, false
	}
	if m.paged {
		if ck, ok := m.check(k, true); ok {
			pg := m.page(k.p, true)
			c, used := pg.cell(k.p)
			if !used {
				// Cells are not emptied while encoding, so a key
				// whose cell is free was never put, here or in the
				// overflow map.
				pg.fill(k.p, newCell(ck, idx))
				return idx, false
			}
			if c.check() == ck {
				return c.idx(), true
			}
		}
	}
	if got, ok := m.get(k); ok {
		return got, true
	}
	m.put(k, idx)
	return idx, false
}

func (m *pageMemo) put(k memoKey, idx int32) {
	if k.p == nil {
		return
	}
	if !m.paged {
		if m.small.n < pageMemoSmall {
			m.small.put(k, idx)
			return
		}
		// Move to pages, so that lookups need look in one place.
		m.paged = true
		for _, e := range m.small.slots {
			if e.p != nil {
				m.putPage(memoKey{p: e.p, n: int(e.nk >> 8), k: uint8(e.nk), t: e.t}, e.idx)
			}
		}
		m.small = memoTable{}
	}
	m.putPage(k, idx)
}

func (m *pageMemo) putPage(k memoKey, idx int32) {
	if ck, ok := m.check(k, true); ok {
		pg := m.page(k.p, true)
		if c, used := pg.cell(k.p); !used {
			pg.fill(k.p, newCell(ck, idx))
			return
		} else if c.check() == ck {
			*c = newCell(ck, idx)
			return
		}
	}
	if m.overflow == nil {
		m.overflow = make(map[memoKey]int32)
	}
	m.overflow[k] = idx
}

// pagePool keeps memo pages between encodings: a large encoding uses
// thousands.
var pagePool sync.Pool

func newPage() *memoPage {
	if p, ok := pagePool.Get().(*memoPage); ok {
		return p
	}
	return new(memoPage)
}

// release returns m's pages, emptied, to the pool.
func (m *pageMemo) release() {
	for _, pg := range m.dir {
		clear(pg.used[:])
		pagePool.Put(pg)
	}
	m.dir = nil
	clear(m.recent[:]) // the pages are the pool's now
}
