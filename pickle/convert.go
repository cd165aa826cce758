package pickle

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"unsafe"
)

// Decoding a value of the model (what Unmarshal stores in an any) into a
// typed Go value. This is the reference for the rules of typed decoding:
// the typed decoder (typed_decode.go), which works on the pickle's opcodes
// directly, falls back on it for whatever it does not handle itself.

// conv holds the state of one conversion.
type conv struct {
	cfg   *decodeConfig
	reg   *Registry
	ptrs  map[ptrKey]unsafe.Pointer // shared Python objects already decoded into *T or maps
	lists map[ptrKey]sliceHeader    // shared Python lists already decoded into slices
	depth int
	// budget bounds the work and memory of a conversion, as
	// MaxAllocFactor bounds decoding: an object shared by many places is
	// decoded at each, so a small pickle can stand for a huge tree of Go
	// values.
	budget, budgetMax int
}

// ptrKey identifies a Python container (by the address of the model value
// that holds it) decoded into a pointer to a Go type.
type ptrKey struct {
	src unsafe.Pointer
	t   reflect.Type
}

// newConv returns a conversion of the value decoded from size bytes of
// pickle (negative: no bound on its work).
func newConv(cfg *decodeConfig, size int) *conv {
	c := &conv{cfg: cfg, reg: cfg.registry(), budgetMax: math.MaxInt}
	if size >= 0 && cfg.allocFactor < math.MaxInt/2/(size+1) {
		c.budgetMax = allocAllowance + cfg.allocFactor*size
	}
	c.budget = c.budgetMax
	return c
}

// spend charges n bytes of work to the conversion.
func (c *conv) spend(n uintptr) error {
	c.budget -= int(n)
	if c.budget < 0 {
		return &LimitError{Limit: "MaxAllocFactor", Max: int64(c.cfg.allocFactor), Got: int64(c.budgetMax)}
	}
	return nil
}

// decErr is a conversion error, with the Go path to the failing value
// collected (innermost first) as it returns.
type decErr struct {
	segs   []string
	python string
	value  string
	typ    reflect.Type
	err    error
}

func (e *decErr) Error() string { return e.toError("").Error() }

// toError makes the exported error, with root the name of the target's
// type when it has one.
func (e *decErr) toError(root string) *UnmarshalTypeError {
	path := ""
	if len(e.segs) > 0 {
		b := []byte(root)
		for i := len(e.segs) - 1; i >= 0; i-- {
			b = append(b, e.segs[i]...)
		}
		path = string(b)
	}
	return &UnmarshalTypeError{Python: e.python, Value: e.value, Type: e.typ, Path: path,
		Field: len(e.segs) > 0 && e.segs[0][0] == '.', Err: e.err}
}

// within adds a path segment to an error from a nested value.
func inside(err error, seg string) error {
	if de, ok := err.(*decErr); ok {
		de.segs = append(de.segs, seg)
		return de
	}
	return err
}

func fieldSeg(f *field) string { return "." + f.goName }
func indexSeg(i int) string    { return "[" + strconv.Itoa(i) + "]" }
func keySeg(k any) string {
	switch x := k.(type) {
	case string:
		return "[" + strconv.Quote(x) + "]"
	case ByteString:
		return "[" + strconv.Quote(string(x)) + "]"
	}
	return "[" + reprShort(k) + "]"
}

// reprShort is v for an error message, cut short.
func reprShort(v any) string { return Format(v, 40) }

// mismatch is the error for a value that a Go value of type t cannot hold.
func mismatch(v any, t reflect.Type) error {
	return &decErr{python: pyDesc(v), typ: t}
}

// outOfRange is the error for a number that does not fit type t.
func outOfRange(v any, t reflect.Type) error {
	return &decErr{python: pyDesc(v), value: reprShort(v), typ: t}
}

func failure(v any, t reflect.Type, err error) error {
	return &decErr{python: pyDesc(v), typ: t, err: err}
}

// pyDesc names the Python type of a model value, for errors: TypeName, more
// precise for classes, objects and Python 2 strs.
func pyDesc(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case ByteString:
		return "str (Python 2)"
	case Global:
		return "class " + x.String()
	case *Object:
		if g, ok := viewObject(x).classOf(); ok {
			return g.String()
		}
		return "object"
	case PersistentRef:
		return "persistent id"
	}
	return TypeName(v)
}

