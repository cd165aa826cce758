package pickle

import (
	"cmp"
	"encoding/binary"
	"reflect"
	"slices"
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

// keyOrder is a pair's place in the sort: the prefix of its key and its
// index.
type keyOrder struct {
	prefix uint64
	i      int32
}

// keyPrefix is the first 8 bytes of s as a big-endian number, zeros after
// a shorter s: a < b for the prefixes of two strings means a < b for the
// strings; equal prefixes say nothing.
func keyPrefix(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
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
	order := make([]keyOrder, 0, len(m))
	for k, v := range m {
		order = append(order, keyOrder{keyPrefix(k), int32(len(pairs))})
		pairs = append(pairs, strPair[V]{k, v})
	}
	// The sort moves small pointer-free records, and most comparisons are
	// settled by the keys' first 8 bytes, held in the record: it seldom
	// reads the keys themselves, scattered over the heap.
	slices.SortFunc(order, func(a, b keyOrder) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return cmp.Compare(pairs[a.i].k, pairs[b.i].k)
	})
	return e.batchSetitemsExact(len(pairs), func(i int) error {
		p := &pairs[order[i].i]
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
