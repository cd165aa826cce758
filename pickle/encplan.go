package pickle

import (
	"reflect"
	"strconv"
	"sync"
	"unsafe"
)

// Compiled encoders: for each Go type, a function that writes a value of
// it from its address, with every decision that depends only on the type
// (field names, kinds, which types have a form of their own) made once.
// They write exactly what the reflection-based encoder writes (and fall
// back on it for maps, interfaces' contents and types with a form of their
// own); encplan_test.go checks that they agree byte for byte.

type encFn func(e *encoder, p unsafe.Pointer, aliases []memoKey) error

type encPlan struct {
	t  reflect.Type
	fn encFn
}

var (
	encPlans  sync.Map // reflect.Type -> *encPlan
	encPlanMu sync.Mutex
)

func encPlanFor(t reflect.Type) *encPlan {
	if p, ok := encPlans.Load(t); ok {
		return p.(*encPlan)
	}
	encPlanMu.Lock()
	defer encPlanMu.Unlock()
	building := map[reflect.Type]*encPlan{}
	p := buildEncPlan(t, building)
	for bt, bp := range building {
		encPlans.Store(bt, bp)
	}
	return p
}

type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

// compiledOK reports whether the compiled encoders may write values now:
// not when a PersistentID hook must see every value (which is also how
// tests get the reflection-based encoder).
func (e *encoder) compiledOK() bool { return e.opts.PersistentID == nil }

// saveCompiled writes rv with its compiled encoder, if its type has one
// worth using (slices and structs; a scalar alone gains nothing).
func (e *encoder) saveCompiled(rv reflect.Value, aliases []memoKey) (bool, error) {
	if !e.compiledOK() {
		return false, nil
	}
	t := rv.Type()
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return false, nil
		}
		h := sliceHeader{rv.UnsafePointer(), rv.Len(), rv.Cap()}
		return true, encPlanFor(t).fn(e, unsafe.Pointer(&h), aliases)
	case reflect.Struct:
		if hasOwnForm(t) || t == bigIntType {
			return false, nil
		}
		return true, encPlanFor(t).fn(e, addrOf(e, rv), aliases)
	}
	return false, nil
}

// reflectFn is the encoder for types the compiled encoders leave to
// reflection.
func reflectFn(t reflect.Type) encFn {
	return func(e *encoder, p unsafe.Pointer, aliases []memoKey) error {
		return e.saveValue(reflect.NewAt(t, p).Elem(), aliases)
	}
}

func buildEncPlan(t reflect.Type, building map[reflect.Type]*encPlan) *encPlan {
	if p, ok := encPlans.Load(t); ok {
		return p.(*encPlan)
	}
	if p := building[t]; p != nil {
		return p
	}
	p := &encPlan{t: t}
	building[t] = p
	if isSpecial(t) || t == bigIntType || builtinFor(t) != nil || t.Kind() == reflect.Map {
		p.fn = reflectFn(t)
		return p
	}
	switch t.Kind() {
	case reflect.Bool:
		p.fn = func(e *encoder, ptr unsafe.Pointer, _ []memoKey) error {
			e.saveBool(*(*bool)(ptr))
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		size := t.Size()
		p.fn = func(e *encoder, ptr unsafe.Pointer, _ []memoKey) error {
			e.saveInt(loadInt(ptr, size))
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		size := t.Size()
		p.fn = func(e *encoder, ptr unsafe.Pointer, _ []memoKey) error {
			e.saveUint(loadUint(ptr, size))
			return nil
		}
	case reflect.Float32:
		p.fn = func(e *encoder, ptr unsafe.Pointer, _ []memoKey) error {
			e.saveFloat(float64(*(*float32)(ptr)))
			return nil
		}
	case reflect.Float64:
		p.fn = func(e *encoder, ptr unsafe.Pointer, _ []memoKey) error {
			e.saveFloat(*(*float64)(ptr))
			return nil
		}
	case reflect.String:
		p.fn = func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			return e.saveStr(*(*string)(ptr), aliases)
		}
	case reflect.Slice:
		p.fn = sliceEncoder(t, building)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			p.fn = reflectFn(t)
			break
		}
		elem := buildEncPlan(t.Elem(), building)
		n, size := t.Len(), t.Elem().Size()
		p.fn = func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			if done, err := e.begin(memoKey{}, aliases, false); done {
				return err
			}
			defer func() { e.depth-- }()
			return e.batchAppendsExact(n, func(i int) error {
				e.boundary()
				return elem.fn(e, unsafe.Add(ptr, uintptr(i)*size), nil)
			})
		}
	case reflect.Pointer:
		elem := buildEncPlan(t.Elem(), building)
		tp := typePtr(t)
		p.fn = func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			target := *(*unsafe.Pointer)(ptr)
			if target == nil {
				e.buf = append(e.buf, opNone)
				return nil
			}
			key := memoKey{p: target, t: tp, k: kPtr}
			if e.lookup(key) {
				return nil
			}
			if err := e.enter(); err != nil {
				return err
			}
			defer func() { e.depth-- }()
			return elem.fn(e, target, append(aliases, key))
		}
	case reflect.Interface:
		p.fn = func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			v := reflect.NewAt(t, ptr).Elem()
			if v.IsNil() {
				e.buf = append(e.buf, opNone)
				return nil
			}
			e.alias = aliases
			return e.save(v.Elem().Interface())
		}
	case reflect.Struct:
		p.fn = structEncoder(t, building)
	default:
		p.fn = reflectFn(t)
	}
	if t.Name() != "" && t.Kind() != reflect.Struct {
		// A named type may be registered (as an enum), now or later.
		plain := p.fn
		p.fn = func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			if reg := e.opts.registry(); !reg.empty() {
				if ci := reg.byGoType(t); ci != nil {
					return e.saveClass(reflect.NewAt(t, ptr).Elem(), ci.class, ci.form, aliases)
				}
			}
			return plain(e, ptr, aliases)
		}
	}
	return p
}

