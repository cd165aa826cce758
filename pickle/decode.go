package pickle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"sync"
	"unsafe"
)

// slot is a value on the stack or in the memo, with the nesting depth of
// the value (so that deep nesting is refused as it is built).
type slot struct {
	v any
	d int32
}

// listNode is a list under construction. Lists are []any in the public
// model, but a Python list is built after it is created and memoized
// (EMPTY_LIST, MEMOIZE, then APPENDS), so the decoder keeps a node on the
// stack and in the memo. Where the list is stored (sealed), the interface
// value made for it points at the node's own slice header rather than at a
// copy: appends made later, by recursive or unusual pickles, are then seen
// wherever the list was stored, and every place holds the same list.
type listNode struct {
	items []any
}

// memoNone stands for None in the memo, where a nil interface is an
// empty entry.
type memoNoneType struct{}

var memoNone any = &memoNoneType{}

type decoder struct {
	cfg   *decodeConfig
	data  []byte
	pos   int
	opPos int
	op    byte

	stack   []slot
	marks   []int
	markPos []int // input offset of each mark
	batch   int   // input bytes between the last mark popped and its opcode
	fence   int

	memo0   []slot   // memo indexes below memoChunkLen; memoNone for None, nil for no entry
	memo    [][]slot // the rest, in chunks of memoChunkLen
	memoN   int      // indexes below memoN are in memo0 and memo
	memoMap map[int64]slot
	memoLen int

	proto    int
	alloc    int
	allocMax int
	nextBuf  int

	slabs          slabs
	hashes         []uint64    // hashStrKeys' results, reused
	touched        int32       // keeps hashStrKeys' loads
	estimated      []*listNode // lists that estimate sized
	estimatedDicts []*Dict     // dicts that estimate sized
	estimateBudget int         // items estimate may still give beyond need
}

func (d *decoder) fail(err error) error {
	return &DecodeError{Offset: int64(d.opPos), Opcode: d.op, Err: err}
}

// decodePickle decodes one pickle at the start of data, returning the value
// and the number of bytes it took.
func decodePickle(cfg *decodeConfig, data []byte) (any, int, error) {
	d := decoder{cfg: cfg, data: data}
	d.allocMax = math.MaxInt
	if cfg.allocFactor < math.MaxInt/2/(len(data)+1) {
		d.allocMax = allocAllowance + cfg.allocFactor*len(data)
	}
	d.stack = make([]slot, 0, 16)
	d.estimateBudget = len(data) / 2
	v, err := d.run()
	d.releaseMemo()
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			return nil, 0, de
		}
		return nil, 0, d.fail(err)
	}
	return v, d.pos, nil
}

func (d *decoder) account(n int) error {
	d.alloc += n
	if d.alloc > d.allocMax {
		return &LimitError{Limit: "MaxAllocFactor", Max: int64(d.cfg.allocFactor), Got: int64(d.alloc)}
	}
	return nil
}

func (d *decoder) checkDepth(depth int32) error {
	if int(depth) > d.cfg.maxDepth {
		return &LimitError{Limit: "MaxDepth", Max: int64(d.cfg.maxDepth), Got: int64(depth)}
	}
	return nil
}

func (d *decoder) checkLen(n int) error {
	if n > d.cfg.maxContainer {
		return &LimitError{Limit: "MaxContainerLen", Max: int64(d.cfg.maxContainer), Got: int64(n)}
	}
	return nil
}

