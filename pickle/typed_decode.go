package pickle

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
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
	sBool            // i
	sInt             // i
	sFloat           // i: the bits
	sStr             // s; own says whether s is the decoder's or a view of the input
	sAny             // v: a finished value of the model
	sTyped           // p, plan: a struct or map built in Go memory
	sList            // v: *tlist, a slice being built
	sGList           // v: *glist, a model list being built
	sGDict           // v: *Dict
	sGSet            // v: *Set
	sObj             // v: *Object
	sTuple           // v: *ttuple, items kept until stored
	sFrozen          // v: *ttuple, a frozenset's items
)

type tslot struct {
	k      slotKind
	own    bool
	sealed bool  // in the memo: the value was stored somewhere, so must not change
	fresh  bool  // a container just made, which the next item may be a single one of
	d      int32 // nesting depth
	mi     int32 // memo index + 1 of the value, 0 when it is not memoized
	i      int64
	s      string
	p      unsafe.Pointer
	plan   *decPlan // sTyped: the type; sStr: a struct plan whose field index is cached in i
	v      any
}

// tlist is a slice being built: its backing array holds the items
// appended so far and, after them, the items claimed by structs being
// built in place.
type tlist struct {
	plan    *decPlan // the slice type
	base    unsafe.Pointer
	len     int
	cap     int
	claimed int // positions up to this one may hold built or partly built items
	start   int // input offset where the list began
}

// glist is a model list being built.
type glist struct {
	items  []any
	sealed bool
}

// ttuple holds the items of a tuple or frozenset until they are stored.
type ttuple struct {
	items []tslot
	model any // the model value, once made
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
	memo      [][]memoSlot // in chunks of memoChunk entries
	memoMap   map[int64]memoSlot
	memoLen   int
	proto     int

	root    *decPlan
	rootPtr unsafe.Pointer

	alloc, allocMax int
	arena           []byte
	lists           []tlist
	words           []uint64
	strs            []string
}

// unmarshalTyped decodes data into the value at ptr, of plan root. It
// returns errFallback if the reference path must decide.
func unmarshalTyped(cfg *decodeConfig, data []byte, root *decPlan, ptr unsafe.Pointer) error {
	d := tdec{cfg: cfg, data: data, root: root, rootPtr: ptr}
	d.conv = newConv(cfg)
	d.g.cfg = cfg
	d.allocMax = math.MaxInt
	if cfg.allocFactor < math.MaxInt/2/(len(data)+1) {
		d.allocMax = allocAllowance + cfg.allocFactor*len(data)
	}
	d.stack = make([]tslot, 0, 32)
	return d.run()
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
	return k, nil
}

