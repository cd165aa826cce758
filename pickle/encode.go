package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	ogórek "github.com/kisielk/og-rek"
)

// Marshal returns the pickle of v at DefaultProtocol (4).
//
// Values of this package's model encode as the Python values they stand
// for (see the table in the package documentation), and plain Go values as
// their natural Python counterparts: integers of every size as int, floats
// as float, string as str, []byte as bytes, slices and arrays as list,
// maps and structs as dict, pointers as what they point to. A nil slice
// encodes as an empty list and a nil map as an empty dict; a nil pointer or
// interface as None.
//
// Shared pointers, maps, slices and model containers are written once and
// referred to through the pickle memo, so Python rebuilds the same sharing,
// and cyclic values terminate. Map keys are written in sorted order where
// they are ordered, so output is deterministic.
//
// Channels, functions and unsafe pointers cannot be encoded: Marshal then
// returns an *EncodeError naming the value's Go path, and no output.
func Marshal(v any) ([]byte, error) {
	return EncodeOptions{}.AppendMarshal(nil, v)
}

// Marshal is like the package's Marshal, with options o.
func (o EncodeOptions) Marshal(v any) ([]byte, error) {
	return o.AppendMarshal(nil, v)
}

// AppendMarshal appends the pickle of v to dst and returns the extended
// buffer. It never modifies dst[:len(dst)]; on error it returns dst
// unchanged in length and an error.
func (o EncodeOptions) AppendMarshal(dst []byte, v any) ([]byte, error) {
	proto, ok := o.protocol()
	if !ok {
		return dst, fmt.Errorf("pickle: unsupported protocol %d", o.Protocol)
	}
	e := getEncoder(&o, proto, dst)
	defer putEncoder(e)
	if err := e.dump(v); err != nil {
		return dst[:len(dst):len(dst)], e.encodeError(err)
	}
	return e.buf, nil
}

// Frame sizes, as CPython's pickler uses them.
const (
	frameSizeTarget = 64 * 1024
	frameSizeMin    = 4
	frameHeaderSize = 9
	batchSize       = 1000
)

// memoKey identifies a value with identity: the address of its data, its
// length (for strings and slices) and what kind of Python value it was
// written as.
type memoKey struct {
	p unsafe.Pointer
	n int
	t unsafe.Pointer // Go type, for pointers
	k uint8
}

const (
	kStr uint8 = iota + 1
	kBytes
	kByteArray
	kByteString
	kList
	kTuple
	kDict
	kSet
	kFrozenSet
	kObject
	kPtr
	kMap
)

type encoder struct {
	opts       *EncodeOptions
	optsCopy   EncodeOptions // what opts points to; inside the pooled encoder, so no allocation
	proto      int
	buf        []byte
	frameStart int // index of the current frame's reserved header; -1 if none
	frameEnd   int // length of buf at which the current frame is full; MaxInt if none

	// plain is set when no PersistentID hook sees each value and the
	// protocol is binary: saveItem may then write common values inline.
	plain bool

	memo    pageMemo
	strs    strMemo
	globals map[Global]int32
	memoN   int32
	alias   []memoKey // keys of pointers to the value being saved

	depth, maxDepth int

	// keep holds the temporary values the encoder makes (such as the
	// argument tuples of reductions) until it is done: they may be
	// memoized by address, which must not be reused meanwhile.
	keep []any

	// split makes large payloads segments of their own (see
	// AppendMarshalBuffers) instead of copies in buf; segs records them.
	split bool
	segs  []segment
}

// temp records a temporary value (see keep) and returns it.
func (e *encoder) temp(v any) any {
	e.keep = append(e.keep, v)
	return v
}

// encErr is an error inside the encoder, with the Go path to the failing
// value collected (innermost first) as it returns.
type encErr struct {
	segs []string
	typ  reflect.Type
	err  error
}

func (e *encErr) Error() string { return e.err.Error() }

func errAt(err error, typ reflect.Type) error {
	return &encErr{typ: typ, err: err}
}

// within adds a path segment to an error from a nested value.
func within(err error, seg func() string) error {
	if ee, ok := err.(*encErr); ok {
		ee.segs = append(ee.segs, seg())
		return ee
	}
	return &encErr{segs: []string{seg()}, err: err}
}

// fromTuple renames the outermost path segment of err, an error from
// inside a tuple the encoder made up, "[i]", to fields[i], the field of
// the value the tuple's item came from.
func fromTuple(err error, fields ...string) error {
	ee, ok := err.(*encErr)
	if !ok || len(ee.segs) == 0 {
		return err
	}
	last := &ee.segs[len(ee.segs)-1]
	for i, f := range fields {
		if f != "" && *last == "["+strconv.Itoa(i)+"]" {
			*last = f
		}
	}
	return err
}

func (e *encoder) encodeError(err error) error {
	ee, ok := err.(*encErr)
	if !ok {
		return &EncodeError{Err: err}
	}
	var b strings.Builder
	for i := len(ee.segs) - 1; i >= 0; i-- {
		b.WriteString(ee.segs[i])
	}
	return &EncodeError{Path: b.String(), Type: ee.typ, Err: ee.err}
}

func (e *encoder) dump(v any) error {
	if e.proto >= 2 {
		e.buf = append(e.buf, opProto, byte(e.proto))
	}
	if e.proto >= 4 {
		e.startFrame()
	}
	if err := e.save(v); err != nil {
		return err
	}
	e.buf = append(e.buf, opStop)
	if e.frameStart >= 0 {
		e.commitFrame()
	}
	return nil
}