// take returns the next n bytes of input.
func (d *decoder) take(n int) ([]byte, error) {
	if n > len(d.data)-d.pos || n < 0 {
		d.pos = len(d.data)
		return nil, ErrTruncated
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

// takeLen returns the data of a length-prefixed argument, checking the
// declared length against MaxStringLen and the remaining input before
// anything is allocated.
func (d *decoder) takeLen(n uint64) ([]byte, error) {
	if n > uint64(d.cfg.maxString) {
		return nil, &LimitError{Limit: "MaxStringLen", Max: int64(d.cfg.maxString), Got: int64(min(n, math.MaxInt64))}
	}
	if n > uint64(len(d.data)-d.pos) {
		d.pos = len(d.data)
		return nil, ErrTruncated
	}
	return d.take(int(n))
}

func (d *decoder) readLine() ([]byte, error) {
	i := bytes.IndexByte(d.data[d.pos:], '\n')
	if i < 0 {
		d.pos = len(d.data)
		return nil, ErrTruncated
	}
	line := d.data[d.pos : d.pos+i]
	d.pos += i + 1
	return line, nil
}

func (d *decoder) push(v any, depth int32) {
	if len(d.stack) == cap(d.stack) {
		d.grow()
	}
	d.stack = append(d.stack, slot{v, depth})
}

// grow doubles the stack: append's gentler growth for large slices would
// allocate several times the final size on a long pickle.
func (d *decoder) grow() {
	s := make([]slot, len(d.stack), 2*cap(d.stack)+16)
	copy(s, d.stack)
	d.stack = s
}

func (d *decoder) pop() (slot, error) {
	n := len(d.stack)
	if n <= d.fence {
		if len(d.marks) > 0 && n == d.fence {
			return slot{}, ErrMark
		}
		return slot{}, ErrStackUnderflow
	}
	s := d.stack[n-1]
	d.stack = d.stack[:n-1]
	return s, nil
}

func (d *decoder) top() (*slot, error) {
	n := len(d.stack)
	if n <= d.fence {
		if len(d.marks) > 0 && n == d.fence {
			return nil, ErrMark
		}
		return nil, ErrStackUnderflow
	}
	return &d.stack[n-1], nil
}

// popMark pops the topmost mark and returns the stack index where the
// items pushed after it begin.
func (d *decoder) popMark() (int, error) {
	n := len(d.marks)
	if n == 0 {
		return 0, ErrMark
	}
	k := d.marks[n-1]
	d.marks = d.marks[:n-1]
	d.batch = d.opPos - d.markPos[n-1]
	d.markPos = d.markPos[:n-1]
	d.fence = 0
	if n > 1 {
		d.fence = d.marks[n-2]
	}
	return k, nil
}

// val returns v as it is stored in a container: lists are sealed.
func (d *decoder) val(v any) any {
	if n, ok := v.(*listNode); ok {
		return d.seal(n)
	}
	return v
}

func (d *decoder) seal(n *listNode) any {
	if cap(n.items) == 0 {
		// A distinct backing array gives each empty list an identity,
		// which the encoder relies on.
		n.items = d.slabs.itemSlice(1)[:0]
	}
	return makeIface(listType, unsafe.Pointer(&n.items))
}

// items returns the values of stack slots s, sealed, and their depth + 1.
func (d *decoder) items(s []slot) ([]any, int32, error) {
	if err := d.checkLen(len(s)); err != nil {
		return nil, 0, err
	}
	if err := d.account(16*len(s) + 24); err != nil {
		return nil, 0, err
	}
	if len(s) == 0 {
		return nil, 1, nil
	}
	out := d.slabs.itemSlice(len(s))
	var depth int32
	for i := range s {
		out[i] = d.val(s[i].v)
		depth = max(depth, s[i].d)
	}
	depth++
	return out, depth, d.checkDepth(depth)
}

// The memo's first memoChunkLen slots are a slice of their own, grown as
// needed; the rest are kept in chunks of memoChunkLen slots, which
// decodings pass on to each other through a pool: a large pickle
// memoizes nearly every value, and allocating (and growing) a memo as long
// as its values are many for each decoding would make the garbage
// collector run as much again.
const (
	memoShift    = 10
	memoChunkLen = 1 << memoShift
)

var memoSlotChunks sync.Pool // of *[]slot, each memoChunkLen long and clear

func (d *decoder) memoSlot(idx int64) *slot {
	if idx < memoChunkLen {
		return &d.memo0[idx]
	}
	idx -= memoChunkLen
	return &d.memo[idx>>memoShift][idx&(memoChunkLen-1)]
}

// releaseMemo clears the memo's chunks, which must not keep the values
// alive, and pools them.
func (d *decoder) releaseMemo() {
	for i, c := range d.memo {
		used := c
		if rest := d.memoN - memoChunkLen - i*memoChunkLen; rest < len(c) {
			used = c[:max(rest, 0)]
		}
		clear(used)
		memoSlotChunks.Put(&c)
	}
	d.memo, d.memo0 = nil, nil
}

// memoNext returns the slot of index memoN, making room for it.
func (d *decoder) memoNext() *slot {
	idx := d.memoN
	if idx < memoChunkLen {
		if idx >= len(d.memo0) {
			d.memoGrow(int64(idx))
		}
		return &d.memo0[idx]
	}
	j := idx - memoChunkLen
	if j>>memoShift >= len(d.memo) {
		d.memoGrow(int64(idx))
	}
	return &d.memo[j>>memoShift][j&(memoChunkLen-1)]
}

// memoGrow makes room for indexes up to idx.
func (d *decoder) memoGrow(idx int64) {
	if idx < memoChunkLen {
		if int(idx) >= len(d.memo0) {
			m := make([]slot, min(max(int(idx)+1, 2*len(d.memo0), 16), memoChunkLen))
			copy(m, d.memo0)
			d.memo0 = m
		}
		return
	}
	d.memoGrow(memoChunkLen - 1)
	for int((idx-memoChunkLen)>>memoShift) >= len(d.memo) {
		if c, ok := memoSlotChunks.Get().(*[]slot); ok {
			d.memo = append(d.memo, *c)
		} else {
			d.memo = append(d.memo, make([]slot, memoChunkLen))
		}
	}
}

func (d *decoder) memoPut(idx int64, s slot) error {
	v := s
	if v.v == nil {
		v.v = memoNone
	}
	if idx == int64(d.memoN) && d.memoMap == nil && d.memoLen < d.cfg.maxMemo {
		// The common case: the next index of the dense memo, as MEMOIZE
		// and Python's own BINPUTs number entries.
		if err := d.account(24); err != nil {
			return err
		}
		e := d.memoNext()
		*e = v
		d.memoN++
		d.memoLen++
		return nil
	}
	if idx >= 0 && idx < int64(d.memoN) {
		e := d.memoSlot(idx)
		if e.v == nil {
			d.memoAdded(idx)
		}
		*e = v
		return d.checkMemo()
	}
	if idx >= 0 && idx < int64(d.memoN)+1024 {
		if err := d.account(24 * int(idx+1-int64(d.memoN))); err != nil {
			return err
		}
		d.memoGrow(idx)
		d.memoN = int(idx) + 1
		*d.memoSlot(idx) = v
		d.memoAdded(idx)
		return d.checkMemo()
	}
	if d.memoMap == nil {
		d.memoMap = make(map[int64]slot)
	}
	if _, ok := d.memoMap[idx]; !ok {
		d.memoLen++
		if err := d.account(64); err != nil {
			return err
		}
	}
	d.memoMap[idx] = s
	return d.checkMemo()
}

// memoAdded counts a new entry of the dense memo at idx. An index put
// far ahead of the dense memo was kept in memoMap and counted then: it
// moves, so that MEMOIZE, which numbers entries by their count as Python
// does, sees it once.
func (d *decoder) memoAdded(idx int64) {
	if _, ok := d.memoMap[idx]; ok {
		delete(d.memoMap, idx)
		return
	}
	d.memoLen++
}

func (d *decoder) checkMemo() error {
	if d.memoLen > d.cfg.maxMemo {
		return &LimitError{Limit: "MaxMemo", Max: int64(d.cfg.maxMemo), Got: int64(d.memoLen)}
	}
	return nil
}

func (d *decoder) memoGet(idx int64) error {
	if idx >= 0 && idx < int64(d.memoN) {
		if e := d.memoSlot(idx); e.v != nil {
			v := e.v
			if v == memoNone {
				v = nil
			}
			d.push(v, e.d)
			return nil
		}
	}
	if s, ok := d.memoMap[idx]; ok {
		d.push(s.v, s.d)
		return nil
	}
	return fmt.Errorf("%w: %d", ErrMemo, idx)
}

// uintArg reads op's unsigned little-endian argument or length prefix.
func (d *decoder) uintArg(op byte) (uint64, error) {
	b, err := d.take(int(argWidths[op]))
	if err != nil {
		return 0, err
	}
	return leUint(b), nil
}

// loadNumbers reads the BININT1, BININT2, BININT or BINFLOAT at opPos and
// those that follow it, as long lists of numbers are written: a whole
// batch bound for a list through appendNumbers, anything else onto the
// stack in a loop of its own that keeps its place in a register.
func (d *decoder) loadNumbers() error {
	if done, err := d.appendNumbers(); done || err != nil {
		return err
	}
	data, pos := d.data, d.opPos
	for pos < len(data) {
		op := data[pos]
		var v any
		switch op {
		case opBinint1:
			if len(data)-pos < 2 {
				return d.truncatedAt(pos)
			}
			v = int64(data[pos+1]) // boxed without allocating, as bytes are
			pos += 2
		case opBinint2:
			if len(data)-pos < 3 {
				return d.truncatedAt(pos)
			}
			v = d.slabs.int(int64(binary.LittleEndian.Uint16(data[pos+1:])))
			pos += 3
		case opBinint:
			if len(data)-pos < 5 {
				return d.truncatedAt(pos)
			}
			v = d.slabs.int(int64(int32(binary.LittleEndian.Uint32(data[pos+1:]))))
			pos += 5
		case opBinfloat:
			if len(data)-pos < 9 {
				return d.truncatedAt(pos)
			}
			v = d.slabs.float(math.Float64frombits(binary.BigEndian.Uint64(data[pos+1:])))
			pos += 9
		default:
			d.pos = pos
			return nil
		}
		d.push(v, 0)
	}
	d.pos = pos
	return nil
}

// appendNumbers takes a batch of numbers to a list, as long lists of
// numbers are written (MARK, the numbers, APPENDS), in one go: it
// decodes each number straight into the list, where the main loop would
// push it on the stack and APPENDS copy it again. While the garbage
// collector marks, every pointer written costs, so this halves the work
// of a list of a million floats. It reports false, having done nothing,
// unless the numbers at opPos follow a MARK that follows a list, and are
// whole and followed by APPENDS; the main loop then takes them. Everything
// else, limits and errors included, is as the main loop's APPENDS does it.
func (d *decoder) appendNumbers() (bool, error) {
	x := len(d.stack)
	if d.cfg.noRuns || len(d.marks) == 0 || d.fence != x || x == 0 ||
		len(d.marks) > 1 && d.marks[len(d.marks)-2] >= x {
		return false, nil
	}
	t, ok := d.stack[x-1].v.(*listNode)
	if !ok {
		return false, nil
	}
	data, start := d.data, d.opPos
	pos, n, _ := numberBatch(data, start)
	if n == 0 {
		return false, nil
	}
	// From here on this is APPENDS at pos, with n numbers on the stack.
	d.opPos, d.op, d.pos = pos, opAppends, pos+1
	if _, err := d.popMark(); err != nil {
		return true, err
	}
	if err := d.account(16 * n); err != nil {
		return true, err
	}
	if err := d.checkLen(len(t.items) + n); err != nil {
		return true, err
	}
	if t.items == nil {
		t.items = d.slabs.itemSlice(n)[:0]
	} else if len(t.items)+n > cap(t.items) {
		d.growList(t, n)
	}
	l := t.items
	base := len(l)
	l = l[:base+n]
	items := l[base:]
	for i, p := 0, start; i < len(items); i++ {
		switch data[p] {
		case opBinint1:
			items[i] = int64(data[p+1])
			p += 2
		case opBinint2:
			items[i] = d.slabs.int(int64(binary.LittleEndian.Uint16(data[p+1:])))
			p += 3
		case opBinint:
			items[i] = d.slabs.int(int64(int32(binary.LittleEndian.Uint32(data[p+1:]))))
			p += 5
		default: // opBinfloat
			items[i] = d.slabs.float(math.Float64frombits(binary.BigEndian.Uint64(data[p+1:])))
			p += 9
		}
	}
	// The list's depth stays: it is 1 or more already, as numbers make it,
	// and 1 is within every MaxDepth.
	t.items = l
	return true, nil
}

// numberBatch scans the BININT1, BININT2, BININT and BINFLOAT opcodes
// from pos on, as a batch of a list of numbers is written, and returns
// the offset of the APPENDS that ends them, their count, and whether any
// is a float. It returns a count of 0 unless the numbers are whole and
// APPENDS follows them.
func numberBatch(data []byte, pos int) (end, n int, floats bool) {
scan:
	for pos < len(data) {
		switch data[pos] {
		case opBinint1:
			pos += 2
		case opBinint2:
			pos += 3
		case opBinint:
			pos += 5
		case opBinfloat:
			pos += 9
			floats = true
		default:
			break scan
		}
		n++
	}
	if pos >= len(data) || data[pos] != opAppends {
		return 0, 0, false
	}
	return pos, n, floats
}

// truncatedAt reports the opcode at pos cut short by the end of the input.
func (d *decoder) truncatedAt(pos int) error {
	d.opPos, d.op, d.pos = pos, d.data[pos], len(d.data)
	return ErrTruncated
}

// memoizeNext does a MEMOIZE that follows the value just pushed, as
// protocol 4 writes after every str, without a turn of the decoding loop.
func (d *decoder) memoizeNext() error {
	if d.pos < len(d.data) && d.data[d.pos] == opMemoize {
		d.opPos, d.op = d.pos, opMemoize
		d.pos++
		return d.putTop(int64(d.memoLen))
	}
	return nil
}

func (d *decoder) putTop(idx int64) error {
	t, err := d.top()
	if err != nil {
		return err
	}
	return d.memoPut(idx, *t)
}

var emptyTupleValue any = Tuple{}

func (d *decoder) run() (any, error) {
	for {
		if d.pos >= len(d.data) {
			d.opPos, d.op = d.pos, 0
			return nil, ErrTruncated
		}
		d.opPos = d.pos
		op := d.data[d.pos]
		if op == opShortBinunicode && !d.cfg.noRuns && d.strRunAhead() && d.strRun() {
			continue
		}
		d.op = op
		d.pos++
		var err error
		switch op {
		case opBinint1, opBinint2, opBinint, opBinfloat:
			err = d.loadNumbers()
		case opShortBinunicode:
			if err = d.loadShortUnicode(); err == nil {
				err = d.memoizeNext()
			}
		case opBinunicode, opBinunicode8:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.loadUnicode(n)
			}
		case opBinget:
			// Apart from LONG_BINGET: the GET of every repeated key.
			if d.pos < len(d.data) {
				d.pos++
				err = d.memoGet(int64(d.data[d.pos-1]))
			} else {
				err = d.truncatedAt(d.opPos)
			}
		case opLongBinget:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.memoGet(int64(n))
			}
		case opMemoize:
			err = d.putTop(int64(d.memoLen))
		case opBinput, opLongBinput:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.putTop(int64(n))
			}
		case opMark:
			d.marks = append(d.marks, len(d.stack))
			d.markPos = append(d.markPos, d.opPos)
			d.fence = len(d.stack)
		case opEmptyList:
			err = d.account(64)
			d.push(d.slabs.node(), 1)
		case opEmptyDict:
			err = d.account(64)
			d.push(d.slabs.dict(), 1)
		case opEmptyTuple:
			d.push(emptyTupleValue, 1)
		case opEmptySet:
			err = d.account(64)
			d.push(&Set{}, 1)
		case opNone:
			d.push(nil, 0)
		case opNewtrue:
			d.push(true, 0)
		case opNewfalse:
			d.push(false, 0)
		case opAppend:
			err = d.loadAppend()
		case opAppends:
			err = d.loadAppends()
		case opSetitem:
			err = d.loadSetitem()
		case opSetitems:
			err = d.loadSetitems()
		case opAdditems:
			err = d.loadAdditems()
		case opTuple1, opTuple2, opTuple3:
			err = d.loadTupleN(int(op-opTuple1) + 1)
		case opTuple:
			err = d.loadTuple()
		case opList:
			err = d.loadList()
		case opDict:
			err = d.loadDict()
		case opFrozenset:
			err = d.loadFrozenset()
		case opShortBinbytes, opBinbytes, opBinbytes8, opBytearray8:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.loadBytes(n, op == opBytearray8)
			}
		case opLong1:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.loadLong(int64(b[0]))
			}
		case opLong4:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.loadLong(int64(int32(binary.LittleEndian.Uint32(b))))
			}
		case opFrame:
			var b []byte
			if b, err = d.take(8); err == nil {
				if n := binary.LittleEndian.Uint64(b); n > uint64(len(d.data)-d.pos) {
					err = ErrTruncated
				}
			}
		case opProto:
			var b []byte
			if b, err = d.take(1); err == nil {
				if b[0] > HighestProtocol {
					err = fmt.Errorf("%w: %d", ErrProtocol, b[0])
				}
				d.proto = int(b[0])
			}
		case opStop:
			var s slot
			if s, err = d.pop(); err == nil {
				d.trimEstimated()
				return d.val(s.v), nil
			}
		case opPop:
			err = d.loadPop()
		case opPopMark:
			var k int
			if k, err = d.popMark(); err == nil {
				d.stack = d.stack[:k]
			}
		case opDup:
			var t *slot
			if t, err = d.top(); err == nil {
				d.push(t.v, t.d)
			}
		case opGlobal:
			err = d.loadGlobal()
		case opStackGlobal:
			err = d.loadStackGlobal()
		case opReduce:
			err = d.loadReduce()
		case opNewobj:
			err = d.loadNewobj(false)
		case opNewobjEx:
			err = d.loadNewobj(true)
		case opBuild:
			err = d.loadBuild()
		case opInst:
			err = d.loadInst()
		case opObj:
			err = d.loadObj()
		case opExt1:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.loadExt(int64(b[0]))
			}
		case opExt2:
			var b []byte
			if b, err = d.take(2); err == nil {
				err = d.loadExt(int64(binary.LittleEndian.Uint16(b)))
			}
		case opExt4:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.loadExt(int64(int32(binary.LittleEndian.Uint32(b))))
			}
		case opPersid:
			var line []byte
			if line, err = d.readLine(); err == nil {
				err = d.loadPersid(line)
			}
		case opBinpersid:
			var s slot
			if s, err = d.pop(); err == nil {
				err = d.persistent(d.val(s.v), s.d)
			}
		case opNextBuffer:
			if d.nextBuf >= len(d.cfg.Buffers) {
				err = ErrBuffer
			} else {
				d.push(PickleBuffer{Data: d.cfg.Buffers[d.nextBuf]}, 0)
				d.nextBuf++
			}
		case opReadonlyBuffer:
			err = d.loadReadonly()
		case opString, opBinstring, opShortBinstring:
			err = d.loadPy2Str(op)
		case opUnicode:
			var line []byte
			if line, err = d.readLine(); err == nil {
				var s []byte
				if s, err = rawUnicodeEscapeDecode(line); err == nil {
					err = d.pushString(s)
				}
			}
		case opInt:
			err = d.loadInt()
		case opLong:
			var line []byte
			if line, err = d.readLine(); err == nil {
				if len(line) > 0 && line[len(line)-1] == 'L' {
					line = line[:len(line)-1]
				}
				err = d.pushPyInt(line, true)
			}
		case opFloat:
			var line []byte
			if line, err = d.readLine(); err == nil {
				var f float64
				if f, err = parsePyFloat(line); err == nil {
					d.push(f, 0)
				}
			}
		case opGet:
			var line []byte
			if line, err = d.readLine(); err == nil {
				var idx int64
				if idx, err = parseMemoIndex(line); err == nil {
					err = d.memoGet(idx)
				}
			}
		case opPut:
			var line []byte
			if line, err = d.readLine(); err == nil {
				var idx int64
				if idx, err = parseMemoIndex(line); err == nil {
					err = d.putTop(idx)
				}
			}
		default:
			err = ErrUnknownOpcode
		}
		if err != nil {
			return nil, d.fail(err)
		}
	}
}

