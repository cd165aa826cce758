package pickle

import (
	"fmt"
	"reflect"
	"strings"
)

// Unmarshal decodes the pickle in data and stores the result in the value
// pointed to by v, which must be a non-nil pointer. Bytes after the
// pickle's STOP opcode are ignored, as Python's pickle.loads ignores them.
// Nothing is imported or executed, so any input is safe to decode; the
// limits of DecodeOptions bound the work it can cause.
//
// Into an any, Unmarshal stores the values of this package's model (see the
// table in the package documentation): None is nil, int is int64 or
// *big.Int, str is string, bytes is []byte, list is []any, tuple is Tuple,
// dict is *Dict, set is *Set, and objects of any class are *Object.
//
// Into other Go types, Unmarshal decodes straight from the pickle's
// opcodes, with these rules, which follow encoding/json's:
//
//   - bool takes a Python bool; integer types take an int that fits (an
//     *UnmarshalTypeError gives the number otherwise); floating-point
//     types take a float or an int; complex types a complex, float or int;
//     string takes a str (and a Python 2 str).
//   - []byte takes bytes, bytearray or a PickleBuffer, and [N]byte exactly
//     N bytes; other slices take a list, tuple, set, frozenset or deque
//     (a new slice, as long as the Python sequence); arrays take the same,
//     with extra items dropped and missing ones zeroed.
//   - A map takes a dict (or an OrderedDict, defaultdict or Counter),
//     decoding keys and values by these rules into the Go key and value
//     types: int keys into integer keys, tuple keys into array or struct
//     keys. A map[K]struct{} or map[K]bool also takes a set or frozenset.
//     An existing map is kept and added to; a nil one is made.
//   - A struct takes a dict whose keys name its fields: the name in the
//     field's `pickle:"name"` tag, else the Go field name. A key matches
//     the field of exactly its name, else the field whose name is the same
//     when case and underscores are ignored (so the Python key user_id
//     finds the Go field UserID). Keys that match no field go to the
//     struct's `pickle:",extra"` field if it has one (a map[string]T or a
//     *Dict), else are skipped, or make an error with
//     DecodeOptions.UnknownFields set to RejectUnknown. A struct also
//     takes a tuple or list, field by field in order, and an instance of
//     a Python class: the instance's attributes (its __dict__ or slots) as
//     a dict's items, a namedtuple's items in order, by the class's Form
//     if it is registered (see Registry); a `pickle:",class"` field of
//     type Global records the class. Fields not in the pickle keep their
//     values; embedded structs are filled as encoding/json fills them.
//   - A pointer takes None as nil; anything else is decoded into the value
//     it points to, allocated when the pointer is nil. A Python object
//     decoded into pointers of the same type at several places yields the
//     same pointer, so shared and cyclic objects stay so; likewise a list
//     or dict shared by several places becomes one slice (sharing its
//     array) or one map, so decoding takes time and memory in proportion
//     to the pickle, however often its objects are shared.
//   - None leaves other types as they are: scalars, structs and arrays.
//   - An interface type other than any takes an instance of a registered
//     class as a value of its Go type (or a pointer to one), which must
//     implement the interface, or a model value that implements it.
//   - A type whose pointer implements Unmarshaler is given the value as
//     the model has it, to decode itself.
//   - time.Time, time.Duration, big.Int, big.Float, big.Rat, Decimal, UUID,
//     Date, TimeOfDay, Path, NDArray, OrderedDict and Deque take the
//     Python values listed in the package documentation.
//
// A Python value that a Go value cannot hold makes an *UnmarshalTypeError
// naming both and the Go path, and Unmarshal stops there, having stored
// what came before. A malformed pickle makes a *DecodeError, and may also
// leave part of the target filled.
//
// Decoding into Go types works on the opcodes of protocols 2 to 5 as
// CPython writes them; for what it does not handle itself (protocols 0
// and 1, Python 2 strings, persistent ids, out-of-band buffers, unusual
// constructions, values that do not fit), it decodes the pickle into the
// model and converts that, with the same results.
func Unmarshal(data []byte, v any) error {
	return DecodeOptions{}.Unmarshal(data, v)
}

// Unmarshal is like the package's Unmarshal, with options o.
func (o DecodeOptions) Unmarshal(data []byte, v any) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	cfg := o.config()
	return cfg.unmarshal(data, v)
}

