package main

import (
	"fmt"
	"sort"
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

// writeGoDict writes a dict with its items sorted, as Go prints maps.
func writeGoDict(b *strings.Builder, d *pickle.Dict) {
	type kv struct{ k, v string }
	var items []kv
	for k, x := range d.All() {
		items = append(items, kv{goRepr(k), goRepr(x)})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].k < items[j].k })
	b.WriteString("dict{")
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it.k + ": " + it.v)
	}
	b.WriteString("}")
}