func parseMemoIndex(line []byte) (int64, error) {
	v, err := parsePyInt(line, false)
	if err != nil {
		return 0, err
	}
	i, ok := v.(int64)
	if !ok || i < 0 {
		return 0, fmt.Errorf("%w: memo index %s", ErrSyntax, line)
	}
	return i, nil
}

func (d *decoder) loadPop() error {
	n := len(d.stack)
	if len(d.marks) > 0 && d.fence == n {
		_, err := d.popMark()
		return err
	}
	if n <= d.fence {
		return ErrStackUnderflow
	}
	d.stack = d.stack[:n-1]
	return nil
}

func (d *decoder) pushString(b []byte) error {
	if len(b) > d.cfg.maxString {
		return &LimitError{Limit: "MaxStringLen", Max: int64(d.cfg.maxString), Got: int64(len(b))}
	}
	if err := d.account(len(b) + 16); err != nil {
		return err
	}
	if d.shares(b) && d.inInput(b) {
		d.push(d.slabs.boxString(unsafe.String(&b[0], len(b))), 0)
		return nil
	}
	d.push(d.slabs.str(b), 0)
	return nil
}

// shares reports whether the value of b, a part of the input, shares its
// memory rather than taking a copy (DecodeOptions.ZeroCopy, ShareLarge).
func (d *decoder) shares(b []byte) bool {
	return len(b) > 0 && (d.cfg.ZeroCopy || d.cfg.ShareLarge && len(b) >= shareLargeMin && 2*len(b) >= len(d.data))
}

