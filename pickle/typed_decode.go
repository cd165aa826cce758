package pickle

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"sync"
	"unsafe"
)

// The typed decoder runs the pickle machine on the opcodes and builds Go
// values of the target's types as it goes: a dict whose keys name struct
// fields fills the struct's memory, a list of floats becomes a []float64,
// a str becomes a string field, with no model value in between.
//
// Which Go type a container is built as is a prediction: where the
// container is made (a dict's value for key k of a struct, an item of a
// []T, the target itself) gives the type it will be stored in. Pickles
// cannot announce tuples of up to three items, so predictions can be wrong;
// a container made where no Go type is known is built in the model instead
// (a *Dict, a []any), and converted by the reference rules (convert.go)
// when it is stored. Tuples are kept as their items until they are stored,
// so they need no prediction. Objects (REDUCE, NEWOBJ, BUILD) are built in
// the model too, and converted.
//
// Whatever the typed decoder does not handle, or cannot check as exactly
// as the model's decoder does (a limit about to be exceeded, a malformed
// pickle, a value that does not fit its Go type, a wrong prediction, rare
// opcodes), makes it give up with errFallback; Unmarshal then decodes the
// whole pickle into the model and converts it, which gives the result or
// the error, with its Go path. The typed decoder never decides an error.

var errFallback = errors.New("pickle: typed decoder falls back")

type slotKind uint8

const (
	sNone   slotKind = iota
	sBool            // n
	sInt             // n
	sFloat           // n: the bits
	sStr             // p, n: the string; own says whether it is the decoder's or a view of the input
	sAny             // p, aux: a finished value of the model (data and type words)
	sTyped           // p, aux: a struct or map built in Go memory, and its plan
	sSlice           // p, aux, n: a slice being built: backing array, plan, len | cap<<32
	sList            // p: *tlist, a slice of structs being built, with items built in place
	sGList           // p: *glist, a model list being built
	sGDict           // p: *Dict
	sGSet            // p: *Set
	sObj             // p: *Object
	sTuple           // p: *ttuple, items kept until stored
	sFrozen          // p: *ttuple, a frozenset's items
)

// tslot is a value on the stack or in the memo. A Python pickle memoizes
// nearly every str and container, so slots are small, and a GET copies one
// as it is. The memo entry of a container is its state: filling a
// memoized container updates its entry (found by the memo index in meta),
// and storing it marks the entry sealed, so that a change after it was
// stored (which would not reach the copy) is noticed.
type tslot struct {
	p    unsafe.Pointer
	aux  unsafe.Pointer
	n    uint64
	meta uint64 // kind | flags | depth<<9; memo index + 1 (or a str's cached field index) <<32
}

const (
	kindMask     = 0x1f
	flagOwn      = 1 << 5
	flagSealed   = 1 << 6
	flagPresent  = 1 << 7 // a memo entry holds a value
	flagFresh    = 1 << 8 // a container just made, whose next item may be a single one
	depthShift   = 9
	depthMask    = 1<<17 - 1
	flagAdopted  = 1 << 26 // a struct that BUILD made an instance (see adopt)
	flagFetched  = 1 << 27 // a memo entry that a GET copied
	memoIdxShift = 32
)

func (s *tslot) kind() slotKind { return slotKind(s.meta & kindMask) }
func (s *tslot) depth() int32   { return int32(s.meta >> depthShift & depthMask) }
func (s *tslot) mi() int32      { return int32(s.meta >> memoIdxShift) }
func (s *tslot) fresh() bool    { return s.meta&flagFresh != 0 }
func (s *tslot) own() bool      { return s.meta&flagOwn != 0 }

func (s *tslot) setDepth(d int32) {
	s.meta = s.meta&^(depthMask<<depthShift) | uint64(d)<<depthShift
}

func (s *tslot) str() string { return unsafe.String((*byte)(s.p), int(s.n)) }

func (s *tslot) plan() *decPlan { return (*decPlan)(s.aux) }

func mkSlot(k slotKind, depth int32) tslot {
	return tslot{meta: uint64(k) | uint64(depth)<<depthShift}
}

func numSlot(k slotKind, n uint64) tslot { return tslot{n: n, meta: uint64(k)} }

func ptrSlot(k slotKind, p unsafe.Pointer, depth int32) tslot {
	return tslot{p: p, meta: uint64(k) | uint64(depth)<<depthShift}
}

// anySlot holds a finished model value.
func anySlot(v any, depth int32) tslot {
	e := (*eface)(unsafe.Pointer(&v))
	return tslot{p: e.data, aux: e.typ, meta: uint64(sAny) | uint64(depth)<<depthShift}
}

func (s *tslot) anyValue() any { return makeIface(s.aux, s.p) }

// tlist is a slice of structs being built: its backing array holds the
// items appended so far and, after them, the items claimed by structs
// being built in place.
type tlist struct {
	plan    *decPlan // the slice type
	base    unsafe.Pointer
	len     int
	cap     int
	claimed int // positions up to this one may hold built or partly built items
	spare   int // positions from len up to this one hold no struct built in place (zero, or copies made when base grew)
	start   int // input offset where the list began
}

// glist is a model list being built.
type glist struct {
	items  []any
	sealed bool
}

// ttuple holds the items of a tuple or frozenset until they are stored.
type ttuple struct {
	items  []tslot
	model  any  // the model value, once made
	sliced bool // stored as a slice (see storeItems)
}

type tdec struct {
	cfg  *decodeConfig
	conv *conv
	g    decoder // for the model's reductions
	data []byte
	pos  int

	stack     []tslot
	marks     []int
	markHints []*decPlan
	markPos   []int     // input offset of each mark
	batch     int       // input bytes from the last mark popped to its opcode
	memo      [][]tslot // in chunks of memoChunk entries
	memoMap   map[int64]tslot
	memoLen   int
	proto     int

	root    *decPlan
	rootPtr unsafe.Pointer

	alloc, allocMax int
	arena           strArena
	lists           []tlist
	words           []uint64
	strs            []string
	keys            [64]keyCache
	setHigh         map[setField]struct{} // fields from the 33rd on of structs, once set (see setFields)
	// deep records that a pointer was set, or a value converted into a
	// type that may hold pointers: the reference path counts MaxDepth as
	// it converts, one level for a container and one for a pointer, so
	// more than the pickle's nesting (see handOff and opStop).
	deep bool
}

// setField is a field of the struct at p, by index.
type setField struct {
	p unsafe.Pointer
	i int
}

// unmarshalTyped decodes data into the value at ptr, of plan root. It
// returns errFallback if the reference path must decide.
func unmarshalTyped(cfg *decodeConfig, data []byte, root *decPlan, ptr unsafe.Pointer) error {
	d := tdec{cfg: cfg, data: data, root: root, rootPtr: ptr}
	d.conv = newConv(cfg, len(data))
	d.g.cfg = cfg
	d.allocMax = math.MaxInt
	if cfg.allocFactor < math.MaxInt/2/(len(data)+1) {
		d.allocMax = allocAllowance + cfg.allocFactor*len(data)
	}
	d.stack = make([]tslot, 0, 32)
	err := d.run()
	d.release()
	return err
}

// memoChunks are memo chunks that decodings pass on to each other: the
// memo of a large pickle is as long as its values are many, and allocating
// it each time would make the garbage collector run as much again.
var memoChunks sync.Pool

// release clears the memo's chunks, which must not keep the values alive,
// and pools them.
func (d *tdec) release() {
	for _, c := range d.memo {
		clear(c)
		memoChunks.Put(&c)
	}
	d.memo = nil
}

