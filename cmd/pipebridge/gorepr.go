package main

import (
	"fmt"
	"strings"

	"github.com/pipebridge/pipebridge/pickle"
)

// goRepr shows a decoded value the way a Go programmer sees it: its Go type
// where it is not obvious, and its contents. The demo prints it. A list or
// dict inside itself shows as ... (Python's pickles can make one).
func goRepr(v any) string {
	var g goPrinter
	g.write(v)
	return g.b.String()
}

type goPrinter struct {
	b      strings.Builder
	inside map[any]bool // the lists (by their first element's address) and dicts being written
}

func (g *goPrinter) write(v any) {
	switch v := v.(type) {
	case nil:
		g.b.WriteString("nil")
	case string:
		fmt.Fprintf(&g.b, "%q", v)
	case []any:
		if len(v) > 0 && !g.enter(&v[0]) {
			g.b.WriteString("[]any{...}")
			return
		}
		g.b.WriteString("[]any{")
		for i, x := range v {
			if i > 0 {
				g.b.WriteString(", ")
			}
			g.write(x)
		}
		g.b.WriteString("}")
		if len(v) > 0 {
			delete(g.inside, &v[0])
		}
	case *pickle.Dict:
		if !g.enter(v) {
			g.b.WriteString("dict{...}")
			return
		}
		g.dict(v)
		delete(g.inside, v)
	default:
		fmt.Fprintf(&g.b, "%T(%s)", v, pickle.Format(v, 0))
	}
}

// enter reports whether the container with identity id is not already
// being written, and marks it so.
func (g *goPrinter) enter(id any) bool {
	if g.inside[id] {
		return false
	}
	if g.inside == nil {
		g.inside = map[any]bool{}
	}
	g.inside[id] = true
	return true
}

// dict writes a dict's items in their order: a *pickle.Dict keeps Python's
// insertion order, and the demo shows that it does.
func (g *goPrinter) dict(d *pickle.Dict) {
	g.b.WriteString("dict{")
	i := 0
	for k, x := range d.All() {
		if i > 0 {
			g.b.WriteString(", ")
		}
		g.write(k)
		g.b.WriteString(": ")
		g.write(x)
		i++
	}
	g.b.WriteString("}")
}
