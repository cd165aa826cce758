package pickle

import (
	"cmp"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	ogórek "github.com/kisielk/og-rek"
)

// Encoding of Go values through reflection: the types that the fast type
// switch in save does not know.

var (
	marshalerType = reflect.TypeFor[Marshaler]()
	bigIntType    = reflect.TypeFor[big.Int]()
)

// specialTypes are the types with their own case in save's type switch:
// the model's and og-rek's.
var specialTypes = func() map[reflect.Type]bool {
	m := map[reflect.Type]bool{}
	for _, t := range []reflect.Type{
		reflect.TypeFor[Tuple](), reflect.TypeFor[ByteArray](), reflect.TypeFor[ByteString](),
		reflect.TypeFor[Global](), reflect.TypeFor[PersistentRef](), reflect.TypeFor[PickleBuffer](),
		reflect.TypeFor[*Object](), reflect.TypeFor[*Dict](), reflect.TypeFor[*Set](),
		reflect.TypeFor[*FrozenSet](), reflect.TypeFor[*big.Int](),
		reflect.TypeFor[ogórek.None](), reflect.TypeFor[ogórek.Tuple](), reflect.TypeFor[ogórek.Bytes](),
		reflect.TypeFor[ogórek.ByteString](), reflect.TypeFor[ogórek.Dict](), reflect.TypeFor[ogórek.Class](),
		reflect.TypeFor[ogórek.Call](), reflect.TypeFor[ogórek.Ref](),
	} {
		m[t] = true
	}
	return m
}()

// isSpecial reports whether values of type t are encoded by save's type
// switch rather than by their kind.
func isSpecial(t reflect.Type) bool {
	return specialTypes[t] || t.Implements(marshalerType)
}

// saveRV saves a value reached through reflection (a struct field, a map
// or slice element): CPython's save() for it.
func (e *encoder) saveRV(rv reflect.Value) error {
	if rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			e.alias = nil
			e.boundary()
			if e.opts.PersistentID != nil {
				if done, err := e.persistent(nil); done || err != nil {
					return err
				}
			}
			e.buf = append(e.buf, opNone)
			return nil
		}
		return e.save(rv.Interface())
	}
	if rv.CanInterface() && (e.opts.PersistentID != nil || isSpecial(rv.Type())) {
		return e.save(rv.Interface())
	}
	aliases := e.alias
	e.alias = nil
	e.boundary()
	return e.saveValue(rv, aliases)
}

// saveValue saves rv by its kind.
func (e *encoder) saveValue(rv reflect.Value, aliases []memoKey) error {
	if done, err := e.saveTyped(rv, aliases); done {
		return err
	}
	t := rv.Type()
	switch rv.Kind() {
	case reflect.Bool:
		e.saveBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.saveInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.saveUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		e.saveFloat(rv.Float())
	case reflect.Complex64, reflect.Complex128:
		return e.saveComplex(rv.Complex())
	case reflect.String:
		return e.saveStr(rv.String(), aliases)
	case reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, opNone)
			return nil
		}
		e.alias = aliases
		return e.save(rv.Elem().Interface())
	case reflect.Pointer:
		if rv.IsNil() {
			e.buf = append(e.buf, opNone)
			return nil
		}
		if isSpecial(t) && rv.CanInterface() {
			e.alias = aliases
			return e.save(rv.Interface())
		}
		key := memoKey{p: rv.UnsafePointer(), t: typePtr(t), k: kPtr}
		if e.lookup(key) {
			return nil
		}
		if err := e.enter(); err != nil {
			return err
		}
		defer func() { e.depth-- }()
		return e.saveValue(rv.Elem(), append(aliases, key))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			b := rv.Bytes()
			return e.saveBytes(b, aliases)
		}
		return e.saveSliceRV(rv, aliases)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			e.keep = append(e.keep, b)
			return e.saveBytes(b, aliases)
		}
		return e.saveSliceRV(rv, aliases)
	case reflect.Map:
		return e.saveMapRV(rv, aliases)
	case reflect.Struct:
		if t == bigIntType {
			b := new(big.Int)
			if rv.CanAddr() {
				b = rv.Addr().Interface().(*big.Int)
			} else {
				v := rv.Interface().(big.Int)
				b.Set(&v)
			}
			e.saveBig(b)
			return nil
		}
		if isSpecial(t) && rv.CanInterface() {
			e.alias = aliases
			return e.save(rv.Interface())
		}
		return e.saveStruct(rv, aliases, false)
	default:
		return errAt(&UnsupportedTypeError{Type: t}, t)
	}
	return nil
}

// typePtr is the identity of a Go type, for memo keys.
func typePtr(t reflect.Type) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&t))[1]
}

// mapKey is the memo key of map rv; a nil map has none, as each one is
// written as a new empty dict.
func mapKey(rv reflect.Value) memoKey {
	if rv.IsNil() {
		return memoKey{}
	}
	return memoKey{p: rv.UnsafePointer(), t: typePtr(rv.Type()), k: kMap}
}

