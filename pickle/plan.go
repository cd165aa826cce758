package pickle

import (
	"reflect"
	"sync"
)

// dkind is how a Go type is decoded into.
type dkind uint8

const (
	dUnsupported dkind = iota // chan, func, unsafe.Pointer
	dBool
	dInt // signed integers; size gives the width
	dUint
	dFloat32
	dFloat64
	dComplex64
	dComplex128
	dString
	dBytes     // a slice of bytes
	dByteArray // [N]byte
	dSlice
	dArray
	dMap
	dStruct
	dPtr
	dAny         // the empty interface: the model's values
	dIface       // other interfaces: registered classes, or model values that implement them
	dUnmarshaler // a type whose pointer implements Unmarshaler
	dBuiltin     // a type with a Python form of its own (time.Time, big.Int, Decimal, ...)
	dModel       // a type of the model that values are stored in as they are (*Dict, Global, ...)
)

// decPlan is how values are decoded into one Go type.
type decPlan struct {
	t      reflect.Type
	k      dkind
	size   uintptr
	elem   *decPlan // slices, arrays, pointers, map values
	key    *decPlan // map keys
	st     *structInfo
	fields []*decPlan // plans of st.fields
	extra  *decPlan   // plan of the ",extra" field's map values
	bi     *builtin
	set    bool // a map[K]struct{} or map[K]bool, which a Python set fills
	n      int  // array length
}

var (
	decPlans sync.Map // reflect.Type -> *decPlan
	planMu   sync.Mutex
)

// modelTypes are the model's types that hold exactly the Python values of
// their kind, stored as they are.
var modelTypes = map[reflect.Type]bool{
	reflect.TypeFor[*Dict]():         true,
	reflect.TypeFor[*Set]():          true,
	reflect.TypeFor[*FrozenSet]():    true,
	reflect.TypeFor[*Object]():       true,
	reflect.TypeFor[Global]():        true,
	reflect.TypeFor[PersistentRef](): true,
	reflect.TypeFor[PickleBuffer]():  true,
}

// decPlanFor returns the plan of t, building it (and those of the types it
// holds) the first time.
func decPlanFor(t reflect.Type) *decPlan {
	if p, ok := decPlans.Load(t); ok {
		return p.(*decPlan)
	}
	planMu.Lock()
	defer planMu.Unlock()
	building := map[reflect.Type]*decPlan{}
	p := buildDecPlan(t, building)
	for bt, bp := range building {
		decPlans.Store(bt, bp)
	}
	return p
}

func buildDecPlan(t reflect.Type, building map[reflect.Type]*decPlan) *decPlan {
	if p, ok := decPlans.Load(t); ok {
		return p.(*decPlan)
	}
	if p := building[t]; p != nil {
		return p
	}
	p := &decPlan{t: t, size: t.Size()}
	building[t] = p
	switch {
	case modelTypes[t]:
		p.k = dModel
		return p
	case t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(unmarshalerT):
		p.k = dUnmarshaler
		return p
	}
	if bi := builtinFor(t); bi != nil {
		p.k, p.bi = dBuiltin, bi
		return p
	}
	switch t.Kind() {
	case reflect.Bool:
		p.k = dBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.k = dInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.k = dUint
	case reflect.Float32:
		p.k = dFloat32
	case reflect.Float64:
		p.k = dFloat64
	case reflect.Complex64:
		p.k = dComplex64
	case reflect.Complex128:
		p.k = dComplex128
	case reflect.String:
		p.k = dString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			p.k = dBytes
		} else {
			p.k = dSlice
		}
		p.elem = buildDecPlan(t.Elem(), building)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			p.k = dByteArray
		} else {
			p.k = dArray
		}
		p.n = t.Len()
		p.elem = buildDecPlan(t.Elem(), building)
	case reflect.Map:
		p.k = dMap
		p.key = buildDecPlan(t.Key(), building)
		p.elem = buildDecPlan(t.Elem(), building)
		ev := t.Elem()
		p.set = ev.Kind() == reflect.Bool || (ev.Kind() == reflect.Struct && ev.NumField() == 0)
	case reflect.Struct:
		p.k = dStruct
		p.st = structInfoFor(t)
		p.fields = make([]*decPlan, len(p.st.fields))
		for i := range p.st.fields {
			p.fields[i] = buildDecPlan(p.st.fields[i].typ, building)
		}
		if x := p.st.extra; x != nil && x.typ.Kind() == reflect.Map {
			p.extra = buildDecPlan(x.typ.Elem(), building)
		}
	case reflect.Pointer:
		p.k = dPtr
		p.elem = buildDecPlan(t.Elem(), building)
	case reflect.Interface:
		if t.NumMethod() == 0 {
			p.k = dAny
		} else {
			p.k = dIface
		}
	default:
		p.k = dUnsupported
	}
	return p
}