// startFrame reserves room for the header of a new frame.
func (e *encoder) startFrame() {
	e.frameStart = len(e.buf)
	e.frameEnd = e.frameStart + frameHeaderSize + frameSizeTarget
	e.buf = append(e.buf, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

// commitFrame writes the header of the current frame, or removes the
// reserved room if the frame is too small to be worth one.
func (e *encoder) commitFrame() {
	start := e.frameStart
	n := len(e.buf) - start - frameHeaderSize
	if n >= frameSizeMin {
		e.buf[start] = opFrame
		binary.LittleEndian.PutUint64(e.buf[start+1:], uint64(n))
	} else {
		copy(e.buf[start:], e.buf[start+frameHeaderSize:])
		e.buf = e.buf[:len(e.buf)-frameHeaderSize]
	}
	e.frameStart, e.frameEnd = -1, math.MaxInt
}

// boundary is called where CPython's pickler may end a frame: before each
// value is saved.
func (e *encoder) boundary() {
	if len(e.buf) >= e.frameEnd {
		e.nextFrame()
	}
}

// boundaryIn is boundary for a loop that holds the buffer in buf, and
// returns the buffer.
func (e *encoder) boundaryIn(buf []byte) []byte {
	if len(buf) >= e.frameEnd {
		e.buf = buf
		e.nextFrame()
		buf = e.buf
	}
	return buf
}

// nextFrame ends the current frame and starts the next.
func (e *encoder) nextFrame() {
	e.commitFrame()
	e.startFrame()
}

// writeLarge writes an opcode header and a payload of 64 KiB or more
// outside any frame, as CPython does, so readers can take it without a
// copy.
func (e *encoder) writeLarge(header []byte, payload string) {
	if e.frameStart >= 0 && len(payload) >= frameSizeTarget {
		e.commitFrame()
		e.buf = append(e.buf, header...)
		e.writePayload(payload)
		e.startFrame()
		return
	}
	e.buf = append(e.buf, header...)
	e.writePayload(payload)
}

// writePayload appends payload to buf or, for AppendMarshalBuffers, records
// a large one as a segment that goes at the current end of buf. Only
// outside a frame: bytes inside one may still move (commitFrame), and its
// length would have to count the segment.
func (e *encoder) writePayload(payload string) {
	if e.split && len(payload) >= LargePayload && e.frameStart < 0 {
		e.segs = append(e.segs, segment{at: len(e.buf), data: payload})
		return
	}
	e.buf = append(e.buf, payload...)
}

func (e *encoder) memoGet(idx int32) {
	if idx < 256 && e.proto > 0 {
		e.buf = append(e.buf, opBinget, byte(idx))
		return
	}
	e.memoGetWide(idx)
}

// memoGetWide is memoGet for protocol 0 and indexes of 256 and above.
func (e *encoder) memoGetWide(idx int32) {
	switch {
	case e.proto == 0:
		e.buf = append(e.buf, opGet)
		e.buf = strconv.AppendInt(e.buf, int64(idx), 10)
		e.buf = append(e.buf, '\n')
	case idx < 256:
		e.buf = append(e.buf, opBinget, byte(idx))
	default:
		e.buf = append(e.buf, opLongBinget, byte(idx), byte(idx>>8), byte(idx>>16), byte(idx>>24))
	}
}

// put writes a memo PUT for the next index and returns the index.
func (e *encoder) put() int32 {
	idx := e.memoN
	e.memoN++
	switch {
	case e.proto >= 4:
		e.buf = append(e.buf, opMemoize)
	case e.proto == 0:
		e.buf = append(e.buf, opPut)
		e.buf = strconv.AppendInt(e.buf, int64(idx), 10)
		e.buf = append(e.buf, '\n')
	case idx < 256:
		e.buf = append(e.buf, opBinput, byte(idx))
	default:
		e.buf = append(e.buf, opLongBinput, byte(idx), byte(idx>>8), byte(idx>>16), byte(idx>>24))
	}
	return idx
}

// memoizeInline reports whether the caller may write the MEMOIZE of the
// value it is writing in the same append, and if so takes the value's
// memo index: at protocol 4 and above with no aliases to record, which is
// how most strs and containers are written. memoize is a call, about a
// tenth of the cost of writing a short str.
func (e *encoder) memoizeInline(aliases []memoKey) bool {
	if e.proto < 4 || len(aliases) != 0 {
		return false
	}
	e.memoN++
	return true
}

// memoize writes a PUT for the value just written and records it under key
// (when key.k != 0) and the pointer aliases.
func (e *encoder) memoize(key memoKey, aliases []memoKey) {
	idx := e.put()
	if key.k != 0 {
		e.memo.put(key, idx)
	}
	for _, a := range aliases {
		e.memo.put(a, idx)
	}
}

// begin starts writing a list (dict false) or a dict with identity key: a
// GET if it was written before, which is all (done), else the depth check,
// the empty container and its memo entry. Unless begin reports done, the
// caller undoes the depth with e.depth-- when the container is complete.
// A key without identity (k == 0) is never looked up.
//
// The memo records key before the container is written, under the index
// its PUT will have; an error stops the encoding, so no entry is left
// without its PUT.
func (e *encoder) begin(key memoKey, aliases []memoKey, dict bool) (done bool, err error) {
	if key.k != 0 {
		if idx, ok := e.memo.getOrPut(key, e.memoN); ok {
			e.memoGet(idx)
			return true, nil
		}
	}
	if err := e.enter(); err != nil {
		return true, err
	}
	if e.memoizeInline(aliases) {
		op := byte(opEmptyList)
		if dict {
			op = opEmptyDict
		}
		e.buf = append(e.buf, op, opMemoize)
		return false, nil
	}
	if dict {
		e.emptyDict()
	} else {
		e.emptyList()
	}
	e.memoize(memoKey{}, aliases)
	return false, nil
}

// lookupStr is lookup for strings.
func (e *encoder) lookupStr(key memoKey) bool {
	if idx, ok := e.strs.get(key); ok {
		e.memoGet(idx)
		return true
	}
	return false
}

// lookupOrAddStr is lookupStr, and on a miss records key in the string
// memo under the index that the string's PUT will have, so the caller
// writes the string and then memoize(memoKey{}, aliases). Like begin, it
// relies on an error stopping the encoding before the PUT is missed.
func (e *encoder) lookupOrAddStr(key memoKey) bool {
	if idx, ok := e.strs.getOrPut(key, e.memoN); ok {
		e.memoGet(idx)
		return true
	}
	return false
}

// memoizeStr is memoize for strings.
func (e *encoder) memoizeStr(key memoKey, aliases []memoKey) {
	idx := e.put()
	e.strs.put(key, idx)
	for _, a := range aliases {
		e.memo.put(a, idx)
	}
}

// lookup writes a GET and reports true if key is memoized.
func (e *encoder) lookup(key memoKey) bool {
	if idx, ok := e.memo.get(key); ok {
		e.memoGet(idx)
		return true
	}
	return false
}

func strKey(s string, k uint8) memoKey {
	if len(s) == 0 {
		return memoKey{k: k}
	}
	return memoKey{p: unsafe.Pointer(unsafe.StringData(s)), n: len(s), k: k}
}

// sliceKey is the identity of a slice; empty slices of no allocation have
// none (every empty Python list is distinct).
func sliceKey(p unsafe.Pointer, n, c int, k uint8) memoKey {
	if c == 0 {
		return memoKey{}
	}
	return memoKey{p: p, n: n, k: k}
}

func (e *encoder) enter() error {
	e.depth++
	if e.depth > e.maxDepth {
		return ErrEncodeDepth
	}
	return nil
}

// save writes v. It is CPython's Pickler.save: frame boundary, persistent
// id, memo, then the type's own writer.
func (e *encoder) save(v any) error {
	aliases := e.alias
	e.alias = nil
	e.boundary()
	if e.opts.PersistentID != nil {
		if done, err := e.persistent(v); done || err != nil {
			return err
		}
	}
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, opNone)
	case string:
		return e.saveStr(x, aliases)
	case int64:
		e.saveInt(x)
	case int:
		e.saveInt(int64(x))
	case float64:
		e.saveFloat(x)
	case bool:
		e.saveBool(x)
	case []any:
		return e.saveList(x, aliases)
	case *Dict:
		if x == nil {
			e.buf = append(e.buf, opNone)
			return nil
		}
		return e.saveDict(x, aliases)
	case Tuple:
		return e.saveTuple(x, aliases)
	case []byte:
		return e.saveBytes(x, aliases)
	case map[string]any:
		if e.opts.PersistentID == nil {
			return saveStrMap(e, x, aliases, e.saveItem)
		}
		return e.saveValue(reflect.ValueOf(x), aliases)
	case Global:
		return e.saveGlobal(x)
	case *Object:
		if x == nil {
			e.buf = append(e.buf, opNone)
			return nil
		}
		return e.saveObject(x, aliases)
	case *Set:
		if x == nil {
			e.buf = append(e.buf, opNone)
			return nil
		}
		return e.saveSet(x, aliases)
	case *FrozenSet:
		if x == nil {
			e.buf = append(e.buf, opNone)
			return nil
		}
		return e.saveFrozenSet(x, aliases)
	case ByteArray:
		return e.saveByteArray(x, aliases)
	case ByteString:
		return e.saveByteString(string(x), aliases)
	case *big.Int:
		if x == nil {
			e.buf = append(e.buf, opNone)
			return nil
		}
		e.saveBig(x)
	case PersistentRef:
		return e.savePers(x.ID)
	case PickleBuffer:
		return e.savePickleBuffer(x)
	case complex128:
		return e.saveComplex(x)
	case Marshaler:
		return e.saveMarshaler(x)
	case ogórek.None:
		e.buf = append(e.buf, opNone)
	case ogórek.Tuple:
		return e.saveTuple(Tuple(x), aliases)
	case ogórek.Bytes:
		return e.saveBytesString(string(x), aliases)
	case ogórek.ByteString:
		return e.saveByteString(string(x), aliases)
	case ogórek.Class:
		return e.saveGlobal(fromOgrekClass(x))
	case ogórek.Call:
		return e.saveObject(e.temp(&Object{Callable: fromOgrekClass(x.Callable), Args: Tuple(x.Args)}).(*Object), aliases)
	case ogórek.Ref:
		return e.savePers(x.Pid)
	case ogórek.Dict:
		return e.saveOgrekDict(x)
	default:
		return e.saveValue(reflect.ValueOf(v), aliases)
	}
	return nil
}

