package pickle

import (
	"reflect"
	"strconv"
	"unsafe"
)

// Encoding of typed Go values: structs with their tags and registered
// classes, and the types with a Python form of their own (builtin.go).

// dictState is a struct to be written as a dict of its fields, whatever
// class its type is registered for: the state of an instance.
type dictState struct{ rv reflect.Value }

// plainValue is a value to be written by its kind, ignoring the class its
// type is registered for: the value of an enum member.
type plainValue struct{ rv reflect.Value }

var (
	dictStateType  = reflect.TypeFor[dictState]()
	plainValueType = reflect.TypeFor[plainValue]()
)

// saveTyped writes rv if its type has a form of its own: a builtin, a
// registered class, a struct. It reports false for values that the
// encoder's kind rules write.
func (e *encoder) saveTyped(rv reflect.Value, aliases []memoKey) (bool, error) {
	t := rv.Type()
	switch t {
	case dictStateType:
		return true, e.saveStruct(rv.Interface().(dictState).rv, aliases, true)
	case plainValueType:
		inner := rv.Interface().(plainValue).rv
		if inner.Kind() == reflect.Struct {
			return true, e.saveStruct(inner, aliases, true)
		}
		return true, e.saveValue(plainKind(inner), aliases)
	}
	if done, err := e.saveCompiled(rv, aliases); done {
		return true, err
	}
	if bi := builtinFor(t); bi != nil && bi.encode != nil {
		val, err := bi.encode(e, addrOf(e, rv))
		if err != nil {
			return true, errAt(err, t)
		}
		if val != nil {
			return true, e.saveModel(val, aliases)
		}
	}
	if ci := e.opts.registry().byGoType(t); ci != nil {
		return true, e.saveClass(rv, ci.class, ci.form, aliases)
	}
	switch t.Kind() {
	case reflect.Struct:
		if !isSpecial(t) && t != bigIntType {
			return true, e.saveStruct(rv, aliases, false)
		}
	case reflect.Map:
		if isEmptyStruct(t.Elem()) {
			return true, e.saveMapSet(rv, aliases)
		}
		if tupleKeyType(t.Key()) {
			return true, e.saveMapTupleKeys(rv, aliases)
		}
	}
	return false, nil
}

func isEmptyStruct(t reflect.Type) bool { return t.Kind() == reflect.Struct && t.NumField() == 0 }

// tupleKeyType reports whether map keys of type t are written as tuples:
// arrays (other than of bytes) and structs without a form of their own,
// which would otherwise be an unhashable list or dict.
func tupleKeyType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Elem().Kind() != reflect.Uint8
	case reflect.Struct:
		return !hasOwnForm(t) && t != bigIntType
	}
	return false
}

// tupleKey is a map key to be written as a tuple of its elements or
// fields.
type tupleKey struct{ rv reflect.Value }

func (k tupleKey) tuple() Tuple {
	rv := k.rv
	var out Tuple
	if rv.Kind() == reflect.Array {
		out = make(Tuple, rv.Len())
		for i := range out {
			out[i] = keyValue(rv.Index(i))
		}
		return out
	}
	si := structInfoFor(rv.Type())
	out = make(Tuple, 0, len(si.fields))
	for i := range si.fields {
		fv, ok := fieldByIndex(rv, si.fields[i].index)
		if !ok {
			out = append(out, nil)
			continue
		}
		out = append(out, keyValue(fv))
	}
	return out
}

// keyValue returns a map key (or a part of one) as the value to write.
func keyValue(rv reflect.Value) any {
	if tupleKeyType(rv.Type()) {
		return tupleKey{rv}.tuple()
	}
	return valueOf(rv)
}

// sortedKeys returns the keys of map rv in the encoder's order.
func sortedKeys(rv reflect.Value) []reflect.Value {
	keys := rv.MapKeys()
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sortKeys(keys, order)
	out := make([]reflect.Value, len(keys))
	for i, j := range order {
		out[i] = keys[j]
	}
	return out
}

// saveMapTupleKeys writes a map whose keys are arrays or structs, as a dict
// with tuple keys.
func (e *encoder) saveMapTupleKeys(rv reflect.Value, aliases []memoKey) error {
	key := mapKey(rv)
	if done, err := e.begin(key, aliases, true); done {
		return err
	}
	defer func() { e.depth-- }()
	keys := sortedKeys(rv)
	return e.batchSetitemsExact(len(keys), func(i int) error {
		k := keys[i]
		if err := e.save(e.temp(tupleKey{k}.tuple())); err != nil {
			return within(err, func() string { return "[" + rvKeyPath(k) + "](key)" })
		}
		if err := e.saveRV(rv.MapIndex(k)); err != nil {
			return within(err, func() string { return "[" + rvKeyPath(k) + "]" })
		}
		return nil
	})
}

