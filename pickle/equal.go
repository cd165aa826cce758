package pickle

import (
	"math"
	"math/big"
	"reflect"
	"unsafe"
)

// Equal reports whether a and b are equal as Python's == would find them,
// for values of this package's model (what Unmarshal puts in an any) and
// Go numbers, strings and []byte:
//
//   - numbers compare by value across types: int64(1), 1.0, true,
//     big.NewInt(1) and complex(1, 0) are all equal;
//   - str equals str; bytes, bytearray and PickleBuffer compare by content
//     (as bytes, bytearray and memoryview do), but str never equals bytes
//     (a ByteString equals a string with the same ASCII content, as in
//     Python 2);
//   - lists, tuples, dicts (in any order), sets and frozensets compare by
//     content, and a list never equals a tuple;
//   - an *Object equals another with equal Callable, Args, Kwargs, flags,
//     State and items, since Go cannot run the class's __eq__;
//   - NaN equals NaN: Python grants that only to the same float object (as
//     in [x] == [x]), and Go floats have no identity;
//   - cyclic values compare without looping: a pair already being compared
//     is assumed equal.
//
// Other Go values compare with reflect.DeepEqual.
func Equal(a, b any) bool {
	e := equalizer{}
	return e.run(a, b)
}

type ptrPair struct{ a, b unsafe.Pointer }

type equalizer struct {
	work []pair
	seen map[ptrPair]bool
	norm map[unsafe.Pointer]any // Go pointers already normalized
}

type pair struct{ a, b any }

func (e *equalizer) run(a, b any) bool {
	e.work = append(e.work, pair{a, b})
	for len(e.work) > 0 {
		p := e.work[len(e.work)-1]
		e.work = e.work[:len(e.work)-1]
		if !e.step(p.a, p.b) {
			return false
		}
	}
	return true
}

// visit reports whether the pair of containers at pa, pb is new, marking it.
func (e *equalizer) visit(pa, pb unsafe.Pointer) bool {
	if pa == pb {
		return false // the same container: equal to itself
	}
	if e.seen == nil {
		e.seen = make(map[ptrPair]bool)
	}
	k := ptrPair{pa, pb}
	if e.seen[k] {
		return false
	}
	e.seen[k] = true
	return true
}

func (e *equalizer) pushAll(x, y []any) {
	for i := len(x) - 1; i >= 0; i-- {
		e.work = append(e.work, pair{x[i], y[i]})
	}
}

// step compares one pair, queueing the items of containers.
func (e *equalizer) step(a, b any) bool {
	a, b = e.normalize(a), e.normalize(b)
	switch x := a.(type) {
	case nil:
		return b == nil
	case string, ByteString:
		return keyEqual(a, b)
	case []byte:
		return bytesEqual(x, b)
	case ByteArray:
		return bytesEqual(x, b)
	case PickleBuffer:
		return bytesEqual(x.Data, b)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		if len(x) > 0 && e.visit(unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0])) {
			e.pushAll(x, y)
		}
		return true
	case Tuple:
		y, ok := b.(Tuple)
		if !ok || len(x) != len(y) {
			return false
		}
		if len(x) > 0 && e.visit(unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0])) {
			e.pushAll(x, y)
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		if x == nil || y == nil || !e.visit(unsafe.Pointer(x), unsafe.Pointer(y)) {
			return true
		}
		for _, en := range x.entries {
			v, ok := y.Get(en.key)
			if !ok {
				return false
			}
			e.work = append(e.work, pair{en.value, v})
		}
		return true
	case *Set:
		return setEqual(x.items, b)
	case *FrozenSet:
		return setEqual(x.elems(), b)
	case Global:
		y, ok := b.(Global)
		return ok && x == y
	case PersistentRef:
		y, ok := b.(PersistentRef)
		if ok {
			e.work = append(e.work, pair{x.ID, y.ID})
		}
		return ok
	case *Object:
		y, ok := b.(*Object)
		if !ok || (x == nil) != (y == nil) {
			return false
		}
		if x == nil || !e.visit(unsafe.Pointer(x), unsafe.Pointer(y)) {
			return true
		}
		if x.New != y.New || x.Inst != y.Inst || len(x.Args) != len(y.Args) ||
			len(x.ListItems) != len(y.ListItems) || (x.State == nil) != (y.State == nil) {
			return false
		}
		e.work = append(e.work, pair{x.Callable, y.Callable}, pair{x.State, y.State},
			pair{dictOrEmpty(x.Kwargs), dictOrEmpty(y.Kwargs)}, pair{dictOrEmpty(x.DictItems), dictOrEmpty(y.DictItems)})
		e.pushAll(x.Args, y.Args)
		e.pushAll(x.ListItems, y.ListItems)
		return true
	}
	if na, ok := toNumber(a); ok {
		nb, ok := toNumber(b)
		if !ok {
			return false
		}
		if na.kind == numFloat && nb.kind == numFloat && math.IsNaN(na.f) && math.IsNaN(nb.f) {
			return true
		}
		if na.kind == numComplex && nb.kind == numComplex && cnanEqual(na.c, nb.c) {
			return true
		}
		return numEqual(na, nb)
	}
	return reflect.DeepEqual(a, b)
}

