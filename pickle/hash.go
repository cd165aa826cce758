package pickle

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"math/bits"
	"reflect"
	"unsafe"
)

// Python equality and hashing of dict keys and set elements.
//
// Numbers of every type are equal when their values are (1 == 1.0 == True
// == big.NewInt(1) == complex(1, 0)), so they hash by value: integral
// values hash as integers, others by their bits. Strings hash by content,
// tuples by their items, frozensets by their items regardless of order,
// and *Object by identity (the default for Python objects).

var hashSeed = maphash.MakeSeed()

// strHashKeys are strHash's secrets, drawn for each process as hashSeed
// is, so that which strs collide cannot be known beforehand.
var strHashKeys = [3]uint64{
	maphash.String(hashSeed, "0") | 1,
	maphash.String(hashSeed, "1") | 1,
	maphash.String(hashSeed, "2") | 1,
}

// strHash is the hash of a str (and of an ASCII ByteString, which equals
// it). A str of up to 16 bytes, the most common key, is hashed inline as
// wyhash hashes short input, with two wide multiplications; a call to
// maphash would cost more than the hashing.
func strHash(s string) uint64 {
	n := len(s)
	if n > 16 {
		return maphash.String(hashSeed, s)
	}
	b := unsafe.Slice(unsafe.StringData(s), n)
	var lo, hi uint64
	switch {
	case n >= 8:
		lo, hi = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		lo, hi = uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		lo = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	}
	return mum(mum(lo^strHashKeys[0], hi^strHashKeys[1]), uint64(n)^strHashKeys[2])
}

// mum folds the 128-bit product of a and b.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// maxKeyDepth bounds the nesting of tuple and frozenset keys that hashing
// and comparing will follow; maxKeyWork bounds the items visited for one
// key, so that a key built as a DAG of shared tuples cannot take
// exponential time.
const (
	maxKeyDepth = 1000
	maxKeyWork  = 1 << 20
)

type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }
func (e *keyError) Unwrap() error { return ErrUnhashable }

func unhashable(v any) error {
	return &keyError{fmt.Sprintf("unhashable type %s", TypeName(v))}
}

var errKeyTooComplex = &keyError{"key nested too deeply or too large to hash"}

// TypeName returns Python's name for the type of v, a value of this
// package's model ("int", "str", "list", "dict", ...), as Python's
// type(v).__name__ gives it; an instance of any class is "object", and a
// Go value outside the model its Go type.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case complex128:
		return "complex"
	case []any:
		return "list"
	case *Dict, map[any]any:
		return "dict"
	case *Set:
		return "set"
	case *FrozenSet:
		return "frozenset"
	case ByteArray:
		return "bytearray"
	case Tuple:
		return "tuple"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *Object:
		return "object"
	case PickleBuffer:
		return "PickleBuffer"
	}
	return fmt.Sprintf("%T", v)
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func hashInt(i int64) uint64 { return mix(uint64(i) ^ 0x9e3779b97f4a7c15) }

func hashBig(b *big.Int) uint64 {
	if b.IsInt64() {
		return hashInt(b.Int64())
	}
	var h maphash.Hash
	h.SetSeed(hashSeed)
	h.WriteByte(byte(b.Sign() + 1))
	h.Write(b.Bytes())
	return h.Sum64()
}

func hashFloat(f float64) uint64 {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		if f >= -9223372036854775808.0 && f < 9223372036854775808.0 {
			return hashInt(int64(f))
		}
		b, _ := big.NewFloat(f).Int(nil)
		return hashBig(b)
	}
	return mix(math.Float64bits(f))
}

// number is a Python number in a form that compares across Go types.
type number struct {
	kind uint8 // numInt, numBig, numFloat, numComplex
	i    int64
	b    *big.Int
	f    float64
	c    complex128
}

const (
	numNone uint8 = iota
	numInt
	numBig
	numFloat
	numComplex
)

func toNumber(v any) (number, bool) {
	switch x := v.(type) {
	case int64:
		return number{kind: numInt, i: x}, true
	case float64:
		return number{kind: numFloat, f: x}, true
	case bool:
		if x {
			return number{kind: numInt, i: 1}, true
		}
		return number{kind: numInt}, true
	case int:
		return number{kind: numInt, i: int64(x)}, true
	case *big.Int:
		if x == nil {
			return number{}, false
		}
		if x.IsInt64() {
			return number{kind: numInt, i: x.Int64()}, true
		}
		return number{kind: numBig, b: x}, true
	case big.Int:
		return toNumber(&x)
	case complex128:
		if imag(x) == 0 {
			return number{kind: numFloat, f: real(x)}, true
		}
		return number{kind: numComplex, c: x}, true
	case int8:
		return number{kind: numInt, i: int64(x)}, true
	case int16:
		return number{kind: numInt, i: int64(x)}, true
	case int32:
		return number{kind: numInt, i: int64(x)}, true
	case uint8:
		return number{kind: numInt, i: int64(x)}, true
	case uint16:
		return number{kind: numInt, i: int64(x)}, true
	case uint32:
		return number{kind: numInt, i: int64(x)}, true
	case uint:
		return toNumber(uint64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return number{kind: numInt, i: int64(x)}, true
		}
		return number{kind: numBig, b: new(big.Int).SetUint64(x)}, true
	case uintptr:
		return toNumber(uint64(x))
	case float32:
		return number{kind: numFloat, f: float64(x)}, true
	case complex64:
		return toNumber(complex128(x))
	}
	return number{}, false
}