func (d *tdec) account(n int) error {
	d.alloc += n
	if d.alloc > d.allocMax {
		return errFallback
	}
	return nil
}

func (d *tdec) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.data)-d.pos {
		return nil, errFallback
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

// uintArg reads op's unsigned little-endian argument or length prefix.
func (d *tdec) uintArg(op byte) (uint64, error) {
	b, err := d.take(int(argWidths[op]))
	if err != nil {
		return 0, err
	}
	return leUint(b), nil
}

func (d *tdec) takeLen(n uint64) ([]byte, error) {
	if n > uint64(d.cfg.maxString) || n > uint64(len(d.data)-d.pos) {
		return nil, errFallback
	}
	return d.take(int(n))
}

func (d *tdec) push(s tslot) {
	d.stack = append(d.stack, s)
}

func (d *tdec) fence() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1]
}

func (d *tdec) pop() (tslot, error) {
	n := len(d.stack)
	if n <= d.fence() {
		return tslot{}, errFallback
	}
	s := d.stack[n-1]
	d.stack = d.stack[:n-1]
	return s, nil
}

func (d *tdec) popMark() (int, error) {
	n := len(d.marks)
	if n == 0 {
		return 0, errFallback
	}
	k := d.marks[n-1]
	d.marks = d.marks[:n-1]
	d.markHints = d.markHints[:n-1]
	d.batch = d.pos - d.markPos[n-1]
	d.markPos = d.markPos[:n-1]
	return k, nil
}

func (d *tdec) run() error {
	for {
		if d.pos >= len(d.data) {
			return errFallback
		}
		op := d.data[d.pos]
		if (op == opBinint1 || op == opBinint2 || op == opBinint || op == opBinfloat) &&
			len(d.marks) > 0 && d.marks[len(d.marks)-1] == len(d.stack) && !d.cfg.noRuns {
			if done, err := d.appendNumbers(); done {
				if err != nil {
					return err
				}
				continue
			}
		}
		d.pos++
		var err error
		switch op {
		case opBinint1:
			if d.pos >= len(d.data) {
				return errFallback
			}
			d.push(numSlot(sInt, uint64(d.data[d.pos])))
			d.pos++
		case opBinint2:
			var b []byte
			if b, err = d.take(2); err == nil {
				d.push(numSlot(sInt, uint64(binary.LittleEndian.Uint16(b))))
			}
		case opBinint:
			var b []byte
			if b, err = d.take(4); err == nil {
				d.push(numSlot(sInt, uint64(int64(int32(binary.LittleEndian.Uint32(b))))))
			}
		case opLong1:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.loadLong(int(b[0]))
			}
		case opLong4:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.loadLong(int(int32(binary.LittleEndian.Uint32(b))))
			}
		case opBinfloat:
			var b []byte
			if b, err = d.take(8); err == nil {
				d.push(numSlot(sFloat, binary.BigEndian.Uint64(b)))
			}
		case opShortBinunicode, opBinunicode, opBinunicode8:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.loadStr(n)
			}
		case opShortBinbytes, opBinbytes, opBinbytes8, opBytearray8:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.loadBytes(n, op == opBytearray8)
			}
		case opNone:
			d.push(tslot{})
		case opNewtrue:
			d.push(numSlot(sBool, 1))
		case opNewfalse:
			d.push(numSlot(sBool, 0))
		case opBinget:
			if d.pos >= len(d.data) {
				return errFallback
			}
			idx := int64(d.data[d.pos])
			d.pos++
			err = d.memoGet(idx)
		case opLongBinget:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.memoGet(int64(binary.LittleEndian.Uint32(b)))
			}
		case opMemoize:
			err = d.memoPut(int64(d.memoLen))
		case opBinput, opLongBinput:
			var n uint64
			if n, err = d.uintArg(op); err == nil {
				err = d.memoPut(int64(n))
			}
		case opMark:
			plan, _ := d.hint(false)
			d.marks = append(d.marks, len(d.stack))
			d.markHints = append(d.markHints, plan)
			d.markPos = append(d.markPos, d.pos)
		case opEmptyList:
			err = d.emptyList()
		case opEmptyDict:
			err = d.emptyDict()
		case opEmptySet:
			if err = d.account(64); err == nil {
				s := ptrSlot(sGSet, unsafe.Pointer(&Set{}), 1)
				s.meta |= flagFresh
				d.push(s)
			}
		case opEmptyTuple:
			d.push(ptrSlot(sTuple, unsafe.Pointer(&ttuple{}), 1))
		case opAppend:
			err = d.fill(len(d.stack)-1, false)
		case opAppends, opSetitems:
			var k int
			if k, err = d.popMark(); err == nil {
				err = d.fill(k, op == opSetitems)
			}
		case opAdditems:
			// Sets are built in the model; ADDITEMS on anything else is
			// an error that the model's decoder names.
			err = errFallback
		case opSetitem:
			err = d.fill(len(d.stack)-2, true)
		case opTuple1, opTuple2, opTuple3:
			err = d.tuple(len(d.stack)-int(op-opTuple1)-1, false)
		case opTuple:
			var k int
			if k, err = d.popMark(); err == nil {
				err = d.tuple(k, false)
			}
		case opFrozenset:
			var k int
			if k, err = d.popMark(); err == nil {
				err = d.tuple(k, true)
			}
		case opGlobal:
			err = d.loadGlobal()
		case opStackGlobal:
			var name, mod tslot
			if name, err = d.pop(); err == nil {
				if mod, err = d.pop(); err == nil {
					if name.kind() != sStr || mod.kind() != sStr {
						return errFallback
					}
					var g Global
					if g, err = d.g.global(Global{d.text(&mod), d.text(&name)}); err == nil {
						d.push(anySlot(g, 0))
					}
				}
			}
		case opReduce:
			err = d.reduce()
		case opNewobj:
			err = d.newobj(false)
		case opNewobjEx:
			err = d.newobj(true)
		case opBuild:
			err = d.build()
		case opPop:
			if n := len(d.stack); len(d.marks) > 0 && d.fence() == n {
				_, err = d.popMark()
			} else {
				var s tslot
				if s, err = d.pop(); err == nil && buildsInPlace(&s) {
					err = errFallback
				}
			}
		case opPopMark:
			var k int
			if k, err = d.popMark(); err == nil {
				for i := k; i < len(d.stack); i++ {
					if buildsInPlace(&d.stack[i]) {
						err = errFallback
					}
				}
				d.stack = d.stack[:k]
			}
		case opFrame:
			var b []byte
			if b, err = d.take(8); err == nil && binary.LittleEndian.Uint64(b) > uint64(len(d.data)-d.pos) {
				err = errFallback
			}
		case opProto:
			var b []byte
			if b, err = d.take(1); err == nil {
				if b[0] > HighestProtocol {
					return errFallback
				}
				d.proto = int(b[0])
				d.g.proto = d.proto
			}
		case opStop:
			if len(d.stack) != 1 || len(d.marks) != 0 {
				return errFallback
			}
			if err := d.store(&d.stack[0], d.root, d.rootPtr); err != nil {
				return err
			}
			// Each level of the pickle is at most a container and a
			// pointer to it when converted; a value converted here
			// (handOff) at most 2k+1 levels for its k.
			if d.deep && 2*int(d.stack[0].depth())+1 > d.cfg.maxDepth {
				return errFallback
			}
			return nil
		default:
			// Protocols 0 and 1's text opcodes, Python 2 strings,
			// persistent ids, extensions, out-of-band buffers, classic
			// instances: the model's decoder takes them.
			return errFallback
		}
		if err != nil {
			return err
		}
	}
}