// fromOgrekClass turns an og-rek class, which keeps Python 2 names, into a
// Global with Python 3 names.
func fromOgrekClass(c ogórek.Class) Global {
	g := Global{c.Module, c.Name}
	if m, ok := nameMapping[g]; ok {
		return m
	}
	if m, ok := importMapping[g.Module]; ok {
		g.Module = m
	}
	return g
}

func (e *encoder) persistent(v any) (bool, error) {
	id, err := e.opts.PersistentID(v)
	if err != nil {
		return true, fmt.Errorf("PersistentID: %w", err)
	}
	if id == nil {
		return false, nil
	}
	return true, e.savePers(id)
}

func (e *encoder) savePers(id any) error {
	if e.proto == 0 {
		s, ok := id.(string)
		if !ok || strings.ContainsRune(s, '\n') || !isASCII(s) {
			return errors.New("protocol 0 persistent id must be an ASCII string without newlines")
		}
		e.buf = append(e.buf, opPersid)
		e.buf = append(e.buf, s...)
		e.buf = append(e.buf, '\n')
		return nil
	}
	// The id itself is not offered to PersistentID again.
	hook := e.opts.PersistentID
	e.opts.PersistentID = nil
	err := e.save(id)
	e.opts.PersistentID = hook
	if err != nil {
		return err
	}
	e.buf = append(e.buf, opBinpersid)
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (e *encoder) saveBool(b bool) {
	switch {
	case e.proto >= 2 && b:
		e.buf = append(e.buf, opNewtrue)
	case e.proto >= 2:
		e.buf = append(e.buf, opNewfalse)
	case b:
		e.buf = append(e.buf, "I01\n"...)
	default:
		e.buf = append(e.buf, "I00\n"...)
	}
}

func (e *encoder) saveInt(i int64) {
	if e.proto >= 1 {
		if b, ok := appendBinInt(e.buf, i); ok {
			e.buf = b
			return
		}
	}
	if e.proto >= 2 {
		// LONG1 with the shortest little-endian two's complement.
		n := 8
		for n > 1 {
			top := byte(i >> (8 * (n - 1)))
			next := byte(i >> (8 * (n - 2)))
			if (top == 0 && next&0x80 == 0) || (top == 0xff && next&0x80 != 0) {
				n--
				continue
			}
			break
		}
		e.buf = append(e.buf, opLong1, byte(n))
		for k := 0; k < n; k++ {
			e.buf = append(e.buf, byte(i>>(8*k)))
		}
		return
	}
	if i >= math.MinInt32 && i <= math.MaxInt32 {
		e.buf = append(e.buf, opInt)
		e.buf = strconv.AppendInt(e.buf, i, 10)
		e.buf = append(e.buf, '\n')
		return
	}
	e.buf = append(e.buf, opLong)
	e.buf = strconv.AppendInt(e.buf, i, 10)
	e.buf = append(e.buf, 'L', '\n')
}

func (e *encoder) saveUint(u uint64) {
	if u <= math.MaxInt64 {
		e.saveInt(int64(u))
		return
	}
	e.saveBig(new(big.Int).SetUint64(u))
}

func (e *encoder) saveBig(b *big.Int) {
	if b.IsInt64() {
		e.saveInt(b.Int64())
		return
	}
	if e.proto < 2 {
		e.buf = append(e.buf, opLong)
		e.buf = b.Append(e.buf, 10)
		e.buf = append(e.buf, 'L', '\n')
		return
	}
	enc := encodeLong(b)
	if len(enc) < 256 {
		e.buf = append(e.buf, opLong1, byte(len(enc)))
	} else {
		e.buf = append(e.buf, opLong4)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(enc)))
	}
	e.buf = append(e.buf, enc...)
}