func (n number) hash() uint64 {
	switch n.kind {
	case numInt:
		return hashInt(n.i)
	case numBig:
		return hashBig(n.b)
	case numFloat:
		return hashFloat(n.f)
	default:
		return mix(hashFloat(real(n.c)) ^ hashFloat(imag(n.c))*31)
	}
}

// numEqual compares two numbers exactly, as Python does (2**53 + 1 is not
// equal to float(2**53)).
func numEqual(a, b number) bool {
	if a.kind > b.kind {
		a, b = b, a
	}
	switch a.kind {
	case numInt:
		switch b.kind {
		case numInt:
			return a.i == b.i
		case numBig:
			return false // numBig never fits int64
		case numFloat:
			f := b.f
			return f == math.Trunc(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0 && int64(f) == a.i
		}
	case numBig:
		switch b.kind {
		case numBig:
			return a.b.Cmp(b.b) == 0
		case numFloat:
			f := b.f
			if f != math.Trunc(f) || math.IsInf(f, 0) {
				return false
			}
			fb, _ := big.NewFloat(f).Int(nil)
			return fb.Cmp(a.b) == 0
		}
	case numFloat:
		if b.kind == numFloat {
			return a.f == b.f
		}
	case numComplex:
		return b.kind == numComplex && a.c == b.c
	}
	return false
}

// keyHasher hashes and compares keys within a work budget.
type keyHasher struct {
	work int
}

func hashKey(k any) (uint64, error) {
	switch x := k.(type) {
	case string:
		return strHash(x), nil
	case int64:
		return hashInt(x), nil
	}
	var kh keyHasher
	return kh.hash(k, 0)
}

func (kh *keyHasher) hash(k any, depth int) (uint64, error) {
	kh.work++
	if depth > maxKeyDepth || kh.work > maxKeyWork {
		return 0, errKeyTooComplex
	}
	switch x := k.(type) {
	case string:
		return strHash(x), nil
	case ByteString:
		return strHash(string(x)), nil
	case nil:
		return 0x5bd1e995, nil
	case []byte:
		return mix(maphash.Bytes(hashSeed, x) ^ 0xb7e151628aed2a6a), nil
	case Tuple:
		h := uint64(0x345678) + uint64(len(x))
		for _, it := range x {
			ih, err := kh.hash(it, depth+1)
			if err != nil {
				return 0, err
			}
			h = mix(h*1000003 ^ ih)
		}
		return h, nil
	case *FrozenSet:
		h := uint64(0x1e3779b9) + uint64(x.Len())
		for _, it := range x.elems() {
			ih, err := kh.hash(it, depth+1)
			if err != nil {
				return 0, err
			}
			h += mix(ih) // order-independent
		}
		return mix(h), nil
	case Global:
		return mix(maphash.String(hashSeed, x.Module) ^ maphash.String(hashSeed, x.Name)*3), nil
	case *Object:
		return mix(uint64(uintptr(unsafe.Pointer(x)))), nil
	case PersistentRef:
		ih, err := kh.hash(x.ID, depth+1)
		return mix(ih ^ 0x7f4a7c15), err
	}
	if n, ok := toNumber(k); ok {
		return n.hash(), nil
	}
	return 0, unhashable(k)
}

// checkHashable reports an error if Python could not hash k.
func checkHashable(k any) error {
	switch k.(type) {
	case string, int64, float64, bool, nil, Global:
		return nil
	}
	_, err := hashKey(k)
	return err
}

// keyEqual is Python's == for hashable values.
func keyEqual(a, b any) bool {
	if sa, ok := a.(string); ok {
		switch sb := b.(type) {
		case string:
			return sa == sb
		case ByteString:
			return asciiEqual(sa, string(sb))
		}
		return false
	}
	var kh keyHasher
	return kh.equal(a, b, 0)
}

func asciiEqual(s, t string) bool {
	if s != t {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (kh *keyHasher) equal(a, b any, depth int) bool {
	kh.work++
	if depth > maxKeyDepth || kh.work > maxKeyWork {
		return false
	}
	switch x := a.(type) {
	case string:
		switch y := b.(type) {
		case string:
			return x == y
		case ByteString:
			return asciiEqual(x, string(y))
		}
		return false
	case ByteString:
		switch y := b.(type) {
		case string:
			return asciiEqual(string(x), y)
		case ByteString:
			return x == y
		}
		return false
	case nil:
		return b == nil
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case Tuple:
		y, ok := b.(Tuple)
		if !ok || len(x) != len(y) {
			return false
		}
		if len(x) > 0 && &x[0] == &y[0] {
			return true
		}
		for i := range x {
			if !kh.equal(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case *FrozenSet:
		y, ok := b.(*FrozenSet)
		if !ok || x.Len() != y.Len() {
			return false
		}
		if x == y {
			return true
		}
		for _, it := range x.elems() {
			if !y.Has(it) {
				return false
			}
		}
		return true
	case Global:
		y, ok := b.(Global)
		return ok && x == y
	case *Object:
		y, ok := b.(*Object)
		return ok && x == y
	case PersistentRef:
		y, ok := b.(PersistentRef)
		return ok && kh.equal(x.ID, y.ID, depth+1)
	}
	na, ok := toNumber(a)
	if !ok {
		return false
	}
	nb, ok := toNumber(b)
	return ok && numEqual(na, nb)
}

// isNumberType reports whether t is a Go number type that toNumber accepts.
func isNumberType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.Bool:
		return true
	}
	return false
}
