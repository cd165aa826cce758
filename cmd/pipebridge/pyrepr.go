package main

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pipebridge/pipebridge/pickle"
)

// A format turns a value of the pickle package's model into one line of
// text (without the newline): Python's repr, or JSON.
type format func(dst []byte, v any) []byte

// appendRepr appends v as Python 3's repr() writes it, for the values that
// have a literal form; what Go cannot know Python's repr of (classes and
// other objects) is written as described in dialUsage.
func appendRepr(dst []byte, v any) []byte {
	p := reprPrinter{b: dst, active: map[any]bool{}}
	p.value(v)
	return p.b
}

// reprPrinter writes one value. active holds the containers being written,
// to print a container inside itself as Python does ([...], {...}).
type reprPrinter struct {
	b      []byte
	active map[any]bool
}

func (p *reprPrinter) str(s string) { p.b = append(p.b, s...) }

func (p *reprPrinter) value(v any) {
	switch v := v.(type) {
	case nil:
		p.str("None")
	case bool:
		if v {
			p.str("True")
		} else {
			p.str("False")
		}
	case int64:
		p.b = strconv.AppendInt(p.b, v, 10)
	case *big.Int:
		p.b = v.Append(p.b, 10)
	case float64:
		p.b = appendPyFloat(p.b, v, true)
	case complex128:
		p.b = appendPyComplex(p.b, v)
	case string:
		p.b = appendPyStr(p.b, v)
	case []byte:
		p.str("b")
		p.b = appendPyBytes(p.b, v)
	case pickle.ByteArray:
		p.str("bytearray(b")
		p.b = appendPyBytes(p.b, v)
		p.str(")")
	case pickle.ByteString:
		// A Python 2 str, as Python 2 writes its repr.
		p.b = appendPyBytes(p.b, []byte(v))
	case []any:
		if p.enter(v, "[...]") {
			p.list("[", v, "]")
			p.leave(v)
		}
	case pickle.Tuple:
		if p.enter(v, "(...)") {
			if len(v) == 1 {
				p.list("(", v, ",)")
			} else {
				p.list("(", v, ")")
			}
			p.leave(v)
		}
	case *pickle.Dict:
		if p.enter(v, "{...}") {
			p.dict(v)
			p.leave(v)
		}
	case *pickle.Set:
		if v.Len() == 0 {
			p.str("set()")
		} else if p.enter(v, "{...}") {
			p.list("{", v.Items(), "}")
			p.leave(v)
		}
	case *pickle.FrozenSet:
		if v.Len() == 0 {
			p.str("frozenset()")
		} else if p.enter(v, "frozenset(...)") {
			p.list("frozenset({", v.Items(), "})")
			p.leave(v)
		}
	case pickle.Global:
		p.global(v)
	case *pickle.Object:
		if p.enter(v, "<...>") {
			p.object(v)
			p.leave(v)
		}
	case pickle.PersistentRef:
		p.str("<persistent id ")
		p.value(v.ID)
		p.str(">")
	case pickle.PickleBuffer:
		p.str("<PickleBuffer b")
		p.b = appendPyBytes(p.b, v.Data)
		p.str(">")
	default:
		// Not a value of the model; never decoded, but printable.
		p.b = fmt.Appendf(p.b, "<Go %T %v>", v, v)
	}
}

// identity returns what makes a container the same container: its address.
// Slices are identified by their first element and length; an empty one
// cannot contain itself.
func identity(v any) (any, bool) {
	switch v := v.(type) {
	case []any:
		if len(v) == 0 {
			return nil, false
		}
		return [2]any{&v[0], len(v)}, true
	case pickle.Tuple:
		if len(v) == 0 {
			return nil, false
		}
		return [2]any{&v[0], len(v)}, true
	}
	return v, true
}

// enter marks v as being written; if it already is, it writes elided
// instead and reports false.
func (p *reprPrinter) enter(v any, elided string) bool {
	id, ok := identity(v)
	if !ok {
		return true
	}
	if p.active[id] {
		p.str(elided)
		return false
	}
	p.active[id] = true
	return true
}

func (p *reprPrinter) leave(v any) {
	if id, ok := identity(v); ok {
		delete(p.active, id)
	}
}

func (p *reprPrinter) list(open string, items []any, close string) {
	p.str(open)
	for i, x := range items {
		if i > 0 {
			p.str(", ")
		}
		p.value(x)
	}
	p.str(close)
}

func (p *reprPrinter) dict(d *pickle.Dict) {
	p.str("{")
	i := 0
	for k, x := range d.All() {
		if i > 0 {
			p.str(", ")
		}
		i++
		p.value(k)
		p.str(": ")
		p.value(x)
	}
	p.str("}")
}

func (p *reprPrinter) global(g pickle.Global) {
	if g.Module != "" {
		p.str(g.Module)
		p.str(".")
	}
	p.str(g.Name)
}