// Unmarshaler is implemented by types that decode themselves. Typed
// decoding passes UnmarshalPickle the value as Unmarshal would store it in
// an any (so an instance of a class is an *Object, a dict a *Dict), and
// stores nothing itself. Convert helps decode parts of it into typed
// values.
type Unmarshaler interface {
	UnmarshalPickle(v any) error
}

// Convert stores v, a value of this package's model such as Unmarshal puts
// in an any, in the value pointed to by target, by the rules of Unmarshal.
// It is for Unmarshaler implementations, which receive such values.
func (o DecodeOptions) Convert(v any, target any) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	cfg := o.config()
	return cfg.convert(v, target, -1)
}

// Convert is DecodeOptions.Convert with default options.
func Convert(v any, target any) error { return DecodeOptions{}.Convert(v, target) }

// UnmarshalTypeError describes a Python value that a Go value cannot hold:
//
//	pickle: cannot unmarshal Python str into Go field Order.Qty of type int
type UnmarshalTypeError struct {
	Python string       // the Python type: "str", "int", "datetime.datetime"
	Value  string       // the value, for numbers out of the Go type's range; else ""
	Type   reflect.Type // the Go type
	// Path is where the value was to go, in Go syntax from the target,
	// which it starts with when the target's type has a name:
	// "Order.Items[3].Qty", `[2]["key"]`; "" for the target itself.
	Path  string
	Field bool  // Path ends with a struct field
	Err   error // why, beyond the types: ErrUnknownField, ErrUnknownClass, an Unmarshaler's error
}

func (e *UnmarshalTypeError) Error() string {
	var b strings.Builder
	b.WriteString("pickle: cannot unmarshal Python ")
	b.WriteString(e.Python)
	if e.Value != "" {
		b.WriteString(" ")
		b.WriteString(e.Value)
	}
	b.WriteString(" into Go ")
	switch {
	case e.Path == "":
		b.WriteString("value")
	case e.Field:
		b.WriteString("field ")
		b.WriteString(e.Path)
	default:
		b.WriteString("value ")
		b.WriteString(e.Path)
	}
	if e.Type != nil {
		b.WriteString(" of type ")
		b.WriteString(e.Type.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "pickle: "))
	}
	return b.String()
}

func (e *UnmarshalTypeError) Unwrap() error { return e.Err }

// checkTarget refuses targets that Unmarshal cannot store into.
func checkTarget(v any) error {
	if p, ok := v.(*any); ok && p != nil {
		return nil
	}
	if v == nil || reflect.TypeOf(v).Kind() != reflect.Pointer || reflect.ValueOf(v).IsNil() {
		return fmt.Errorf("%w (got %T)", ErrUnsupportedTarget, v)
	}
	return nil
}

// unmarshal decodes the pickle at the start of data into v, a target that
// checkTarget accepted.
func (cfg *decodeConfig) unmarshal(data []byte, v any) error {
	if p, ok := v.(*any); ok {
		val, _, err := decodePickle(cfg, data)
		if err != nil {
			return err
		}
		*p = val
		return nil
	}
	rv := reflect.ValueOf(v)
	target := rv.Elem()
	if !target.IsZero() {
		// The typed decoder stores as it goes; if it then fell back, the
		// reference path would merge into a half-written target. A zero
		// target can be zeroed again; one with contents to keep goes the
		// reference way only.
		return cfg.unmarshalReference(data, v)
	}
	if err := unmarshalTyped(cfg, data, decPlanFor(target.Type()), rv.UnsafePointer()); err != errFallback {
		return err
	}
	target.SetZero()
	return cfg.unmarshalReference(data, v)
}

// unmarshalReference decodes data into the model and converts the value
// into v: what the typed decoder falls back on, and what it must agree
// with.
func (cfg *decodeConfig) unmarshalReference(data []byte, v any) error {
	val, _, err := decodePickle(cfg, data)
	if err != nil {
		return err
	}
	return cfg.convert(val, v, len(data))
}

// convert stores the model value val, decoded from size bytes of pickle
// (-1: none), in the target v.
func (cfg *decodeConfig) convert(val any, v any, size int) error {
	rv := reflect.ValueOf(v)
	t := rv.Type().Elem()
	c := newConv(cfg, size)
	if err := c.decode(val, decPlanFor(t), rv.UnsafePointer()); err != nil {
		return publicError(err, t)
	}
	return nil
}

// publicError turns an error of the converter into the one Unmarshal
// returns.
func publicError(err error, root reflect.Type) error {
	if de, ok := err.(*decErr); ok {
		return de.toError(root.Name())
	}
	return err
}