func loadInt(p unsafe.Pointer, size uintptr) int64 {
	switch size {
	case 1:
		return int64(*(*int8)(p))
	case 2:
		return int64(*(*int16)(p))
	case 4:
		return int64(*(*int32)(p))
	}
	return *(*int64)(p)
}

func loadUint(p unsafe.Pointer, size uintptr) uint64 {
	switch size {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

func sliceEncoder(t reflect.Type, building map[reflect.Type]*encPlan) encFn {
	if t.Elem().Kind() == reflect.Uint8 {
		return func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			return e.saveBytes(*(*[]byte)(ptr), aliases)
		}
	}
	tp := typePtr(t)
	elemT := t.Elem()
	size := elemT.Size()
	header := func(e *encoder, h *sliceHeader, aliases []memoKey) (bool, error) {
		key := sliceKey(h.data, h.len, h.cap, kList)
		key.t = tp
		return e.begin(key, aliases, false)
	}
	// Slices of scalars are written in one loop, without a call per item.
	var item func(e *encoder, p unsafe.Pointer) error
	switch elemT.Kind() {
	case reflect.Float64:
		item = func(e *encoder, p unsafe.Pointer) error {
			e.saveFloat(*(*float64)(p))
			return nil
		}
	case reflect.Int, reflect.Int64:
		if size != 8 {
			break
		}
		item = func(e *encoder, p unsafe.Pointer) error {
			e.saveInt(*(*int64)(p))
			return nil
		}
	case reflect.String:
		item = func(e *encoder, p unsafe.Pointer) error { return e.saveStr(*(*string)(p), nil) }
	}
	if item != nil && elemT.PkgPath() == "" {
		return func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
			h := (*sliceHeader)(ptr)
			if done, err := header(e, h, aliases); done {
				return err
			}
			defer func() { e.depth-- }()
			n := h.len
			if e.proto == 0 || n <= 1 {
				return e.batchAppendsExact(n, func(i int) error {
					e.boundary()
					return item(e, unsafe.Add(h.data, uintptr(i)*size))
				})
			}
			for i := 0; i < n; {
				e.buf = append(e.buf, opMark)
				end := min(n, i+batchSize)
				// []float64 and []int64 batches: in a loop that keeps
				// the buffer in a register.
				switch {
				case elemT.Kind() == reflect.Float64:
					e.appendFloat64s(unsafe.Slice((*float64)(unsafe.Add(h.data, uintptr(i)*size)), end-i))
					i = end
				case size == 8 && elemT.Kind() != reflect.String:
					e.appendInt64s(unsafe.Slice((*int64)(unsafe.Add(h.data, uintptr(i)*size)), end-i))
					i = end
				}
				for ; i < end; i++ {
					e.boundary()
					if err := item(e, unsafe.Add(h.data, uintptr(i)*size)); err != nil {
						return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
					}
				}
				e.buf = append(e.buf, opAppends)
			}
			return nil
		}
	}
	elem := buildEncPlan(elemT, building)
	return func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
		h := (*sliceHeader)(ptr)
		if done, err := header(e, h, aliases); done {
			return err
		}
		defer func() { e.depth-- }()
		return e.batchAppendsExact(h.len, func(i int) error {
			e.boundary()
			return elem.fn(e, unsafe.Add(h.data, uintptr(i)*size), nil)
		})
	}
}