const shareLargeMin = 4096

// inInput reports whether b is part of the input (rather than text the
// decoder made, such as an unescaped string).
func (d *decoder) inInput(b []byte) bool {
	if len(d.data) == 0 || len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(&d.data[0]))
	p := uintptr(unsafe.Pointer(&b[0]))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(d.data))
}

// loadShortUnicode is SHORT_BINUNICODE, with short ASCII text checked
// inline.
func (d *decoder) loadShortUnicode() error {
	if d.pos >= len(d.data) {
		d.pos = len(d.data)
		return ErrTruncated
	}
	n := int(d.data[d.pos])
	if n > d.cfg.maxString {
		d.pos++
		return &LimitError{Limit: "MaxStringLen", Max: int64(d.cfg.maxString), Got: int64(n)}
	}
	if n > len(d.data)-d.pos-1 {
		d.pos = len(d.data)
		return ErrTruncated
	}
	b := d.data[d.pos+1 : d.pos+1+n]
	d.pos += 1 + n
	if !shortASCII(b) && !validPyUTF8(b) {
		return fmt.Errorf("%w: str is not UTF-8", ErrSyntax)
	}
	return d.pushString(b)
}

func (d *decoder) loadUnicode(n uint64) error {
	b, err := d.takeLen(n)
	if err != nil {
		return err
	}
	if !validPyUTF8(b) {
		return fmt.Errorf("%w: str is not UTF-8", ErrSyntax)
	}
	return d.pushString(b)
}

