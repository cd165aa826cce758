package main

import (
	"fmt"
	"strings"

	"github.com/pipebridge/pipebridge/pickle"
)

// goRepr shows a decoded value the way a Go programmer sees it: its Go type
// where it is not obvious, and its contents. The demo prints it.
func goRepr(v any) string {
	var b strings.Builder
	writeGoRepr(&b, v)
	return b.String()
}

func writeGoRepr(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("nil")
	case string:
		fmt.Fprintf(b, "%q", v)
	case []any:
		b.WriteString("[]any{")
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeGoRepr(b, x)
		}
		b.WriteString("}")
	case *pickle.Dict:
		writeGoDict(b, v)
	default:
		fmt.Fprintf(b, "%T(%v)", v, v)
	}
}

// writeGoDict writes a dict's items in their order: a *pickle.Dict keeps
// Python's insertion order, and the demo shows that it does.
func writeGoDict(b *strings.Builder, d *pickle.Dict) {
	b.WriteString("dict{")
	i := 0
	for k, x := range d.All() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(goRepr(k) + ": " + goRepr(x))
		i++
	}
	b.WriteString("}")
}