func (d *tdec) run() error {
	for {
		if d.pos >= len(d.data) {
			return errFallback
		}
		op := d.data[d.pos]
		d.pos++
		var err error
		switch op {
		case opBinint1:
			var b []byte
			if b, err = d.take(1); err == nil {
				d.push(tslot{k: sInt, i: int64(b[0])})
			}
		case opBinint2:
			var b []byte
			if b, err = d.take(2); err == nil {
				d.push(tslot{k: sInt, i: int64(binary.LittleEndian.Uint16(b))})
			}
		case opBinint:
			var b []byte
			if b, err = d.take(4); err == nil {
				d.push(tslot{k: sInt, i: int64(int32(binary.LittleEndian.Uint32(b)))})
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
				d.push(tslot{k: sFloat, i: int64(binary.BigEndian.Uint64(b))})
			}
		case opShortBinunicode:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.loadStr(uint64(b[0]))
			}
		case opBinunicode:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.loadStr(uint64(binary.LittleEndian.Uint32(b)))
			}
		case opBinunicode8:
			var b []byte
			if b, err = d.take(8); err == nil {
				err = d.loadStr(binary.LittleEndian.Uint64(b))
			}
		case opShortBinbytes:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.loadBytes(uint64(b[0]), false)
			}
		case opBinbytes:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.loadBytes(uint64(binary.LittleEndian.Uint32(b)), false)
			}
		case opBinbytes8:
			var b []byte
			if b, err = d.take(8); err == nil {
				err = d.loadBytes(binary.LittleEndian.Uint64(b), false)
			}
		case opBytearray8:
			var b []byte
			if b, err = d.take(8); err == nil {
				err = d.loadBytes(binary.LittleEndian.Uint64(b), true)
			}
		case opNone:
			d.push(tslot{k: sNone})
		case opNewtrue:
			d.push(tslot{k: sBool, i: 1})
		case opNewfalse:
			d.push(tslot{k: sBool})
		case opBinget:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.memoGet(int64(b[0]))
			}
		case opLongBinget:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.memoGet(int64(binary.LittleEndian.Uint32(b)))
			}
		case opMemoize:
			err = d.memoPut(int64(d.memoLen))
		case opBinput:
			var b []byte
			if b, err = d.take(1); err == nil {
				err = d.memoPut(int64(b[0]))
			}
		case opLongBinput:
			var b []byte
			if b, err = d.take(4); err == nil {
				err = d.memoPut(int64(binary.LittleEndian.Uint32(b)))
			}
		case opMark:
			plan, _ := d.hint()
			d.marks = append(d.marks, len(d.stack))
			d.markHints = append(d.markHints, plan)
		case opEmptyList:
			err = d.emptyList()
		case opEmptyDict:
			err = d.emptyDict()
		case opEmptySet:
			if err = d.account(64); err == nil {
				d.push(tslot{k: sGSet, v: &Set{}, d: 1, fresh: true})
			}
		case opEmptyTuple:
			d.push(tslot{k: sTuple, v: &ttuple{}, d: 1})
		case opAppend:
			err = d.fill(len(d.stack)-1, false)
		case opAppends, opSetitems, opAdditems:
			var k int
			if k, err = d.popMark(); err == nil {
				err = d.fill(k, op != opAppends)
			}
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
					if name.k != sStr || mod.k != sStr {
						return errFallback
					}
					d.push(tslot{k: sAny, v: d.g.fixName(Global{d.text(&mod), d.text(&name)})})
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
				_, err = d.pop()
			}
		case opPopMark:
			var k int
			if k, err = d.popMark(); err == nil {
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
			return d.storeRoot(&d.stack[0])
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
		d.push(tslot{k: sInt, i: v})
	default:
		if err := d.account(len(b) + 32); err != nil {
			return err
		}
		d.push(tslot{k: sAny, v: v})
	}
	return nil
}

func (d *tdec) loadStr(n uint64) error {
	b, err := d.takeLen(n)
	if err != nil {
		return err
	}
	if !validPyUTF8(b) {
		return errFallback
	}
	s := ""
	if len(b) > 0 {
		s = unsafe.String(&b[0], len(b))
	}
	d.push(tslot{k: sStr, s: s, own: d.cfg.ZeroCopy || len(b) == 0})
	return nil
}

// own returns a string the decoder may hand out: the input's bytes are
// copied (into an arena, for short strings) unless ZeroCopy lets values
// share the input.
func (d *tdec) own(s string) (string, error) {
	if err := d.account(len(s) + 16); err != nil {
		return "", err
	}
	n := len(s)
	if n > arenaMaxChunk {
		return string([]byte(s)), nil
	}
	if cap(d.arena)-len(d.arena) < n {
		d.arena = make([]byte, 0, max(nextChunk(cap(d.arena), 64, arenaSize), n))
	}
	off := len(d.arena)
	d.arena = append(d.arena, s...)
	return unsafe.String(&d.arena[off], n), nil
}

