package pickle

import (
	"reflect"
	"strconv"
)

// Maps with string keys, the shape of most Go data that crosses to Python,
// are written without reflection: their entries are gathered into a slice
// of pairs, sorted by key (the encoder's deterministic order for maps) and
// written from there.

type strPair[V any] struct {
	k string
	v V
}

// saveStrMap writes m as a dict, its keys in sorted order; save writes one
// value. It is saveMapRV for a map of type map[string]V, and must write
// the same bytes.
func saveStrMap[V any](e *encoder, m map[string]V, aliases []memoKey, save func(V) error) error {
	key := mapKey(reflect.ValueOf(m))
	if done, err := e.begin(key, aliases, true); done {
		return err
	}
	defer func() { e.depth-- }()
	if len(m) == 0 {
		return nil
	}
	pairs := make([]strPair[V], 0, len(m))
	for k, v := range m {
		pairs = append(pairs, strPair[V]{k, v})
	}
	// Reading a key's first bytes is mostly a cache miss: in a loop that
	// does little else, many of them are under way at once.
	order := make([]keyRec, len(pairs))
	for i := range pairs {
		order[i] = keyRec{keyPrefix(pairs[i].k), int32(i)}
	}
	sortStrKeys(order, func(i int32) string { return pairs[i].k })
	// The pairs, in key order, are all over pairs: copying a batch of them
	// at a time to sorted, in a loop that does nothing else, lets their
	// cache misses overlap, as when reading the prefixes. (The items are
	// asked for in order.) A small map's pairs are in cache: there the
	// batch would cost more than it saves.
	var sorted *[64]strPair[V]
	if len(pairs) > len(sorted) {
		sorted = new([64]strPair[V])
	}
	return e.batchSetitemsExact(len(pairs), func(i int) error {
		var p *strPair[V]
		if sorted == nil {
			p = &pairs[order[i].i]
		} else {
			j := i % len(sorted)
			if j == 0 {
				for b, r := range order[i:min(i+len(sorted), len(order))] {
					sorted[b] = pairs[r.i]
				}
			}
			p = &sorted[j]
		}
		e.alias = nil
		e.boundary()
		if err := e.saveStr(p.k, nil); err != nil {
			return within(err, func() string { return "[" + strconv.Quote(p.k) + "](key)" })
		}
		if err := save(p.v); err != nil {
			return within(err, func() string { return "[" + strconv.Quote(p.k) + "]" })
		}
		return nil
	})
}

// saveStrMapFast writes rv with saveStrMap if it is a map[string]any or a
// map[string]string and no hook must see its parts, and reports whether it
// did.
func (e *encoder) saveStrMapFast(rv reflect.Value, aliases []memoKey) (bool, error) {
	if e.opts.PersistentID != nil || !rv.CanInterface() {
		return false, nil
	}
	switch m := rv.Interface().(type) {
	case map[string]any:
		return true, saveStrMap(e, m, aliases, e.saveItem)
	case map[string]string:
		return true, saveStrMap(e, m, aliases, func(s string) error {
			e.alias = nil
			e.boundary()
			return e.saveStr(s, nil)
		})
	}
	return false, nil
}