func (d *tdec) loadLong(n int) error {
	if n < 0 {
		return errFallback
	}
	b, err := d.takeLen(uint64(n))
	if err != nil {
		return err
	}
	switch v := decodeLong(b).(type) {
	case int64:
		d.push(numSlot(sInt, uint64(v)))
	default:
		if err := d.account(len(b) + 32); err != nil {
			return err
		}
		d.push(anySlot(v, 0))
	}
	return nil
}

func (d *tdec) loadStr(n uint64) error {
	b, err := d.takeLen(n)
	if err != nil {
		return err
	}
	if !shortASCII(b) && !validPyUTF8(b) {
		return errFallback
	}
	s := tslot{p: unsafe.Pointer(unsafe.SliceData(b)), n: uint64(len(b)), meta: uint64(sStr)}
	if len(b) == 0 || d.shares(b) {
		s.meta |= flagOwn
	}
	d.push(s)
	return nil
}

// shares is decoder.shares.
func (d *tdec) shares(b []byte) bool {
	return len(b) > 0 && (d.cfg.ZeroCopy || d.cfg.ShareLarge && len(b) >= shareLargeMin && 2*len(b) >= len(d.data))
}

// own returns a copy of s that the decoder may hand out, in an arena for
// short strings.
func (d *tdec) own(s string) (string, error) {
	if err := d.account(len(s) + 16); err != nil {
		return "", err
	}
	n := len(s)
	if n > arenaMaxChunk {
		return string([]byte(s)), nil
	}
	return d.arena.addString(s), nil
}

// text returns a str slot's string, made the decoder's own (unless
// ZeroCopy lets values share the input).
func (d *tdec) text(s *tslot) string {
	if !s.own() {
		o, err := d.own(s.str())
		if err != nil {
			return string([]byte(s.str()))
		}
		s.p, s.meta = unsafe.Pointer(unsafe.StringData(o)), s.meta|flagOwn
	}
	return s.str()
}

func (d *tdec) loadBytes(n uint64, bytearray bool) error {
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
		c = append([]byte{}, b...)
	}
	if bytearray {
		d.push(anySlot(ByteArray(c), 0))
	} else {
		d.push(anySlot(c, 0))
	}
	return nil
}

func (d *tdec) loadGlobal() error {
	line := func() (string, error) {
		for i := d.pos; i < len(d.data); i++ {
			if d.data[i] == '\n' {
				s := string(d.data[d.pos:i])
				d.pos = i + 1
				return s, nil
			}
		}
		return "", errFallback
	}
	mod, err := line()
	if err != nil {
		return err
	}
	name, err := line()
	if err != nil {
		return err
	}
	if !validPyUTF8([]byte(mod)) || !validPyUTF8([]byte(name)) {
		return errFallback
	}
	g, err := d.g.global(Global{mod, name})
	if err != nil {
		return err
	}
	d.push(anySlot(g, 0))
	return nil
}

// The memo.

const memoChunk = 1024

func (d *tdec) memoPut(idx int64) error {
	n := len(d.stack)
	if n <= d.fence() || idx < 0 || idx >= math.MaxInt32 {
		return errFallback
	}
	s := &d.stack[n-1]
	k := s.kind()
	if k == sStr {
		d.text(s)
		s.meta &= 1<<memoIdxShift - 1 // no cached field
		s.aux = nil                   // nor the plan it was cached for
	} else if s.mi() != 0 {
		// Memoized twice: the sealing of one entry would not be seen
		// through the other.
		return errFallback
	} else if k >= sTyped {
		s.meta |= uint64(idx+1) << memoIdxShift
	}
	entry := *s
	entry.meta = entry.meta&^flagFresh | flagPresent
	if e := d.memoAt(idx, true); e != nil {
		if e.meta != 0 {
			// A memo index used twice, which Python never writes: the
			// container state of the first would be lost. An entry that
			// adopt emptied counts too: copies of the value it held
			// still name it, and would take a new value's entry for
			// their own.
			return errFallback
		}
		d.memoLen++
		*e = entry
	} else {
		if k >= sTyped {
			return errFallback // containers shared through a sparse memo
		}
		if d.memoMap == nil {
			d.memoMap = map[int64]tslot{}
		}
		if _, ok := d.memoMap[idx]; ok {
			return errFallback
		}
		d.memoLen++
		d.memoMap[idx] = entry
	}
	if d.memoLen > d.cfg.maxMemo {
		return errFallback
	}
	return nil
}

// memoAt returns the dense memo entry idx, growing the memo if grow is
// set and idx is not far beyond it; nil for an index of the sparse map.
func (d *tdec) memoAt(idx int64, grow bool) *tslot {
	c := idx / memoChunk
	if c >= int64(len(d.memo)) {
		if !grow || c > int64(len(d.memo)) {
			return nil
		}
		if d.account(memoChunk*32) != nil {
			return nil
		}
		if c, ok := memoChunks.Get().(*[]tslot); ok {
			d.memo = append(d.memo, *c)
		} else {
			d.memo = append(d.memo, make([]tslot, memoChunk))
		}
	}
	return &d.memo[c][idx%memoChunk]
}

func (d *tdec) memoGet(idx int64) error {
	c := idx / memoChunk
	if c < int64(len(d.memo)) {
		if e := &d.memo[c][idx%memoChunk]; e.meta&flagPresent != 0 {
			d.stack = append(d.stack, *e)
			e.meta |= flagFetched
			return nil
		}
	}
	m, ok := d.memoMap[idx]
	if !ok {
		return errFallback
	}
	d.push(m)
	return nil
}

// entry returns the memo entry of the container in s, or nil.
func (d *tdec) entry(s *tslot) *tslot {
	mi := s.mi()
	if mi == 0 || s.kind() < sTyped {
		return nil
	}
	return d.memoAt(int64(mi-1), false)
}

// current returns the state of the container in s: its memo entry's, which
// fills update, if it has one.
func (d *tdec) current(s *tslot) *tslot {
	if e := d.entry(s); e != nil {
		return e
	}
	return s
}

// seal records that s was stored.
func (d *tdec) seal(s *tslot) {
	if e := d.entry(s); e != nil {
		e.meta |= flagSealed
	}
}

// Predictions.

// hint returns the Go type of the place the next value pushed will be
// stored in, if known, and for a struct, the memory where to build it in
// place (nil: anywhere). claim says whether that memory may be taken in a
// slice's backing array.
func (d *tdec) hint(claim bool) (*decPlan, unsafe.Pointer) {
	n := len(d.stack)
	if n >= 1 && n-1 >= d.fence() {
		if s := &d.stack[n-1]; s.kind() == sObj && s.meta&flagFresh != 0 {
			// The state of an instance just made: the instance's own
			// place says what it is.
			return d.hintAt(n-1, claim)
		}
	}
	return d.hintAt(n, claim)
}

// hintAt predicts the value at stack position n.
func (d *tdec) hintAt(n int, claim bool) (*decPlan, unsafe.Pointer) {
	fence := d.fence()
	// The single item of a list or dict just made.
	if n >= 1 && n-1 >= fence {
		if s := &d.stack[n-1]; s.fresh() && s.kind() != sObj {
			if s.kind() == sTyped {
				return nil, nil // a dict's key
			}
			return d.itemHint(s, 0, nil, claim)
		}
	}
	if n >= 2 && n-2 >= fence {
		if s := &d.stack[n-2]; s.fresh() && s.kind() == sTyped {
			return d.itemHint(s, 1, &d.stack[n-1], claim)
		}
	}
	if len(d.marks) > 0 {
		m := d.marks[len(d.marks)-1]
		if m > 0 {
			if c := &d.stack[m-1]; isBuilder(c.kind()) {
				var key *tslot
				if (n-m)%2 == 1 {
					key = &d.stack[n-1]
				}
				return d.itemHint(c, n-m, key, claim)
			}
		}
		return groupHint(d.markHints[len(d.markHints)-1], n-m), nil
	}
	if n == 0 {
		return valuePlan(d.root, d.rootPtr)
	}
	return nil, nil
}