// text returns a str slot's string, made the decoder's own.
func (d *tdec) text(s *tslot) string {
	if !s.own {
		if o, err := d.own(s.s); err == nil {
			s.s, s.own = o, true
		} else {
			return string([]byte(s.s))
		}
	}
	return s.s
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
	if d.cfg.ZeroCopy {
		c = b[:len(b):len(b)]
	} else {
		c = append([]byte{}, b...)
	}
	if bytearray {
		d.push(tslot{k: sAny, v: ByteArray(c)})
	} else {
		d.push(tslot{k: sAny, v: c})
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
	d.push(tslot{k: sAny, v: d.g.fixName(Global{mod, name})})
	return nil
}

// The memo. A Python pickle memoizes nearly every str and container, so
// entries are compact: a pointer and two words, unpacked into a slot when
// fetched.

const memoChunk = 1024

type memoSlot struct {
	data unsafe.Pointer
	aux  unsafe.Pointer // a plan or a type
	n    uint64         // a number's bits, a string's length
	meta uint64         // kind | own<<8 | sealed<<9 | present<<10 | depth<<32
}

const (
	metaOwn     = 1 << 8
	metaSealed  = 1 << 9
	metaPresent = 1 << 10
)

// builderTypes are the dynamic types of the v of builder slots, by kind.
var builderTypes = [...]unsafe.Pointer{
	sList:   typeOf((*tlist)(nil)),
	sGList:  typeOf((*glist)(nil)),
	sGDict:  typeOf((*Dict)(nil)),
	sGSet:   typeOf((*Set)(nil)),
	sObj:    typeOf((*Object)(nil)),
	sTuple:  typeOf((*ttuple)(nil)),
	sFrozen: typeOf((*ttuple)(nil)),
}

func packSlot(s *tslot) memoSlot {
	m := memoSlot{meta: uint64(s.k) | metaPresent | uint64(uint32(s.d))<<32}
	if s.own {
		m.meta |= metaOwn
	}
	switch s.k {
	case sNone, sBool, sInt, sFloat:
		m.n = uint64(s.i)
	case sStr:
		m.data, m.n = unsafe.Pointer(unsafe.StringData(s.s)), uint64(len(s.s))
	case sTyped:
		m.data, m.aux = s.p, unsafe.Pointer(s.plan)
	case sAny:
		e := (*eface)(unsafe.Pointer(&s.v))
		m.data, m.aux = e.data, e.typ
	default:
		m.data = (*eface)(unsafe.Pointer(&s.v)).data
	}
	return m
}

func (m *memoSlot) unpack(mi int32) tslot {
	k := slotKind(m.meta)
	s := tslot{k: k, own: m.meta&metaOwn != 0, d: int32(m.meta >> 32), mi: mi}
	switch k {
	case sNone, sBool, sInt, sFloat:
		s.i = int64(m.n)
	case sStr:
		s.s = unsafe.String((*byte)(m.data), int(m.n))
	case sTyped:
		s.p, s.plan = m.data, (*decPlan)(m.aux)
	case sAny:
		s.v = makeIface(m.aux, m.data)
	default:
		s.v = makeIface(builderTypes[k], m.data)
	}
	return s
}

func (d *tdec) memoPut(idx int64) error {
	n := len(d.stack)
	if n <= d.fence() || idx < 0 || idx >= math.MaxInt32 {
		return errFallback
	}
	s := &d.stack[n-1]
	if s.k == sStr && !s.own {
		o, err := d.own(s.s)
		if err != nil {
			return err
		}
		s.s, s.own = o, true
	}
	if s.mi != 0 {
		// Memoized twice: the sealing of one entry would not be seen
		// through the other.
		return errFallback
	}
	s.mi = int32(idx + 1)
	entry := packSlot(s)
	if e := d.memoAt(idx, true); e != nil {
		if e.meta&metaPresent == 0 {
			d.memoLen++
		}
		*e = entry
	} else {
		if d.memoMap == nil {
			d.memoMap = map[int64]memoSlot{}
		}
		if _, ok := d.memoMap[idx]; !ok {
			d.memoLen++
		}
		d.memoMap[idx] = entry
	}
	if d.memoLen > d.cfg.maxMemo {
		return errFallback
	}
	return nil
}

// memoAt returns the dense memo entry idx, growing the memo if grow is
// set and idx is not far beyond it; nil for an index of the sparse map.
func (d *tdec) memoAt(idx int64, grow bool) *memoSlot {
	c := idx / memoChunk
	if c >= int64(len(d.memo)) {
		if !grow || c > int64(len(d.memo)) {
			return nil
		}
		if d.account(memoChunk*32) != nil {
			return nil
		}
		d.memo = append(d.memo, make([]memoSlot, memoChunk))
	}
	return &d.memo[c][idx%memoChunk]
}

func (d *tdec) memoEntry(mi int32) *memoSlot {
	idx := int64(mi - 1)
	if e := d.memoAt(idx, false); e != nil && e.meta&metaPresent != 0 {
		return e
	}
	return nil // sealing through the sparse map is not tracked
}

func (d *tdec) memoGet(idx int64) error {
	if e := d.memoAt(idx, false); e != nil && e.meta&metaPresent != 0 {
		d.push(e.unpack(int32(idx + 1)))
		return nil
	}
	m, ok := d.memoMap[idx]
	if !ok {
		return errFallback
	}
	if k := slotKind(m.meta); k != sNone && k != sBool && k != sInt && k != sFloat && k != sStr && k != sAny {
		return errFallback // containers shared through the sparse memo
	}
	d.push(m.unpack(0))
	return nil
}

// sealed reports whether the container in s was stored somewhere already,
// so that changing it now would not reach the copies.
func (d *tdec) sealed(s *tslot) bool {
	if s.mi == 0 {
		return false
	}
	e := d.memoEntry(s.mi)
	return e == nil || e.meta&metaSealed != 0
}

// seal records that s was stored.
func (d *tdec) seal(s *tslot) {
	if s.mi != 0 {
		if e := d.memoEntry(s.mi); e != nil {
			e.meta |= metaSealed
		}
	}
}

// Predictions.

// hint returns the Go type of the place the next value pushed will be
// stored in, if known, and for a struct or map, the memory where to build
// it in place (nil: anywhere).
func (d *tdec) hint() (*decPlan, unsafe.Pointer) {
	n := len(d.stack)
	fence := d.fence()
	// The single item of a list or dict just made.
	if n >= 1 && n-1 >= fence {
		if s := &d.stack[n-1]; s.fresh {
			if s.k == sTyped {
				return nil, nil // a dict's key
			}
			return d.itemHint(s, 0, nil)
		}
	}
	if n >= 2 && n-2 >= fence {
		if s := &d.stack[n-2]; s.fresh && s.k == sTyped {
			return d.itemHint(s, 1, &d.stack[n-1])
		}
	}
	if len(d.marks) > 0 {
		m := d.marks[len(d.marks)-1]
		if m > 0 {
			if c := &d.stack[m-1]; isBuilder(c.k) {
				var key *tslot
				if (n-m)%2 == 1 {
					key = &d.stack[n-1]
				}
				return d.itemHint(c, n-m, key)
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
	case sTyped, sList, sGList, sGDict, sGSet, sObj:
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
func (d *tdec) itemHint(c *tslot, offset int, key *tslot) (*decPlan, unsafe.Pointer) {
	switch c.k {
	case sList:
		l := c.v.(*tlist)
		elem := l.plan.elem
		if elem.k == dStruct {
			dst, err := d.claim(l, l.len+offset)
			if err != nil {
				return elem, nil
			}
			return elem, dst
		}
		return valuePlan(elem, nil)
	case sTyped:
		p := c.plan
		if p.k == dMap {
			if offset%2 == 0 {
				return nil, nil
			}
			return valuePlan(p.elem, nil)
		}
		if offset%2 == 0 || key == nil || key.k != sStr {
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
// plan p, caching it in the slot.
func (d *tdec) field(p *decPlan, key *tslot) int {
	if key.plan == p {
		return int(key.i)
	}
	i := p.st.find(key.s)
	key.plan, key.i = p, int64(i)
	return i
}

// claim returns the memory of item i of l, for a struct to be built in
// place, growing l's backing array as needed.
func (d *tdec) claim(l *tlist, i int) (unsafe.Pointer, error) {
	if err := d.ensure(l, i+1); err != nil {
		return nil, err
	}
	size := l.plan.elem.size
	dst := unsafe.Add(l.base, uintptr(i)*size)
	if i < l.claimed {
		reflect.NewAt(l.plan.elem.t, dst).Elem().SetZero()
	} else {
		l.claimed = i + 1
	}
	return dst, nil
}

// ensure makes room for n items in l's backing array.
func (d *tdec) ensure(l *tlist, n int) error {
	if n <= l.cap {
		return nil
	}
	if n > d.cfg.maxContainer {
		return errFallback
	}
	c := max(n, 2*l.cap, 4)
	if l.len >= batchSize && l.cap < 2*batchSize {
		// A long list: guess its length from the input its first
		// items took, to allocate it once rather than double it.
		if used := d.pos - l.start; used > 0 {
			guess := int(float64(l.len) * float64(len(d.data)-l.start) / float64(used) * 1.05)
			c = max(c, min(guess, len(d.data)-d.pos+l.len, d.cfg.maxContainer))
		}
	}
	if err := d.account(c * int(l.plan.elem.size+1)); err != nil {
		return err
	}
	base := d.newArray(l.plan.elem, c)
	if keep := max(l.len, l.claimed); keep > 0 {
		dst := reflect.NewAt(l.plan.t, unsafe.Pointer(&sliceHeader{base, keep, keep})).Elem()
		src := reflect.NewAt(l.plan.t, unsafe.Pointer(&sliceHeader{l.base, keep, keep})).Elem()
		reflect.Copy(dst, src)
	}
	l.base, l.cap = base, c
	return nil
}

// newArray allocates an array of n values of plan e. Arrays of types laid
// out like a predeclared one (numbers, strings) are made without
// reflection, which would allocate a slice header too, and small ones are
// carved out of chunks, as the model's decoder does with its values: a
// chunk lives as long as any array in it.
func (d *tdec) newArray(e *decPlan, n int) unsafe.Pointer {
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

// newList returns a list builder, from a chunk.
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
	plan, _ := d.hint()
	if plan != nil && plan.k == dSlice {
		d.push(tslot{k: sList, v: d.newList(plan), d: 1, fresh: true})
		return nil
	}
	d.push(tslot{k: sGList, v: &glist{}, d: 1, fresh: true})
	return nil
}

func (d *tdec) emptyDict() error {
	if err := d.account(64); err != nil {
		return err
	}
	plan, dst := d.hint()
	if plan != nil && (plan.k == dStruct || (plan.k == dMap && !plan.set)) {
		if dst == nil {
			if err := d.account(int(plan.size)); err != nil {
				return err
			}
			dst = reflect.New(plan.t).UnsafePointer()
		}
		d.push(tslot{k: sTyped, p: dst, plan: plan, d: 1, fresh: true})
		return nil
	}
	d.push(tslot{k: sGDict, v: &Dict{}, d: 1, fresh: true})
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
	if d.sealed(c) || (pairs && len(items)%2 != 0) {
		return errFallback
	}
	var depth int32
	for i := range items {
		depth = max(depth, items[i].d)
	}
	depth++
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	c.fresh = false
	c.d = max(c.d, depth)
	var err error
	switch c.k {
	case sList:
		if pairs {
			return errFallback
		}
		err = d.appendTyped(c.v.(*tlist), items)
	case sTyped:
		if !pairs {
			return errFallback
		}
		if c.plan.k == dStruct {
			err = d.setFields(c, items)
		} else {
			err = d.setMapItems(c, items)
		}
	case sGList:
		if pairs {
			return errFallback
		}
		l := c.v.(*glist)
		if l.sealed || len(l.items)+len(items) > d.cfg.maxContainer {
			return errFallback
		}
		if err = d.account(16 * len(items)); err == nil {
			for i := range items {
				v, ok := d.toAny(&items[i], 0)
				if !ok {
					return errFallback
				}
				l.items = append(l.items, v)
			}
		}
	case sGDict:
		err = d.setDict(c.v.(*Dict), items, pairs)
	case sGSet:
		if pairs {
			return errFallback
		}
		s := c.v.(*Set)
		if s.Len()+len(items) > d.cfg.maxContainer {
			return errFallback
		}
		if err = d.account(24 * len(items)); err == nil {
			for i := range items {
				v, ok := d.toAny(&items[i], 0)
				if !ok || s.Add(v) != nil {
					return errFallback
				}
			}
		}
	case sObj:
		o := c.v.(*Object)
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

func (d *tdec) appendTyped(l *tlist, items []tslot) error {
	n := l.len + len(items)
	if err := d.ensure(l, n); err != nil {
		return err
	}
	elem := l.plan.elem
	size := elem.size
	for i := range items {
		pos := l.len + i
		dst := unsafe.Add(l.base, uintptr(pos)*size)
		it := &items[i]
		if it.k == sTyped && it.p == dst && it.plan == elem {
			d.seal(it)
			continue
		}
		if pos < l.claimed {
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

func (d *tdec) setFields(c *tslot, items []tslot) error {
	p := c.plan
	for i := 0; i < len(items); i += 2 {
		key, val := &items[i], &items[i+1]
		fi := -1
		if key.k == sStr {
			fi = d.field(p, key)
		}
		if fi < 0 {
			k, ok1 := d.toAny(key, 0)
			v, ok2 := d.toAny(val, 0)
			if !ok1 || !ok2 {
				return errFallback
			}
			if err := d.conv.unknownField(nil, k, v, p, c.p); err != nil {
				return errFallback
			}
			continue
		}
		f := &p.st.fields[fi]
		dst := fieldPtr(p.t, c.p, f, true)
		if dst == nil {
			return errFallback
		}
		if err := d.store(val, p.fields[fi], dst); err != nil {
			return err
		}
	}
	return nil
}

func (d *tdec) setMapItems(c *tslot, items []tslot) error {
	p := c.plan
	m := reflect.NewAt(p.t, c.p).Elem()
	if m.IsNil() {
		m.Set(reflect.MakeMapWithSize(p.t, len(items)/2))
	}
	if m.Len()+len(items)/2 > d.cfg.maxContainer {
		return errFallback
	}
	if err := d.account(len(items) / 2 * int(p.key.size+p.elem.size+16)); err != nil {
		return err
	}
	key := reflect.New(p.key.t).Elem()
	val := reflect.New(p.elem.t).Elem()
	for i := 0; i < len(items); i += 2 {
		key.SetZero()
		val.SetZero()
		if err := d.store(&items[i], p.key, unsafe.Pointer(key.UnsafeAddr())); err != nil {
			return err
		}
		if err := d.store(&items[i+1], p.elem, unsafe.Pointer(val.UnsafeAddr())); err != nil {
			return err
		}
		m.SetMapIndex(key, val)
	}
	return nil
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
	if err := d.account(96*n + 48); err != nil {
		return err
	}
	t := &ttuple{items: make([]tslot, n)}
	var depth int32
	for i := range t.items {
		t.items[i] = d.stack[k+i]
		t.items[i].fresh = false
		depth = max(depth, t.items[i].d)
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
	d.push(tslot{k: kind, v: t, d: depth})
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
	a, ok1 := d.toAny(&args, 0)
	f, ok2 := d.toAny(&fn, 0)
	t, ok3 := a.(Tuple)
	if !ok1 || !ok2 || !ok3 || !isCallable(f) || args.k != sTuple {
		return errFallback
	}
	if err := d.account(128); err != nil {
		return err
	}
	depth := max(args.d, fn.d) + 1
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	v, err := d.g.reduce(f, t)
	if err != nil {
		return errFallback
	}
	d.pushModel(v, depth)
	return nil
}

func (d *tdec) pushModel(v any, depth int32) {
	switch x := v.(type) {
	case *Object:
		d.push(tslot{k: sObj, v: x, d: depth})
	default:
		d.push(tslot{k: sAny, v: v, d: depth})
	}
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
		kd = kw.d
	}
	args, err := d.pop()
	if err != nil {
		return err
	}
	cls, err := d.pop()
	if err != nil {
		return err
	}
	a, ok1 := d.toAny(&args, 0)
	c, ok2 := d.toAny(&cls, 0)
	t, ok3 := a.(Tuple)
	if !ok1 || !ok2 || !ok3 || !isCallable(c) || args.k != sTuple {
		return errFallback
	}
	if err := d.account(128); err != nil {
		return err
	}
	depth := max(args.d, cls.d, kd) + 1
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	d.push(tslot{k: sObj, v: &Object{Callable: c, Args: t, Kwargs: kwargs, New: true}, d: depth})
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
	if t.k != sObj || d.sealed(t) {
		return errFallback
	}
	o := t.v.(*Object)
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
	depth := state.d + 1
	if int(depth) > d.cfg.maxDepth {
		return errFallback
	}
	t.d = max(t.d, depth)
	o.State = sv
	return nil
}

// Storing values.

// toAny returns the value of s in the model, as the model's decoder would
// have built it; false if s was built as a Go type.
func (d *tdec) toAny(s *tslot, depth int) (any, bool) {
	switch s.k {
	case sNone:
		return nil, true
	case sBool:
		return s.i != 0, true
	case sInt:
		return s.i, true
	case sFloat:
		return math.Float64frombits(uint64(s.i)), true
	case sStr:
		return d.text(s), true
	case sAny, sGDict, sGSet, sObj:
		d.seal(s)
		return s.v, true
	case sGList:
		l := s.v.(*glist)
		l.sealed = true
		d.seal(s)
		if l.items == nil {
			l.items = make([]any, 0, 1) // every list has an identity
		}
		return l.items, true
	case sTuple, sFrozen:
		t := s.v.(*ttuple)
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
		if s.k == sTuple {
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
	switch s.k {
	case sInt:
		switch q.k {
		case dInt:
			if setInt(dst, q.size, s.i) {
				return nil
			}
			return errFallback
		case dUint:
			if s.i >= 0 && setUint(dst, q.size, uint64(s.i)) {
				return nil
			}
			return errFallback
		case dFloat64:
			*(*float64)(dst) = float64(s.i)
			return nil
		}
	case sFloat:
		if q.k == dFloat64 {
			*(*float64)(dst) = math.Float64frombits(uint64(s.i))
			return nil
		}
	case sStr:
		if q.k == dString {
			*(*string)(dst) = d.text(s)
			return nil
		}
	case sBool:
		if q.k == dBool {
			*(*bool)(dst) = s.i != 0
			return nil
		}
	case sTyped:
		if q.k == dPtr && q.elem == s.plan {
			d.seal(s)
			*(*unsafe.Pointer)(dst) = s.p
			return nil
		}
		if q != s.plan {
			return errFallback
		}
		d.seal(s)
		if s.p != dst {
			reflect.NewAt(q.t, dst).Elem().Set(reflect.NewAt(q.t, s.p).Elem())
		}
		return nil
	case sList:
		l := s.v.(*tlist)
		if q != l.plan {
			return errFallback
		}
		d.seal(s)
		base := l.base
		if base == nil {
			// An empty list is an empty slice, not a nil one.
			base = reflect.MakeSlice(q.t, 0, 0).UnsafePointer()
		}
		*(*sliceHeader)(dst) = sliceHeader{base, l.len, l.len}
		return nil
	case sTuple:
		t := s.v.(*ttuple)
		switch q.k {
		case dSlice:
			return d.storeItems(t.items, q, dst)
		case dStruct:
			if d.conv.reg.byGoType(q.t) == nil {
				return d.storeFields(t.items, q, dst)
			}
		}
	}
	if s.k == sTyped || s.k == sList {
		return errFallback
	}
	v, ok := d.toAny(s, 0)
	if !ok {
		return errFallback
	}
	if err := d.conv.decode(v, q, dst); err != nil {
		return errFallback
	}
	return nil
}

// storeItems stores a tuple's items in a new slice.
func (d *tdec) storeItems(items []tslot, q *decPlan, dst unsafe.Pointer) error {
	if err := d.account(len(items) * int(q.elem.size)); err != nil {
		return err
	}
	s := reflect.MakeSlice(q.t, len(items), len(items))
	base := s.UnsafePointer()
	for i := range items {
		if err := d.store(&items[i], q.elem, unsafe.Add(base, uintptr(i)*q.elem.size)); err != nil {
			return err
		}
	}
	reflect.NewAt(q.t, dst).Elem().Set(s)
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

func (d *tdec) storeRoot(s *tslot) error {
	return d.store(s, d.root, d.rootPtr)
}
