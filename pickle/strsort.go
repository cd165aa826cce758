package pickle

import (
	"cmp"
	"encoding/binary"
	"slices"
)

// The encoder writes the entries of a map with string keys in key order,
// so that its output is deterministic. Sorting 100k keys with comparisons
// costs as much as writing them: each comparison may read two keys
// scattered over the heap. sortStrKeys instead sorts small records that hold
// 8 bytes of their key (keyRec), by radix on those bytes, reading a key
// again only where 8 bytes do not tell it from its neighbours.

// keyRec is a key's place in the sort: 8 bytes of the key, from the offset
// the sort has reached, as keyPrefix reads them, and the key's index.
type keyRec struct {
	prefix uint64
	i      int32
}

// keyPrefix is the first 8 bytes of s as a big-endian number, zeros after
// a shorter s: a < b for the prefixes of two strings means a < b for the
// strings; equal prefixes say nothing.
func keyPrefix(s string) uint64 {
	if len(s) >= 8 {
		return binary.BigEndian.Uint64([]byte(s[:8]))
	}
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

// radixMin is the length of a range below which sortStrKeys sorts by
// comparison: a radix sort has a fixed cost (its counters to clear and
// sum, up to 8 passes over the range) that only pays on longer ranges.
const radixMin = 512

// sortStrKeys sorts recs into the byte-wise order of their keys (Go's
// order of strings), where key(r.i) is r's key and r.prefix is keyPrefix
// of it. Equal keys may come out in any order. It may change the
// prefixes.
func sortStrKeys(recs []keyRec, key func(int32) string) {
	if len(recs) <= radixMin {
		sortStrKeysCmp(recs, key)
		return
	}
	radixSortStrKeys(recs, make([]keyRec, len(recs)), key, 0)
}

// sortStrKeysCmp sorts recs by comparison: by prefix, and on a tie by the
// whole keys. The prefixes must all be read at the same offset, before
// which the keys agree (see radixSortStrKeys), or the tie-break could
// contradict them.
func sortStrKeysCmp(recs []keyRec, key func(int32) string) {
	slices.SortFunc(recs, func(a, b keyRec) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return cmp.Compare(key(a.i), key(b.i))
	})
}

// radixSortStrKeys sorts recs, whose keys all agree on their first off
// bytes, padded with zeros, and whose prefixes are read at off: it sorts
// them by prefix (sortByPrefix), then each run of equal prefixes on the
// keys' next 8 bytes, and so on. tmp is scratch room, at least as long
// as recs.
//
// Padding with zeros keeps the order: where two keys' padded bytes first
// differ, a key that has ended has a zero, below any byte of the other,
// and is less, as a proper prefix of the other. Padded bytes that are all
// equal, though, leave two keys' order open ("a" < "a\x00"), which
// nextKeyBytes settles.
func radixSortStrKeys(recs, tmp []keyRec, key func(int32) string, off int) {
	for len(recs) > radixMin {
		sortByPrefix(recs, tmp)
		// Sort the runs of equal prefixes: the longest in this loop, the
		// others (each at most half of recs) by recursion, so that the
		// recursion is at most log2(len(recs)) deep.
		var longest []keyRec
		for i := 0; i < len(recs); {
			j := i + 1
			for j < len(recs) && recs[j].prefix == recs[i].prefix {
				j++
			}
			run := recs[i:j]
			if len(run) > len(longest) {
				run, longest = longest, run
			}
			if len(run) > 1 {
				rest, next := nextKeyBytes(run, key, off)
				radixSortStrKeys(rest, tmp, key, next)
			}
			i = j
		}
		if len(longest) < 2 {
			return
		}
		recs, off = nextKeyBytes(longest, key, off)
	}
	sortStrKeysCmp(recs, key)
}

// nextKeyBytes takes recs whose keys agree on their first off+8 bytes,
// padded with zeros. The keys that end by then are proper prefixes of
// those that go on, and of each other if shorter: it puts them first,
// shortest first, and returns the rest, their prefixes read at the new
// offset off+8, to be sorted.
func nextKeyBytes(recs []keyRec, key func(int32) string, off int) ([]keyRec, int) {
	n := 0
	for i, r := range recs {
		if len(key(r.i)) <= off+8 {
			recs[i], recs[n] = recs[n], recs[i]
			n++
		}
	}
	sortStrKeysCmp(recs[:n], key) // equal prefixes: by whole keys
	off += 8
	rest := recs[n:]
	for i := range rest {
		rest[i].prefix = keyPrefix(key(rest[i].i)[off:])
	}
	return rest, off
}

// sortByPrefix sorts recs by prefix: a least-significant-digit radix sort
// on the prefixes' bytes, with a pass for each byte on which they differ.
// tmp is scratch room, at least as long as recs.
func sortByPrefix(recs, tmp []keyRec) {
	// One pass counts the values of every byte.
	var count [8][256]uint32
	for _, r := range recs {
		p := r.prefix
		count[0][byte(p>>56)]++
		count[1][byte(p>>48)]++
		count[2][byte(p>>40)]++
		count[3][byte(p>>32)]++
		count[4][byte(p>>24)]++
		count[5][byte(p>>16)]++
		count[6][byte(p>>8)]++
		count[7][byte(p)]++
	}
	src, dst := recs, tmp[:len(recs)]
	first := recs[0].prefix
	for b := 7; b >= 0; b-- {
		shift := 56 - 8*b
		if int(count[b][byte(first>>shift)]) == len(recs) {
			continue // the same byte in every prefix
		}
		var next [256]uint32
		pos := uint32(0)
		for d, c := range count[b] {
			next[d] = pos
			pos += c
		}
		for _, r := range src {
			d := byte(r.prefix >> shift)
			dst[next[d]] = r
			next[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &recs[0] {
		copy(recs, src)
	}
}