func isBuilder(k slotKind) bool {
	switch k {
	case sTyped, sSlice, sList, sGList, sGDict, sGSet, sObj:
		return true
	}
	return false
}

// valuePlan returns the plan to build a value stored at dst (of plan p)
// as, and where: the value a pointer points to, in place when the pointer
// is set.
func valuePlan(p *decPlan, dst unsafe.Pointer) (*decPlan, unsafe.Pointer) {
	for p != nil && p.k == dPtr {
		if dst != nil {
			dst = *(*unsafe.Pointer)(dst)
		}
		p = p.elem
	}
	return p, dst
}

// itemHint predicts the item at offset in the fill of container c; key is
// the slot before it, a dict's key when offset is odd.
func (d *tdec) itemHint(c *tslot, offset int, key *tslot, claim bool) (*decPlan, unsafe.Pointer) {
	switch c.kind() {
	case sSlice:
		return valuePlan(c.plan().elem, nil)
	case sList:
		l := (*tlist)(c.p)
		if !claim {
			return l.plan.elem, nil
		}
		dst, err := d.claim(l, l.len+offset)
		if err != nil {
			return l.plan.elem, nil
		}
		return l.plan.elem, dst
	case sTyped:
		p := c.plan()
		if p.k == dMap {
			if offset%2 == 0 {
				return nil, nil
			}
			return valuePlan(p.elem, nil)
		}
		if offset%2 == 0 || key == nil || key.kind() != sStr {
			return nil, nil
		}
		i := d.field(p, key)
		if i < 0 {
			return nil, nil
		}
		f := &p.st.fields[i]
		if !f.direct {
			return valuePlan(p.fields[i], nil)
		}
		return valuePlan(p.fields[i], unsafe.Add(c.p, f.offset))
	}
	return nil, nil
}

// groupHint predicts item i of a MARK group (a tuple or frozenset) to be
// stored as a whole in a p.
func groupHint(p *decPlan, i int) *decPlan {
	p, _ = valuePlan(p, nil)
	if p == nil {
		return nil
	}
	var e *decPlan
	switch p.k {
	case dSlice, dArray:
		e = p.elem
	case dStruct:
		if i < len(p.fields) {
			e = p.fields[i]
		}
	case dMap:
		if p.set {
			e = p.key
		}
	}
	e, _ = valuePlan(e, nil)
	return e
}

// field returns the index of the field that str slot key names in struct
// plan p. The keys of a pickle of many dicts are one memoized string each,
// fetched again for every dict, so a small cache by the string's address
// finds them without comparing names.
func (d *tdec) field(p *decPlan, key *tslot) int {
	if key.aux == unsafe.Pointer(p) {
		return int(key.meta>>memoIdxShift) - 1
	}
	c := &d.keys[uintptr(key.p)>>3&uintptr(len(d.keys)-1)]
	var i int
	if c.p == key.p && c.n == int(key.n) && c.plan == p {
		i = c.i
	} else {
		i = p.st.find(key.str())
		*c = keyCache{key.p, int(key.n), p, i}
	}
	key.aux = unsafe.Pointer(p)
	key.meta = key.meta&(1<<memoIdxShift-1) | uint64(i+1)<<memoIdxShift
	return i
}

type keyCache struct {
	p    unsafe.Pointer
	n    int
	plan *decPlan
	i    int
}

// claim returns the memory of item i of l, for a struct to be built in
// place, growing l's backing array as needed.
// A position is claimed once: the struct built there may be in use
// elsewhere (memoized, in a tuple, pointed to) even when the pickle does
// not append it there, so its memory is never given to another.
func (d *tdec) claim(l *tlist, i int) (unsafe.Pointer, error) {
	if i < l.claimed {
		return nil, errFallback
	}
	if err := d.ensureList(l, i+1); err != nil {
		return nil, err
	}
	if i > l.claimed {
		// The positions skipped hold nothing built in place; that is
		// recorded only when none before them does either.
		if max(l.spare, l.len) < l.claimed {
			return nil, errFallback
		}
		l.spare = i
	}
	l.claimed = i + 1
	return unsafe.Add(l.base, uintptr(i)*l.plan.elem.size), nil
}

// ensureList makes room for n items in l's backing array.
func (d *tdec) ensureList(l *tlist, n int) error {
	if n <= l.cap {
		return nil
	}
	c := max(n, 2*l.cap, 4)
	if l.len >= batchSize && l.cap < 2*batchSize {
		// A long list: guess its length from the input its first
		// items took, to allocate it once rather than double it.
		if used := d.pos - l.start; used > 0 {
			guess := int(float64(l.len) * float64(len(d.data)-l.start) / float64(used) * 1.05)
			c = max(c, min(guess, len(d.data)-d.pos+l.len))
		}
	}
	base, c, err := d.grow(l.plan, l.base, max(l.len, l.claimed), n, c)
	if err != nil {
		return err
	}
	// The items built in place so far stay where they are; the copies
	// made of them here are nobody's.
	l.base, l.cap, l.spare = base, c, max(l.len, l.claimed)
	return nil
}

// grow returns a backing array for c items of slice plan p holding the
// first keep items of base, and its capacity; n is the length needed.
// The capacity may be less than c, never more than MaxContainerLen: a
// container that reaches it must come back here to be refused.
func (d *tdec) grow(p *decPlan, base unsafe.Pointer, keep, n, c int) (unsafe.Pointer, int, error) {
	if n > d.cfg.maxContainer {
		return nil, 0, errFallback
	}
	c = min(c, d.cfg.maxContainer)
	if err := d.account(c * int(p.elem.size+1)); err != nil {
		return nil, 0, err
	}
	nb := d.newArray(p.elem, c)
	if keep > 0 {
		dst := reflect.NewAt(p.t, unsafe.Pointer(&sliceHeader{nb, keep, keep})).Elem()
		src := reflect.NewAt(p.t, unsafe.Pointer(&sliceHeader{base, keep, keep})).Elem()
		reflect.Copy(dst, src)
	}
	return nb, c, nil
}

// newArray allocates an array of n values of plan e. Arrays of types laid
// out like a predeclared one (numbers, strings) are made without
// reflection, which would allocate a slice header too, and small ones are
// carved out of chunks, as the model's decoder does with its values: a
// chunk lives as long as any array in it.
func (d *tdec) newArray(e *decPlan, n int) unsafe.Pointer {
	if n == 0 || e.size == 0 {
		return unsafe.Pointer(&zeroArray)
	}
	switch e.t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		// No pointers: words hold them, aligned as any of them needs.
		words := int((uintptr(n)*e.size + 7) / 8)
		if words > itemArenaMax {
			return unsafe.Pointer(unsafe.SliceData(make([]uint64, words)))
		}
		if cap(d.words)-len(d.words) < words {
			d.words = make([]uint64, 0, max(nextChunk(cap(d.words), 16, itemArenaLen), words))
		}
		off := len(d.words)
		d.words = d.words[:off+words]
		return unsafe.Pointer(&d.words[off])
	case reflect.String:
		if n > itemArenaMax {
			return unsafe.Pointer(unsafe.SliceData(make([]string, n)))
		}
		if cap(d.strs)-len(d.strs) < n {
			d.strs = make([]string, 0, max(nextChunk(cap(d.strs), 8, itemArenaLen), n))
		}
		off := len(d.strs)
		d.strs = d.strs[:off+n]
		return unsafe.Pointer(&d.strs[off])
	}
	return reflect.MakeSlice(reflect.SliceOf(e.t), n, n).UnsafePointer()
}