func (d *decoder) loadBytes(n uint64, bytearray bool) error {
	b, err := d.takeLen(n)
	if err != nil {
		return err
	}
	if err := d.account(len(b) + 24); err != nil {
		return err
	}
	var c []byte
	if d.shares(b) {
		c = b[:len(b):len(b)]
	} else {
		c = bytes.Clone(b)
		if c == nil {
			c = []byte{}
		}
	}
	if bytearray {
		d.push(ByteArray(c), 0)
	} else {
		d.push(c, 0)
	}
	return nil
}

func (d *decoder) loadPy2Str(op byte) error {
	var raw []byte
	var err error
	switch op {
	case opShortBinstring:
		var b []byte
		if b, err = d.take(1); err == nil {
			raw, err = d.takeLen(uint64(b[0]))
		}
	case opBinstring:
		var b []byte
		if b, err = d.take(4); err == nil {
			n := int32(binary.LittleEndian.Uint32(b))
			if n < 0 {
				return fmt.Errorf("%w: negative length %d", ErrSyntax, n)
			}
			raw, err = d.takeLen(uint64(n))
		}
	default:
		var line []byte
		if line, err = d.readLine(); err == nil {
			if len(line) < 2 || line[0] != line[len(line)-1] || (line[0] != '\'' && line[0] != '"') {
				return fmt.Errorf("%w: STRING argument must be quoted", ErrSyntax)
			}
			raw, err = escapeDecode(line[1 : len(line)-1])
		}
	}
	if err != nil {
		return err
	}
	if len(raw) > d.cfg.maxString {
		return &LimitError{Limit: "MaxStringLen", Max: int64(d.cfg.maxString), Got: int64(len(raw))}
	}
	if err := d.account(len(raw) + 24); err != nil {
		return err
	}
	switch d.cfg.Py2Str {
	case Py2StrLatin1:
		d.push(latin1String(raw), 0)
	case Py2StrByteString:
		d.push(ByteString(raw), 0)
	case Py2StrBytes:
		d.push(bytes.Clone(raw), 0)
	default:
		if !validPyUTF8(raw) {
			return fmt.Errorf("%w: Python 2 str is not UTF-8 (see DecodeOptions.Py2Str)", ErrSyntax)
		}
		d.push(string(raw), 0)
	}
	return nil
}

func (d *decoder) loadInt() error {
	line, err := d.readLine()
	if err != nil {
		return err
	}
	switch string(line) {
	case "00":
		d.push(false, 0)
		return nil
	case "01":
		d.push(true, 0)
		return nil
	}
	return d.pushPyInt(line, true)
}

func (d *decoder) pushPyInt(line []byte, base0 bool) error {
	if len(line) > 1<<16 {
		// Converting long decimal strings is quadratic, as in Python,
		// which refuses more than 4300 digits by default.
		return &LimitError{Limit: "MaxStringLen (int digits)", Max: 1 << 16, Got: int64(len(line))}
	}
	if err := d.account(len(line)); err != nil {
		return err
	}
	v, err := parsePyInt(line, base0)
	if err != nil {
		return fmt.Errorf("%w: invalid int %q", ErrSyntax, truncateForError(line))
	}
	d.push(v, 0)
	return nil
}

func truncateForError(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func (d *decoder) loadLong(n int64) error {
	if n < 0 {
		return fmt.Errorf("%w: negative length %d", ErrSyntax, n)
	}
	b, err := d.takeLen(uint64(n))
	if err != nil {
		return err
	}
	if err := d.account(len(b) + 32); err != nil {
		return err
	}
	d.push(decodeLong(b), 0)
	return nil
}

// decodeLong decodes a little-endian two's complement integer.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var u uint64
		for i := len(b) - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(u<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return normInt(v)
}

func (d *decoder) loadAppend() error {
	d.batch = 0
	return d.appendTo(len(d.stack) - 1)
}

// underflow is the error for an opcode that needs stack items below the
// topmost mark.
func (d *decoder) underflow() error {
	if len(d.marks) > 0 {
		return ErrMark
	}
	return ErrStackUnderflow
}

func (d *decoder) loadAppends() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	return d.appendTo(k)
}

// takeBatch takes the stack items from x on, which APPEND(S), SETITEM(S)
// and ADDITEMS add to the container at x-1, off the stack, and returns
// the container's slot, the items (valid until the next push) and the
// container's nesting depth with them, checked against MaxDepth.
func (d *decoder) takeBatch(x int) (target *slot, items []slot, depth int32, err error) {
	if x <= d.fence || x > len(d.stack) {
		return nil, nil, 0, d.underflow()
	}
	items = d.stack[x:]
	d.stack = d.stack[:x]
	for _, it := range items {
		depth = max(depth, it.d)
	}
	depth++
	return &d.stack[x-1], items, depth, d.checkDepth(depth)
}

// appendTo appends the stack items from x on to the list at x-1.
func (d *decoder) appendTo(x int) error {
	target, items, depth, err := d.takeBatch(x)
	if err != nil || len(items) == 0 {
		return err
	}
	if err := d.account(16 * len(items)); err != nil {
		return err
	}
	// Seal the items first: one of them may be the target list itself,
	// whose change must then be recorded. (Only lists are written back:
	// while the garbage collector marks, every pointer written costs.)
	for i := range items {
		if n, ok := items[i].v.(*listNode); ok {
			items[i].v = d.seal(n)
		}
	}
	switch t := target.v.(type) {
	case *listNode:
		if err := d.checkLen(len(t.items) + len(items)); err != nil {
			return err
		}
		if t.items == nil {
			t.items = d.slabs.itemSlice(len(items))[:0]
		} else if len(t.items)+len(items) > cap(t.items) {
			d.growList(t, len(items))
		}
		// Fill a local slice and store the header once, not per item.
		l := t.items
		base := len(l)
		l = l[:base+len(items)]
		for i := range items {
			l[base+i] = items[i].v
		}
		t.items = l
	case *Object:
		if err := d.checkLen(len(t.ListItems) + len(items)); err != nil {
			return err
		}
		for _, it := range items {
			t.ListItems = append(t.ListItems, it.v)
		}
	default:
		return fmt.Errorf("%w: APPEND to %s", ErrType, TypeName(d.val(target.v)))
	}
	target.d = max(target.d, depth)
	return nil
}