func (c *conv) enter() error {
	c.depth++
	if c.depth > c.cfg.maxDepth {
		return &LimitError{Limit: "MaxDepth", Max: int64(c.cfg.maxDepth), Got: int64(c.depth)}
	}
	return nil
}

// decode stores the model value v in the Go value at ptr, of plan p.
func (c *conv) decode(v any, p *decPlan, ptr unsafe.Pointer) error {
	if err := c.spend(16 + p.size); err != nil {
		return err
	}
	switch p.k {
	case dAny:
		*(*any)(ptr) = v
		return nil
	case dPtr:
		return c.decodePtr(v, p, ptr)
	case dUnmarshaler:
		u := reflect.NewAt(p.t, ptr).Interface().(Unmarshaler)
		if err := u.UnmarshalPickle(v); err != nil {
			return failure(v, p.t, err)
		}
		return nil
	case dBuiltin:
		return p.bi.decode(c, v, p, ptr)
	case dIface:
		return c.decodeIface(v, p, ptr)
	case dModel:
		if v == nil {
			reflect.NewAt(p.t, ptr).Elem().SetZero()
			return nil
		}
		if reflect.TypeOf(v) == p.t {
			reflect.NewAt(p.t, ptr).Elem().Set(reflect.ValueOf(v))
			return nil
		}
		return mismatch(v, p.t)
	case dUnsupported:
		return failure(v, p.t, &UnsupportedTypeError{Type: p.t})
	}
	if o, ok := v.(*Object); ok {
		return c.decodeObject(o, p, ptr)
	}
	switch p.k {
	case dBool:
		if b, ok := v.(bool); ok {
			*(*bool)(ptr) = b
			return nil
		}
	case dInt, dUint:
		return c.decodeInt(v, p, ptr)
	case dFloat32, dFloat64:
		f, ok := floatOf(v)
		if !ok {
			break
		}
		if p.k == dFloat32 {
			if math.Abs(f) > math.MaxFloat32 && !math.IsInf(f, 0) {
				return outOfRange(v, p.t)
			}
			*(*float32)(ptr) = float32(f)
		} else {
			*(*float64)(ptr) = f
		}
		return nil
	case dComplex64, dComplex128:
		var z complex128
		if x, ok := v.(complex128); ok {
			z = x
		} else if f, ok := floatOf(v); ok {
			z = complex(f, 0)
		} else {
			break
		}
		if p.k == dComplex64 {
			*(*complex64)(ptr) = complex64(z)
		} else {
			*(*complex128)(ptr) = z
		}
		return nil
	case dString:
		switch x := v.(type) {
		case string:
			*(*string)(ptr) = x
			return nil
		case ByteString:
			*(*string)(ptr) = string(x)
			return nil
		}
	case dBytes:
		if b, ok := bytesOf(v); ok {
			*(*[]byte)(ptr) = b
			return nil
		}
		if _, ok := v.([]any); ok {
			return c.decodeSlice(v, p, ptr)
		}
		if _, ok := v.(Tuple); ok {
			return c.decodeSlice(v, p, ptr)
		}
		if v == nil {
			*(*[]byte)(ptr) = nil
			return nil
		}
	case dByteArray:
		if b, ok := bytesOf(v); ok {
			if len(b) != p.n {
				return failure(v, p.t, fmt.Errorf("%d bytes for %d", len(b), p.n))
			}
			copy(unsafe.Slice((*byte)(ptr), p.n), b)
			return nil
		}
		if _, ok := itemsOf(v); ok {
			return c.decodeArray(v, p, ptr)
		}
	case dSlice:
		return c.decodeSlice(v, p, ptr)
	case dArray:
		return c.decodeArray(v, p, ptr)
	case dMap:
		return c.decodeMap(v, p, ptr)
	case dStruct:
		return c.decodeStruct(v, p, ptr)
	}
	if v == nil {
		// None leaves scalars and structs as they are, as encoding/json
		// does with null.
		return nil
	}
	return mismatch(v, p.t)
}

func floatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	}
	return 0, false
}

