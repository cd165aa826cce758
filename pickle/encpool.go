package pickle

import (
	"math"
	"sync"
)

// Encoders are pooled: a small message then costs no allocation for the
// encoder's state, whose memo tables would otherwise be built afresh for
// every call (most of the encoding time of a small pickle).
var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// maxPooledSlots bounds the hash tables a pooled encoder keeps: the memory
// one huge pickle needed is not held on to for later small ones.
const maxPooledSlots = 1 << 12

func getEncoder(o *EncodeOptions, proto int, dst []byte) *encoder {
	e := encoderPool.Get().(*encoder)
	e.optsCopy = *o
	e.opts = &e.optsCopy
	e.proto = proto
	e.buf = dst
	e.maxDepth = o.maxDepth()
	e.frameStart, e.frameEnd = -1, math.MaxInt
	e.plain = o.PersistentID == nil && proto >= 1
	return e
}

// putEncoder clears e (see reset) and pools it.
func putEncoder(e *encoder) {
	e.reset()
	encoderPool.Put(e)
}

// reset clears e as it goes to the pool, keeping only the empty hash
// tables: nothing of the caller's (its buffer, its values, its options'
// hooks) stays reachable from the pool.
func (e *encoder) reset() {
	e.memo.release()
	small := e.memo.small
	cur, prev := e.strs.cur, e.strs.prev
	globals := e.globals
	keep, alias, segs := e.keep, e.alias, e.segs
	clear(keep[:cap(keep)])
	clear(alias[:cap(alias)]) // memo keys point at the caller's values
	clear(segs[:cap(segs)])   // and so do segments
	*e = encoder{}
	if len(small.slots) <= maxPooledSlots {
		clear(small.slots)
		small.n = 0
		e.memo.small = small
	}
	for _, t := range []struct{ from, to *strTable }{{&cur, &e.strs.cur}, {&prev, &e.strs.prev}} {
		if len(t.from.at) <= maxPooledSlots {
			clear(t.from.entries[:cap(t.from.entries)]) // they point at the caller's strings
			t.from.clear()
			*t.to = *t.from
		}
	}
	if len(globals) <= 64 {
		clear(globals)
		e.globals = globals
	}
	if cap(keep) <= 1024 {
		e.keep = keep[:0]
	}
	if cap(alias) <= 1024 {
		e.alias = alias[:0]
	}
	if cap(segs) <= 1024 {
		e.segs = segs[:0]
	}
}