// newList returns a builder for a slice of structs, from a chunk.
func (d *tdec) newList(plan *decPlan) *tlist {
	if len(d.lists) == cap(d.lists) {
		d.lists = make([]tlist, 0, nextChunk(cap(d.lists), 4, slabLen))
	}
	d.lists = append(d.lists, tlist{plan: plan, start: d.pos})
	return &d.lists[len(d.lists)-1]
}

// Containers.

func (d *tdec) emptyList() error {
	if err := d.account(64); err != nil {
		return err
	}
	plan, _ := d.hint(false)
	var s tslot
	switch {
	case plan != nil && plan.k == dSlice && plan.elem.k == dStruct:
		s = ptrSlot(sList, unsafe.Pointer(d.newList(plan)), 1)
	case plan != nil && plan.k == dSlice:
		s = ptrSlot(sSlice, nil, 1)
		s.aux = unsafe.Pointer(plan)
	default:
		s = ptrSlot(sGList, unsafe.Pointer(&glist{}), 1)
	}
	s.meta |= flagFresh
	d.push(s)
	return nil
}

func (d *tdec) emptyDict() error {
	if err := d.account(64); err != nil {
		return err
	}
	plan, dst := d.hint(true)
	var s tslot
	if plan != nil && (plan.k == dStruct || (plan.k == dMap && !plan.set)) {
		if dst == nil {
			if err := d.account(int(plan.size)); err != nil {
				return err
			}
			dst = reflect.New(plan.t).UnsafePointer()
		}
		if plan.k == dMap {
			// An empty dict makes an empty map, not a nil one; an existing
			// map is added to, as encoding/json does.
			if m := reflect.NewAt(plan.t, dst).Elem(); m.IsNil() {
				m.Set(reflect.MakeMap(plan.t))
			}
		}
		s = ptrSlot(sTyped, dst, 1)
		s.aux = unsafe.Pointer(plan)
	} else {
		s = ptrSlot(sGDict, unsafe.Pointer(&Dict{}), 1)
	}
	s.meta |= flagFresh
	d.push(s)
	return nil
}

// fill appends (or sets, pairs) the stack items from x on to the container
// at x-1.
func (d *tdec) fill(x int, pairs bool) error {
	if x <= d.fence() || x > len(d.stack) {
		return errFallback
	}
	items := d.stack[x:]
	c := &d.stack[x-1]
	if len(items) == 0 {
		d.stack = d.stack[:x]
		return nil
	}
	cur := d.current(c)
	if cur.meta&(flagSealed|flagAdopted) != 0 || (pairs && len(items)%2 != 0) {
		// Items set on an instance after its BUILD are its dict items,
		// which the reference path applies before its state.
		return errFallback
	}
	var depth int32
	for i := range items {
		depth = max(depth, items[i].depth())
	}
	depth++
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	c.meta &^= flagFresh
	// The model's decoder keeps a container's depth on the stack only.
	c.setDepth(max(c.depth(), depth))
	var err error
	switch c.kind() {
	case sSlice:
		if pairs {
			return errFallback
		}
		err = d.appendSlice(cur, items)
		if cur != c {
			c.p, c.n = cur.p, cur.n
		}
	case sList:
		if pairs {
			return errFallback
		}
		err = d.appendList((*tlist)(c.p), items)
	case sTyped:
		if !pairs {
			return errFallback
		}
		if c.plan().k == dStruct {
			// Count the pairs as the dict's length, which may not pass
			// MaxContainerLen (duplicate keys count too: falling back is
			// always safe).
			pairs := uint64(uint32(cur.n)) + uint64(len(items)/2)
			if pairs > uint64(d.cfg.maxContainer) || pairs > math.MaxUint32 {
				return errFallback
			}
			cur.n = cur.n&^math.MaxUint32 | pairs
			err = d.setFields(c, cur, items)
			c.n = cur.n
		} else {
			err = d.setMapItems(c, items)
		}
	case sGList:
		if pairs {
			return errFallback
		}
		l := (*glist)(c.p)
		if l.sealed || len(l.items)+len(items) > d.cfg.maxContainer {
			return errFallback
		}
		if err = d.account(16 * len(items)); err == nil {
			for i := range items {
				v, ok := d.toAny(&items[i], 0)
				// An item that holds this very list (a tuple that
				// contains it, say) sealed it as it stands, without
				// this item: the model's decoder, which seals lists
				// when the pickle ends, builds that cycle right.
				if !ok || l.sealed {
					return errFallback
				}
				l.items = append(l.items, v)
			}
		}
	case sGDict:
		err = d.setDict((*Dict)(c.p), items, pairs)
	case sGSet:
		// APPEND and SETITEM are errors on a set; ADDITEMS falls back.
		return errFallback
	case sObj:
		o := (*Object)(c.p)
		if pairs {
			if o.DictItems == nil {
				o.DictItems = &Dict{}
			}
			err = d.setDict(o.DictItems, items, true)
		} else {
			if len(o.ListItems)+len(items) > d.cfg.maxContainer {
				return errFallback
			}
			for i := range items {
				v, ok := d.toAny(&items[i], 0)
				if !ok {
					return errFallback
				}
				o.ListItems = append(o.ListItems, v)
			}
		}
	default:
		return errFallback
	}
	d.stack = d.stack[:x]
	return err
}

func (d *tdec) setDict(dict *Dict, items []tslot, pairs bool) error {
	if !pairs || dict.Len()+len(items)/2 > d.cfg.maxContainer {
		return errFallback
	}
	if err := d.account(20 * len(items)); err != nil {
		return err
	}
	for i := 0; i < len(items); i += 2 {
		k, ok1 := d.toAny(&items[i], 0)
		v, ok2 := d.toAny(&items[i+1], 0)
		if !ok1 || !ok2 || dict.Set(k, v) != nil {
			return errFallback
		}
	}
	return nil
}

// appendSlice appends items to the slice being built in s.
func (d *tdec) appendSlice(s *tslot, items []tslot) error {
	p := s.plan()
	l, c := int(uint32(s.n)), int(s.n>>32)
	n := l + len(items)
	if n > c {
		base, nc, err := d.grow(p, s.p, l, n, max(n, 2*c))
		if err != nil {
			return err
		}
		s.p, c = base, nc
	}
	elem := p.elem
	for i := range items {
		if err := d.store(&items[i], elem, unsafe.Add(s.p, uintptr(l+i)*elem.size)); err != nil {
			return err
		}
	}
	if n > math.MaxUint32 || c > math.MaxUint32 {
		return errFallback
	}
	s.n = uint64(n) | uint64(c)<<32
	return nil
}

