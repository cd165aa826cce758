package pickle

import "strings"

// Well-known globals, with Python 3 names (decoding maps Python 2 names to
// these first).
var (
	gSet           = Global{"builtins", "set"}
	gFrozenset     = Global{"builtins", "frozenset"}
	gBytes         = Global{"builtins", "bytes"}
	gBytearray     = Global{"builtins", "bytearray"}
	gComplex       = Global{"builtins", "complex"}
	gObject        = Global{"builtins", "object"}
	gList          = Global{"builtins", "list"}
	gDict          = Global{"builtins", "dict"}
	gGetattr       = Global{"builtins", "getattr"}
	gEncode        = Global{"_codecs", "encode"}
	gReconstructor = Global{"copyreg", "_reconstructor"}
	gNewobj        = Global{"copyreg", "__newobj__"}
	gNewobjEx      = Global{"copyreg", "__newobj_ex__"}
)

// reduce returns the value of fn(*args). Calls that build standard values
// whose meaning is certain (set, frozenset, bytes, bytearray, complex, and
// copyreg's object constructors) become native values; everything else is
// an *Object describing the call. Nothing is run.
func (d *decoder) reduce(fn any, args Tuple) (any, error) {
	g, ok := fn.(Global)
	if !ok {
		return &Object{Callable: fn, Args: args}, nil
	}
	switch g {
	case gSet, gFrozenset:
		if items, ok := iterable(args); ok {
			if err := d.checkLen(len(items)); err != nil {
				return nil, err
			}
			if g == gSet {
				s, err := NewSet(items...)
				if err != nil {
					return nil, err
				}
				return s, nil
			}
			f, err := NewFrozenSet(items...)
			if err != nil {
				return nil, err
			}
			return f, nil
		}
	case gBytes:
		if b, ok := bytesArg(args); ok {
			return b, nil
		}
	case gBytearray:
		if b, ok := bytesArg(args); ok {
			return ByteArray(b), nil
		}
	case gEncode:
		if b, ok := latin1Arg(args); ok {
			return b, nil
		}
	case gComplex:
		if c, ok := complexArg(args); ok {
			return c, nil
		}
	case gReconstructor:
		// copyreg._reconstructor(cls, base, state): how protocols 0 and 1
		// write instances (of plain classes and of list and dict
		// subclasses); protocol 2 writes NEWOBJ and items for the same.
		if len(args) == 3 && isCallable(args[0]) {
			switch {
			case args[1] == any(gObject) && args[2] == nil:
				return &Object{Callable: args[0], New: true, Args: Tuple{}}, nil
			case args[1] == any(gList):
				if l, ok := args[2].([]any); ok {
					return &Object{Callable: args[0], New: true, Args: Tuple{}, ListItems: append([]any{}, l...)}, nil
				}
			case args[1] == any(gDict):
				if d, ok := args[2].(*Dict); ok {
					c := NewDictSize(d.Len())
					for k, v := range d.All() {
						_ = c.Set(k, v)
					}
					return &Object{Callable: args[0], New: true, Args: Tuple{}, DictItems: c}, nil
				}
			}
		}
	case gNewobj:
		if len(args) >= 1 && isCallable(args[0]) {
			return &Object{Callable: args[0], Args: args[1:], New: true}, nil
		}
	case gNewobjEx:
		if len(args) == 3 && isCallable(args[0]) {
			a, ok1 := args[1].(Tuple)
			kw, ok2 := args[2].(*Dict)
			if ok1 && ok2 {
				return &Object{Callable: args[0], Args: a, Kwargs: kw, New: true}, nil
			}
		}
	case gGetattr:
		// getattr(Outer, "Inner"): how protocols below 4 name nested
		// classes.
		if len(args) == 2 {
			parent, ok1 := args[0].(Global)
			attr, ok2 := args[1].(string)
			if ok1 && ok2 && attr != "" && !strings.Contains(attr, ".") && parent.Name != "" && !strings.HasSuffix(parent.Name, ".") {
				return Global{parent.Module, parent.Name + "." + attr}, nil
			}
		}
	}
	return &Object{Callable: fn, Args: args}, nil
}

// iterable returns the items of the single iterable argument of set() and
// frozenset(), or none for no argument.
func iterable(args Tuple) ([]any, bool) {
	switch len(args) {
	case 0:
		return nil, true
	case 1:
		switch x := args[0].(type) {
		case []any:
			return x, true
		case Tuple:
			return x, true
		case *Set:
			return x.items, true
		case *FrozenSet:
			return x.elems(), true
		}
	}
	return nil, false
}

// bytesArg interprets the arguments of bytes() and bytearray(): none, a
// bytes-like value, a list of ints, or Python 2's (unicode, 'latin-1').
func bytesArg(args Tuple) ([]byte, bool) {
	switch len(args) {
	case 0:
		return []byte{}, true
	case 1:
		switch x := args[0].(type) {
		case []byte:
			return append([]byte{}, x...), true
		case ByteArray:
			return append([]byte{}, x...), true
		case []any:
			out := make([]byte, len(x))
			for i, it := range x {
				n, ok := it.(int64)
				if !ok || n < 0 || n > 255 {
					return nil, false
				}
				out[i] = byte(n)
			}
			return out, true
		}
	case 2:
		return latin1Arg(args)
	}
	return nil, false
}

func isLatin1Name(enc string) bool {
	switch strings.ToLower(enc) {
	case "latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "iso_8859_1", "l1":
		return true
	}
	return false
}

// latin1Arg interprets (str, 'latin1'), the arguments of _codecs.encode
// with which protocols 0 to 2 write bytes.
func latin1Arg(args Tuple) ([]byte, bool) {
	if len(args) != 2 {
		return nil, false
	}
	s, ok1 := args[0].(string)
	if !ok1 || !isLatin1Name(textOf(args[1])) {
		return nil, false
	}
	return latin1Bytes(s)
}

func complexArg(args Tuple) (complex128, bool) {
	if len(args) < 1 || len(args) > 2 {
		return 0, false
	}
	var parts [2]float64
	for i, a := range args {
		switch x := a.(type) {
		case float64:
			parts[i] = x
		case int64:
			parts[i] = float64(x)
			if int64(parts[i]) != x {
				return 0, false
			}
		case bool:
			if x {
				parts[i] = 1
			}
		default:
			return 0, false
		}
	}
	return complex(parts[0], parts[1]), true
}

// textOf returns v as text if it is a str or a Python 2 str.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case ByteString:
		return string(x)
	case []byte:
		return string(x)
	}
	return ""
}