func bytesOf(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case ByteArray:
		return x, true
	case ByteString:
		return []byte(x), true
	case PickleBuffer:
		return x.Data, true
	}
	return nil, false
}

func (c *conv) decodeInt(v any, p *decPlan, ptr unsafe.Pointer) error {
	switch x := v.(type) {
	case int64:
		if p.k == dInt {
			if setInt(ptr, p.size, x) {
				return nil
			}
		} else if x >= 0 && setUint(ptr, p.size, uint64(x)) {
			return nil
		}
		return outOfRange(v, p.t)
	case *big.Int:
		if p.k == dInt && x.IsInt64() && setInt(ptr, p.size, x.Int64()) {
			return nil
		}
		if p.k == dUint && x.IsUint64() && setUint(ptr, p.size, x.Uint64()) {
			return nil
		}
		return outOfRange(v, p.t)
	case nil:
		return nil
	}
	return mismatch(v, p.t)
}

// setInt stores i in a signed integer of size bytes, reporting whether it
// fits.
func setInt(ptr unsafe.Pointer, size uintptr, i int64) bool {
	switch size {
	case 1:
		if int64(int8(i)) != i {
			return false
		}
		*(*int8)(ptr) = int8(i)
	case 2:
		if int64(int16(i)) != i {
			return false
		}
		*(*int16)(ptr) = int16(i)
	case 4:
		if int64(int32(i)) != i {
			return false
		}
		*(*int32)(ptr) = int32(i)
	default:
		*(*int64)(ptr) = i
	}
	return true
}

func setUint(ptr unsafe.Pointer, size uintptr, u uint64) bool {
	switch size {
	case 1:
		if uint64(uint8(u)) != u {
			return false
		}
		*(*uint8)(ptr) = uint8(u)
	case 2:
		if uint64(uint16(u)) != u {
			return false
		}
		*(*uint16)(ptr) = uint16(u)
	case 4:
		if uint64(uint32(u)) != u {
			return false
		}
		*(*uint32)(ptr) = uint32(u)
	default:
		*(*uint64)(ptr) = u
	}
	return true
}

// identity returns the address that identifies a Python container in the
// model, or nil for values without identity.
func identity(v any) unsafe.Pointer {
	switch x := v.(type) {
	case *Dict:
		return unsafe.Pointer(x)
	case *Object:
		return unsafe.Pointer(x)
	case *Set:
		return unsafe.Pointer(x)
	case *FrozenSet:
		return unsafe.Pointer(x)
	case []any:
		if cap(x) > 0 {
			return unsafe.Pointer(unsafe.SliceData(x))
		}
	case Tuple:
		if cap(x) > 0 {
			return unsafe.Pointer(unsafe.SliceData(x))
		}
	}
	return nil
}

func (c *conv) decodePtr(v any, p *decPlan, ptr unsafe.Pointer) error {
	pp := (*unsafe.Pointer)(ptr)
	if v == nil {
		*pp = nil
		return nil
	}
	id := identity(v)
	if id != nil {
		if q, ok := c.ptrs[ptrKey{id, p.t}]; ok {
			*pp = q
			return nil
		}
	}
	target := *pp
	if target == nil {
		target = reflect.New(p.elem.t).UnsafePointer()
	}
	if id != nil {
		if c.ptrs == nil {
			c.ptrs = map[ptrKey]unsafe.Pointer{}
		}
		c.ptrs[ptrKey{id, p.t}] = target
	}
	*pp = target
	if err := c.enter(); err != nil {
		return err
	}
	defer func() { c.depth-- }()
	return c.decode(v, p.elem, target)
}

// itemsOf returns the items of a Python sequence or set.
func itemsOf(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case Tuple:
		return x, true
	case *Set:
		return x.items, true
	case *FrozenSet:
		return x.elems(), true
	case *Object:
		return viewObject(x).sequence()
	}
	return nil, false
}

