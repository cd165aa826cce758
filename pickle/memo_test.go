package pickle

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MEMOIZE uses the memo's length, which counts each index once. An index
// first put far ahead (kept apart from the dense memo) and put again once
// the dense memo reached it was counted twice, so MEMOIZE then chose
// another index than Python. CPython 3.12 reads this pickle as 'x'.
func TestMemoizeAfterSparseIndexPutAgain(t *testing.T) {
	put := func(p []byte, i uint32) []byte {
		return binary.LittleEndian.AppendUint32(append(p, opLongBinput), i)
	}
	p := []byte{0x80, 4, opNone}
	p = put(p, 3000) // beyond the dense memo: kept apart
	p = put(p, 1000)
	p = put(p, 2000)
	p = put(p, 3000) // now within the dense memo: the same index again
	p = append(p, opPop, opShortBinunicode, 1, 'x', opMemoize, opPop, opBinget, 3, opStop)
	var v any
	require.NoError(t, Unmarshal(p, &v))
	assert.Equal(t, "x", v)
}