// encodeLong is pickle's encode_long: little-endian two's complement in
// the fewest bytes.
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	nbytes := x.BitLen()/8 + 1
	var v *big.Int
	if x.Sign() < 0 {
		v = new(big.Int).Lsh(big.NewInt(1), uint(8*nbytes))
		v.Add(v, x)
	} else {
		v = x
	}
	be := v.FillBytes(make([]byte, nbytes))
	out := make([]byte, nbytes)
	for i, c := range be {
		out[nbytes-1-i] = c
	}
	if x.Sign() < 0 && nbytes > 1 && out[nbytes-1] == 0xff && out[nbytes-2]&0x80 != 0 {
		out = out[:nbytes-1]
	}
	return out
}

// appendBinInt appends x as protocol 1 and above write an int of int32's
// range: BININT1, BININT2 or BININT. For an x outside that range it
// appends nothing and reports false.
func appendBinInt(buf []byte, x int64) ([]byte, bool) {
	switch {
	case uint64(x) <= 0xff:
		return append(buf, opBinint1, byte(x)), true
	case uint64(x) <= 0xffff:
		return append(buf, opBinint2, byte(x), byte(x>>8)), true
	case x == int64(int32(x)):
		return append(buf, opBinint, byte(x), byte(x>>8), byte(x>>16), byte(x>>24)), true
	}
	return buf, false
}

// appendBinFloat appends f as protocol 1 and above write a float.
func appendBinFloat(buf []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(buf, opBinfloat), math.Float64bits(f))
}

func (e *encoder) saveFloat(f float64) {
	if e.proto >= 1 {
		e.buf = appendBinFloat(e.buf, f)
		return
	}
	e.buf = append(e.buf, opFloat)
	e.buf = append(e.buf, pyFloatRepr(f)...)
	e.buf = append(e.buf, '\n')
}

func (e *encoder) saveComplex(c complex128) error {
	// complex.__reduce__: (complex, (real, imag)).
	if err := e.saveGlobal(gComplex); err != nil {
		return err
	}
	if err := e.saveSyntheticTuple(real(c), imag(c)); err != nil {
		return err
	}
	e.buf = append(e.buf, opReduce)
	e.memoize(memoKey{}, nil)
	return nil
}

func (e *encoder) saveStr(s string, aliases []memoKey) error {
	if e.lookupOrAddStr(strKey(s, kStr)) {
		return nil
	}
	if e.proto == 0 {
		if !validPyUTF8([]byte(s)) {
			return ErrInvalidUTF8
		}
		e.buf = append(e.buf, opUnicode)
		e.buf = appendRawUnicodeEscape(e.buf, s)
		e.buf = append(e.buf, '\n')
	} else {
		if !validStr(s) {
			return ErrInvalidUTF8
		}
		n := len(s)
		switch {
		case n < 256 && e.memoizeInline(aliases):
			e.buf = append(append(append(e.buf, opShortBinunicode, byte(n)), s...), opMemoize)
			return nil
		case n < 256 && e.proto >= 4:
			e.buf = append(e.buf, opShortBinunicode, byte(n))
			e.buf = append(e.buf, s...)
		case uint64(n) > math.MaxUint32 && e.proto >= 4:
			var h [9]byte
			h[0] = opBinunicode8
			binary.LittleEndian.PutUint64(h[1:], uint64(n))
			e.writeLarge(h[:], s)
		case uint64(n) > math.MaxUint32:
			return errors.New("str longer than 4 GiB needs protocol 4")
		default:
			var h [5]byte
			h[0] = opBinunicode
			binary.LittleEndian.PutUint32(h[1:], uint32(n))
			e.writeLarge(h[:], s)
		}
	}
	e.memoize(memoKey{}, aliases)
	return nil
}

// validStr reports whether s is UTF-8 that Python reads back (surrogates
// allowed), with a fast path for ASCII.
func validStr(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if binary.LittleEndian.Uint64([]byte(s[i:i+8]))&0x8080808080808080 != 0 {
			return validPyUTF8([]byte(s[i:]))
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return validPyUTF8([]byte(s[i:]))
		}
	}
	return true
}

// appendRawUnicodeEscape writes s as protocol 0's UNICODE argument:
// raw-unicode-escape, with backslash, NUL, CR, LF and Ctrl-Z escaped too.
func appendRawUnicodeEscape(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		r, n := decodeRune(s[i:])
		i += n
		switch {
		case r == '\\' || r == 0 || r == '\n' || r == '\r' || r == 0x1a:
			out = append(out, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
		case r < 0x100:
			out = append(out, byte(r))
		case r < 0x10000:
			out = append(out, '\\', 'u', hex[r>>12], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		default:
			out = append(out, '\\', 'U')
			for sh := 28; sh >= 0; sh -= 4 {
				out = append(out, hex[r>>sh&15])
			}
		}
	}
	return out
}

func (e *encoder) saveBytes(b []byte, aliases []memoKey) error {
	return e.saveBytesString(unsafe.String(unsafe.SliceData(b), len(b)), aliases)
}

// saveBytesString writes the bytes in b (a string to avoid copies).
func (e *encoder) saveBytesString(b string, aliases []memoKey) error {
	key := strKey(b, kBytes)
	if e.lookupStr(key) {
		return nil
	}
	if e.proto < 3 {
		// Python 2 has no bytes: write _codecs.encode(latin-1 str,
		// 'latin1'), or bytes() when empty, as Python 3 does.
		if len(b) == 0 {
			if err := e.saveGlobal(gBytes); err != nil {
				return err
			}
			e.saveEmptyTuple()
		} else {
			if err := e.saveGlobal(gEncode); err != nil {
				return err
			}
			if err := e.saveSyntheticTuple(e.temp(latin1String([]byte(b))), latin1Name); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opReduce)
		e.memoizeStr(key, aliases)
		return nil
	}
	if err := e.writeBytes(b); err != nil {
		return err
	}
	e.memoizeStr(key, aliases)
	return nil
}

// writeBytes writes a bytes object at protocol 3 or later, without memo.
func (e *encoder) writeBytes(b string) error {
	n := len(b)
	switch {
	case n < 256:
		e.buf = append(e.buf, opShortBinbytes, byte(n))
		e.buf = append(e.buf, b...)
	case uint64(n) > math.MaxUint32 && e.proto >= 4:
		var h [9]byte
		h[0] = opBinbytes8
		binary.LittleEndian.PutUint64(h[1:], uint64(n))
		e.writeLarge(h[:], b)
	case uint64(n) > math.MaxUint32:
		return errors.New("bytes longer than 4 GiB need protocol 4")
	default:
		var h [5]byte
		h[0] = opBinbytes
		binary.LittleEndian.PutUint32(h[1:], uint32(n))
		e.writeLarge(h[:], b)
	}
	return nil
}

// latin1Name is the encoding argument of _codecs.encode; one string, so
// that it is memoized once as CPython's is.
var latin1Name = "latin1"

func (e *encoder) saveEmptyTuple() {
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyTuple)
	} else {
		e.buf = append(e.buf, opMark, opTuple)
	}
}