// appendNumbers takes a batch of numbers (MARK, the numbers, APPENDS) to
// a []float64 or []int64 being built under the mark, straight from the
// input into the slice, as the model's decoder does for its lists: the
// main loop would push each number on the stack for fill and appendSlice
// to store one by one. It does what they would, and reports false,
// having done nothing, unless the numbers at pos follow such a MARK, are
// whole, and end in APPENDS. An int into a []float64 is converted as
// store converts it; a float into a []int64 makes it fall back.
func (d *tdec) appendNumbers() (bool, error) {
	x := len(d.stack)
	if len(d.marks) == 0 || d.fence() != x || x == 0 ||
		len(d.marks) > 1 && d.marks[len(d.marks)-2] >= x {
		return false, nil
	}
	c := &d.stack[x-1]
	if c.kind() != sSlice {
		return false, nil
	}
	cur := d.current(c)
	elem := cur.plan().elem
	floats := elem.k == dFloat64
	if cur.meta&flagSealed != 0 || !floats && (elem.k != dInt || elem.size != 8) {
		return false, nil
	}
	data, start := d.data, d.pos
	pos, n, hasFloats := numberBatch(data, start)
	if n == 0 || hasFloats && !floats {
		return false, nil
	}
	// From here on this is APPENDS at pos, with n numbers on the stack:
	// fill's part, then appendSlice's.
	d.pos = pos + 1
	if _, err := d.popMark(); err != nil {
		return true, err
	}
	c.meta &^= flagFresh
	c.setDepth(max(c.depth(), 1)) // 1 is within every MaxDepth
	l, cp := int(uint32(cur.n)), int(cur.n>>32)
	if l+n > cp {
		base, nc, err := d.grow(cur.plan(), cur.p, l, l+n, max(l+n, 2*cp))
		if err != nil {
			return true, err
		}
		cur.p, cp = base, nc
	}
	if floats {
		decodeNumbers(unsafe.Slice((*float64)(unsafe.Add(cur.p, uintptr(l)*8)), n), data, start)
	} else {
		decodeNumbers(unsafe.Slice((*int64)(unsafe.Add(cur.p, uintptr(l)*8)), n), data, start)
	}
	if l+n > math.MaxUint32 || cp > math.MaxUint32 {
		return true, errFallback
	}
	cur.n = uint64(l+n) | uint64(cp)<<32
	if cur != c {
		c.p, c.n = cur.p, cur.n
	}
	return true, nil
}

// decodeNumbers decodes len(dst) numbers from data at p, which
// numberBatch has checked; into an []int64, none is a float.
func decodeNumbers[T float64 | int64](dst []T, data []byte, p int) {
	for i := range dst {
		switch data[p] {
		case opBinint1:
			dst[i] = T(data[p+1])
			p += 2
		case opBinint2:
			dst[i] = T(binary.LittleEndian.Uint16(data[p+1:]))
			p += 3
		case opBinint:
			dst[i] = T(int32(binary.LittleEndian.Uint32(data[p+1:])))
			p += 5
		default: // opBinfloat
			dst[i] = T(math.Float64frombits(binary.BigEndian.Uint64(data[p+1:])))
			p += 9
		}
	}
}

func (d *tdec) appendList(l *tlist, items []tslot) error {
	n := l.len + len(items)
	if err := d.ensureList(l, n); err != nil {
		return err
	}
	elem := l.plan.elem
	size := elem.size
	for i := range items {
		pos := l.len + i
		dst := unsafe.Add(l.base, uintptr(pos)*size)
		it := &items[i]
		if it.kind() == sTyped && it.p == dst && it.plan() == elem {
			d.seal(it)
			continue
		}
		if pos < l.claimed {
			if pos >= l.spare {
				// A struct was built here in place and is not this item:
				// it may still be in use, and this item would overwrite it.
				return errFallback
			}
			reflect.NewAt(elem.t, dst).Elem().SetZero()
		}
		if err := d.store(it, elem, dst); err != nil {
			return err
		}
	}
	l.len = n
	l.claimed = max(l.claimed, n)
	return nil
}

// setFields stores the key, value pairs of items in the fields of the
// struct of slot c, whose state is cur (the memo entry of a memoized
// struct, or c). A struct, map or pointer field set twice (a key
// repeated, which Python never writes but a pickle can) makes it fall
// back: emptyDict may have built the second value in place over the
// first, which the reference path keeps apart. (A repeated field of
// another kind is simply set again, as the reference path does.) cur.n
// records the fields set: the first 32 in its high half (its low half
// counts the pairs); d.setHigh records the rest, by the struct's address.
func (d *tdec) setFields(c, cur *tslot, items []tslot) error {
	p := c.plan()
	set := cur.n // stored back at the end: an error ends the decoding
	for i := 0; i < len(items); i += 2 {
		key, val := &items[i], &items[i+1]
		fi := -1
		if key.kind() == sStr {
			fi = d.field(p, key)
		}
		if fi < 0 {
			k, ok1 := d.toAny(key, 0)
			v, ok2 := d.toAny(val, 0)
			if !ok1 || !ok2 || checkHashable(k) != nil {
				return errFallback
			}
			d.handOff(max(key.depth(), val.depth()), p.extra)
			err := d.conv.unknownField(nil, k, v, p, c.p)
			d.conv.depth = 0
			if err != nil {
				return errFallback
			}
			continue
		}
		f := &p.st.fields[fi]
		if f.built {
			if fi < 32 {
				bit := uint64(1) << (32 + fi)
				if set&bit != 0 {
					return errFallback
				}
				set |= bit
			} else if !d.setOnce(c.p, fi) {
				return errFallback
			}
		}
		dst := unsafe.Add(c.p, f.offset)
		if !f.direct {
			if dst = fieldPtr(p.t, c.p, f, true); dst == nil {
				return errFallback
			}
		}
		if err := d.store(val, p.fields[fi], dst); err != nil {
			return err
		}
	}
	cur.n = set
	return nil
}

// setOnce records that field i (from the 33rd on) of the struct at p is
// set, and reports false if it was already.
//
//go:noinline
func (d *tdec) setOnce(p unsafe.Pointer, i int) bool {
	k := setField{p, i}
	if _, dup := d.setHigh[k]; dup {
		return false
	}
	if d.setHigh == nil {
		d.setHigh = make(map[setField]struct{})
	}
	d.setHigh[k] = struct{}{}
	return true
}

func (d *tdec) setMapItems(c *tslot, items []tslot) error {
	p := c.plan()
	m := reflect.NewAt(p.t, c.p).Elem()
	if m.IsNil() {
		m.Set(reflect.MakeMapWithSize(p.t, len(items)/2))
	} else if n := m.Len(); n >= 1000 && n < 2000 && len(items) >= 2000 && d.batch > 0 && scalarKind(p.elem.t.Kind()) {
		// The second batch of a long dict: a Go map grows by rehashing
		// all it holds, so move it now to a map sized for the length
		// the input left suggests (as the model's decoder estimates
		// lists and dicts), at most 64 times what it holds. Only maps of
		// plain values: nothing else can hold this map yet.
		perPair := float64(d.batch) / float64(len(items)/2)
		est := min(n+len(items)/2+int(float64(len(d.data)-d.pos)/perPair), 64*n, d.cfg.maxContainer)
		// The room beyond this batch is charged to the allowance, as the
		// model's decoder charges its estimates.
		extra := (est - n - len(items)/2) * int(p.key.size+p.elem.size+16)
		if est > 2*(n+len(items)/2) && extra <= d.allocMax-d.alloc {
			d.alloc += extra
			grown := reflect.MakeMapWithSize(p.t, est)
			// Through one key and one value, not a new pair of each
			// per entry (as it.Key and it.Value make).
			key, val := reflect.New(p.key.t).Elem(), reflect.New(p.elem.t).Elem()
			it := m.MapRange()
			for it.Next() {
				key.SetIterKey(it)
				val.SetIterValue(it)
				grown.SetMapIndex(key, val)
			}
			m.Set(grown)
		}
	}
	if m.Len()+len(items)/2 > d.cfg.maxContainer {
		return errFallback
	}
	if err := d.account(len(items) / 2 * int(p.key.size+p.elem.size+16)); err != nil {
		return err
	}
	if p.t == mapStrStrType {
		// The common case, without reflection.
		mm := *(*map[string]string)(c.p)
		i := 0
		for ; i < len(items) && items[i].kind() == sStr && items[i+1].kind() == sStr; i += 2 {
			mm[d.text(&items[i])] = d.text(&items[i+1])
		}
		if i == len(items) {
			return nil // nothing left for the reflection below
		}
		items = items[i:]
	}
	key := reflect.New(p.key.t).Elem()
	val := reflect.New(p.elem.t).Elem()
	// Python keys that are equal (1, 1.0 and True; equal frozensets or
	// tuples) are one dict entry in the reference path, but may be
	// different Go keys: only keys of a plain Go type, or strs (equal
	// to no other key here) into an interface, are set here.
	plainKey := p.key.k >= dBool && p.key.k <= dString
	anyKey := p.key.k == dAny || p.key.k == dIface
	for i := 0; i < len(items); i += 2 {
		if !d.hashable(&items[i]) || !plainKey && !(anyKey && items[i].kind() == sStr) {
			return errFallback
		}
		key.SetZero()
		val.SetZero()
		if err := d.store(&items[i], p.key, unsafe.Pointer(key.UnsafeAddr())); err != nil {
			return err
		}
		if err := d.store(&items[i+1], p.elem, unsafe.Pointer(val.UnsafeAddr())); err != nil {
			return err
		}
		if !key.Comparable() {
			return errFallback // the reference path names the key
		}
		m.SetMapIndex(key, val)
	}
	return nil
}

