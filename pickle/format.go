package pickle

import (
	"fmt"
	"strings"
	"unsafe"
)

// The String methods of Dict, Set, FrozenSet and Object, and the values
// that decoding errors quote, print through a formatter. A pickle can make
// a value that holds itself (a list that contains itself, an object whose
// state refers back to it), on which fmt, following it, would recurse
// until the goroutine's stack overflows: a fatal error that no recover
// catches, so a hostile pickle could end the process through an error
// message. The formatter prints a container it is already inside as Python
// prints one, as [...], (...), {...} or ..., and stops at a budget of bytes
// when it has one. Otherwise it prints as fmt's %v does.

// formatter writes values for String methods and errors.
type formatter struct {
	b      strings.Builder
	budget int                     // bytes to write at most; 0 means no limit
	inside map[unsafe.Pointer]bool // the containers being written
}

// Format returns v as fmt's %v writes it, except that a container that
// holds itself (a list that contains itself, an object whose state refers
// back to it) is written once, and as Python writes it inside: [...],
// (...), {...} or .... fmt would follow such a value, which any pickle can
// make, until the goroutine's stack overflows and the program ends. With
// max > 0 the result is cut short to max bytes, ending in "...". Use it,
// not fmt, to quote a decoded value in a message.
func Format(v any, max int) string {
	f := formatter{}
	if max > 0 {
		f.budget = max + 1 // one more, to tell a value that fits from one cut short
	}
	f.value(v)
	s := f.b.String()
	if max > 0 && len(s) > max {
		s = s[:max-min(max, 3)] + "..."[:min(max, 3)]
	}
	return s
}

func (f *formatter) full() bool { return f.budget > 0 && f.b.Len() >= f.budget }

// enter reports whether p, a container's identity, is not already being
// written, and marks it so; leave unmarks it. A nil p (an empty slice)
// cannot hold itself.
func (f *formatter) enter(p unsafe.Pointer) bool {
	if p == nil {
		return true
	}
	if f.inside[p] {
		return false
	}
	if f.inside == nil {
		f.inside = map[unsafe.Pointer]bool{}
	}
	f.inside[p] = true
	return true
}

func (f *formatter) leave(p unsafe.Pointer) { delete(f.inside, p) }

func (f *formatter) value(v any) {
	if f.full() {
		return
	}
	switch x := v.(type) {
	case *Dict:
		f.dict(x)
	case *Set:
		if x == nil {
			f.b.WriteString("set()")
			return
		}
		f.set(unsafe.Pointer(x), "{", x.items, "}", "set()")
	case *FrozenSet:
		if x == nil {
			f.b.WriteString("frozenset()")
			return
		}
		f.set(unsafe.Pointer(x), "frozenset({", x.set.items, "})", "frozenset()")
	case *Object:
		f.object(x)
	case []any:
		f.list(x, "[...]")
	case Tuple:
		f.list(x, "(...)")
	default:
		fmt.Fprint(&f.b, v)
	}
}

func (f *formatter) dict(d *Dict) {
	if d == nil || len(d.entries) == 0 {
		f.b.WriteString("{}")
		return
	}
	p := unsafe.Pointer(d)
	if !f.enter(p) {
		f.b.WriteString("{...}")
		return
	}
	defer f.leave(p)
	f.b.WriteByte('{')
	for i, e := range d.entries {
		if f.full() {
			return
		}
		if i > 0 {
			f.b.WriteString(", ")
		}
		f.value(e.key)
		f.b.WriteString(": ")
		f.value(e.value)
	}
	f.b.WriteByte('}')
}

func (f *formatter) set(p unsafe.Pointer, open string, items []any, close, empty string) {
	if len(items) == 0 {
		f.b.WriteString(empty)
		return
	}
	if !f.enter(p) {
		f.b.WriteString(open + "..." + close)
		return
	}
	defer f.leave(p)
	f.b.WriteString(open)
	for i, x := range items {
		if f.full() {
			return
		}
		if i > 0 {
			f.b.WriteString(", ")
		}
		f.value(x)
	}
	f.b.WriteString(close)
}

// list writes a []any or a Tuple as fmt does, [a b c].
func (f *formatter) list(items []any, again string) {
	p := unsafe.Pointer(unsafe.SliceData(items))
	if !f.enter(p) {
		f.b.WriteString(again)
		return
	}
	defer f.leave(p)
	f.b.WriteByte('[')
	for i, x := range items {
		if f.full() {
			return
		}
		if i > 0 {
			f.b.WriteByte(' ')
		}
		f.value(x)
	}
	f.b.WriteByte(']')
}

func (f *formatter) object(o *Object) {
	if o == nil {
		f.b.WriteString("<nil>")
		return
	}
	p := unsafe.Pointer(o)
	if !f.enter(p) {
		f.b.WriteString("...")
		return
	}
	defer f.leave(p)
	f.value(o.Callable)
	if o.New {
		f.b.WriteString(".__new__")
	}
	f.value(o.Args)
	if o.State != nil {
		f.b.WriteString(" state=")
		f.value(o.State)
	}
}