// object writes how Python builds o. A plain call, f(args), is written as
// that call: it is the Python expression that rebuilds the object. Anything
// else is written in angle brackets, as Python writes objects that have no
// literal: <C.__new__(args) state=S items=[...] dictitems={...}>.
func (p *reprPrinter) object(o *pickle.Object) {
	plain := !o.New && !o.Inst && o.State == nil && len(o.ListItems) == 0 && o.DictItems == nil
	if !plain {
		p.str("<")
	}
	p.value(o.Callable)
	if o.New {
		p.str(".__new__")
	}
	p.str("(")
	for i, x := range o.Args {
		if i > 0 {
			p.str(", ")
		}
		p.value(x)
	}
	if o.Kwargs != nil {
		i := len(o.Args)
		for k, x := range o.Kwargs.All() {
			if i > 0 {
				p.str(", ")
			}
			i++
			if s, ok := k.(string); ok && isIdentifier(s) {
				p.str(s)
				p.str("=")
			} else {
				p.str("**{")
				p.value(k)
				p.str(": ")
				p.value(x)
				p.str("}")
				continue
			}
			p.value(x)
		}
	}
	p.str(")")
	if plain {
		return
	}
	if o.State != nil {
		p.str(" state=")
		p.value(o.State)
	}
	if len(o.ListItems) > 0 {
		p.str(" items=")
		p.value(o.ListItems)
	}
	if o.DictItems != nil {
		p.str(" dictitems=")
		p.value(o.DictItems)
	}
	p.str(">")
}

func isIdentifier(s string) bool {
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return s != ""
}

// appendPyFloat appends f as Python's repr(float) writes it: the shortest
// digits that read back to f, in positional notation from 1e-4 up to 1e16
// and in exponent notation outside, with ".0" on integral values when
// dot0 is set (complex components go without it).
func appendPyFloat(dst []byte, f float64, dot0 bool) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	e := strconv.AppendFloat(nil, f, 'e', -1, 64)
	i := strings.LastIndexByte(string(e), 'e')
	exp, _ := strconv.Atoi(string(e[i+1:]))
	// Python's repr switches to exponent notation when the decimal point
	// would be more than 16 places right of the first digit or 4 or more
	// left of it (float_repr_style "short", mode 'r').
	if decpt := exp + 1; decpt > 16 || decpt <= -4 {
		return append(dst, e...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if dot0 && !strings.ContainsRune(string(dst[start:]), '.') {
		dst = append(dst, ".0"...)
	}
	return dst
}

// appendPyComplex appends c as Python's repr(complex) does: "2j" when the
// real part is +0, else "(1+2j)".
func appendPyComplex(dst []byte, c complex128) []byte {
	re, im := real(c), imag(c)
	if re == 0 && !math.Signbit(re) {
		dst = appendPyFloat(dst, im, false)
		return append(dst, 'j')
	}
	dst = append(dst, '(')
	dst = appendPyFloat(dst, re, false)
	// The imaginary part always has a sign: the "-" it brings, or "+"
	// (NaN is written without its sign, as for floats).
	if !math.Signbit(im) || math.IsNaN(im) {
		dst = append(dst, '+')
	}
	dst = appendPyFloat(dst, im, false)
	return append(dst, "j)"...)
}

// pyQuote chooses the quote Python's repr uses: ' unless the text holds '
// and no ".
func pyQuote(s string) byte {
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		return '"'
	}
	return '\''
}

// appendPyStr appends s, a str in the pickle package's form (UTF-8 with lone
// surrogates as their 3-byte sequences), as Python 3's repr writes it:
// printable characters as they are, others escaped. A byte that is not part
// of any such sequence is written as the surrogate escape \udcXX, as
// Python's "surrogateescape" decodes it.
func appendPyStr(dst []byte, s string) []byte {
	q := pyQuote(s)
	dst = append(dst, q)
	for i := 0; i < len(s); {
		r, n := decodeWTF8(s[i:])
		i += n
		switch {
		case r == rune(q) || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r < ' ' || r == 0x7f:
			dst = fmt.Appendf(dst, `\x%02x`, r)
		case r < 0x7f:
			dst = append(dst, byte(r))
		case isSurrogate(r) || !unicode.IsPrint(r):
			switch {
			case r <= 0xff:
				dst = fmt.Appendf(dst, `\x%02x`, r)
			case r <= 0xffff:
				dst = fmt.Appendf(dst, `\u%04x`, r)
			default:
				dst = fmt.Appendf(dst, `\U%08x`, r)
			}
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, q)
}

// appendPyBytes appends b quoted as Python's repr of bytes writes it,
// without the b prefix.
func appendPyBytes(dst []byte, b []byte) []byte {
	q := pyQuote(string(b))
	dst = append(dst, q)
	for _, c := range b {
		switch {
		case c == q || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c < ' ' || c >= 0x7f:
			dst = fmt.Appendf(dst, `\x%02x`, c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, q)
}

func isSurrogate(r rune) bool { return 0xd800 <= r && r <= 0xdfff }

// decodeWTF8 decodes the first character of s, UTF-8 in which lone
// surrogates are allowed (Python's "surrogatepass"). A byte that starts no
// valid sequence decodes as the surrogate escape U+DC80+byte.
func decodeWTF8(s string) (rune, int) {
	if len(s) >= 3 && s[0] == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && s[2] >= 0x80 && s[2] <= 0xbf {
		return 0xd000 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), 3
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return 0xdc00 | rune(s[0]), 1
	}
	return r, n
}

// appendWTF8 appends r as UTF-8, and a surrogate as its 3-byte sequence
// (which utf8.AppendRune would replace), the form the pickle package keeps.
func appendWTF8(dst []byte, r rune) []byte {
	if isSurrogate(r) {
		return append(dst, 0xed, byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f))
	}
	return utf8.AppendRune(dst, r)
}
