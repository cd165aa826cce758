package pickle

import "unsafe"

// Bulk allocation for the decoder. Storing a float64, an int64, a string or
// a slice in an interface normally allocates a small heap object for it;
// the decoder instead takes these from chunks, and builds the interface
// value by hand, pointing into the chunk. String bytes are copied into
// shared arenas. The garbage collector follows the interior pointers, so a
// chunk lives as long as any value in it: decoded values cost a little
// more memory while only some of them are kept, and far less time.

type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	float64Type = typeOf(float64(0))
	int64Type   = typeOf(int64(0))
	stringType  = typeOf("")
	listType    = typeOf([]any(nil))
	tupleType   = typeOf(Tuple(nil))
)

func makeIface(typ, data unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

const (
	slabLen       = 128
	numSlabLen    = 64 // numbers: 512-byte chunks (see below)
	arenaSize     = 16 << 10
	arenaMaxChunk = 1 << 10 // strings longer than this get their own allocation
	itemArenaLen  = 1024    // []any backing arrays up to this size come from an arena
	itemArenaMax  = 64
)

// Number chunks are no larger than 512 bytes because Go's collector
// (Green Tea, the default since Go 1.26) keeps the mark bits of objects
// of up to 512 bytes inside their span, and marks a pointer to one of
// them far more cheaply than a pointer into a larger object: a list of a
// million floats, its boxes in 512-byte chunks rather than 8 KiB ones,
// takes a third less time to mark (12-14 ms a cycle against 8.5-9), for
// 4 more instructions per number to decode. The other slabs stay larger:
// with 512-byte chunks of str headers, decoding a str→str dict costs
// more than its marking saves.

// nextChunk returns the capacity of a new chunk after one of capacity
// last: chunks start small, so that small pickles allocate little, and
// double up to limit.
func nextChunk(last, first, limit int) int {
	return min(max(2*last, first), limit)
}

type slabs struct {
	floats  []float64
	ints    []int64
	strs    []string
	lists   [][]any
	tuples  []Tuple
	nodes   []listNode
	dicts   []Dict
	arena   strArena
	items   []any
	entries []dictEntry
}

// entrySlice returns an empty []dictEntry with capacity n, from an arena
// when n is small.
func (s *slabs) entrySlice(n int) []dictEntry {
	if n > itemArenaMax {
		return make([]dictEntry, 0, n)
	}
	if cap(s.entries)-len(s.entries) < n {
		s.entries = make([]dictEntry, 0, max(nextChunk(cap(s.entries), 4, itemArenaLen/2), n))
	}
	off := len(s.entries)
	s.entries = s.entries[:off+n]
	return s.entries[off : off : off+n]
}

// newChunk returns an empty chunk to follow old.
func newChunk[T any](old []T, first, limit int) []T {
	return make([]T, 0, nextChunk(cap(old), first, limit))
}

func (s *slabs) float(f float64) any {
	if len(s.floats) == cap(s.floats) {
		s.floats = newChunk(s.floats, 4, numSlabLen)
	}
	s.floats = append(s.floats, f)
	return makeIface(float64Type, unsafe.Pointer(&s.floats[len(s.floats)-1]))
}

func (s *slabs) int(i int64) any {
	if uint64(i) < 256 {
		return i // the runtime boxes small integers without allocating
	}
	if len(s.ints) == cap(s.ints) {
		s.ints = newChunk(s.ints, 4, numSlabLen)
	}
	s.ints = append(s.ints, i)
	return makeIface(int64Type, unsafe.Pointer(&s.ints[len(s.ints)-1]))
}

// str returns b copied into a string, boxed.
func (s *slabs) str(b []byte) any {
	var str string
	switch n := len(b); {
	case n == 0:
		return ""
	case n > arenaMaxChunk:
		str = string(b)
	default:
		str = s.arena.add(b)
	}
	return s.boxString(str)
}

func (s *slabs) boxString(str string) any {
	if len(s.strs) == cap(s.strs) {
		s.strs = newChunk(s.strs, 4, slabLen)
	}
	s.strs = append(s.strs, str)
	return makeIface(stringType, unsafe.Pointer(&s.strs[len(s.strs)-1]))
}

func (s *slabs) tuple(t Tuple) any {
	if len(s.tuples) == cap(s.tuples) {
		s.tuples = make([]Tuple, 0, nextChunk(cap(s.tuples), 2, slabLen))
	}
	s.tuples = append(s.tuples, t)
	return makeIface(tupleType, unsafe.Pointer(&s.tuples[len(s.tuples)-1]))
}

func (s *slabs) node() *listNode {
	if len(s.nodes) == cap(s.nodes) {
		s.nodes = make([]listNode, 0, nextChunk(cap(s.nodes), 2, slabLen))
	}
	s.nodes = s.nodes[:len(s.nodes)+1]
	return &s.nodes[len(s.nodes)-1]
}

func (s *slabs) dict() *Dict {
	if len(s.dicts) == cap(s.dicts) {
		s.dicts = make([]Dict, 0, nextChunk(cap(s.dicts), 1, slabLen))
	}
	s.dicts = s.dicts[:len(s.dicts)+1]
	return &s.dicts[len(s.dicts)-1]
}

// itemSlice returns a []any of length n whose capacity is n, so that
// appending to it reallocates rather than touching its neighbours.
func (s *slabs) itemSlice(n int) []any {
	if n > itemArenaMax {
		return make([]any, n)
	}
	if cap(s.items)-len(s.items) < n {
		s.items = make([]any, 0, max(nextChunk(cap(s.items), 8, itemArenaLen), n))
	}
	off := len(s.items)
	s.items = s.items[:off+n]
	return s.items[off : off+n : off+n]
}

// strArena packs the bytes of many short strings into shared chunks. The
// strings taken from a chunk point into it, so a chunk's bytes, once
// taken, are never written again: it is only appended to, and replaced
// when full.
type strArena struct {
	buf  []byte // the current chunk
	last int    // capacity of the last chunk
}

// add returns a string with the bytes of p, stored in the arena; p must
// not be longer than arenaMaxChunk.
func (a *strArena) add(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	a.room(len(p))
	off := len(a.buf)
	a.buf = append(a.buf, p...)
	return unsafe.String(&a.buf[off], len(p))
}

// addString is add for a string.
func (a *strArena) addString(s string) string {
	return a.add(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// room makes sure the current chunk has room for n more bytes.
func (a *strArena) room(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.last = max(nextChunk(a.last, 64, arenaSize), n)
		a.buf = make([]byte, 0, a.last)
	}
}
