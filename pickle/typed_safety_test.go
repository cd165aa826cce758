package pickle

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the typed decoder's writes into Go memory: each pickle here
// made it write where it must not, or keep a value the reference path
// does not give.

type tsVals struct {
	Vals []float64 `pickle:"vals"`
}

// After BUILD adopts a memoized dict as an instance's struct, the dict's
// memo entry is emptied, but the dict's slot left on the stack still
// names that entry as its own. The typed decoder let the pickle put a new
// value (here a []float64 being built) at the freed index; filling the
// old dict then counted its pairs into the slice's entry, whose length
// grew past its backing array. With MaxContainerLen off (negative), the
// caller got a slice of 80 floats over an array of 72: the last 8 were
// another object's memory, and writing them would corrupt the heap.
func TestTypedMemoReusedAfterAdopt(t *testing.T) {
	p := []byte{0x80, 4, opEmptyDict, opMemoize} // the target's dict, memo 0
	p = append(p, "c__main__\nRec\n"...)
	// An instance whose state is the dict (BUILD): memo 0 is emptied.
	// The tuple and POP take the instance away, leaving the dict.
	p = append(p, opEmptyTuple, opNewobj, opBinget, 0, opBuild, opTuple1, opPop)
	// A []float64 for the dict's "vals", put at memo 0 again, with 72
	// floats; then taken off the stack without storing it.
	p = append(p, opMark, opShortBinunicode, 4)
	p = append(p, "vals"...)
	p = append(p, opEmptyList, opBinput, 0, opMark)
	for i := 0; i < 72; i++ {
		p = append(p, opBinint1, byte(i))
	}
	p = append(p, opAppends, opTuple2, opPopMark)
	// Eight pairs into the dict, each "vals": the slice.
	p = append(p, opMark)
	for i := 0; i < 8; i++ {
		p = append(p, opShortBinunicode, 4)
		p = append(p, "vals"...)
		p = append(p, opBinget, 0)
	}
	p = append(p, opSetitems, opStop)

	opts := DecodeOptions{MaxContainerLen: -1}
	var v tsVals
	require.NoError(t, opts.Unmarshal(p, &v))
	assert.Len(t, v.Vals, 72)
	checkAgrees(t, opts, p, reflect.TypeFor[tsVals](), "memo index reused after adopt")
}
