package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unsafe"
)

// numpy.ndarray ↔ NDArray: an array's dtype, shape and memory order, and
// its bytes, as numpy pickles them. Decoding takes both of numpy's forms
// (_reconstruct and a BUILD state at protocols 0 to 4, _frombuffer with a
// PickleBuffer at 5, in band or out of band) under numpy 1.x's module
// names (numpy.core) and 2.x's (numpy._core).

var (
	gNDArray        = Global{"numpy", "ndarray"}
	gDType          = Global{"numpy", "dtype"}
	gReconstruct1   = Global{"numpy.core.multiarray", "_reconstruct"}
	gReconstruct2   = Global{"numpy._core.multiarray", "_reconstruct"}
	gFromBuffer1    = Global{"numpy.core.numeric", "_frombuffer"}
	gFromBuffer2    = Global{"numpy._core.numeric", "_frombuffer"}
	ndarrayType     = reflect.TypeFor[NDArray]()
	nativeBigEndian = binary.NativeEndian.Uint16([]byte{1, 0}) != 1
)

// NDArray is a numpy.ndarray of booleans or numbers: its dtype, shape,
// memory order and raw bytes.
//
// DType is numpy's dtype.str: a byte order ('<' little-endian, '>'
// big-endian, '|' for one-byte types), a kind (b bool, i signed, u
// unsigned, f float, c complex) and a size in bytes: "<f8", ">i4", "|b1",
// "<c16". Data holds the items in C order (last index fastest) or, with
// Fortran set, in Fortran order (first index fastest), in DType's byte
// order.
//
// The accessors (Float64s, Int64s, ...) and Values return the items as a Go
// slice. When the byte order is the machine's and Data is aligned for the
// item type, the slice shares Data's memory: no copy is made, so large
// arrays cost nothing to read, and a change to one shows in the other.
// Decoding with DecodeOptions.ZeroCopy, or with out-of-band buffers
// (protocol 5, DecodeOptions.Buffers), makes Data share the pickle's or
// the buffer's memory in turn.
//
// Encoding writes numpy's own form under numpy.core names, which numpy 1.x
// and 2.x both read; at protocol 5 the data goes as a PickleBuffer, out of
// band when EncodeOptions.BufferCallback says so.
type NDArray struct {
	DType   string
	Shape   []int
	Fortran bool
	Data    []byte
}

func init() {
	addBuiltin(decodeNDArray, encodeNDArray)
}

// ErrDType is an NDArray's dtype that this package does not support, or
// that does not match the Go type asked for.
var ErrDType = errors.New("pickle: unsupported or mismatched numpy dtype")

// itemSize returns the size in bytes of DType's items, checking DType.
func (a *NDArray) itemSize() (int, error) {
	if len(a.DType) < 3 {
		return 0, fmt.Errorf("%w %q", ErrDType, a.DType)
	}
	order, kind := a.DType[0], a.DType[1]
	size, err := strconv.Atoi(a.DType[2:])
	if err != nil || (order != '<' && order != '>' && order != '|') {
		return 0, fmt.Errorf("%w %q", ErrDType, a.DType)
	}
	ok := false
	switch kind {
	case 'b':
		ok = size == 1
	case 'i', 'u':
		ok = size == 1 || size == 2 || size == 4 || size == 8
	case 'f':
		ok = size == 2 || size == 4 || size == 8
	case 'c':
		ok = size == 8 || size == 16
	}
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrDType, a.DType)
	}
	return size, nil
}

// Len returns the number of items: the product of Shape.
func (a *NDArray) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// check verifies that Data holds Shape's items of DType.
func (a *NDArray) check() (int, error) {
	size, err := a.itemSize()
	if err != nil {
		return 0, err
	}
	n := 1
	for _, d := range a.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt/size/d) {
			return 0, fmt.Errorf("pickle: bad ndarray shape %v", a.Shape)
		}
		n *= d
	}
	if len(a.Data) != n*size {
		return 0, fmt.Errorf("pickle: ndarray of shape %v and dtype %s needs %d bytes, has %d", a.Shape, a.DType, n*size, len(a.Data))
	}
	return size, nil
}

// Number is the Go types that an NDArray's items can be.
type Number interface {
	~bool | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64 | ~complex64 | ~complex128
}

// dtypeOf returns the dtype kind and size of T.
func dtypeOf[T Number]() (byte, int) {
	var z T
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Bool:
		return 'b', 1
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return 'i', int(unsafe.Sizeof(z))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return 'u', int(unsafe.Sizeof(z))
	case reflect.Float32, reflect.Float64:
		return 'f', int(unsafe.Sizeof(z))
	}
	return 'c', int(unsafe.Sizeof(z))
}

