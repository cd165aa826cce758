package pickle

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unsafe"
)

// describe formats v for test messages, safely for cyclic and deep
// values (fmt's %v recurses forever on a list containing itself).
func describe(v any) string {
	var b strings.Builder
	seen := map[unsafe.Pointer]bool{}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > 6 || b.Len() > 400 {
			b.WriteString("…")
			return
		}
		items := func(open, close string, p unsafe.Pointer, xs []any) {
			if p != nil && seen[p] {
				b.WriteString(open + "<cycle>" + close)
				return
			}
			seen[p] = true
			defer delete(seen, p)
			b.WriteString(open)
			for i, x := range xs {
				if i > 0 {
					b.WriteString(", ")
				}
				if i > 8 {
					fmt.Fprintf(&b, "… %d items", len(xs))
					break
				}
				walk(x, depth+1)
			}
			b.WriteString(close)
		}
		switch x := v.(type) {
		case []any:
			items("[", "]", unsafe.Pointer(unsafe.SliceData(x)), x)
		case Tuple:
			items("(", ")", unsafe.Pointer(unsafe.SliceData(x)), x)
		case *Dict:
			if seen[unsafe.Pointer(x)] {
				b.WriteString("{<cycle>}")
				return
			}
			seen[unsafe.Pointer(x)] = true
			defer delete(seen, unsafe.Pointer(x))
			b.WriteString("{")
			for i := 0; i < x.Len(); i++ {
				if i > 0 {
					b.WriteString(", ")
				}
				k, val := x.At(i)
				walk(k, depth+1)
				b.WriteString(": ")
				walk(val, depth+1)
			}
			b.WriteString("}")
		case *Set:
			items("set(", ")", unsafe.Pointer(x), x.Items())
		case *FrozenSet:
			items("frozenset(", ")", unsafe.Pointer(x), x.Items())
		case *Object:
			if seen[unsafe.Pointer(x)] {
				b.WriteString("<object cycle>")
				return
			}
			seen[unsafe.Pointer(x)] = true
			defer delete(seen, unsafe.Pointer(x))
			fmt.Fprintf(&b, "Object{%v new=%v inst=%v args=", x.Callable, x.New, x.Inst)
			walk(x.Args, depth+1)
			b.WriteString(" state=")
			walk(x.State, depth+1)
			b.WriteString("}")
		case map[string]any:
			p := reflect.ValueOf(x).UnsafePointer()
			if seen[p] {
				b.WriteString("map{<cycle>}")
				return
			}
			seen[p] = true
			defer delete(seen, p)
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteString("map{")
			for i, k := range keys {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%q: ", k)
				walk(x[k], depth+1)
			}
			b.WriteString("}")
		case string:
			if len(x) > 40 {
				fmt.Fprintf(&b, "%q…(%d)", x[:40], len(x))
			} else {
				fmt.Fprintf(&b, "%q", x)
			}
		case []byte:
			if len(x) > 40 {
				fmt.Fprintf(&b, "b%q…(%d)", x[:40], len(x))
			} else {
				fmt.Fprintf(&b, "b%q", x)
			}
		default:
			fmt.Fprintf(&b, "%T(%v)", v, v)
		}
	}
	walk(v, 0)
	return b.String()
}
