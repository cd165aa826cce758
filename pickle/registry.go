package pickle

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
)

// Registry maps Python classes to Go types, in both directions, so that
// instances of a Python class decode into a Go type and values of the Go
// type encode as instances of the class. The Form of a registration says
// how an instance's contents map to the Go value.
//
// Encoding a value of a registered type writes an instance of its class,
// which Python builds with nothing but the class itself: no Go-specific
// code is imported. Decoding an instance of a registered class into a Go
// value of its type decodes the instance's contents by the Form; into an
// interface type other than any, it makes a value of the registered type
// (which must implement the interface); an any still receives the model's
// *Object, as the package documentation describes.
//
// A Registry is safe for concurrent use. Registrations are meant to be
// made once, at start-up, like those of encoding/gob.
type Registry struct {
	mu      sync.RWMutex
	byClass map[Global]*classInfo
	byType  map[reflect.Type]*classInfo
	n       atomic.Int32 // registrations, read without the lock
}

// Form says how an instance of a Python class maps to a Go value.
type Form uint8

const (
	// ObjectForm is for instances whose state is their attributes: plain
	// classes, dataclasses (frozen too), attrs classes. The Go type is a
	// struct whose fields are the attributes. Encoding writes
	// cls.__new__(cls) (NEWOBJ, or copyreg._reconstructor below protocol
	// 2) and then the fields as a dict state (BUILD), which Python puts in
	// the instance's __dict__ without calling __init__. Decoding takes
	// the attributes from the state, whether a dict, a (dict, slots)
	// pair or a list of field values (dataclasses with slots), and from
	// positional __new__ arguments.
	ObjectForm Form = iota
	// SlotsForm is ObjectForm for classes with __slots__ and no
	// __dict__: encoding writes the state as (None, {attributes}), which
	// Python sets with setattr.
	SlotsForm
	// TupleForm is for tuple subclasses such as collections.namedtuple
	// and typing.NamedTuple: the struct's fields are the tuple's items, in
	// order. Encoding writes cls.__new__(cls, *fields).
	TupleForm
	// EnumForm is for enum.Enum members: the Go value (usually of an
	// integer or string type) is the member's value, and encoding writes
	// cls(value), which Python resolves to the member.
	EnumForm
)

func (f Form) String() string {
	switch f {
	case ObjectForm:
		return "ObjectForm"
	case SlotsForm:
		return "SlotsForm"
	case TupleForm:
		return "TupleForm"
	case EnumForm:
		return "EnumForm"
	}
	return fmt.Sprintf("Form(%d)", uint8(f))
}

type classInfo struct {
	class Global
	typ   reflect.Type
	form  Form
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{byClass: map[Global]*classInfo{}, byType: map[reflect.Type]*classInfo{}}
}

// DefaultRegistry is the Registry that options without one use, and the
// one that the package's Register adds to.
var DefaultRegistry = NewRegistry()

// ErrRegistered is returned by Registry.Register for a class or a Go type
// that is registered already.
var ErrRegistered = errors.New("pickle: already registered")

// Register maps the Python class module.name (its qualified name, e.g.
// "Outer.Inner" for a nested class) to the type of v, which may be given
// as a value or as a pointer to one: Register("shop", "Order", Order{},
// ObjectForm). A class or type can be registered once; another attempt
// fails with ErrRegistered. Python 2 classes are registered by their
// Python 3 names, which decoding maps them to.
func (r *Registry) Register(module, name string, v any, form Form) error {
	if module == "" || name == "" {
		return errors.New("pickle: Register needs a module and a class name")
	}
	if v == nil {
		return errors.New("pickle: Register needs a value of the Go type")
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch form {
	case ObjectForm, SlotsForm, TupleForm:
		if t.Kind() != reflect.Struct {
			return fmt.Errorf("pickle: %v needs a struct type, not %s", form, t)
		}
	case EnumForm:
		switch t.Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Interface:
			return fmt.Errorf("pickle: EnumForm cannot hold values in %s", t)
		}
	default:
		return fmt.Errorf("pickle: unknown %v", form)
	}
	g := Global{module, name}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byClass == nil {
		r.byClass = map[Global]*classInfo{}
		r.byType = map[reflect.Type]*classInfo{}
	}
	if old := r.byClass[g]; old != nil {
		return fmt.Errorf("%w: class %s is mapped to %s", ErrRegistered, g, old.typ)
	}
	if old := r.byType[t]; old != nil {
		return fmt.Errorf("%w: type %s is mapped to class %s", ErrRegistered, t, old.class)
	}
	ci := &classInfo{class: g, typ: t, form: form}
	r.byClass[g] = ci
	r.byType[t] = ci
	r.n.Add(1)
	return nil
}

// Register maps a Python class to a Go type in DefaultRegistry, as
// Registry.Register does. Like encoding/gob's Register, it is meant for
// init functions and panics if the registration fails.
func Register(module, name string, v any, form Form) {
	if err := DefaultRegistry.Register(module, name, v, form); err != nil {
		panic(err)
	}
}

// ClassOf returns the class that the Go type of v (a value or a pointer
// to one) is registered for.
func (r *Registry) ClassOf(v any) (Global, Form, bool) {
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	ci := r.byGoType(t)
	if ci == nil {
		return Global{}, 0, false
	}
	return ci.class, ci.form, true
}

// TypeOf returns the Go type registered for a Python class.
func (r *Registry) TypeOf(class Global) (reflect.Type, Form, bool) {
	ci := r.byPyClass(class)
	if ci == nil {
		return nil, 0, false
	}
	return ci.typ, ci.form, true
}

func (r *Registry) byGoType(t reflect.Type) *classInfo {
	if r == nil || t == nil {
		return nil
	}
	r.mu.RLock()
	ci := r.byType[t]
	r.mu.RUnlock()
	return ci
}

func (r *Registry) byPyClass(g Global) *classInfo {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	ci := r.byClass[g]
	r.mu.RUnlock()
	return ci
}

// empty reports whether nothing is registered, which lets decoding skip
// the lookups.
func (r *Registry) empty() bool { return r == nil || r.n.Load() == 0 }

func (o *DecodeOptions) registry() *Registry {
	if o.Registry != nil {
		return o.Registry
	}
	return DefaultRegistry
}

func (o *EncodeOptions) registry() *Registry {
	if o.Registry != nil {
		return o.Registry
	}
	return DefaultRegistry
}