// NewNDArray returns an array of data's items with the given shape (one
// dimension, len(data), if none is given), in C order and the machine's
// byte order. Data shares data's memory.
func NewNDArray[T Number](data []T, shape ...int) (NDArray, error) {
	kind, size := dtypeOf[T]()
	order := byte('<')
	if nativeBigEndian {
		order = '>'
	}
	if size == 1 {
		order = '|'
	}
	if shape == nil {
		shape = []int{len(data)}
	}
	a := NDArray{DType: string([]byte{order, kind}) + strconv.Itoa(size), Shape: append([]int{}, shape...)}
	if len(data) > 0 {
		a.Data = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), len(data)*size)
	} else {
		a.Data = []byte{}
	}
	if _, err := a.check(); err != nil {
		return NDArray{}, err
	}
	return a, nil
}

// Values returns a's items as a []T, whose type must match the dtype's
// kind and size (byte order aside): float64 for "<f8" or ">f8". The slice
// shares a.Data's memory when a's byte order is the machine's and Data is
// aligned; otherwise it is a copy, in the machine's byte order.
func Values[T Number](a *NDArray) ([]T, error) {
	size, err := a.check()
	if err != nil {
		return nil, err
	}
	kind, tsize := dtypeOf[T]()
	if kind != a.DType[1] || tsize != size {
		return nil, fmt.Errorf("%w: %s is not %s", ErrDType, a.DType, reflect.TypeFor[T]())
	}
	n := len(a.Data) / size
	if n == 0 {
		return []T{}, nil
	}
	swap := size > 1 && (a.DType[0] == '>') != nativeBigEndian
	p := unsafe.Pointer(unsafe.SliceData(a.Data))
	if !swap && uintptr(p)%uintptr(min(size, 8)) == 0 {
		return unsafe.Slice((*T)(p), n), nil
	}
	out := make([]T, n)
	dst := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), len(a.Data))
	copy(dst, a.Data)
	if swap {
		part := size
		if kind == 'c' {
			part = size / 2 // each of the real and imaginary parts
		}
		for i := 0; i < len(dst); i += part {
			b := dst[i : i+part]
			for j, k := 0, part-1; j < k; j, k = j+1, k-1 {
				b[j], b[k] = b[k], b[j]
			}
		}
	}
	return out, nil
}

// Float64s returns the items of a "<f8" or ">f8" array; see Values.
func (a *NDArray) Float64s() ([]float64, error) { return Values[float64](a) }

// Float32s returns the items of an "f4" array; see Values.
func (a *NDArray) Float32s() ([]float32, error) { return Values[float32](a) }

// Int64s returns the items of an "i8" array; see Values.
func (a *NDArray) Int64s() ([]int64, error) { return Values[int64](a) }

// Int32s returns the items of an "i4" array; see Values.
func (a *NDArray) Int32s() ([]int32, error) { return Values[int32](a) }

// Int16s returns the items of an "i2" array; see Values.
func (a *NDArray) Int16s() ([]int16, error) { return Values[int16](a) }

// Int8s returns the items of an "i1" array; see Values.
func (a *NDArray) Int8s() ([]int8, error) { return Values[int8](a) }

// Uint64s returns the items of a "u8" array; see Values.
func (a *NDArray) Uint64s() ([]uint64, error) { return Values[uint64](a) }

// Uint32s returns the items of a "u4" array; see Values.
func (a *NDArray) Uint32s() ([]uint32, error) { return Values[uint32](a) }

// Uint16s returns the items of a "u2" array; see Values.
func (a *NDArray) Uint16s() ([]uint16, error) { return Values[uint16](a) }

// Uint8s returns the items of a "u1" array; see Values.
func (a *NDArray) Uint8s() ([]uint8, error) { return Values[uint8](a) }

// Bools returns the items of a "b1" array; see Values.
func (a *NDArray) Bools() ([]bool, error) {
	for _, b := range a.Data {
		if b > 1 {
			return nil, fmt.Errorf("pickle: bool array holds byte %d", b)
		}
	}
	return Values[bool](a)
}

// Complex128s returns the items of a "c16" array; see Values.
func (a *NDArray) Complex128s() ([]complex128, error) { return Values[complex128](a) }

// Complex64s returns the items of a "c8" array; see Values.
func (a *NDArray) Complex64s() ([]complex64, error) { return Values[complex64](a) }

// Decoding.

func decodeNDArray(c *conv, v any, a *NDArray) error {
	if v == nil {
		return nil
	}
	w, g, ok := objectOf(v, gReconstruct1, gReconstruct2, gFromBuffer1, gFromBuffer2)
	if !ok {
		return mismatch(v, ndarrayType)
	}
	var out NDArray
	var err error
	if g == gFromBuffer1 || g == gFromBuffer2 {
		out, err = fromBuffer(c, w)
	} else {
		out, err = reconstructed(c, w)
	}
	if err == nil {
		_, err = out.check()
	}
	if err != nil {
		return failure(v, ndarrayType, err)
	}
	*a = out
	return nil
}