// estimate returns the capacity for a container that holds have items and
// must grow to hold need. A long list or dict arrives in batches of 1000
// (APPENDS, SETITEMS), and doubling its backing array at each overflow
// would allocate and copy twice its size, and give the garbage collector
// as much again to scan. So once a container is long, its final length is
// estimated from the input the last batch took per item and the input that
// remains, and it grows to that at once: by at least a quarter, at most
// to estimateMaxGrowth times its length, and never beyond MaxContainerLen.
// The second result says whether the estimate was used; a container that
// ends up less than half full is then trimmed when the pickle ends
// (trimEstimated).
//
// Each estimate takes the rest of the input for its container's own, which
// nested containers (the rows of a matrix) or a hostile pickle make wrong
// many times over. So the room an estimate gives beyond need, at size
// bytes an item, is charged to the allowance (MaxAllocFactor), and all
// estimates together give at most estimateBudget items; past that,
// containers double.
//
// The first estimate comes at about 5000 items, so estimateMaxGrowth lets
// a list of a million (1M floats, say) get all its room at once; with 64,
// it stopped at 320k items and was copied again, with the garbage
// collector's write barrier on every pointer, for a fifth of the time of
// decoding it. The bound still matters where a long container is followed
// by other input (a list of 5000 ints and a 10 MiB bytes): room for at most
// 256 times the items.
func (d *decoder) estimate(capacity, need, added, size int) (int, bool) {
	double := min(max(2*capacity, need), max(need, d.cfg.maxContainer))
	if need < 4096 || d.batch <= 0 || added <= 0 {
		return double, false
	}
	perItem := float64(d.batch) / float64(added)
	est := need + int(float64(len(d.data)-d.pos)/perItem)
	est += est / 64
	// At least a quarter more, so that estimates that keep falling
	// short still grow the container geometrically.
	c := min(max(est, capacity+capacity/4, need), estimateMaxGrowth*need, max(need, d.cfg.maxContainer))
	extra := c - need
	if extra > d.estimateBudget || size*extra > d.allocMax-d.alloc {
		return double, false
	}
	d.estimateBudget -= extra
	d.alloc += size * extra
	return c, true
}

// estimateMaxGrowth bounds the length an estimate gives a container, as a
// multiple of the length it needs.
const estimateMaxGrowth = 256

// growList makes room in n for add more items.
func (d *decoder) growList(n *listNode, add int) {
	have := len(n.items)
	c, est := d.estimate(cap(n.items), have+add, add, 16)
	if est {
		d.estimated = append(d.estimated, n)
	}
	grown := make([]any, have, c)
	copy(grown, n.items)
	n.items = grown
}

// trimEstimated reallocates the lists and dicts that estimate sized when
// more than half of their backing array is spare: doubling would not have
// wasted more.
func (d *decoder) trimEstimated() {
	for _, n := range d.estimated {
		if spare := cap(n.items) - len(n.items); spare > 1024 && spare > len(n.items) {
			n.items = append([]any(nil), n.items...)
		}
	}
	for _, x := range d.estimatedDicts {
		if spare := cap(x.entries) - len(x.entries); spare > 1024 && spare > len(x.entries) {
			x.entries = append([]dictEntry(nil), x.entries...)
			x.index.shrink(len(x.entries))
		}
	}
	d.estimated, d.estimatedDicts = nil, nil
}

func (d *decoder) loadSetitem() error {
	d.batch = 0
	return d.setItems(len(d.stack) - 2)
}

func (d *decoder) loadSetitems() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	return d.setItems(k)
}

func (d *decoder) setItems(x int) error {
	target, items, depth, err := d.takeBatch(x)
	if err != nil || len(items) == 0 {
		return err
	}
	if len(items)%2 != 0 {
		return fmt.Errorf("%w: odd number of items for SETITEMS", ErrStackUnderflow)
	}
	if err := d.account(20 * len(items)); err != nil {
		return err
	}
	var dict *Dict
	switch t := target.v.(type) {
	case *Dict:
		dict = t
	case *Object:
		if t.DictItems == nil {
			t.DictItems = &Dict{}
		}
		dict = t.DictItems
	default:
		return fmt.Errorf("%w: SETITEM on %s", ErrType, TypeName(d.val(target.v)))
	}
	if err := d.checkLen(dict.Len() + len(items)/2); err != nil {
		return err
	}
	if err := d.fillDict(dict, items); err != nil {
		return err
	}
	target.d = max(target.d, depth)
	return nil
}

// fillDict sets the key, value pairs of items in dict.
func (d *decoder) fillDict(dict *Dict, items []slot) error {
	n := len(items) / 2
	if len(dict.entries) == 0 && dict.index == nil && n <= smallDict {
		// The common case, a small dict filled at once. String keys are
		// checked for duplicates through a signature (length and a few
		// bytes), which tells different keys apart without comparing them.
		if cap(dict.entries) < n {
			dict.entries = d.slabs.entrySlice(n)
		}
		var sigs [smallDict]uint64
		allStr := true
	next:
		for i := 0; i < len(items); i += 2 {
			k, v := items[i].v, d.val(items[i+1].v)
			if s, ok := k.(string); ok && allStr {
				sig := strSig(s)
				for j := range dict.entries {
					if sigs[j] == sig && dict.entries[j].key.(string) == s {
						dict.entries[j].value = v
						continue next
					}
				}
				sigs[len(dict.entries)] = sig
				dict.entries = append(dict.entries, dictEntry{k, v})
				continue
			}
			allStr = false
			dup, err := dict.find(k)
			if err != nil {
				return err
			}
			if dup >= 0 {
				dict.entries[dup].value = v
				continue
			}
			dict.entries = append(dict.entries, dictEntry{k, v})
		}
		return nil
	}
	if need := len(dict.entries) + n; need > cap(dict.entries) {
		c, est := d.estimate(cap(dict.entries), need, n, 64) // entries and index
		if est {
			d.estimatedDicts = append(d.estimatedDicts, dict)
		}
		grown := make([]dictEntry, len(dict.entries), c)
		copy(grown, dict.entries)
		dict.entries = grown
		dict.index.reserve(c)
	}
	if hs := d.hashStrKeys(dict, items); hs != nil {
		// Dict.Set with the hashes known, on a local slice whose header
		// is stored once.
		entries := dict.entries
		for i := 0; i < len(items); i += 2 {
			k, v := items[i].v, d.val(items[i+1].v)
			if p := dict.index.lookupOrInsert(hs[i/2], int32(len(entries)), func(p int32) bool { return keyEqual(entries[p].key, k) }); p >= 0 {
				entries[p].value = v
				continue
			}
			entries = append(entries, dictEntry{k, v})
		}
		dict.entries = entries
		return nil
	}
	for i := 0; i < len(items); i += 2 {
		if err := dict.Set(d.val(items[i].v), d.val(items[i+1].v)); err != nil {
			return err
		}
	}
	return nil
}