// fieldEnc is a struct field's part of a compiled struct encoder.
type fieldEnc struct {
	f       *field
	key     string // the dict key, with its memo entry looked up by address
	elem    *encPlan
	isEmpty func(p unsafe.Pointer) bool // for omitempty; nil otherwise
}

func structEncoder(t reflect.Type, building map[reflect.Type]*encPlan) encFn {
	si := structInfoFor(t)
	fields := make([]fieldEnc, len(si.fields))
	for i := range si.fields {
		f := &si.fields[i]
		fe := fieldEnc{f: f, key: f.name, elem: buildEncPlan(f.typ, building)}
		if f.omitEmpty {
			fe.isEmpty = emptyCheck(f.typ)
		}
		fields[i] = fe
	}
	slow := si.extra != nil || si.class != nil
	return func(e *encoder, ptr unsafe.Pointer, aliases []memoKey) error {
		if slow || !e.opts.registry().empty() {
			return e.saveTypedStruct(reflect.NewAt(t, ptr).Elem(), aliases)
		}
		if err := e.enter(); err != nil {
			return err
		}
		defer func() { e.depth-- }()
		// The batching of SETITEMS depends on the number of fields
		// written, known only once empty ones are left out.
		var ptrBuf [24]unsafe.Pointer
		ptrs := ptrBuf[:0]
		if len(fields) > len(ptrBuf) {
			ptrs = make([]unsafe.Pointer, 0, len(fields))
		}
		for i := range fields {
			fe := &fields[i]
			fp := fieldPtr(t, ptr, fe.f, false)
			if fp != nil && fe.isEmpty != nil && fe.isEmpty(fp) {
				fp = nil
			}
			ptrs = append(ptrs, fp)
		}
		n := 0
		for _, fp := range ptrs {
			if fp != nil {
				n++
			}
		}
		e.emptyDict()
		e.memoize(memoKey{}, aliases)
		writeField := func(i int) error {
			fe := &fields[i]
			e.boundary()
			if err := e.saveStr(fe.key, nil); err != nil {
				return within(err, func() string { return "." + fe.f.goName })
			}
			e.boundary()
			if err := fe.elem.fn(e, ptrs[i], nil); err != nil {
				return within(err, func() string { return "." + fe.f.goName })
			}
			return nil
		}
		if e.proto == 0 || n <= 1 {
			for i, fp := range ptrs {
				if fp == nil {
					continue
				}
				if err := writeField(i); err != nil {
					return err
				}
				e.buf = append(e.buf, opSetitem)
			}
			return nil
		}
		written := 0
		e.buf = append(e.buf, opMark)
		for i, fp := range ptrs {
			if fp == nil {
				continue
			}
			if err := writeField(i); err != nil {
				return err
			}
			written++
			if written%batchSize == 0 {
				e.buf = append(e.buf, opSetitems, opMark)
			}
		}
		e.buf = append(e.buf, opSetitems)
		return nil
	}
}

// saveTypedStruct writes a struct as saveTyped does.
func (e *encoder) saveTypedStruct(rv reflect.Value, aliases []memoKey) error {
	if ci := e.opts.registry().byGoType(rv.Type()); ci != nil {
		return e.saveClass(rv, ci.class, ci.form, aliases)
	}
	return e.saveStruct(rv, aliases, false)
}

// emptyCheck returns omitempty's test for values of type t.
func emptyCheck(t reflect.Type) func(p unsafe.Pointer) bool {
	switch t.Kind() {
	case reflect.String:
		return func(p unsafe.Pointer) bool { return len(*(*string)(p)) == 0 }
	case reflect.Slice:
		return func(p unsafe.Pointer) bool { return (*sliceHeader)(p).len == 0 }
	case reflect.Bool:
		return func(p unsafe.Pointer) bool { return !*(*bool)(p) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		size := t.Size()
		return func(p unsafe.Pointer) bool { return loadUint(p, size) == 0 }
	case reflect.Float32:
		return func(p unsafe.Pointer) bool { return *(*float32)(p) == 0 }
	case reflect.Float64:
		return func(p unsafe.Pointer) bool { return *(*float64)(p) == 0 }
	case reflect.Pointer:
		return func(p unsafe.Pointer) bool { return *(*unsafe.Pointer)(p) == nil }
	}
	return func(p unsafe.Pointer) bool { return isEmptyValue(reflect.NewAt(t, p).Elem()) }
}
