package main

import (
	"fmt"
	"sort"
	"strings"

	ogórek "github.com/kisielk/og-rek"
)

// goRepr shows a decoded value the way a Go programmer sees it: its Go type
// where it is not obvious, and its contents.
func goRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
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
			writeRepr(b, x)
		}
		b.WriteString("}")
	case ogórek.Dict:
		type kv struct{ k, v string }
		var items []kv
		v.Iter()(func(k, x any) bool {
			items = append(items, kv{goRepr(k), goRepr(x)})
			return true
		})
		sort.Slice(items, func(i, j int) bool { return items[i].k < items[j].k })
		b.WriteString("dict{")
		for i, it := range items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(it.k + ": " + it.v)
		}
		b.WriteString("}")
	default:
		fmt.Fprintf(b, "%T(%v)", v, v)
	}
}