func cnanEqual(a, b complex128) bool {
	eq := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
	return eq(real(a), real(b)) && eq(imag(a), imag(b))
}

var emptyDict = &Dict{}

func dictOrEmpty(d *Dict) *Dict {
	if d == nil {
		return emptyDict
	}
	return d
}

// bytesEqual compares bytes-like values (bytes, bytearray, buffers) by
// content, as Python compares bytes, bytearray and memoryview.
func bytesEqual(x []byte, b any) bool {
	switch y := b.(type) {
	case []byte:
		return string(x) == string(y)
	case ByteArray:
		return string(x) == string(y)
	case PickleBuffer:
		return string(x) == string(y.Data)
	}
	return false
}

func setEqual(items []any, b any) bool {
	var n int
	var has func(any) bool
	switch y := b.(type) {
	case *Set:
		n, has = y.Len(), y.Has
	case *FrozenSet:
		n, has = y.Len(), y.Has
	default:
		return false
	}
	if len(items) != n {
		return false
	}
	for _, it := range items {
		if !has(it) {
			return false
		}
	}
	return true
}

// normalize turns a Go value that is not of the model into the model value
// it encodes as, one level deep: slices into []any, maps and structs into
// *Dict, pointers into what they point to, named numbers and strings into
// int64, float64 and string.
func (e *equalizer) normalize(v any) any {
	switch v.(type) {
	case nil, bool, int64, float64, string, []any, Tuple, *Dict, *Set, *FrozenSet, []byte,
		ByteArray, ByteString, Global, *Object, PersistentRef, PickleBuffer, *big.Int, complex128, int:
		return v
	}
	if _, ok := toNumber(v); ok {
		return v
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u > math.MaxInt64 {
			return new(big.Int).SetUint64(u)
		} else {
			return int64(u)
		}
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Complex64, reflect.Complex128:
		return rv.Complex()
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return b
		}
		l := make([]any, rv.Len())
		for i := range l {
			l[i] = rv.Index(i).Interface()
		}
		return l
	case reflect.Map:
		d := NewDictSize(rv.Len())
		for it := rv.MapRange(); it.Next(); {
			if err := d.Set(e.normalize(it.Key().Interface()), it.Value().Interface()); err != nil {
				return v
			}
		}
		return d
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		p := rv.UnsafePointer()
		if n, ok := e.norm[p]; ok {
			return n
		}
		if e.norm == nil {
			e.norm = make(map[unsafe.Pointer]any)
		}
		n := e.normalize(rv.Elem().Interface())
		e.norm[p] = n
		return n
	case reflect.Struct:
		if rv.Type() == bigIntType {
			b := rv.Interface().(big.Int)
			return &b
		}
		d := NewDict()
		for _, f := range structInfoFor(rv.Type()).fields {
			fv, ok := fieldByIndex(rv, f.index)
			if !ok || (f.omitEmpty && isEmptyValue(fv)) {
				continue
			}
			_ = d.Set(f.name, fv.Interface())
		}
		return d
	}
	return v
}