func (c *conv) decodeSlice(v any, p *decPlan, ptr unsafe.Pointer) error {
	if v == nil {
		reflect.NewAt(p.t, ptr).Elem().SetZero()
		return nil
	}
	items, ok := itemsOf(v)
	if !ok {
		return mismatch(v, p.t)
	}
	// A list shared by several places is one slice, as it is one list
	// in Python; so decoding stays linear in the pickle's size.
	id := identity(v)
	if id != nil {
		if h, ok := c.lists[ptrKey{id, p.t}]; ok {
			*(*sliceHeader)(ptr) = h
			return nil
		}
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer func() { c.depth-- }()
	if err := c.spend(uintptr(len(items)) * p.elem.size); err != nil {
		return err
	}
	s := reflect.MakeSlice(p.t, len(items), len(items))
	base := s.UnsafePointer()
	if id != nil {
		if c.lists == nil {
			c.lists = map[ptrKey]sliceHeader{}
		}
		c.lists[ptrKey{id, p.t}] = sliceHeader{base, len(items), len(items)}
	}
	for i, it := range items {
		if err := c.decode(it, p.elem, unsafe.Add(base, uintptr(i)*p.elem.size)); err != nil {
			return inside(err, indexSeg(i))
		}
	}
	reflect.NewAt(p.t, ptr).Elem().Set(s)
	return nil
}

func (c *conv) decodeArray(v any, p *decPlan, ptr unsafe.Pointer) error {
	items, ok := itemsOf(v)
	if !ok {
		if v == nil {
			return nil
		}
		return mismatch(v, p.t)
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer func() { c.depth-- }()
	// As encoding/json: extra items are dropped, missing ones zeroed.
	arr := reflect.NewAt(p.t, ptr).Elem()
	for i := 0; i < p.n; i++ {
		ep := unsafe.Add(ptr, uintptr(i)*p.elem.size)
		if i >= len(items) {
			arr.Index(i).SetZero()
			continue
		}
		if err := c.decode(items[i], p.elem, ep); err != nil {
			return inside(err, indexSeg(i))
		}
	}
	return nil
}

// pairsOf returns the items of a Python dict, or of an object that is a
// dict subclass (OrderedDict, defaultdict, Counter).
func pairsOf(v any) (*Dict, bool) {
	switch x := v.(type) {
	case *Dict:
		return x, true
	case *Object:
		return viewObject(x).mapping()
	}
	return nil, false
}

func (c *conv) decodeMap(v any, p *decPlan, ptr unsafe.Pointer) error {
	m := reflect.NewAt(p.t, ptr).Elem()
	if v == nil {
		m.SetZero()
		return nil
	}
	d, isDict := pairsOf(v)
	var elems []any
	if !isDict {
		var ok bool
		if elems, ok = setItems(v); !ok || !p.set {
			return mismatch(v, p.t)
		}
	}
	id := identity(v)
	if id != nil {
		if q, ok := c.ptrs[ptrKey{id, p.t}]; ok {
			*(*unsafe.Pointer)(ptr) = q
			return nil
		}
	}
	if err := c.enter(); err != nil {
		return err
	}
	defer func() { c.depth-- }()
	if m.IsNil() {
		n := len(elems)
		if d != nil {
			n = d.Len()
		}
		m.Set(reflect.MakeMapWithSize(p.t, n))
	}
	if id != nil {
		if c.ptrs == nil {
			c.ptrs = map[ptrKey]unsafe.Pointer{}
		}
		c.ptrs[ptrKey{id, p.t}] = m.UnsafePointer()
	}
	key := reflect.New(p.key.t).Elem()
	val := reflect.New(p.elem.t).Elem()
	if !isDict {
		if p.elem.k == dBool {
			val.SetBool(true)
		}
		for _, k := range elems {
			key.SetZero()
			if err := c.decode(k, p.key, unsafe.Pointer(key.UnsafeAddr())); err != nil {
				return inside(err, keySeg(k)+"(key)")
			}
			if !key.Comparable() {
				return inside(failure(k, p.key.t, ErrKeyNotComparable), keySeg(k)+"(key)")
			}
			m.SetMapIndex(key, val)
		}
		return nil
	}
	for i := range d.entries {
		k, x := d.entries[i].key, d.entries[i].value
		key.SetZero()
		if err := c.decode(k, p.key, unsafe.Pointer(key.UnsafeAddr())); err != nil {
			return inside(err, keySeg(k)+"(key)")
		}
		if !key.Comparable() {
			return inside(failure(k, p.key.t, ErrKeyNotComparable), keySeg(k)+"(key)")
		}
		val.SetZero()
		if err := c.decode(x, p.elem, unsafe.Pointer(val.UnsafeAddr())); err != nil {
			return inside(err, keySeg(k))
		}
		m.SetMapIndex(key, val)
	}
	return nil
}

func setItems(v any) ([]any, bool) {
	switch x := v.(type) {
	case *Set:
		return x.items, true
	case *FrozenSet:
		return x.elems(), true
	}
	return nil, false
}

func (c *conv) decodeIface(v any, p *decPlan, ptr unsafe.Pointer) error {
	iv := reflect.NewAt(p.t, ptr).Elem()
	if v == nil {
		iv.SetZero()
		return nil
	}
	if o, ok := v.(*Object); ok {
		if g, ok := viewObject(o).classOf(); ok {
			if ci := c.reg.byPyClass(g); ci != nil {
				nv := reflect.New(ci.typ)
				if err := c.decode(v, decPlanFor(ci.typ), nv.UnsafePointer()); err != nil {
					return err
				}
				switch {
				case ci.typ.Implements(p.t):
					iv.Set(nv.Elem())
					return nil
				case nv.Type().Implements(p.t):
					iv.Set(nv)
					return nil
				}
				return failure(v, p.t, fmt.Errorf("registered type %s does not implement %s", ci.typ, p.t))
			}
		}
	}
	if reflect.TypeOf(v).Implements(p.t) {
		iv.Set(reflect.ValueOf(v))
		return nil
	}
	return mismatch(v, p.t)
}

// decodeStruct decodes a dict's items, or a sequence's items in order,
// into a struct.
func (c *conv) decodeStruct(v any, p *decPlan, ptr unsafe.Pointer) error {
	switch x := v.(type) {
	case nil:
		return nil
	case *Dict:
		if err := c.enter(); err != nil {
			return err
		}
		defer func() { c.depth-- }()
		return c.fieldsFromDict(x, p, ptr)
	case []any, Tuple:
		if err := c.enter(); err != nil {
			return err
		}
		defer func() { c.depth-- }()
		items, _ := itemsOf(x)
		return c.fieldsFromItems(v, items, p, ptr)
	}
	return mismatch(v, p.t)
}

func (c *conv) fieldsFromDict(d *Dict, p *decPlan, ptr unsafe.Pointer) error {
	for i := range d.entries {
		k, x := d.entries[i].key, d.entries[i].value
		if err := c.setField(d, k, x, p, ptr); err != nil {
			return err
		}
	}
	return nil
}

// setField decodes the value of dict key k into the field it names.
func (c *conv) setField(src any, k, x any, p *decPlan, ptr unsafe.Pointer) error {
	name, ok := k.(string)
	if !ok {
		if b, isB := k.(ByteString); isB {
			name, ok = string(b), true
		}
	}
	i := -1
	if ok {
		i = p.st.find(name)
	}
	if i < 0 {
		return c.unknownField(src, k, x, p, ptr)
	}
	f := &p.st.fields[i]
	fp := fieldPtr(p.t, ptr, f, true)
	if fp == nil {
		return inside(failure(x, f.typ, fmt.Errorf("cannot set embedded pointer to unexported struct")), fieldSeg(f))
	}
	if err := c.decode(x, p.fields[i], fp); err != nil {
		return inside(err, fieldSeg(f))
	}
	return nil
}

// ErrUnknownField is the cause of an UnmarshalTypeError for a dict key
// that names no field, with DecodeOptions.UnknownFields RejectUnknown.
var ErrUnknownField = errors.New("unknown field")

// ErrUnknownClass is the cause of an UnmarshalTypeError for an instance
// of a class not registered for the struct it is decoded into, with
// DecodeOptions.UnknownClasses RejectUnknown, or registered for another
// Go type.
var ErrUnknownClass = errors.New("class not registered for this Go type")

func (c *conv) unknownField(src, k, x any, p *decPlan, ptr unsafe.Pointer) error {
	if xf := p.st.extra; xf != nil {
		fp := fieldPtr(p.t, ptr, xf, true)
		if fp != nil {
			if xf.typ == dictPtrType {
				d := (**Dict)(fp)
				if *d == nil {
					*d = NewDict()
				}
				return (*d).Set(k, x)
			}
			name, ok := k.(string)
			if !ok {
				if b, isB := k.(ByteString); isB {
					name, ok = string(b), true
				}
			}
			if ok {
				m := reflect.NewAt(xf.typ, fp).Elem()
				if m.IsNil() {
					m.Set(reflect.MakeMap(xf.typ))
				}
				val := reflect.New(p.extra.t).Elem()
				if err := c.decode(x, p.extra, unsafe.Pointer(val.UnsafeAddr())); err != nil {
					return inside(inside(err, keySeg(name)), fieldSeg(xf))
				}
				m.SetMapIndex(reflect.ValueOf(name).Convert(xf.typ.Key()), val)
				return nil
			}
		}
	}
	if c.cfg.UnknownFields == RejectUnknown {
		name := reprShort(k)
		switch x := k.(type) {
		case string:
			name = strconv.Quote(x)
		case ByteString:
			name = strconv.Quote(string(x))
		}
		return failure(src, p.t, fmt.Errorf("%w %s", ErrUnknownField, name))
	}
	return nil
}

// fieldsFromItems decodes items into the fields in order, as a namedtuple
// maps to a struct.
func (c *conv) fieldsFromItems(src any, items []any, p *decPlan, ptr unsafe.Pointer) error {
	for i, x := range items {
		if i >= len(p.st.fields) {
			if c.cfg.UnknownFields == RejectUnknown {
				return failure(src, p.t, fmt.Errorf("%w: %d items for %d fields", ErrUnknownField, len(items), len(p.st.fields)))
			}
			break
		}
		f := &p.st.fields[i]
		fp := fieldPtr(p.t, ptr, f, true)
		if fp == nil {
			return inside(failure(x, f.typ, fmt.Errorf("cannot set embedded pointer to unexported struct")), fieldSeg(f))
		}
		if err := c.decode(x, p.fields[i], fp); err != nil {
			return inside(err, fieldSeg(f))
		}
	}
	return nil
}

// objView is an *Object seen as an instance: its class, and the parts
// that hold its contents, with copyreg's reconstructors unwrapped.
type objView struct {
	o     *Object
	class any   // the class or callable
	args  Tuple // arguments of __new__ or of the call
	isNew bool  // made by __new__ rather than by calling the class
	state any
}

func viewObject(o *Object) objView {
	w := objView{o: o, class: o.Callable, args: o.Args, isNew: o.New || o.Inst, state: o.State}
	if g, ok := o.Callable.(Global); ok && g == gReconstructor && len(o.Args) == 3 {
		// copyreg._reconstructor(cls, base, state) for a base the decoder
		// does not unwrap itself: tuple (namedtuples at protocols 0-1),
		// or another builtin base whose constructor takes state.
		w.class, w.isNew = o.Args[0], true
		w.args = Tuple{o.Args[2]}
		if o.Args[1] == any(Global{"builtins", "tuple"}) {
			if t, ok := o.Args[2].(Tuple); ok {
				w.args = t
			}
		}
	}
	return w
}

func (w objView) classOf() (Global, bool) {
	g, ok := w.class.(Global)
	return g, ok
}

// mapping returns the items of a dict subclass: set with SETITEMS, or
// given to the constructor as a dict (defaultdict's state at protocols
// 0-1 and OrderedDict's in Python 2 come as lists of pairs).
func (w objView) mapping() (*Dict, bool) {
	if w.o.DictItems != nil {
		return w.o.DictItems, true
	}
	g, _ := w.classOf()
	switch g {
	case Global{"collections", "OrderedDict"}, Global{"collections", "Counter"}, Global{"collections", "defaultdict"}:
		d := &Dict{}
		if g == (Global{"collections", "defaultdict"}) {
			return d, true // its first argument is the default factory
		}
		if len(w.args) == 1 {
			if pairs, ok := itemsOf(w.args[0]); ok {
				for _, p := range pairs {
					kv, ok := itemsOf(p)
					if !ok || len(kv) != 2 || d.Set(kv[0], kv[1]) != nil {
						return nil, false
					}
				}
			} else if dd, ok := w.args[0].(*Dict); ok {
				return dd, true
			}
		}
		return d, true
	}
	return nil, false
}

// sequence returns the items of a list subclass or of a deque.
func (w objView) sequence() ([]any, bool) {
	g, _ := w.classOf()
	if g == (Global{"collections", "deque"}) {
		var items []any
		if len(w.args) >= 1 {
			first, ok := itemsOf(w.args[0])
			if !ok {
				return nil, false
			}
			items = append(items, first...)
		}
		return append(items, w.o.ListItems...), true
	}
	if w.o.ListItems != nil {
		return w.o.ListItems, true
	}
	return nil, false
}

// decodeObject decodes an instance into a Go value that is not an
// interface, a pointer, a builtin or an Unmarshaler.
func (c *conv) decodeObject(o *Object, p *decPlan, ptr unsafe.Pointer) error {
	w := viewObject(o)
	g, hasClass := w.classOf()
	var ci *classInfo
	if hasClass {
		ci = c.reg.byPyClass(g)
	}
	if ci != nil {
		if want := c.reg.byGoType(p.t); want != nil && want != ci {
			return failure(o, p.t, fmt.Errorf("%w (it is registered for %s)", ErrUnknownClass, want.class))
		}
		switch ci.form {
		case EnumForm:
			if len(w.args) != 1 {
				return failure(o, p.t, fmt.Errorf("enum member with %d arguments", len(w.args)))
			}
			return c.decode(w.args[0], p, ptr)
		case TupleForm:
			if p.k == dStruct {
				c.setClass(g, p, ptr)
				return c.fieldsFromItems(o, w.args, p, ptr)
			}
			return c.decode(w.args, p, ptr)
		}
	}
	switch p.k {
	case dStruct:
		if ci == nil && c.cfg.UnknownClasses == RejectUnknown {
			return failure(o, p.t, ErrUnknownClass)
		}
		if want := c.reg.byGoType(p.t); ci == nil && want != nil {
			return failure(o, p.t, fmt.Errorf("%w (it is registered for %s)", ErrUnknownClass, want.class))
		}
		if err := c.enter(); err != nil {
			return err
		}
		defer func() { c.depth-- }()
		if hasClass {
			c.setClass(g, p, ptr)
		}
		return c.attributes(w, p, ptr)
	case dMap:
		if d, ok := w.mapping(); ok {
			return c.decodeMap(d, p, ptr)
		}
	case dSlice, dArray, dBytes, dByteArray:
		if items, ok := w.sequence(); ok {
			return c.decode(items, p, ptr)
		}
	}
	return mismatch(o, p.t)
}

func (c *conv) setClass(g Global, p *decPlan, ptr unsafe.Pointer) {
	if cf := p.st.class; cf != nil {
		if fp := fieldPtr(p.t, ptr, cf, true); fp != nil {
			*(*Global)(fp) = g
		}
	}
}

// attributes decodes an instance's contents into a struct: positional
// __new__ arguments, dict items, then its state.
func (c *conv) attributes(w objView, p *decPlan, ptr unsafe.Pointer) error {
	if w.isNew && len(w.args) > 0 {
		if err := c.fieldsFromItems(w.o, w.args, p, ptr); err != nil {
			return err
		}
	}
	if w.o.DictItems != nil {
		if err := c.fieldsFromDict(w.o.DictItems, p, ptr); err != nil {
			return err
		}
	}
	switch s := w.state.(type) {
	case nil:
	case *Dict:
		return c.fieldsFromDict(s, p, ptr)
	case Tuple:
		// (state, slotstate), as objects with __slots__ pickle.
		if len(s) != 2 {
			return failure(w.o, p.t, fmt.Errorf("state is a tuple of %d items", len(s)))
		}
		for _, part := range s {
			switch d := part.(type) {
			case nil:
			case *Dict:
				if err := c.fieldsFromDict(d, p, ptr); err != nil {
					return err
				}
			default:
				return failure(w.o, p.t, fmt.Errorf("state holds a %s", pyDesc(part)))
			}
		}
	case []any:
		// Field values in order: dataclasses with slots (3.10 to 3.12).
		return c.fieldsFromItems(w.o, s, p, ptr)
	default:
		return failure(w.o, p.t, fmt.Errorf("state is a %s", pyDesc(s)))
	}
	return nil
}