func (e *encoder) saveSliceRV(rv reflect.Value, aliases []memoKey) error {
	var key memoKey
	n := rv.Len()
	if rv.Kind() == reflect.Slice {
		key = sliceKey(rv.UnsafePointer(), n, rv.Cap(), kList)
		key.t = typePtr(rv.Type())
	}
	if done, err := e.begin(key, aliases, false); done {
		return err
	}
	defer func() { e.depth-- }()
	return e.batchAppendsExact(n, func(i int) error { return e.saveRV(rv.Index(i)) })
}

func (e *encoder) saveMapRV(rv reflect.Value, aliases []memoKey) error {
	if done, err := e.saveStrMapFast(rv, aliases); done {
		return err
	}
	if err := checkKeyType(rv.Type().Key()); err != nil {
		return errAt(err, rv.Type())
	}
	if done, err := e.begin(mapKey(rv), aliases, true); done {
		return err
	}
	defer func() { e.depth-- }()
	n := rv.Len()
	if n == 0 {
		return nil
	}
	keys := make([]reflect.Value, 0, n)
	vals := make([]reflect.Value, 0, n)
	it := rv.MapRange()
	for it.Next() {
		keys = append(keys, it.Key())
		vals = append(vals, it.Value())
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sortKeys(keys, order)
	return e.batchSetitemsExact(n, func(i int) error {
		k, v := keys[order[i]], vals[order[i]]
		if err := e.saveRV(k); err != nil {
			return within(err, func() string { return "[" + rvKeyPath(k) + "](key)" })
		}
		if err := e.saveRV(v); err != nil {
			return within(err, func() string { return "[" + rvKeyPath(k) + "]" })
		}
		return nil
	})
}

func rvKeyPath(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return strconv.Quote(k.String())
	}
	if k.CanInterface() {
		return Format(k.Interface(), 0) // a key (an *Object) may hold itself
	}
	return k.String()
}

// checkKeyType refuses map key types whose Python form is unhashable.
func checkKeyType(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 || t == reflect.TypeFor[Tuple]() {
			return nil
		}
	case reflect.Map:
	case reflect.Struct:
		if isSpecial(t) {
			return nil
		}
	default:
		return nil
	}
	return fmt.Errorf("map key type %s encodes as an unhashable Python value", t)
}

// sortKeys orders map keys (through order) so that output is
// deterministic: by value where values are ordered.
func sortKeys(keys []reflect.Value, order []int) {
	if len(keys) == 0 {
		return
	}
	// Keys of these kinds are distinct in a map, so an unstable sort on
	// their values, gathered once, gives a deterministic order.
	switch keys[0].Kind() {
	case reflect.String:
		sortByValue(keys, order, reflect.Value.String)
		return
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		sortByValue(keys, order, reflect.Value.Int)
		return
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		sortByValue(keys, order, reflect.Value.Uint)
		return
	case reflect.Bool:
		sortByValue(keys, order, func(v reflect.Value) int { return boolInt(v.Bool()) })
		return
	case reflect.Float32, reflect.Float64:
		// NaN keys may repeat: keep them in the map's order.
		fs := make([]float64, len(keys))
		for i, k := range keys {
			fs[i] = k.Float()
		}
		slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(fs[i], fs[j]) })
		return
	}
	slices.SortStableFunc(order, func(i, j int) int { return compareAny(valueOf(keys[i]), valueOf(keys[j])) })
}

func sortByValue[T cmp.Ordered](keys []reflect.Value, order []int, get func(reflect.Value) T) {
	vs := make([]T, len(keys))
	for i, k := range keys {
		vs[i] = get(k)
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(vs[i], vs[j]) })
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func valueOf(rv reflect.Value) any {
	if rv.CanInterface() {
		return rv.Interface()
	}
	return rv.String()
}

// compareAny orders values of mixed types: None, then numbers by value,
// then strings, then bytes, then anything else by its printed form.
func compareAny(a, b any) int {
	ra, rb := rankOf(a), rankOf(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case 1:
		na, _ := toNumber(a)
		nb, _ := toNumber(b)
		return compareNumbers(na, nb)
	case 2:
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	}
	return strings.Compare(fmt.Sprintf("%T%v", a, a), fmt.Sprintf("%T%v", b, b))
}

func rankOf(v any) int {
	if v == nil {
		return 0
	}
	if _, ok := toNumber(v); ok {
		return 1
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.String:
		return 2
	}
	return 3
}

func compareNumbers(a, b number) int {
	fa, fb := numAsFloat(a), numAsFloat(b)
	if c := cmp.Compare(fa, fb); c != 0 {
		return c
	}
	if a.kind == numBig || b.kind == numBig {
		ba, bb := numBigInt(a), numBigInt(b)
		if ba != nil && bb != nil {
			return ba.Cmp(bb)
		}
	}
	return cmp.Compare(a.i, b.i)
}

func numAsFloat(n number) float64 {
	switch n.kind {
	case numInt:
		return float64(n.i)
	case numBig:
		f, _ := new(big.Float).SetInt(n.b).Float64()
		return f
	case numFloat:
		return n.f
	}
	return real(n.c)
}

func numBigInt(n number) *big.Int {
	switch n.kind {
	case numInt:
		return big.NewInt(n.i)
	case numBig:
		return n.b
	}
	return nil
}

// fieldByIndex follows index, reporting false at a nil embedded pointer.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