// saveSyntheticTuple writes a tuple made up by the encoder (the arguments
// of a reduction), memoized as CPython memoizes its temporary tuples.
func (e *encoder) saveSyntheticTuple(items ...any) error {
	e.boundary()
	return e.saveTuple(e.temp(Tuple(items)).(Tuple), nil)
}

func (e *encoder) saveByteArray(b ByteArray, aliases []memoKey) error {
	key := memoKey{}
	if cap(b) > 0 {
		key = memoKey{p: unsafe.Pointer(unsafe.SliceData(b)), n: len(b), k: kByteArray}
		if e.lookup(key) {
			return nil
		}
	}
	if e.proto < 5 {
		// bytearray.__reduce_ex__: (bytearray, (bytes(b),)), or () when
		// empty.
		if err := e.saveGlobal(gBytearray); err != nil {
			return err
		}
		if len(b) == 0 {
			e.saveEmptyTuple()
		} else if err := e.saveSyntheticTuple(e.temp(append([]byte(nil), b...))); err != nil {
			return err
		}
		e.buf = append(e.buf, opReduce)
		e.memoize(key, aliases)
		return nil
	}
	e.writeByteArray8(unsafe.String(unsafe.SliceData(b), len(b)))
	e.memoize(key, aliases)
	return nil
}

// writeByteArray8 writes a bytearray at protocol 5, without memo.
func (e *encoder) writeByteArray8(b string) {
	var h [9]byte
	h[0] = opBytearray8
	binary.LittleEndian.PutUint64(h[1:], uint64(len(b)))
	e.writeLarge(h[:], b)
}

// saveByteString writes a Python 2 str.
func (e *encoder) saveByteString(s string, aliases []memoKey) error {
	key := strKey(s, kByteString)
	if e.lookupStr(key) {
		return nil
	}
	switch {
	case e.proto == 0:
		e.buf = append(e.buf, opString)
		e.buf = appendPy2Repr(e.buf, s)
		e.buf = append(e.buf, '\n')
	case len(s) < 256:
		e.buf = append(e.buf, opShortBinstring, byte(len(s)))
		e.buf = append(e.buf, s...)
	case uint64(len(s)) > math.MaxInt32:
		return errors.New("Python 2 str longer than 2 GiB")
	default:
		var h [5]byte
		h[0] = opBinstring
		binary.LittleEndian.PutUint32(h[1:], uint32(len(s)))
		e.writeLarge(h[:], s)
	}
	e.memoizeStr(key, aliases)
	return nil
}

// appendPy2Repr writes Python 2's repr() of a str, the STRING argument.
func appendPy2Repr(out []byte, s string) []byte {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	out = append(out, quote)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < ' ' || c >= 0x7f:
			out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			out = append(out, c)
		}
	}
	return append(out, quote)
}

func (e *encoder) saveList(l []any, aliases []memoKey) error {
	key := sliceKey(unsafe.Pointer(unsafe.SliceData(l)), len(l), cap(l), kList)
	if done, err := e.begin(key, aliases, false); done {
		return err
	}
	defer func() { e.depth-- }()
	return e.appendItems(l)
}

// appendItems writes the items of an exact list as batchAppendsExact
// does, without a call through a function value per item.
func (e *encoder) appendItems(l []any) error {
	n := len(l)
	if e.proto == 0 {
		return e.batchAppendsExact(n, func(i int) error { return e.save(l[i]) })
	}
	if n == 1 {
		if err := e.saveItem(l[0]); err != nil {
			return within(err, func() string { return "[0]" })
		}
		e.buf = append(e.buf, opAppend)
		return nil
	}
	for i := 0; i < n; {
		e.buf = append(e.buf, opMark)
		end := min(n, i+batchSize)
		for i < end {
			// A run of numbers is written in a loop of its own; in a list
			// of anything else, such as dicts, that loop is not entered.
			switch l[i].(type) {
			case float64, int64:
				if k := e.appendNumbers(l[i:end]); k > 0 {
					i += k
					continue
				}
			}
			if err := e.saveItem(l[i]); err != nil {
				return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
			}
			i++
		}
		e.buf = append(e.buf, opAppends)
	}
	return nil
}

// appendNumbers writes the float64 and int32-range int64 items at the
// start of l, as saveItem would, in a loop that keeps the buffer in a
// register, and returns how many it wrote.
func (e *encoder) appendNumbers(l []any) int {
	if !e.plain {
		return 0
	}
	buf := e.buf
	k := 0
	for _, v := range l {
		buf = e.boundaryIn(buf)
		switch x := v.(type) {
		case float64:
			buf = appendBinFloat(buf, x)
		case int64:
			if x != int64(int32(x)) {
				e.buf = buf
				return k
			}
			buf, _ = appendBinInt(buf, x)
		default:
			e.buf = buf
			return k
		}
		k++
	}
	e.buf = buf
	return k
}

// appendFloat64s writes fs as saveFloat does at protocol 1 and above,
// each after a frame boundary check, with the buffer in a register.
func (e *encoder) appendFloat64s(fs []float64) {
	buf := e.buf
	for _, f := range fs {
		buf = appendBinFloat(e.boundaryIn(buf), f)
	}
	e.buf = buf
}

// appendInt64s writes xs as saveInt does at protocol 1 and above, each
// after a frame boundary check.
func (e *encoder) appendInt64s(xs []int64) {
	buf := e.buf
	for _, x := range xs {
		b, ok := appendBinInt(e.boundaryIn(buf), x)
		if !ok {
			e.buf = b
			e.saveInt(x)
			b = e.buf
		}
		buf = b
	}
	e.buf = buf
}

// saveItem is save for an item of a container, for a plain encoder: the
// common scalars are written inline, and dicts and lists (a list of
// records is a list of dicts) go to their writers without a second
// dispatch in save, whose persistent id and aliases they have none of.
func (e *encoder) saveItem(v any) error {
	if e.plain {
		switch x := v.(type) {
		case float64:
			e.boundary()
			e.buf = appendBinFloat(e.buf, x)
			return nil
		case int64:
			if x == int64(int32(x)) {
				e.boundary()
				e.buf, _ = appendBinInt(e.buf, x)
				return nil
			}
		case bool:
			if e.proto >= 2 {
				e.boundary()
				if x {
					e.buf = append(e.buf, opNewtrue)
				} else {
					e.buf = append(e.buf, opNewfalse)
				}
				return nil
			}
		case nil:
			e.boundary()
			e.buf = append(e.buf, opNone)
			return nil
		case *Dict:
			if x != nil {
				e.alias = nil
				e.boundary()
				return e.saveDict(x, nil)
			}
		case []any:
			e.alias = nil
			e.boundary()
			return e.saveList(x, nil)
		case string:
			e.alias = nil
			e.boundary()
			// A string found again in the memo's hot cache, such as a
			// key of many dicts, without the calls of saveStr.
			if idx, hot := e.strs.hotStr(x); hot {
				e.memoGet(idx)
				return nil
			}
			return e.saveStr(x, nil)
		}
	}
	return e.save(v)
}