var mapStrStrType = reflect.TypeFor[map[string]string]()

// buildsInPlace reports whether s is a container built in Go memory,
// perhaps the target's own: discarding one (POP, POP_MARK) would leave
// what it stored there, so the reference path must decide. Python's
// pickler pops such values only around recursive tuples.
func buildsInPlace(s *tslot) bool {
	switch s.kind() {
	case sTyped, sSlice, sList:
		return true
	}
	return false
}

// scalarKind reports whether values of kind k hold no references.
func scalarKind(k reflect.Kind) bool {
	return k >= reflect.Bool && k <= reflect.Complex128 || k == reflect.String
}

// hashable reports whether s could be a dict key in Python.
func (d *tdec) hashable(s *tslot) bool {
	switch s.kind() {
	case sNone, sBool, sInt, sFloat, sStr:
		return true
	case sTyped, sSlice, sList:
		return false
	}
	v, ok := d.toAny(s, 0)
	return ok && checkHashable(v) == nil
}

// tuple makes a tuple (or frozenset) of the stack items from k.
func (d *tdec) tuple(k int, frozen bool) error {
	if k < d.fence() || k > len(d.stack) {
		return errFallback
	}
	n := len(d.stack) - k
	if n > d.cfg.maxContainer {
		return errFallback
	}
	if err := d.account(32*n + 48); err != nil {
		return err
	}
	t := &ttuple{items: make([]tslot, n)}
	var depth int32
	for i := range t.items {
		t.items[i] = d.stack[k+i]
		t.items[i].meta &^= flagFresh
		depth = max(depth, t.items[i].depth())
	}
	depth++
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	d.stack = d.stack[:k]
	kind := sTuple
	if frozen {
		kind = sFrozen
	}
	d.push(ptrSlot(kind, unsafe.Pointer(t), depth))
	return nil
}

// Objects, built in the model.

func (d *tdec) reduce() error {
	args, err := d.pop()
	if err != nil {
		return err
	}
	fn, err := d.pop()
	if err != nil {
		return err
	}
	if args.kind() != sTuple {
		return errFallback
	}
	a, ok1 := d.toAny(&args, 0)
	f, ok2 := d.toAny(&fn, 0)
	t, ok3 := a.(Tuple)
	if !ok1 || !ok2 || !ok3 || !isCallable(f) {
		return errFallback
	}
	if err := d.account(128); err != nil {
		return err
	}
	depth := max(args.depth(), fn.depth()) + 1
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	v, err := d.g.reduce(f, t)
	if err != nil {
		return errFallback
	}
	if o, ok := v.(*Object); ok {
		d.push(ptrSlot(sObj, unsafe.Pointer(o), depth))
	} else {
		d.push(anySlot(v, depth))
	}
	return nil
}

func (d *tdec) newobj(ex bool) error {
	var kwargs *Dict
	var kd int32
	if ex {
		kw, err := d.pop()
		if err != nil {
			return err
		}
		v, ok := d.toAny(&kw, 0)
		if kwargs, _ = v.(*Dict); !ok || kwargs == nil {
			return errFallback
		}
		kd = kw.depth()
	}
	args, err := d.pop()
	if err != nil {
		return err
	}
	cls, err := d.pop()
	if err != nil {
		return err
	}
	if args.kind() != sTuple {
		return errFallback
	}
	a, ok1 := d.toAny(&args, 0)
	c, ok2 := d.toAny(&cls, 0)
	t, ok3 := a.(Tuple)
	if !ok1 || !ok2 || !ok3 || !isCallable(c) {
		return errFallback
	}
	if err := d.account(128); err != nil {
		return err
	}
	depth := max(args.depth(), cls.depth(), kd) + 1
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	s := ptrSlot(sObj, unsafe.Pointer(&Object{Callable: c, Args: t, Kwargs: kwargs, New: true}), depth)
	if len(t) == 0 && kwargs == nil {
		s.meta |= flagFresh // its state may be built as a Go struct
	}
	d.push(s)
	return nil
}

func (d *tdec) build() error {
	state, err := d.pop()
	if err != nil {
		return err
	}
	n := len(d.stack)
	if n <= d.fence() {
		return errFallback
	}
	t := &d.stack[n-1]
	if t.kind() != sObj || d.current(t).meta&flagSealed != 0 {
		return errFallback
	}
	o := (*Object)(t.p)
	fresh := t.meta&flagFresh != 0
	t.meta &^= flagFresh
	if state.kind() == sTyped {
		if !fresh || o.State != nil || o.ListItems != nil || o.DictItems != nil {
			return errFallback
		}
		return d.adopt(t, o, &state)
	}
	sv, ok := d.toAny(&state, 0)
	if !ok {
		return errFallback
	}
	if sv == nil {
		return nil
	}
	if o.State != nil {
		return errFallback // a second BUILD: the model's decoder merges
	}
	depth := state.depth() + 1
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	t.setDepth(max(t.depth(), depth))
	o.State = sv
	return nil
}

// adopt makes the struct built from an instance's state (BUILD) the
// instance itself, if converting the instance would have given that struct:
// its class is the one registered for the struct's type, or, unless classes
// must be registered, any class for an unregistered type.
func (d *tdec) adopt(t *tslot, o *Object, state *tslot) error {
	p := state.plan()
	g, ok := o.Callable.(Global)
	if !ok || p.k != dStruct || d.conv.reg.byGoType(p.t) != nil && d.conv.reg.byPyClass(g) == nil {
		return errFallback
	}
	if ci := d.conv.reg.byPyClass(g); ci != nil {
		if ci.typ != p.t || (ci.form != ObjectForm && ci.form != SlotsForm) {
			return errFallback
		}
	} else if d.cfg.UnknownClasses == RejectUnknown {
		return errFallback
	}
	if cf := p.st.class; cf != nil {
		fp := fieldPtr(p.t, state.p, cf, true)
		if fp == nil {
			return errFallback
		}
		*(*Global)(fp) = g
	}
	depth := max(t.depth(), state.depth()+1)
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	if e := d.entry(t); e != nil && e.meta&flagFetched != 0 {
		// A copy of the instance made before its BUILD (kept in a
		// tuple, say) would stay an instance without its state.
		return errFallback
	}
	if e := d.entry(state); e != nil && e.meta&flagFetched != 0 {
		// A copy of the state is a dict, which adopt is about to make
		// the instance (its class field set, and shared with it).
		return errFallback
	}
	if e := d.entry(state); e != nil {
		// The state dict is now the instance: fetching it again, which
		// Python's pickles never do, is the model's business.
		e.meta &^= flagPresent
	}
	mi := t.meta >> memoIdxShift
	if e := d.entry(t); e != nil {
		// The instance was memoized: its entry becomes the struct.
		*e = tslot{p: state.p, aux: state.aux, meta: uint64(sTyped) | flagPresent | flagAdopted | uint64(depth)<<depthShift | mi<<memoIdxShift}
	}
	*t = tslot{p: state.p, aux: state.aux, meta: uint64(sTyped) | flagAdopted | uint64(depth)<<depthShift | mi<<memoIdxShift}
	return nil
}

