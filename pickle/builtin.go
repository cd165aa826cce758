package pickle

import (
	"reflect"
	"sync"
	"unsafe"
)

// Go types with a Python form of their own, both ways: time.Time as
// datetime.datetime, big.Rat as fractions.Fraction, this package's Decimal,
// UUID, NDArray and others. Each has a decoder from the model's values and
// an encoder to the Python object that stands for it.

type builtin struct {
	// decode stores the model value v in the value at ptr.
	decode func(c *conv, v any, p *decPlan, ptr unsafe.Pointer) error
	// encode returns the value to write for the value at ptr, usually an
	// *Object; nil means the encoder's own rules apply.
	encode func(e *encoder, ptr unsafe.Pointer) (any, error)
}

var (
	builtinsMu sync.RWMutex
	builtins   = map[reflect.Type]*builtin{}
)

// addBuiltin registers the Python form of T.
func addBuiltin[T any](dec func(c *conv, v any, p *T) error, enc func(e *encoder, p *T) (any, error)) {
	b := &builtin{
		decode: func(c *conv, v any, p *decPlan, ptr unsafe.Pointer) error {
			return dec(c, v, (*T)(ptr))
		},
	}
	if enc != nil {
		b.encode = func(e *encoder, ptr unsafe.Pointer) (any, error) { return enc(e, (*T)(ptr)) }
	}
	builtinsMu.Lock()
	builtins[reflect.TypeFor[T]()] = b
	builtinsMu.Unlock()
}

// pyCodec is implemented by the pointers of this package's generic types
// with a Python form (OrderedDict, Deque), whose instantiations cannot be
// listed in advance.
type pyCodec interface {
	pyDecode(c *conv, v any) error
	pyEncode(e *encoder) (any, error)
}

var pyCodecType = reflect.TypeFor[pyCodec]()

// builtinFor returns the Python form of t, or nil.
func builtinFor(t reflect.Type) *builtin {
	builtinsMu.RLock()
	b := builtins[t]
	builtinsMu.RUnlock()
	if b != nil {
		return b
	}
	if t.Kind() == reflect.Interface || !reflect.PointerTo(t).Implements(pyCodecType) {
		return nil
	}
	b = &builtin{
		decode: func(c *conv, v any, p *decPlan, ptr unsafe.Pointer) error {
			return reflect.NewAt(t, ptr).Interface().(pyCodec).pyDecode(c, v)
		},
		encode: func(e *encoder, ptr unsafe.Pointer) (any, error) {
			return reflect.NewAt(t, ptr).Interface().(pyCodec).pyEncode(e)
		},
	}
	builtinsMu.Lock()
	builtins[t] = b
	builtinsMu.Unlock()
	return b
}

// objectOf returns v as an instance of one of the given classes, with its
// class.
func objectOf(v any, classes ...Global) (objView, Global, bool) {
	o, ok := v.(*Object)
	if !ok {
		return objView{}, Global{}, false
	}
	w := viewObject(o)
	g, ok := w.classOf()
	if !ok {
		return objView{}, Global{}, false
	}
	for _, c := range classes {
		if g == c {
			return w, g, true
		}
	}
	return objView{}, Global{}, false
}

// call returns the model object for the Python call fn(*args).
func call(fn Global, args ...any) *Object {
	return &Object{Callable: fn, Args: Tuple(args)}
}

// reflectPtr returns p as an unsafe.Pointer, for decoding into a local.
func reflectPtr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
