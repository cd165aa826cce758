package pickle

import (
	"errors"
	"fmt"
	"math/big"
	"unsafe"

	ogórek "github.com/kisielk/og-rek"
)

// ToOgrek converts a value of this package's model into the values that
// github.com/kisielk/og-rek's decoder produces (with StrictUnicode and
// PyDict set), for code written against og-rek:
//
//	nil                  → ogórek.None{}
//	string               → string
//	ByteString           → ogórek.ByteString
//	[]byte               → ogórek.Bytes
//	ByteArray            → []byte
//	Tuple                → ogórek.Tuple
//	[]any                → []any
//	*Dict                → ogórek.Dict
//	Global               → ogórek.Class
//	*Object (a call)     → ogórek.Call
//	PersistentRef        → ogórek.Ref
//	*Set, *FrozenSet     → ogórek.Call of builtins.set / frozenset on a list
//	complex128           → ogórek.Call of builtins.complex
//	bool, int64, float64, *big.Int are unchanged.
//
// og-rek has no form for objects built with NEWOBJ or given state (BUILD),
// nor for out-of-band buffers: converting those is an error. Shared and
// cyclic lists, tuples and dicts stay shared.
func ToOgrek(v any) (any, error) {
	c := ogConverter{seen: make(map[unsafe.Pointer]any)}
	return c.conv(v, 0)
}

type ogConverter struct {
	seen map[unsafe.Pointer]any
}

var errOgrekUnsupported = errors.New("pickle: og-rek cannot represent")

func (c *ogConverter) conv(v any, depth int) (any, error) {
	if depth > hardMaxDepth {
		return nil, ErrEncodeDepth
	}
	switch x := v.(type) {
	case nil:
		return ogórek.None{}, nil
	case bool, int64, float64, string:
		return x, nil
	case *big.Int:
		return x, nil
	case ByteString:
		return ogórek.ByteString(x), nil
	case []byte:
		return ogórek.Bytes(x), nil
	case ByteArray:
		return []byte(x), nil
	case []any:
		if len(x) > 0 {
			if out, ok := c.seen[unsafe.Pointer(&x[0])]; ok {
				return out, nil
			}
		}
		out := make([]any, len(x))
		if len(x) > 0 {
			c.seen[unsafe.Pointer(&x[0])] = out
		}
		for i := range x {
			var err error
			if out[i], err = c.conv(x[i], depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case Tuple:
		if len(x) > 0 {
			if out, ok := c.seen[unsafe.Pointer(&x[0])]; ok {
				return out, nil
			}
		}
		out := make(ogórek.Tuple, len(x))
		if len(x) > 0 {
			c.seen[unsafe.Pointer(&x[0])] = out
		}
		for i := range x {
			var err error
			if out[i], err = c.conv(x[i], depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *Dict:
		if out, ok := c.seen[unsafe.Pointer(x)]; ok {
			return out, nil
		}
		out := ogórek.NewDictWithSizeHint(x.Len())
		c.seen[unsafe.Pointer(x)] = out
		for k, val := range x.All() {
			ok, err := c.conv(k, depth+1)
			if err != nil {
				return nil, err
			}
			ov, err := c.conv(val, depth+1)
			if err != nil {
				return nil, err
			}
			out.Set(ok, ov)
		}
		return out, nil
	case *Set:
		return c.setCall(gSet, x.items, depth)
	case *FrozenSet:
		return c.setCall(gFrozenset, x.elems(), depth)
	case complex128:
		return ogórek.Call{Callable: ogórek.Class{Module: "builtins", Name: "complex"},
			Args: ogórek.Tuple{real(x), imag(x)}}, nil
	case Global:
		return ogórek.Class{Module: x.Module, Name: x.Name}, nil
	case PersistentRef:
		id, err := c.conv(x.ID, depth+1)
		if err != nil {
			return nil, err
		}
		return ogórek.Ref{Pid: id}, nil
	case *Object:
		g, ok := x.Callable.(Global)
		if !ok || x.New || x.Inst || x.State != nil || len(x.ListItems) > 0 || x.DictItems.Len() > 0 || x.Kwargs.Len() > 0 {
			return nil, fmt.Errorf("%w an object built with NEWOBJ, INST or BUILD: %v", errOgrekUnsupported, x)
		}
		args, err := c.conv(x.Args, depth+1)
		if err != nil {
			return nil, err
		}
		if x.Args == nil {
			args = ogórek.Tuple{}
		}
		return ogórek.Call{Callable: ogórek.Class{Module: g.Module, Name: g.Name}, Args: args.(ogórek.Tuple)}, nil
	}
	if n, ok := toNumber(v); ok {
		switch n.kind {
		case numInt:
			return n.i, nil
		case numBig:
			return n.b, nil
		case numFloat:
			return n.f, nil
		default:
			return c.conv(n.c, depth)
		}
	}
	return nil, fmt.Errorf("%w %T", errOgrekUnsupported, v)
}

func (c *ogConverter) setCall(g Global, items []any, depth int) (any, error) {
	l, err := c.conv(append([]any{}, items...), depth+1)
	if err != nil {
		return nil, err
	}
	return ogórek.Call{Callable: ogórek.Class{Module: g.Module, Name: g.Name}, Args: ogórek.Tuple{l}}, nil
}