func (e *encoder) emptyList() {
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyList)
	} else {
		e.buf = append(e.buf, opMark, opList)
	}
}

// batchAppendsExact writes n list items as CPython's pickler does for an
// exact list: APPEND for a single item, else batches of MARK, up to 1000
// items, APPENDS.
func (e *encoder) batchAppendsExact(n int, item func(int) error) error {
	if e.proto == 0 {
		for i := 0; i < n; i++ {
			if err := item(i); err != nil {
				return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
			}
			e.buf = append(e.buf, opAppend)
		}
		return nil
	}
	if n == 1 {
		if err := item(0); err != nil {
			return within(err, func() string { return "[0]" })
		}
		e.buf = append(e.buf, opAppend)
		return nil
	}
	for i := 0; i < n; {
		e.buf = append(e.buf, opMark)
		end := min(n, i+batchSize)
		for ; i < end; i++ {
			if err := item(i); err != nil {
				return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
			}
		}
		e.buf = append(e.buf, opAppends)
	}
	return nil
}

// batchAppends writes items as CPython does for list subclasses: batches
// of up to 1000, a single item with APPEND.
func (e *encoder) batchAppends(items []any) error {
	if e.proto == 0 {
		if err := e.batchAppendsExact(len(items), func(i int) error { return e.save(items[i]) }); err != nil {
			return within(err, func() string { return ".ListItems" })
		}
		return nil
	}
	for i := 0; i < len(items); {
		end := min(len(items), i+batchSize)
		if end-i == 1 {
			if err := e.save(items[i]); err != nil {
				return within(err, func() string { return ".ListItems[" + strconv.Itoa(i) + "]" })
			}
			e.buf = append(e.buf, opAppend)
			return nil
		}
		e.buf = append(e.buf, opMark)
		for ; i < end; i++ {
			if err := e.save(items[i]); err != nil {
				return within(err, func() string { return ".ListItems[" + strconv.Itoa(i) + "]" })
			}
		}
		e.buf = append(e.buf, opAppends)
	}
	return nil
}