// Storing values.

// toAny returns the value of s in the model, as the model's decoder would
// have built it; false if s was built as a Go type.
func (d *tdec) toAny(s *tslot, depth int) (any, bool) {
	switch s.kind() {
	case sNone:
		return nil, true
	case sBool:
		return s.n != 0, true
	case sInt:
		return int64(s.n), true
	case sFloat:
		return math.Float64frombits(s.n), true
	case sStr:
		return d.text(s), true
	case sAny:
		return s.anyValue(), true
	case sGDict:
		d.seal(s)
		return (*Dict)(s.p), true
	case sGSet:
		d.seal(s)
		return (*Set)(s.p), true
	case sObj:
		d.seal(s)
		return (*Object)(s.p), true
	case sGList:
		l := (*glist)(s.p)
		l.sealed = true
		d.seal(s)
		if l.items == nil {
			l.items = make([]any, 0, 1) // every list has an identity
		}
		return l.items, true
	case sTuple, sFrozen:
		t := (*ttuple)(s.p)
		if t.sliced {
			// The converter would find the tuple's slice by the model
			// value's identity, which storeItems knew nothing of.
			return nil, false
		}
		if t.model != nil {
			return t.model, true
		}
		if depth > hardMaxDepth {
			return nil, false
		}
		items := make(Tuple, len(t.items))
		for i := range t.items {
			v, ok := d.toAny(&t.items[i], depth+1)
			if !ok {
				return nil, false
			}
			items[i] = v
		}
		if s.kind() == sTuple {
			if len(items) == 0 {
				t.model = emptyTupleValue
			} else {
				t.model = items
			}
		} else {
			f, err := NewFrozenSet(items...)
			if err != nil {
				return nil, false
			}
			t.model = f
		}
		return t.model, true
	}
	return nil, false
}

// store stores the value of s in dst, of plan q.
func (d *tdec) store(s *tslot, q *decPlan, dst unsafe.Pointer) error {
	switch s.kind() {
	case sInt:
		switch q.k {
		case dInt:
			if setInt(dst, q.size, int64(s.n)) {
				return nil
			}
			return errFallback
		case dUint:
			if int64(s.n) >= 0 && setUint(dst, q.size, s.n) {
				return nil
			}
			return errFallback
		case dFloat64:
			*(*float64)(dst) = float64(int64(s.n))
			return nil
		}
	case sFloat:
		if q.k == dFloat64 {
			*(*float64)(dst) = math.Float64frombits(s.n)
			return nil
		}
	case sStr:
		if q.k == dString {
			*(*string)(dst) = d.text(s)
			return nil
		}
	case sBool:
		if q.k == dBool {
			*(*bool)(dst) = s.n != 0
			return nil
		}
	case sTyped:
		plan := s.plan()
		if q.k == dPtr && q.elem == plan {
			d.deep = true
			d.seal(s)
			*(*unsafe.Pointer)(dst) = s.p
			return nil
		}
		if q != plan {
			return errFallback
		}
		d.seal(s)
		if s.p != dst {
			reflect.NewAt(q.t, dst).Elem().Set(reflect.NewAt(q.t, s.p).Elem())
		}
		return nil
	case sSlice:
		cur := d.current(s)
		if q != cur.plan() {
			return errFallback
		}
		d.seal(s)
		base, n := cur.p, int(uint32(cur.n))
		if base == nil {
			// An empty list is an empty slice, not a nil one.
			base = unsafe.Pointer(&zeroArray)
		}
		*(*sliceHeader)(dst) = sliceHeader{base, n, n}
		return nil
	case sList:
		l := (*tlist)(s.p)
		if q != l.plan {
			return errFallback
		}
		d.seal(s)
		base := l.base
		if base == nil {
			base = unsafe.Pointer(&zeroArray)
		}
		*(*sliceHeader)(dst) = sliceHeader{base, l.len, l.len}
		return nil
	case sTuple:
		t := (*ttuple)(s.p)
		switch q.k {
		case dSlice:
			return d.storeItems(t, q, dst)
		case dStruct:
			if d.conv.reg.byGoType(q.t) == nil {
				return d.storeFields(t.items, q, dst)
			}
		}
	}
	switch s.kind() {
	case sTyped, sSlice, sList:
		return errFallback
	}
	v, ok := d.toAny(s, 0)
	if !ok {
		return errFallback
	}
	d.handOff(s.depth(), q)
	err := d.conv.decode(v, q, dst)
	d.conv.depth = 0
	if err != nil {
		return errFallback
	}
	return nil
}

// handOff readies d.conv to convert a model value of nesting k into plan
// q (nil: none) by the reference rules. The conversion starts at level 0
// where the reference path would be deeper, by the levels above it; it
// is let go at most 2k+1 levels (which a value converted into a type
// without pointers, at most k levels, never passes), and opStop checks
// what that bound and those above can reach. The caller sets
// d.conv.depth back to 0.
func (d *tdec) handOff(k int32, q *decPlan) {
	d.conv.depth = d.cfg.maxDepth - 2*int(k) - 1
	if q != nil {
		switch q.k {
		case dSlice, dArray, dMap, dStruct, dPtr, dIface, dBuiltin:
			d.deep = true
		}
	}
}

// zeroArray is where empty slices point, as the runtime's zerobase.
var zeroArray [0]uint64

// storeItems stores a tuple's items in a new slice. A tuple stored
// twice is one slice in the reference path, which the converter finds by
// the tuple's identity; here that makes it fall back, as does a tuple
// already made a model value (which the converter may have made a slice).
func (d *tdec) storeItems(t *ttuple, q *decPlan, dst unsafe.Pointer) error {
	items := t.items
	if len(items) > 0 {
		if t.sliced || t.model != nil {
			return errFallback
		}
		t.sliced = true
	}
	if err := d.account(len(items) * int(q.elem.size)); err != nil {
		return err
	}
	base := d.newArray(q.elem, len(items))
	for i := range items {
		if err := d.store(&items[i], q.elem, unsafe.Add(base, uintptr(i)*q.elem.size)); err != nil {
			return err
		}
	}
	if base == nil || len(items) == 0 {
		base = unsafe.Pointer(&zeroArray)
	}
	*(*sliceHeader)(dst) = sliceHeader{base, len(items), len(items)}
	return nil
}

// storeFields stores a tuple's items in a struct's fields, in order.
func (d *tdec) storeFields(items []tslot, q *decPlan, dst unsafe.Pointer) error {
	if len(items) > len(q.fields) {
		if d.cfg.UnknownFields == RejectUnknown {
			return errFallback
		}
		items = items[:len(q.fields)]
	}
	for i := range items {
		f := &q.st.fields[i]
		fp := fieldPtr(q.t, dst, f, true)
		if fp == nil {
			return errFallback
		}
		if err := d.store(&items[i], q.fields[i], fp); err != nil {
			return err
		}
	}
	return nil
}