// hashStrKeys returns the hashes of the keys of items, key-value pairs
// for dict, if dict has an index and every key is a str; else nil. It also
// reads each key's home slot in the index: these loads, in a loop that
// does nothing else, overlap, so a long dict's index misses the cache once
// per batch rather than once per insert.
func (d *decoder) hashStrKeys(dict *Dict, items []slot) []uint64 {
	if dict.index == nil || len(items) < 128 {
		return nil
	}
	hs := d.hashes[:0]
	mask := uint64(len(dict.index) - 1)
	var touched int32
	for i := 0; i < len(items); i += 2 {
		s, ok := items[i].v.(string)
		if !ok {
			return nil
		}
		hs = append(hs, strHash(s))
	}
	// A loop of loads alone, so that many cache misses are under way
	// at once.
	for _, h := range hs {
		touched += dict.index[h&mask].pos
	}
	d.hashes, d.touched = hs, touched
	return hs
}

// strSig summarizes a string: equal strings have equal signatures.
func strSig(s string) uint64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	return uint64(n) | uint64(s[0])<<32 | uint64(s[n/2])<<40 | uint64(s[n-1])<<48
}

func (d *decoder) loadAdditems() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	target, items, depth, err := d.takeBatch(k)
	if err != nil || len(items) == 0 {
		return err
	}
	set, ok := target.v.(*Set)
	if !ok {
		return fmt.Errorf("%w: ADDITEMS on %s", ErrType, TypeName(d.val(target.v)))
	}
	if err := d.checkLen(set.Len() + len(items)); err != nil {
		return err
	}
	if err := d.account(24 * len(items)); err != nil {
		return err
	}
	if need := len(set.items) + len(items); need > cap(set.items) {
		grown := make([]any, len(set.items), max(2*cap(set.items), need))
		copy(grown, set.items)
		set.items = grown
	}
	for _, it := range items {
		if err := set.Add(d.val(it.v)); err != nil {
			return err
		}
	}
	target.d = max(target.d, depth)
	return nil
}

func (d *decoder) loadTupleN(n int) error {
	k := len(d.stack) - n
	if k < d.fence {
		return d.underflow()
	}
	t, depth, err := d.items(d.stack[k:])
	if err != nil {
		return err
	}
	d.stack = d.stack[:k]
	d.push(d.slabs.tuple(t), depth)
	return nil
}

func (d *decoder) loadTuple() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	if k == len(d.stack) {
		d.push(emptyTupleValue, 1)
		return nil
	}
	t, depth, err := d.items(d.stack[k:])
	if err != nil {
		return err
	}
	d.stack = d.stack[:k]
	d.push(d.slabs.tuple(t), depth)
	return nil
}

func (d *decoder) loadList() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	l, depth, err := d.items(d.stack[k:])
	if err != nil {
		return err
	}
	d.stack = d.stack[:k]
	if err := d.account(64); err != nil {
		return err
	}
	n := d.slabs.node()
	n.items = l
	d.push(n, depth)
	return nil
}

func (d *decoder) loadDict() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	items := d.stack[k:]
	if len(items)%2 != 0 {
		return fmt.Errorf("%w: odd number of items for DICT", ErrStackUnderflow)
	}
	if err := d.checkLen(len(items) / 2); err != nil {
		return err
	}
	var depth int32
	for _, it := range items {
		depth = max(depth, it.d)
	}
	depth++
	if err := d.checkDepth(depth); err != nil {
		return err
	}
	if err := d.account(64 + 20*len(items)); err != nil {
		return err
	}
	dict := d.slabs.dict()
	if err := d.fillDict(dict, items); err != nil {
		return err
	}
	d.stack = d.stack[:k]
	d.push(dict, depth)
	return nil
}

func (d *decoder) loadFrozenset() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	items, depth, err := d.items(d.stack[k:])
	if err != nil {
		return err
	}
	f, err := NewFrozenSet(items...)
	if err != nil {
		return err
	}
	d.stack = d.stack[:k]
	d.push(f, depth)
	return nil
}

// fixName applies Python's fix_imports mapping from Python 2 names, for
// pickles of protocols 0 to 2.
func (d *decoder) fixName(g Global) Global {
	if d.proto >= 3 {
		return g
	}
	if m, ok := nameMapping[g]; ok {
		return m
	}
	if m, ok := importMapping[g.Module]; ok {
		g.Module = m
	}
	return g
}

func (d *decoder) readGlobalName() (Global, error) {
	mod, err := d.readLine()
	if err != nil {
		return Global{}, err
	}
	name, err := d.readLine()
	if err != nil {
		return Global{}, err
	}
	if !validPyUTF8(mod) || !validPyUTF8(name) {
		return Global{}, fmt.Errorf("%w: global name is not UTF-8", ErrSyntax)
	}
	if err := d.account(len(mod) + len(name) + 32); err != nil {
		return Global{}, err
	}
	return d.global(Global{string(mod), string(name)})
}

func (d *decoder) loadGlobal() error {
	g, err := d.readGlobalName()
	if err != nil {
		return err
	}
	d.push(g, 0)
	return nil
}

func (d *decoder) loadStackGlobal() error {
	name, err := d.pop()
	if err != nil {
		return err
	}
	mod, err := d.pop()
	if err != nil {
		return err
	}
	ms, ok1 := mod.v.(string)
	ns, ok2 := name.v.(string)
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: STACK_GLOBAL requires str", ErrType)
	}
	g, err := d.global(Global{ms, ns})
	if err != nil {
		return err
	}
	d.push(g, 0)
	return nil
}