func (e *encoder) saveTuple(t Tuple, aliases []memoKey) error {
	n := len(t)
	if n == 0 {
		e.saveEmptyTuple()
		return nil
	}
	key := memoKey{p: unsafe.Pointer(&t[0]), n: n, k: kTuple}
	if e.lookup(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	if n <= 3 && e.proto >= 2 {
		for i := range t {
			if err := e.save(t[i]); err != nil {
				return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
			}
		}
		if idx, ok := e.memo.get(key); ok {
			// The tuple was saved while saving its items (a cycle
			// through a list): drop the items, fetch the tuple.
			for i := 0; i < n; i++ {
				e.buf = append(e.buf, opPop)
			}
			e.memoGet(idx)
			return nil
		}
		e.buf = append(e.buf, opTuple1+byte(n-1))
		e.memoize(key, aliases)
		return nil
	}
	e.buf = append(e.buf, opMark)
	for i := range t {
		if err := e.save(t[i]); err != nil {
			return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
		}
	}
	if idx, ok := e.memo.get(key); ok {
		if e.proto >= 1 {
			e.buf = append(e.buf, opPopMark)
		} else {
			for i := 0; i <= n; i++ {
				e.buf = append(e.buf, opPop)
			}
		}
		e.memoGet(idx)
		return nil
	}
	e.buf = append(e.buf, opTuple)
	e.memoize(key, aliases)
	return nil
}

func (e *encoder) emptyDict() {
	if e.proto >= 1 {
		e.buf = append(e.buf, opEmptyDict)
	} else {
		e.buf = append(e.buf, opMark, opDict)
	}
}

// batchSetitemsExact writes n dict items as CPython does for an exact
// dict: SETITEM for a single item, else batches of MARK, up to 1000 pairs,
// SETITEMS, with an empty batch after a full last one.
func (e *encoder) batchSetitemsExact(n int, item func(int) error) error {
	if e.proto == 0 {
		for i := 0; i < n; i++ {
			if err := item(i); err != nil {
				return err
			}
			e.buf = append(e.buf, opSetitem)
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	if n == 1 {
		if err := item(0); err != nil {
			return err
		}
		e.buf = append(e.buf, opSetitem)
		return nil
	}
	i := 0
	for {
		e.buf = append(e.buf, opMark)
		end := min(n, i+batchSize)
		full := end-i == batchSize
		for ; i < end; i++ {
			if err := item(i); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opSetitems)
		if !full {
			return nil
		}
	}
}

// batchSetitems writes items as CPython does for dict subclasses.
func (e *encoder) batchSetitems(d *Dict, path string) error {
	item := func(i int) error {
		k, v := d.entries[i].key, d.entries[i].value
		if err := e.save(k); err != nil {
			return within(err, func() string { return path + "[" + keyPath(k) + "](key)" })
		}
		if err := e.save(v); err != nil {
			return within(err, func() string { return path + "[" + keyPath(k) + "]" })
		}
		return nil
	}
	n := d.Len()
	if e.proto == 0 {
		for i := 0; i < n; i++ {
			if err := item(i); err != nil {
				return err
			}
			e.buf = append(e.buf, opSetitem)
		}
		return nil
	}
	for i := 0; i < n; {
		end := min(n, i+batchSize)
		if end-i == 1 {
			if err := item(i); err != nil {
				return err
			}
			e.buf = append(e.buf, opSetitem)
			return nil
		}
		e.buf = append(e.buf, opMark)
		for ; i < end; i++ {
			if err := item(i); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opSetitems)
	}
	return nil
}

func keyPath(k any) string {
	if s, ok := k.(string); ok {
		return strconv.Quote(s)
	}
	return Format(k, 0) // a key (an *Object) may hold itself
}

func (e *encoder) saveDict(d *Dict, aliases []memoKey) error {
	key := memoKey{p: unsafe.Pointer(d), k: kDict}
	if done, err := e.begin(key, aliases, true); done {
		return err
	}
	defer func() { e.depth-- }()
	n := len(d.entries)
	if e.proto == 0 || n <= 1 {
		return e.batchSetitemsExact(n, func(i int) error { return e.saveEntry(d.entries[i]) })
	}
	// batchSetitemsExact inline, without a call through a function value
	// per entry: the hot path of encoding records.
	for i := 0; ; {
		e.buf = append(e.buf, opMark)
		end := min(n, i+batchSize)
		full := end-i == batchSize
		for ; i < end; i++ {
			en := &d.entries[i]
			// A str key, written as saveItem writes it, without the
			// calls of saveEntry and saveItem: a key found in the string
			// memo's hot cache (as the keys of records are) is one GET.
			if s, ok := en.key.(string); ok && e.plain {
				e.alias = nil
				e.boundary()
				if idx, hot := e.strs.hotStr(s); hot {
					e.memoGet(idx)
				} else if err := e.saveStr(s, nil); err != nil {
					return within(err, func() string { return "[" + keyPath(en.key) + "](key)" })
				}
				if err := e.saveItem(en.value); err != nil {
					return within(err, func() string { return "[" + keyPath(en.key) + "]" })
				}
				continue
			}
			if err := e.saveEntry(*en); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opSetitems)
		if !full {
			return nil
		}
	}
}

func (e *encoder) saveEntry(en dictEntry) error {
	if err := e.saveItem(en.key); err != nil {
		return within(err, func() string { return "[" + keyPath(en.key) + "](key)" })
	}
	if err := e.saveItem(en.value); err != nil {
		return within(err, func() string { return "[" + keyPath(en.key) + "]" })
	}
	return nil
}

func (e *encoder) saveOgrekDict(d ogórek.Dict) error {
	nd := NewDictSize(d.Len())
	for k, v := range d.Iter() {
		if err := nd.Set(k, v); err != nil {
			return err
		}
	}
	e.temp(nd)
	return e.saveDict(nd, nil)
}

func (e *encoder) saveSet(s *Set, aliases []memoKey) error {
	key := memoKey{p: unsafe.Pointer(s), k: kSet}
	if e.lookup(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	if e.proto < 4 {
		return e.saveSetReduce(gSet, s.items, key, aliases)
	}
	e.buf = append(e.buf, opEmptySet)
	e.memoize(key, aliases)
	n := len(s.items)
	if n == 0 {
		return nil
	}
	for i := 0; ; {
		e.buf = append(e.buf, opMark)
		end := min(n, i+batchSize)
		full := end-i == batchSize
		for ; i < end; i++ {
			if err := e.save(s.items[i]); err != nil {
				return within(err, func() string { return "{" + strconv.Itoa(i) + "}" })
			}
		}
		e.buf = append(e.buf, opAdditems)
		if !full {
			return nil
		}
	}
}

// saveSetReduce writes set(list) or frozenset(list), as protocols below 4
// do.
func (e *encoder) saveSetReduce(g Global, items []any, key memoKey, aliases []memoKey) error {
	if err := e.saveGlobal(g); err != nil {
		return err
	}
	// The argument is a tuple holding a new list, as in CPython.
	if err := e.saveSyntheticTuple(e.temp(append([]any{}, items...))); err != nil {
		return err
	}
	e.buf = append(e.buf, opReduce)
	if idx, ok := e.memo.get(key); ok && key.k != 0 {
		e.buf = append(e.buf, opPop)
		e.memoGet(idx)
		return nil
	}
	e.memoize(key, aliases)
	return nil
}

func (e *encoder) saveFrozenSet(f *FrozenSet, aliases []memoKey) error {
	key := memoKey{p: unsafe.Pointer(f), k: kFrozenSet}
	if e.lookup(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	if e.proto < 4 {
		return e.saveSetReduce(gFrozenset, f.elems(), key, aliases)
	}
	e.buf = append(e.buf, opMark)
	for i, it := range f.elems() {
		if err := e.save(it); err != nil {
			return within(err, func() string { return "{" + strconv.Itoa(i) + "}" })
		}
	}
	if idx, ok := e.memo.get(key); ok {
		e.buf = append(e.buf, opPopMark)
		e.memoGet(idx)
		return nil
	}
	e.buf = append(e.buf, opFrozenset)
	e.memoize(key, aliases)
	return nil
}

func (e *encoder) saveGlobal(g Global) error {
	e.boundary()
	if idx, ok := e.globals[g]; ok {
		e.memoGet(idx)
		return nil
	}
	if e.proto >= 2 {
		if code, ok := e.opts.Extensions[g]; ok {
			switch {
			case code <= 0 || code > math.MaxInt32:
				return fmt.Errorf("extension code %d out of range", code)
			case code <= 0xff:
				e.buf = append(e.buf, opExt1, byte(code))
			case code <= 0xffff:
				e.buf = append(e.buf, opExt2, byte(code), byte(code>>8))
			default:
				e.buf = append(e.buf, opExt4, byte(code), byte(code>>8), byte(code>>16), byte(code>>24))
			}
			return nil
		}
	}
	if e.proto >= 4 {
		if err := e.save(g.Module); err != nil {
			return err
		}
		if err := e.save(g.Name); err != nil {
			return err
		}
		e.buf = append(e.buf, opStackGlobal)
	} else if dottedName(g.Name) {
		// Nested names below protocol 4: getattr(getattr(Outer, 'Mid'),
		// 'Inner'), as CPython 3.13 writes them.
		path := strings.Split(g.Name, ".")
		for range path[1:] {
			if err := e.saveGlobal(gGetattr); err != nil {
				return err
			}
			if e.proto < 2 {
				e.buf = append(e.buf, opMark)
			}
		}
		if err := e.writeGlobalOp(Global{g.Module, path[0]}); err != nil {
			return err
		}
		for _, attr := range path[1:] {
			if err := e.save(attr); err != nil {
				return err
			}
			if e.proto < 2 {
				e.buf = append(e.buf, opTuple)
			} else {
				e.buf = append(e.buf, opTuple2)
			}
			e.buf = append(e.buf, opReduce)
		}
	} else if err := e.writeGlobalOp(g); err != nil {
		return err
	}
	idx := e.put()
	if e.globals == nil {
		e.globals = make(map[Global]int32)
	}
	e.globals[g] = idx
	return nil
}

// writeGlobalOp writes a GLOBAL opcode, with Python 2 names below
// protocol 3.
func (e *encoder) writeGlobalOp(g Global) error {
	if e.proto < 3 {
		if m, ok := reverseNameMapping[g]; ok {
			g = m
		} else if m, ok := reverseImportMapping[g.Module]; ok {
			g.Module = m
		}
		if !isASCII(g.Module) || !isASCII(g.Name) {
			return fmt.Errorf("global %s is not ASCII, which protocol %d requires", g, e.proto)
		}
	}
	if strings.ContainsRune(g.Module, '\n') || strings.ContainsRune(g.Name, '\n') {
		return fmt.Errorf("global %q contains a newline", g.String())
	}
	e.buf = append(e.buf, opGlobal)
	e.buf = append(e.buf, g.Module...)
	e.buf = append(e.buf, '\n')
	e.buf = append(e.buf, g.Name...)
	e.buf = append(e.buf, '\n')
	return nil
}

func (e *encoder) saveObject(o *Object, aliases []memoKey) error {
	key := memoKey{p: unsafe.Pointer(o), k: kObject}
	if e.lookup(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	if o.Callable == nil {
		return errors.New("Object with nil Callable")
	}
	args := o.Args
	if args == nil {
		args = Tuple{}
	}
	saveArgs := func() error {
		if err := e.save(args); err != nil {
			return within(err, func() string { return ".Args" })
		}
		return nil
	}
	listDone, dictDone := false, false
	switch {
	case o.Inst:
		e.buf = append(e.buf, opMark)
		g, isGlobal := o.Callable.(Global)
		if e.proto >= 1 || !isGlobal {
			if err := e.save(o.Callable); err != nil {
				return within(err, func() string { return ".Callable" })
			}
		}
		for i, a := range args {
			if err := e.save(a); err != nil {
				return within(err, func() string { return ".Args[" + strconv.Itoa(i) + "]" })
			}
		}
		if e.proto >= 1 || !isGlobal {
			e.buf = append(e.buf, opObj)
		} else {
			e.buf = append(e.buf, opInst)
			e.buf = append(e.buf, g.Module...)
			e.buf = append(e.buf, '\n')
			e.buf = append(e.buf, g.Name...)
			e.buf = append(e.buf, '\n')
		}
	case o.New && o.Kwargs != nil && o.Kwargs.Len() > 0:
		if e.proto >= 4 {
			if err := e.save(o.Callable); err != nil {
				return within(err, func() string { return ".Callable" })
			}
			if err := saveArgs(); err != nil {
				return err
			}
			if err := e.save(o.Kwargs); err != nil {
				return within(err, func() string { return ".Kwargs" })
			}
			e.buf = append(e.buf, opNewobjEx)
		} else {
			// copyreg.__newobj_ex__(cls, args, kwargs).
			if err := e.saveGlobal(gNewobjEx); err != nil {
				return err
			}
			if err := e.saveSyntheticTuple(o.Callable, args, o.Kwargs); err != nil {
				return err
			}
			e.buf = append(e.buf, opReduce)
		}
	case o.New && e.proto >= 2:
		if err := e.save(o.Callable); err != nil {
			return within(err, func() string { return ".Callable" })
		}
		if err := saveArgs(); err != nil {
			return err
		}
		e.buf = append(e.buf, opNewobj)
	case o.New && len(args) == 0:
		// copyreg._reconstructor(cls, base, state), as protocols 0 and 1
		// write instances: the base is list or dict when the object has
		// list or dict items (which it then carries), else object.
		if err := e.saveGlobal(gReconstructor); err != nil {
			return err
		}
		var err error
		switch {
		case o.ListItems != nil:
			err = e.saveSyntheticTuple(o.Callable, gList, e.temp(append([]any{}, o.ListItems...)))
			err = fromTuple(err, ".Callable", "", ".ListItems")
			listDone = true
		case o.DictItems != nil:
			err = e.saveSyntheticTuple(o.Callable, gDict, o.DictItems)
			err = fromTuple(err, ".Callable", "", ".DictItems")
			dictDone = true
		default:
			err = e.saveSyntheticTuple(o.Callable, gObject, nil)
			err = fromTuple(err, ".Callable")
		}
		if err != nil {
			return err
		}
		e.buf = append(e.buf, opReduce)
	case o.New:
		// copyreg.__newobj__(cls, *args).
		if err := e.saveGlobal(gNewobj); err != nil {
			return err
		}
		if err := e.saveSyntheticTuple(append(Tuple{o.Callable}, args...)...); err != nil {
			return err
		}
		e.buf = append(e.buf, opReduce)
	default:
		if err := e.save(o.Callable); err != nil {
			return within(err, func() string { return ".Callable" })
		}
		if err := saveArgs(); err != nil {
			return err
		}
		e.buf = append(e.buf, opReduce)
	}
	if idx, ok := e.memo.get(key); ok {
		// Saved while saving its own arguments.
		e.buf = append(e.buf, opPop)
		e.memoGet(idx)
	} else {
		e.memoize(key, aliases)
	}
	if len(o.ListItems) > 0 && !listDone {
		if err := e.batchAppends(o.ListItems); err != nil {
			return err
		}
	}
	if o.DictItems != nil && o.DictItems.Len() > 0 && !dictDone {
		if err := e.batchSetitems(o.DictItems, ".DictItems"); err != nil {
			return err
		}
	}
	if o.State != nil {
		if err := e.save(o.State); err != nil {
			return within(err, func() string { return ".State" })
		}
		e.buf = append(e.buf, opBuild)
	}
	return nil
}

func (e *encoder) savePickleBuffer(b PickleBuffer) error {
	if e.proto >= 5 && e.opts.BufferCallback != nil && !e.opts.BufferCallback(b) {
		e.buf = append(e.buf, opNextBuffer)
		if b.ReadOnly {
			e.buf = append(e.buf, opReadonlyBuffer)
		}
		return nil
	}
	if e.proto >= 5 && len(b.Data) > 0 {
		// In band, from b.Data itself, as the C pickler writes it: a
		// fresh bytes or bytearray, memoized as nothing else can be
		// (the same bytes as a copy saved through saveBytes or
		// saveByteArray, without the copy).
		data := unsafe.String(unsafe.SliceData(b.Data), len(b.Data))
		if b.ReadOnly {
			if err := e.writeBytes(data); err != nil {
				return err
			}
		} else {
			e.writeByteArray8(data)
		}
		e.put()
		return nil
	}
	// In band: a copy as bytes or bytearray, as pickle.py writes it.
	c := append([]byte{}, b.Data...)
	e.temp(c)
	if b.ReadOnly {
		return e.saveBytes(c, nil)
	}
	return e.saveByteArray(ByteArray(c), nil)
}

// Marshaler is implemented by types that choose their own pickle
// representation: MarshalPickle returns a value to encode in their place,
// typically built from this package's model (an *Object for a Python
// class, for example).
type Marshaler interface {
	MarshalPickle() (any, error)
}

func (e *encoder) saveMarshaler(m Marshaler) error {
	v, err := m.MarshalPickle()
	if err != nil {
		return fmt.Errorf("MarshalPickle: %w", err)
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	return e.save(e.temp(v))
}

// dottedName reports whether name is a nested name such as "Outer.Inner",
// every part non-empty.
func dottedName(name string) bool {
	return strings.IndexByte(name, '.') > 0 && name[len(name)-1] != '.' && !strings.Contains(name, "..")
}
