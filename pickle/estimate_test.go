package pickle

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendNones appends a MARK, n NONEs and APPENDS.
func appendNones(p []byte, n int) []byte {
	p = append(p, opMark)
	for range n {
		p = append(p, opNone)
	}
	return append(p, opAppends)
}

// The capacity a long list is given from an estimate is memory the
// pickle makes us allocate. Each list's estimate assumes the rest of the
// input is its own, so a pickle of many lists of 4097 Nones made each
// allocate 16 times its length: about 256 bytes per byte of input, twice
// the documented MaxAllocFactor. The pickle is an honest one (CPython
// loads it), so it must decode, and within the allowance: a LimitError
// here would be the limit refusing good input.
func TestEstimateWithinAllowance(t *testing.T) {
	p := []byte{0x80, 4}
	for range 128 {
		p = append(p, opEmptyList)
		p = appendNones(p, 4096)
		p = appendNones(p, 1)
		p = append(p, opPop)
	}
	p = append(p, opNone, opStop)
	var err error
	got := allocated(func() {
		var v any
		err = Unmarshal(p, &v)
	})
	require.NoError(t, err)
	allowance := uint64(allocAllowance + DefaultMaxAllocFactor*len(p))
	assert.LessOrEqual(t, got, allowance, "%d bytes of input", len(p))
}

// An honest pickle of nested long lists (rows of a matrix) must not make
// every row as long as the whole input: each row's estimate counted the
// rest of the input as its own, and every row kept 16 times its length
// until the end of the pickle.
func TestEstimateNestedRows(t *testing.T) {
	rows := make([]any, 200)
	for i := range rows {
		row := make([]any, 5000)
		for j := range row {
			row[j] = int64(j % 200)
		}
		rows[i] = row
	}
	data, err := Marshal(rows)
	require.NoError(t, err)
	var v any
	got := allocated(func() { require.NoError(t, Unmarshal(data, &v)) })
	assert.Equal(t, rows, v)
	// Doubling would allocate about 24 bytes per byte of input here.
	assert.Less(t, got, uint64(64*len(data)), "%d bytes of input", len(data))
}

// MaxContainerLen bounds a list's items, so no estimate gives it room for
// more: the input that follows the list (here NONE, POP a million times)
// must not make it allocate more than the same list at the end of the
// input does.
func TestEstimateWithinMaxContainerLen(t *testing.T) {
	list := []byte{0x80, 4, opEmptyList}
	list = appendNones(list, 4096)
	list = appendNones(list, 4)
	p := list
	for range 1 << 19 {
		p = append(p, opNone, opPop)
	}
	opts := DecodeOptions{MaxContainerLen: 4200, MaxAllocFactor: -1}
	decode := func(p []byte) uint64 {
		var v any
		got := allocated(func() { require.NoError(t, opts.Unmarshal(p, &v)) })
		assert.Len(t, v, 4100)
		return got
	}
	alone := decode(append(list, opStop))
	followed := decode(append(p, opStop))
	assert.Less(t, followed, alone+4200*16, "room for 4200 items at most")
}

// estimateAt returns a decoder that has read the first 5000 items, in
// batches of 1000 of perItem bytes each, of input that holds items of
// them, and the capacity its estimate gives a container of 4000 that
// needs 5000, at size bytes an item.
func estimateAt(t *testing.T, perItem, items, size int) (int, bool) {
	t.Helper()
	cfg := (&DecodeOptions{}).config()
	d := &decoder{cfg: &cfg, data: make([]byte, perItem*items), batch: perItem * 1000}
	d.pos = perItem * 5000
	d.estimateBudget = len(d.data) / 2
	d.allocMax = 1 << 40
	return d.estimate(4000, 5000, 1000, size)
}

// A long list or dict arrives in batches of 1000 items, and its first
// estimate comes at 5000 items. That estimate must give room for all of
// it, or the container is grown and copied again, with the garbage
// collector's write barrier on every pointer:
//   - a dict of 100k str keys and values (24 bytes of input an entry):
//     capped at 16 times the length, it stopped at 80000 entries, for a
//     tenth of the time of decoding it;
//   - a list of a million floats (BINFLOATs of 9 bytes): capped at 64
//     times, it stopped at 320000 items, for a fifth of that time.
func TestEstimateLongContainerGrowsOnce(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		perItem, items, size int
	}{
		{"dict", 24, 100_000, 32},
		{"list", 9, 1_000_000, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, est := estimateAt(t, tc.perItem, tc.items, tc.size)
			assert.True(t, est)
			assert.GreaterOrEqual(t, c, tc.items)
			assert.LessOrEqual(t, c, tc.items+tc.items/32)
		})
	}
}

// A long list followed by much other input (here a list of 5000 ints and
// then 10 MiB of bytes) takes the rest of the input for its own items; the
// room its estimate gives stays within estimateMaxGrowth times its length.
func TestEstimateBoundedByGrowth(t *testing.T) {
	c, est := estimateAt(t, 2, 5000+(10<<20)/2, 16)
	assert.True(t, est)
	assert.Equal(t, estimateMaxGrowth*5000, c)
}