// saveMapSet writes a map[K]struct{} as a Python set of its keys.
func (e *encoder) saveMapSet(rv reflect.Value, aliases []memoKey) error {
	key := mapKey(rv)
	if e.lookup(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	keys := sortedKeys(rv)
	items := make([]any, len(keys))
	for i, k := range keys {
		items[i] = keyValue(k)
	}
	if e.proto < 4 {
		return e.saveSetReduce(gSet, items, key, aliases)
	}
	e.buf = append(e.buf, opEmptySet)
	e.memoize(key, aliases)
	for i := 0; i < len(items); {
		e.buf = append(e.buf, opMark)
		end := min(len(items), i+batchSize)
		for ; i < end; i++ {
			if err := e.save(items[i]); err != nil {
				k := keys[i]
				return within(err, func() string { return "[" + rvKeyPath(k) + "](key)" })
			}
		}
		e.buf = append(e.buf, opAdditems)
	}
	return nil
}

// plainKind returns rv converted to the unnamed type of its kind, which
// has no registration.
func plainKind(rv reflect.Value) reflect.Value {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return reflect.ValueOf(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return reflect.ValueOf(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return reflect.ValueOf(rv.Float())
	case reflect.Bool:
		return reflect.ValueOf(rv.Bool())
	case reflect.String:
		return reflect.ValueOf(rv.String())
	case reflect.Complex64, reflect.Complex128:
		return reflect.ValueOf(rv.Complex())
	}
	return rv
}

// addrOf returns the address of rv's value, copying it to the heap if it
// is not addressable (the copy is kept until encoding ends, as memo keys
// may point into it).
func addrOf(e *encoder, rv reflect.Value) unsafe.Pointer {
	if rv.CanAddr() {
		return rv.Addr().UnsafePointer()
	}
	c := reflect.New(rv.Type())
	c.Elem().Set(rv)
	e.keep = append(e.keep, c.Interface())
	return c.UnsafePointer()
}

// saveModel writes a value of the model made for a Go value, with the Go
// value's memo aliases.
func (e *encoder) saveModel(v any, aliases []memoKey) error {
	e.temp(v)
	if o, ok := v.(*Object); ok {
		return e.saveObject(o, aliases)
	}
	e.alias = aliases
	hook := e.opts.PersistentID
	e.opts.PersistentID = nil // the Go value was offered already
	err := e.save(v)
	e.opts.PersistentID = hook
	return err
}

// saveClass writes rv as an instance of class, by form.
func (e *encoder) saveClass(rv reflect.Value, class Global, form Form, aliases []memoKey) error {
	var o *Object
	switch form {
	case EnumForm:
		o = &Object{Callable: class, Args: Tuple{plainValue{rv}}}
	case TupleForm:
		si := structInfoFor(rv.Type())
		args := make(Tuple, 0, len(si.fields))
		for i := range si.fields {
			fv, ok := fieldByIndex(rv, si.fields[i].index)
			if !ok {
				args = append(args, nil)
				continue
			}
			args = append(args, valueOf(fv))
		}
		o = &Object{Callable: class, New: true, Args: args}
	case SlotsForm:
		o = &Object{Callable: class, New: true, Args: Tuple{}, State: Tuple{nil, dictState{rv}}}
	default:
		o = &Object{Callable: class, New: true, Args: Tuple{}, State: dictState{rv}}
	}
	return e.saveModel(o, aliases)
}

// saveStruct writes a struct: as a dict of its fields (with the entries
// of its ",extra" field), or, when its ",class" field names a class and
// asDict is false, as an instance of that class with the dict as state.
func (e *encoder) saveStruct(rv reflect.Value, aliases []memoKey, asDict bool) error {
	si := structInfoFor(rv.Type())
	if !asDict && si.class != nil {
		if fv, ok := fieldByIndex(rv, si.class.index); ok {
			if g := fv.Interface().(Global); g != (Global{}) {
				return e.saveClass(rv, g, ObjectForm, aliases)
			}
		}
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	var stackBuf [16]reflect.Value
	vals := stackBuf[:0]
	var idxBuf [16]int
	idx := idxBuf[:0]
	for i := range si.fields {
		f := &si.fields[i]
		fv, ok := fieldByIndex(rv, f.index)
		if !ok || (f.omitEmpty && isEmptyValue(fv)) {
			continue
		}
		vals = append(vals, fv)
		idx = append(idx, i)
	}
	var extraKeys, extraVals []reflect.Value
	var extraDict *Dict
	if si.extra != nil {
		if xv, ok := fieldByIndex(rv, si.extra.index); ok && !xv.IsNil() {
			if d, isDict := xv.Interface().(*Dict); isDict {
				extraDict = d
			} else {
				extraKeys = sortedKeys(xv)
				for _, k := range extraKeys {
					extraVals = append(extraVals, xv.MapIndex(k))
				}
			}
		}
	}
	nExtra := len(extraKeys)
	if extraDict != nil {
		nExtra = extraDict.Len()
	}
	e.emptyDict()
	e.memoize(memoKey{}, aliases)
	return e.batchSetitemsExact(len(vals)+nExtra, func(i int) error {
		if i >= len(vals) {
			j := i - len(vals)
			var k any
			var path string
			if extraDict != nil {
				var v any
				k, v = extraDict.At(j)
				path = "." + si.extra.goName + "[" + keyPath(k) + "]"
				if err := e.save(k); err != nil {
					return within(err, func() string { return path + "(key)" })
				}
				if err := e.save(v); err != nil {
					return within(err, func() string { return path })
				}
				return nil
			}
			path = "." + si.extra.goName + "[" + strconv.Quote(extraKeys[j].String()) + "]"
			if err := e.save(extraKeys[j].String()); err != nil {
				return within(err, func() string { return path + "(key)" })
			}
			if err := e.saveRV(extraVals[j]); err != nil {
				return within(err, func() string { return path })
			}
			return nil
		}
		f := &si.fields[idx[i]]
		if err := e.save(f.name); err != nil {
			return within(err, func() string { return "." + f.goName })
		}
		if err := e.saveRV(vals[i]); err != nil {
			return within(err, func() string { return "." + f.goName })
		}
		return nil
	})
}