// fromBuffer reads _frombuffer(buffer, dtype, shape, order).
func fromBuffer(c *conv, w objView) (NDArray, error) {
	if len(w.args) != 4 {
		return NDArray{}, errors.New("unexpected _frombuffer arguments")
	}
	data, ok := bytesOf(w.args[0])
	if !ok {
		return NDArray{}, errors.New("_frombuffer of no buffer")
	}
	dt, err := dtypeString(c, w.args[1])
	if err != nil {
		return NDArray{}, err
	}
	shape, err := shapeOf(w.args[2])
	if err != nil {
		return NDArray{}, err
	}
	order, _ := textArg(w.args[3])
	if order != "C" && order != "F" {
		return NDArray{}, fmt.Errorf("unsupported order %q", order)
	}
	return NDArray{DType: dt, Shape: shape, Fortran: order == "F", Data: data}, nil
}

// reconstructed reads _reconstruct(ndarray, (0,), b'b') and its state
// (version, shape, dtype, is_fortran, data).
func reconstructed(c *conv, w objView) (NDArray, error) {
	if len(w.args) < 1 || w.args[0] != any(gNDArray) {
		return NDArray{}, errors.New("_reconstruct of something other than numpy.ndarray")
	}
	st, ok := w.state.(Tuple)
	if ok && len(st) == 5 {
		st = st[1:] // the version, 1
	}
	if !ok || len(st) != 4 {
		return NDArray{}, errors.New("unexpected ndarray state")
	}
	shape, err := shapeOf(st[0])
	if err != nil {
		return NDArray{}, err
	}
	dt, err := dtypeString(c, st[1])
	if err != nil {
		return NDArray{}, err
	}
	fortran, ok := st[2].(bool)
	if !ok {
		return NDArray{}, errors.New("is_fortran is not a bool")
	}
	data, ok := stateBytes(c, st[3])
	if !ok {
		return NDArray{}, errors.New("ndarray data is not bytes (an object array?)")
	}
	return NDArray{DType: dt, Shape: shape, Fortran: fortran, Data: data}, nil
}

func shapeOf(v any) ([]int, error) {
	items, ok := itemsOf(v)
	if !ok {
		return nil, errors.New("shape is not a tuple")
	}
	shape := make([]int, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok || n < 0 || n > math.MaxInt32*int64(1<<31) {
			return nil, errors.New("shape holds something other than a size")
		}
		shape[i] = int(n)
	}
	return shape, nil
}

// dtypeString reads numpy.dtype('f8', False, True) with the state that
// BUILD gives it, (3, '<', ...), into "<f8".
func dtypeString(c *conv, v any) (string, error) {
	w, _, ok := objectOf(v, gDType)
	if !ok || len(w.args) < 1 {
		return "", errors.New("dtype is not a numpy.dtype")
	}
	name, ok := textArg(w.args[0])
	if !ok || len(name) < 2 {
		return "", errors.New("unexpected dtype arguments")
	}
	order := "|"
	if st, ok := w.state.(Tuple); ok && len(st) >= 2 {
		if o, ok := textArg(st[1]); ok && len(o) == 1 {
			order = o
		}
	}
	if order == "=" {
		order = "<"
		if nativeBigEndian {
			order = ">"
		}
	}
	a := NDArray{DType: order + name}
	if _, err := a.itemSize(); err != nil {
		return "", err
	}
	if name[len(name)-1] == '1' && name != "c1" {
		a.DType = "|" + name // one-byte items have no byte order
	}
	return a.DType, nil
}

// Encoding.

func dtypeObject(dt string) *Object {
	return &Object{Callable: gDType, Args: Tuple{dt[1:], false, true},
		State: Tuple{int64(3), dt[:1], nil, nil, nil, int64(-1), int64(-1), int64(0)}}
}

func encodeNDArray(e *encoder, a *NDArray) (any, error) {
	if _, err := a.check(); err != nil {
		return nil, err
	}
	shape := make(Tuple, len(a.Shape))
	for i, d := range a.Shape {
		shape[i] = int64(d)
	}
	if e.proto >= 5 {
		order := "C"
		if a.Fortran {
			order = "F"
		}
		return call(gFromBuffer1, PickleBuffer{Data: a.Data}, dtypeObject(a.DType), shape, order), nil
	}
	data := a.Data
	if data == nil {
		data = []byte{}
	}
	return &Object{Callable: gReconstruct1, Args: Tuple{gNDArray, Tuple{int64(0)}, []byte("b")},
		State: Tuple{int64(1), shape, dtypeObject(a.DType), a.Fortran, data}}, nil
}
