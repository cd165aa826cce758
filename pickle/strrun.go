package pickle

import (
	"encoding/binary"
	"unsafe"
)

// A long dict of str keys and str values, or a long list of strs, is at
// protocol 4 a run of SHORT_BINUNICODE, each followed by a MEMOIZE. The
// main loop spends far more on each of these opcodes' bookkeeping (the
// decoder's fields loaded and stored, limits checked through calls) than
// on the str itself, so such runs go through a loop of their own,
// fastStrs, whose state stays in registers.

// strRunAhead reports whether the SHORT_BINUNICODE at pos is followed,
// after its MEMOIZE if any, by another: a run worth strRun's setting up.
func (d *decoder) strRunAhead() bool {
	data, pos := d.data, d.pos
	if len(data)-pos < 2 {
		return false
	}
	next := pos + 2 + int(data[pos+1])
	if next < len(data) && data[next] == opMemoize {
		next++
	}
	return next < len(data) && data[next] == opShortBinunicode
}

// strRun decodes, through fastStrs, the run of SHORT_BINUNICODE and
// MEMOIZE that starts at pos, and reports whether it took anything. It
// makes room in the stack, the slab, the arena and the memo before each
// round of fastStrs, so that fastStrs need not.
//
// fastStrs takes only the common case, ASCII text of up to 32 bytes, with
// the MEMOIZE after it if memoPut would take that on its fast path: at
// anything else (a longer or non-ASCII str, the end of the input near, a
// limit, another opcode) it stops before it, and the main loop decodes
// that opcode as before, and reports its error at its offset. Decoding
// the same pickle with or without strRun gives the same value, or the
// same error (strrun_test.go holds it to that, and so does FuzzDecode).
func (d *decoder) strRun() bool {
	if d.cfg.maxString < 255 || d.cfg.ZeroCopy {
		return false // a limit to check for each str, or strs to share: the main loop does
	}
	start := d.pos
	for {
		if len(d.stack) == cap(d.stack) {
			d.grow()
		}
		if len(d.slabs.strs) == cap(d.slabs.strs) {
			d.slabs.strs = newChunk(d.slabs.strs, 4, slabLen)
		}
		if cap(d.slabs.arena.buf)-len(d.slabs.arena.buf) < 32 {
			d.slabs.arena.room(256)
		}
		r := strRun{
			data: d.data, pos: d.pos,
			stack: d.stack, strs: d.slabs.strs, arena: d.slabs.arena.buf,
			free: d.memoFree(),
		}
		// Each str costs at most 72 bytes of the allowance: 32 bytes,
		// a header and its MEMOIZE.
		r.k = min(cap(r.stack)-len(r.stack), cap(r.strs)-len(r.strs), (cap(r.arena)-len(r.arena))/32,
			(d.allocMax-d.alloc)/72)
		pos, free0, arena0 := d.pos, len(r.free), len(r.arena)
		r.fastStrs()
		// The allocation account and the memo, as pushString and
		// memoPut keep them.
		memoized := free0 - len(r.free)
		d.alloc += len(r.arena) - arena0 + 16*r.nstr + 24*memoized
		d.memoN += memoized
		d.memoLen += memoized
		d.pos, d.stack, d.slabs.strs, d.slabs.arena.buf = r.pos, r.stack, r.strs, r.arena
		if !r.outOfRoom || d.pos == pos {
			return d.pos > start
		}
	}
}

// strRun is the state fastStrs works on: the decoder's, taken out of it
// by decoder.strRun and put back after.
type strRun struct {
	data      []byte
	pos       int
	k         int // strs the run may take: none can run out of room
	stack     []slot
	strs      []string // the slab of str headers
	arena     []byte   // the str arena's current chunk
	free      []slot   // the dense memo's next slots
	nstr      int      // strs taken
	outOfRoom bool     // the run stopped for room alone
}

// fastStrs is the loop of decoder.strRun. It makes no call, so that its
// state can stay in registers (around a call Go would save them all), and
// takes a str and the MEMOIZE after it as one step.
func (r *strRun) fastStrs() {
	data, pos, k := r.data, r.pos, r.k
	stack, strs, arena, free := r.stack, r.strs, r.arena, r.free
	nstr := 0
	last := len(data) - 35 // past it, a str's 32 bytes and MEMOIZE might run off the input
	for ; k > 0 && pos <= last; k-- {
		n := int(data[pos+1])
		if data[pos] != opShortBinunicode || n > 32 {
			break
		}
		src := data[pos+2 : pos+34]
		w0 := binary.LittleEndian.Uint64(src[0:])
		w1 := binary.LittleEndian.Uint64(src[8:])
		w2 := binary.LittleEndian.Uint64(src[16:])
		w3 := binary.LittleEndian.Uint64(src[24:])
		m := &strMasks[n] // only the str's own bytes must be ASCII
		if (w0&m[0]|w1&m[1]|w2&m[2]|w3&m[3])&0x8080808080808080 != 0 {
			break
		}
		memoize := data[pos+2+n] == opMemoize
		if memoize && len(free) == 0 {
			break
		}
		var v any = ""
		if n > 0 {
			// All 32 bytes are copied; those past the str's own
			// are written over by the next.
			off := len(arena)
			dst := arena[off : off+32]
			binary.LittleEndian.PutUint64(dst[0:], w0)
			binary.LittleEndian.PutUint64(dst[8:], w1)
			binary.LittleEndian.PutUint64(dst[16:], w2)
			binary.LittleEndian.PutUint64(dst[24:], w3)
			arena = arena[:off+n]
			strs = strs[:len(strs)+1]
			strs[len(strs)-1] = unsafe.String(&arena[off], n)
			v = makeIface(stringType, unsafe.Pointer(&strs[len(strs)-1]))
		}
		stack = stack[:len(stack)+1]
		stack[len(stack)-1] = slot{v, 0}
		nstr++
		pos += 2 + n
		if memoize {
			free[0] = slot{v, 0}
			free = free[1:]
			pos++
		}
	}
	r.outOfRoom = k == 0
	r.pos, r.stack, r.strs, r.arena, r.free, r.nstr = pos, stack, strs, arena, free, nstr
}

// strMasks[n] has a byte of ones for each of the first n bytes of four
// little-endian words.
var strMasks = func() (m [33][4]uint64) {
	for n := range m {
		for i := range n {
			m[n][i/8] |= 0xff << (8 * (i % 8))
		}
	}
	return m
}()

// memoFree returns the next slots of the dense memo, from index memoN to
// the end of the chunk that holds it (making room for them), and as many
// as MaxMemo still allows: the slots memoPut's fast path fills. It
// returns none if the memo is not dense.
func (d *decoder) memoFree() []slot {
	if d.memoMap != nil || d.memoLen != d.memoN || d.memoN >= d.cfg.maxMemo {
		return nil
	}
	var free []slot
	if idx := d.memoN; idx < memoChunkLen {
		if idx >= len(d.memo0) {
			d.memoGrow(int64(idx))
		}
		free = d.memo0[idx:]
	} else {
		j := idx - memoChunkLen
		if j>>memoShift >= len(d.memo) {
			d.memoGrow(int64(idx))
		}
		free = d.memo[j>>memoShift][j&(memoChunkLen-1):]
	}
	return free[:min(len(free), d.cfg.maxMemo-d.memoN)]
}