func (d *decoder) loadExt(code int64) error {
	if code <= 0 {
		return fmt.Errorf("%w: EXT code %d is not positive", ErrSyntax, code)
	}
	g, ok := d.cfg.Extensions[int(code)]
	if !ok {
		return fmt.Errorf("%w: %d", ErrExtension, code)
	}
	g, err := d.global(g)
	if err != nil {
		return err
	}
	d.push(g, 0)
	return nil
}

func (d *decoder) loadPersid(line []byte) error {
	for _, c := range line {
		if c >= 0x80 {
			return fmt.Errorf("%w: persistent id is not ASCII", ErrSyntax)
		}
	}
	if err := d.account(len(line) + 16); err != nil {
		return err
	}
	return d.persistent(string(line), 0)
}

func (d *decoder) persistent(id any, depth int32) error {
	if d.cfg.PersistentLoad == nil {
		d.push(PersistentRef{ID: id}, depth+1)
		return nil
	}
	v, err := d.cfg.PersistentLoad(id)
	if err != nil {
		return fmt.Errorf("PersistentLoad: %w", err)
	}
	d.push(v, depth+1)
	return nil
}

func (d *decoder) loadReadonly() error {
	t, err := d.top()
	if err != nil {
		return err
	}
	switch b := t.v.(type) {
	case PickleBuffer:
		b.ReadOnly = true
		t.v = b
	case []byte:
	case ByteArray:
		t.v = PickleBuffer{Data: b, ReadOnly: true}
	default:
		return fmt.Errorf("%w: READONLY_BUFFER on %s", ErrBuffer, TypeName(t.v))
	}
	return nil
}

// callable reports whether v could be a Python callable or class: a
// Global, an object (which may be a class built at run time), or a value a
// persistent_load hook returned.
func isCallable(v any) bool {
	switch v.(type) {
	case Global, *Object, PersistentRef:
		return true
	case nil, bool, int64, float64, string, []byte, ByteArray, ByteString, Tuple, []any,
		*listNode, *Dict, *Set, *FrozenSet, *big.Int, complex128, PickleBuffer:
		return false
	}
	return true // a value from PersistentLoad
}

func (d *decoder) loadReduce() error {
	args, err := d.pop()
	if err != nil {
		return err
	}
	fn, err := d.pop()
	if err != nil {
		return err
	}
	t, ok := args.v.(Tuple)
	if !ok {
		return fmt.Errorf("%w: REDUCE arguments must be a tuple, not %s", ErrType, TypeName(d.val(args.v)))
	}
	if !isCallable(fn.v) {
		return fmt.Errorf("%w: REDUCE on %s, which is not callable", ErrType, TypeName(d.val(fn.v)))
	}
	if err := d.account(128); err != nil {
		return err
	}
	depth := max(args.d, fn.d) + 1
	if err := d.checkDepth(depth); err != nil {
		return err
	}
	v, err := d.reduce(fn.v, t)
	if err != nil {
		return err
	}
	d.push(v, depth)
	return nil
}

func (d *decoder) loadNewobj(ex bool) error {
	var kwargs *Dict
	var kd int32
	if ex {
		kw, err := d.pop()
		if err != nil {
			return err
		}
		k, ok := kw.v.(*Dict)
		if !ok {
			return fmt.Errorf("%w: NEWOBJ_EX keyword arguments must be a dict, not %s", ErrType, TypeName(d.val(kw.v)))
		}
		kwargs, kd = k, kw.d
	}
	args, err := d.pop()
	if err != nil {
		return err
	}
	cls, err := d.pop()
	if err != nil {
		return err
	}
	t, ok := args.v.(Tuple)
	if !ok {
		return fmt.Errorf("%w: NEWOBJ arguments must be a tuple, not %s", ErrType, TypeName(d.val(args.v)))
	}
	if !isCallable(cls.v) {
		return fmt.Errorf("%w: NEWOBJ class must be a class, not %s", ErrType, TypeName(d.val(cls.v)))
	}
	if err := d.account(128); err != nil {
		return err
	}
	depth := max(args.d, cls.d, kd) + 1
	if err := d.checkDepth(depth); err != nil {
		return err
	}
	d.push(&Object{Callable: cls.v, Args: t, Kwargs: kwargs, New: true}, depth)
	return nil
}

func (d *decoder) loadBuild() error {
	state, err := d.pop()
	if err != nil {
		return err
	}
	t, err := d.top()
	if err != nil {
		return err
	}
	obj, ok := t.v.(*Object)
	if !ok {
		return fmt.Errorf("%w: BUILD on %s", ErrType, TypeName(d.val(t.v)))
	}
	sv := d.val(state.v)
	if sv == nil {
		return nil // Python's default BUILD ignores a None state
	}
	depth := state.d + 1
	if err := d.checkDepth(depth); err != nil {
		return err
	}
	t.d = max(t.d, depth)
	if obj.State == nil {
		obj.State = sv
		return nil
	}
	// A second BUILD: merge dict states as Python's default __setstate__
	// would; anything else cannot be represented.
	old, ok1 := obj.State.(*Dict)
	upd, ok2 := sv.(*Dict)
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: second BUILD on an object with non-dict state", ErrType)
	}
	merged := &Dict{}
	for k, v := range old.All() {
		_ = merged.Set(k, v)
	}
	for k, v := range upd.All() {
		_ = merged.Set(k, v)
	}
	obj.State = merged
	return nil
}

func (d *decoder) loadInst() error {
	g, err := d.readGlobalName()
	if err != nil {
		return err
	}
	k, err := d.popMark()
	if err != nil {
		return err
	}
	args, depth, err := d.items(d.stack[k:])
	if err != nil {
		return err
	}
	d.stack = d.stack[:k]
	if err := d.account(128); err != nil {
		return err
	}
	d.push(&Object{Callable: g, Args: args, Inst: true}, depth)
	return nil
}

func (d *decoder) loadObj() error {
	k, err := d.popMark()
	if err != nil {
		return err
	}
	if len(d.stack)-k < 1 {
		return ErrStackUnderflow
	}
	cls := d.stack[k]
	if !isCallable(cls.v) {
		return fmt.Errorf("%w: OBJ class must be a class, not %s", ErrType, TypeName(d.val(cls.v)))
	}
	args, depth, err := d.items(d.stack[k+1:])
	if err != nil {
		return err
	}
	d.stack = d.stack[:k]
	if err := d.account(128); err != nil {
		return err
	}
	d.push(&Object{Callable: cls.v, Args: args, Inst: true}, max(depth, cls.d+1))
	return nil
}
