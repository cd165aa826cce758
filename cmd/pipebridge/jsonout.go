package main

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/pipebridge/pipebridge/pickle"
)

// appendJSON appends v as one line of JSON, mapping the types JSON lacks as
// dialUsage documents: tagged objects with a single "$" key ({"$bytes":
// base64}, {"$set": [...]}, ...), tuples as arrays, dict keys that are not
// str as their Python repr.
func appendJSON(dst []byte, v any) []byte {
	p := jsonPrinter{reprPrinter{b: dst, active: map[any]bool{}}}
	p.value(v)
	return p.b
}

// jsonPrinter shares reprPrinter's buffer and its guard against containers
// that hold themselves.
type jsonPrinter struct {
	reprPrinter
}

func (p *jsonPrinter) value(v any) {
	switch v := v.(type) {
	case nil:
		p.str("null")
	case bool:
		p.b = strconv.AppendBool(p.b, v)
	case int64:
		p.b = strconv.AppendInt(p.b, v, 10)
	case *big.Int:
		p.b = v.Append(p.b, 10)
	case float64:
		p.float(v)
	case complex128:
		p.str(`{"$complex":[`)
		p.float(real(v))
		p.str(",")
		p.float(imag(v))
		p.str("]}")
	case string:
		p.b = appendJSONString(p.b, v)
	case []byte:
		p.tagged("$bytes", func() { p.base64(v) })
	case pickle.ByteArray:
		p.tagged("$bytearray", func() { p.base64(v) })
	case pickle.ByteString:
		// A Python 2 str: text to Python 2, so text here when it is UTF-8.
		if utf8.ValidString(string(v)) {
			p.b = appendJSONString(p.b, string(v))
		} else {
			p.tagged("$bytes", func() { p.base64([]byte(v)) })
		}
	case []any:
		p.guarded(v, func() { p.array(v) })
	case pickle.Tuple:
		p.guarded(v, func() { p.array(v) })
	case *pickle.Dict:
		p.guarded(v, func() { p.dict(v) })
	case *pickle.Set:
		p.guarded(v, func() { p.tagged("$set", func() { p.array(v.Items()) }) })
	case *pickle.FrozenSet:
		p.guarded(v, func() { p.tagged("$frozenset", func() { p.array(v.Items()) }) })
	case pickle.Global:
		p.tagged("$global", func() { p.b = appendJSONString(p.b, globalName(v)) })
	case *pickle.Object:
		p.guarded(v, func() { p.object(v) })
	case pickle.PersistentRef:
		p.tagged("$persistent", func() { p.value(v.ID) })
	case pickle.PickleBuffer:
		p.tagged("$picklebuffer", func() { p.base64(v.Data) })
	default:
		p.tagged("$repr", func() { p.b = appendJSONString(p.b, fmt.Sprintf("<Go %T %v>", v, v)) })
	}
}

// guarded writes a container with write, or {"$repr": "..."} when it is
// already being written (it contains itself).
func (p *jsonPrinter) guarded(v any, write func()) {
	id, ok := identity(v)
	if !ok {
		write()
		return
	}
	if p.active[id] {
		p.tagged("$repr", func() { p.b = appendJSONString(p.b, "...") })
		return
	}
	p.active[id] = true
	write()
	delete(p.active, id)
}

func (p *jsonPrinter) tagged(tag string, value func()) {
	p.str(`{"`)
	p.str(tag)
	p.str(`":`)
	value()
	p.str("}")
}

func (p *jsonPrinter) base64(b []byte) {
	p.str(`"`)
	p.b = base64.StdEncoding.AppendEncode(p.b, b)
	p.str(`"`)
}

// float writes a finite float as Python's repr does (always with a "." or
// an exponent, so that it reads back as a float), and the others as
// {"$float": "inf"}, "-inf" or "nan", which JSON has no numbers for.
func (p *jsonPrinter) float(f float64) {
	switch {
	case math.IsInf(f, 1):
		p.str(`{"$float":"inf"}`)
	case math.IsInf(f, -1):
		p.str(`{"$float":"-inf"}`)
	case math.IsNaN(f):
		p.str(`{"$float":"nan"}`)
	default:
		p.b = appendPyFloat(p.b, f, true)
	}
}

func (p *jsonPrinter) array(items []any) {
	p.str("[")
	for i, x := range items {
		if i > 0 {
			p.str(",")
		}
		p.value(x)
	}
	p.str("]")
}

func (p *jsonPrinter) dict(d *pickle.Dict) {
	p.str("{")
	i := 0
	for k, x := range d.All() {
		if i > 0 {
			p.str(",")
		}
		i++
		p.b = appendJSONString(p.b, jsonKey(k))
		p.str(":")
		p.value(x)
	}
	p.str("}")
}

// jsonKey is the member name of a dict key: a str itself, anything else
// its Python repr (1 → "1", None → "None", (1, 2) → "(1, 2)").
func jsonKey(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case pickle.ByteString:
		if utf8.ValidString(string(k)) {
			return string(k)
		}
	}
	return string(appendRepr(nil, k))
}

// object writes {"$object": CLASS, ...} with the parts of the object that
// are present: "new": true, "args", "kwargs", "state", "listitems",
// "dictitems". CLASS is "module.name" when the callable is a Global, else
// the callable's own JSON.
func (p *jsonPrinter) object(o *pickle.Object) {
	p.str(`{"$object":`)
	if g, ok := o.Callable.(pickle.Global); ok {
		p.b = appendJSONString(p.b, globalName(g))
	} else {
		p.value(o.Callable)
	}
	if o.New {
		p.str(`,"new":true`)
	}
	if o.Inst {
		p.str(`,"inst":true`)
	}
	if len(o.Args) > 0 {
		p.str(`,"args":`)
		p.array(o.Args)
	}
	if o.Kwargs != nil {
		p.str(`,"kwargs":`)
		p.dict(o.Kwargs)
	}
	if o.State != nil {
		p.str(`,"state":`)
		p.value(o.State)
	}
	if len(o.ListItems) > 0 {
		p.str(`,"listitems":`)
		p.array(o.ListItems)
	}
	if o.DictItems != nil {
		p.str(`,"dictitems":`)
		p.dict(o.DictItems)
	}
	p.str("}")
}

func globalName(g pickle.Global) string {
	if g.Module == "" {
		return g.Name
	}
	return g.Module + "." + g.Name
}

// appendJSONString appends s as a JSON string. Non-ASCII characters are
// written as they are (JSON text is UTF-8), except those a str can hold and
// UTF-8 cannot: lone surrogates are written as \uXXXX escapes, and so are
// the surrogate escapes of stray bytes (see decodeWTF8).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, n := decodeWTF8(s[i:])
		i += n
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < ' ' || r == 0x7f || isSurrogate(r) || r == 0x2028 || r == 0x2029:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}
