package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A batch of numbers added to a list (MARK, numbers, APPENDS) goes
// through appendNumbers, which decodes them straight into the list. The
// main loop must give the same list, or the same error at the same
// opcode: these tests decode each pickle both ways (decodeBothWays) and
// compare.

// appendNumber appends one number of a random kind: BININT1, BININT2,
// BININT (negative too) or, if floats is set, BINFLOAT (±0, ±inf,
// subnormals too).
func appendNumber(rng *rand.Rand, p []byte, floats bool) []byte {
	kinds := 3
	if floats {
		kinds = 4
	}
	switch rng.IntN(kinds) {
	case 0:
		return append(p, opBinint1, byte(rng.IntN(256)))
	case 1:
		return binary.LittleEndian.AppendUint16(append(p, opBinint2), uint16(rng.IntN(1<<16)))
	case 2:
		return binary.LittleEndian.AppendUint32(append(p, opBinint), uint32(rng.Int32()-rng.Int32()))
	}
	f := rng.NormFloat64() * 1e6
	switch rng.IntN(8) {
	case 0:
		f = math.Copysign(0, -1)
	case 1:
		f = math.Inf(1 - 2*rng.IntN(2))
	case 2:
		f = math.SmallestNonzeroFloat64 * float64(rng.IntN(100))
	}
	return binary.BigEndian.AppendUint64(append(p, opBinfloat), math.Float64bits(f))
}

// numRunPickle returns a protocol 4 pickle of a list of count numbers,
// added as CPython adds them: in batches of up to batch with MARK and
// APPENDS, a last batch of one with APPEND. With rows > 0 it is a list of
// rows such lists. Without floats, the numbers are all ints.
func numRunPickle(rng *rand.Rand, count, batch, rows int, floats bool) []byte {
	p := []byte{0x80, 4}
	list := func() {
		p = append(p, opEmptyList, opMemoize)
		for i := 0; i < count; {
			n := min(batch, count-i)
			if n == 1 {
				p = append(appendNumber(rng, p, floats), opAppend)
				i++
				continue
			}
			p = append(p, opMark)
			for range n {
				p = appendNumber(rng, p, floats)
			}
			p = append(p, opAppends)
			i += n
		}
	}
	if rows == 0 {
		list()
		return append(p, opStop)
	}
	p = append(p, opEmptyList, opMemoize, opMark)
	for range rows {
		list()
	}
	return append(p, opAppends, opStop)
}

func TestNumberRunsMatchMainLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct{ count, batch, rows int }{
		{0, 1000, 0},
		{1, 1000, 0},
		{2, 1000, 0},
		{1000, 1000, 0},
		{1001, 1000, 0},
		{3000, 7, 0},
		{20000, 1000, 0}, // past the estimate's first guess
		{150000, 1000, 0},
		{5000, 1000, 40}, // rows, each estimated in turn
		{300, 1000, 300},
		{100000, 100000, 0}, // one batch past MaxAllocFactor 1
	} {
		t.Run(fmt.Sprintf("%d_%d_%d", tc.count, tc.batch, tc.rows), func(t *testing.T) {
			p := numRunPickle(rng, tc.count, tc.batch, tc.rows, true)
			v, err := decodeBothWays(t, DecodeOptions{}, p)
			require.NoError(t, err)
			l := v.([]any)
			if tc.rows > 0 {
				require.Len(t, l, tc.rows)
				l = l[len(l)-1].([]any)
			}
			require.Len(t, l, tc.count)
			for _, opts := range []DecodeOptions{
				{MaxContainerLen: 999}, {MaxContainerLen: 1000}, {MaxContainerLen: 5000}, {MaxContainerLen: tc.count},
				{MaxAllocFactor: 1}, {MaxAllocFactor: 2}, {MaxAllocFactor: 4},
				{MaxDepth: 1}, {MaxDepth: 2},
				{MaxContainerLen: max(tc.count-1, 1), MaxAllocFactor: 1}, // both at once: the allowance is checked first
			} {
				decodeBothWays(t, opts, p)
			}
		})
	}
}

// The numbers a batch takes are decoded straight into the list: the main
// loop's stack, which would have held them, never grows.
func TestNumberRunsSkipTheStack(t *testing.T) {
	p := numRunPickle(rand.New(rand.NewPCG(13, 14)), 8000, 1000, 0, true)
	assertFewerAllocs(t, "a list", func(cfg *decodeConfig) {
		_, _, err := decodePickle(cfg, p)
		require.NoError(t, err)
	})
}

// withAndWithoutRuns returns opts' configuration, and the same with the
// fast paths (strRun, appendNumbers) off.
func withAndWithoutRuns(opts DecodeOptions) (fast, mainLoop *decodeConfig) {
	cfg := opts.config()
	slow := cfg
	slow.noRuns = true
	return &cfg, &slow
}

// assertFewerAllocs checks that decode allocates less with the fast
// paths than through the main loop alone.
func assertFewerAllocs(t *testing.T, what string, decode func(cfg *decodeConfig)) {
	t.Helper()
	fast, mainLoop := withAndWithoutRuns(DecodeOptions{})
	a := testing.AllocsPerRun(5, func() { decode(fast) })
	b := testing.AllocsPerRun(5, func() { decode(mainLoop) })
	assert.Less(t, a, b, "%s: allocations with the fast paths (%v) and through the main loop (%v)", what, a, b)
}

// Every cut of a list of numbers ends it somewhere in a batch: in a
// number, between two, or before APPENDS.
func TestNumberRunsTruncated(t *testing.T) {
	p := numRunPickle(rand.New(rand.NewPCG(15, 16)), 40, 16, 0, true)
	for n := range len(p) {
		_, err := decodeBothWays(t, DecodeOptions{}, p[:n])
		require.ErrorIs(t, err, ErrTruncated, "cut at %d", n)
	}
}

// appendNumbers leaves to the main loop every batch it does not take
// whole, and every APPENDS that is not to a list; the main loop then
// decodes or refuses it as before.
func TestNumberRunsMixed(t *testing.T) {
	for _, tc := range numRunMixedCases() {
		t.Run(tc.name, func(t *testing.T) {
			v, err := decodeBothWays(t, DecodeOptions{}, tc.p)
			if tc.err != nil {
				assert.True(t, errors.Is(err, tc.err), "%v", err)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, v)
		})
	}
}

type numRunCase struct {
	name string
	p    []byte
	err  error // nil: decodes
}

// numRunMixedCases are batches of numbers in odd places, and what the
// model's decoder makes of them.
func numRunMixedCases() []numRunCase {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	nums := []byte{opBinint1, 1, opBinint2, 2, 1, opBinint, 3, 0, 0, 0x80, opBinfloat, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}
	start := []byte{0x80, 4, opEmptyList, opMemoize, opMark}
	return []numRunCase{
		{"batch", cat(start, nums, []byte{opAppends, opStop}), nil},
		{"two batches", cat(start, nums, []byte{opAppends, opMark}, nums, []byte{opAppends, opStop}), nil},
		{"batch after other items", cat(start, []byte{opNone}, nums, []byte{opAppends, opStop}), nil},
		{"number then a str", cat(start, nums, []byte{opShortBinunicode, 1, 'a', opAppends, opStop}), nil},
		{"number then a get", cat(start, nums, []byte{opBinget, 0, opAppends, opStop}), nil},
		{"memoize in the run", cat(start, nums[:2], []byte{opMemoize}, nums[2:], []byte{opAppends, opStop}), nil},
		{"frame in the run", cat(start, nums[:5], []byte{opFrame, 14, 0, 0, 0, 0, 0, 0, 0}, nums[5:], []byte{opAppends, opStop}), nil},
		{"tuple in a list", cat(start, []byte{opMark}, nums, []byte{opTuple, opAppends, opStop}), nil},
		{"tuple after a list", cat([]byte{0x80, 4, opEmptyList, opMark}, nums, []byte{opTuple, opTuple2, opStop}), nil},
		{"list after a mark", cat([]byte{0x80, 4, opMark, opEmptyList, opMark}, nums, []byte{opAppends, opTuple, opStop}), nil},
		{"list appended to itself", cat(start, nums, []byte{opAppends, opBinget, 0, opMark}, nums, []byte{opAppends, opAppend, opStop}), nil},
		{"object with list items", cat([]byte{0x80, 4, opGlobal}, []byte("m\nC\n"), []byte{opEmptyTuple, opNewobj, opMark}, nums, []byte{opAppends, opStop}), nil},
		{"two marks", cat(start, []byte{opMark}, nums, []byte{opAppends, opStop}), ErrMark},
		{"two marks closed", cat(start, []byte{opMark}, nums, []byte{opAppends, opAppends, opStop}), ErrMark},
		{"mark with nothing under it", cat([]byte{0x80, 4, opMark}, nums, []byte{opAppends, opStop}), ErrStackUnderflow},
		{"appends to a dict", cat([]byte{0x80, 4, opEmptyDict, opMark}, nums, []byte{opAppends, opStop}), ErrType},
		{"appends to a tuple", cat([]byte{0x80, 4, opEmptyTuple, opMark}, nums, []byte{opAppends, opStop}), ErrType},
		{"appends to a number", cat([]byte{0x80, 4, opBinint1, 7, opMark}, nums, []byte{opAppends, opStop}), ErrType},
		{"no stop", cat(start, nums, []byte{opAppends}), ErrTruncated},
	}
}

// The typed decoder takes a batch of numbers to a []float64 or []int64
// straight into the slice too (tdec.appendNumbers). Whatever it decodes,
// or refuses, or gives up, must be what its main loop does; and what
// Unmarshal gives must be what the reference path (the model's decoder
// and conversion) gives. MaxAllocFactor is left out of the second: the
// typed decoder counts what it allocates, which is less than the model's
// values take, so it decodes some pickles that the reference path
// refuses.

// typedBothWays decodes data into a new value of type typ with the
// typed decoder, with and without its appendNumbers, and fails unless
// both give the same value or the same error.
func typedBothWays(t *testing.T, opts DecodeOptions, data []byte, typ reflect.Type, label string) {
	t.Helper()
	fast, mainLoop := withAndWithoutRuns(opts)
	got, want := reflect.New(typ), reflect.New(typ)
	err := unmarshalTyped(fast, data, decPlanFor(typ), got.UnsafePointer())
	werr := unmarshalTyped(mainLoop, data, decPlanFor(typ), want.UnsafePointer())
	if err != nil || werr != nil {
		assert.Equal(t, fmt.Sprint(werr), fmt.Sprint(err), "%s into %s", label, typ)
		return
	}
	assert.True(t, sameResult(got.Interface(), want.Interface()), "%s into %s: values differ\nfast: %s\nmain loop: %s",
		label, typ, clipS(got.Elem()), clipS(want.Elem()))
}

var numRunTargets = []reflect.Type{
	reflect.TypeFor[[]float64](),
	reflect.TypeFor[[]int64](),
	reflect.TypeFor[[]int](),
	reflect.TypeFor[[]int32](), // not taken: the main loop stores each
	reflect.TypeFor[[]any](),
	reflect.TypeFor[[][]float64](),
	reflect.TypeFor[[][]int64](),
	reflect.TypeFor[*[]float64](),
}

func TestTypedNumberRunsAgreeWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, tc := range []struct {
		count, batch, rows int
		floats             bool
	}{
		{0, 1000, 0, true},
		{1, 1000, 0, false},
		{2, 1000, 0, true},
		{1000, 1000, 0, false},
		{1001, 1000, 0, true},
		{3000, 7, 0, false},
		{20000, 1000, 0, true},
		{20000, 1000, 0, false},
		{5000, 1000, 20, false},
		{300, 1000, 100, true},
		{100000, 100000, 0, false},
	} {
		t.Run(fmt.Sprintf("%d_%d_%d_%v", tc.count, tc.batch, tc.rows, tc.floats), func(t *testing.T) {
			p := numRunPickle(rng, tc.count, tc.batch, tc.rows, tc.floats)
			for _, typ := range numRunTargets {
				for _, opts := range []DecodeOptions{
					{},
					{MaxContainerLen: 999}, {MaxContainerLen: max(tc.count-1, 1)},
					{MaxAllocFactor: 1}, {MaxAllocFactor: 2},
					{MaxDepth: 1},
				} {
					label := fmt.Sprintf("%+v", opts)
					typedBothWays(t, opts, p, typ, label)
					if opts.MaxAllocFactor == 0 {
						checkAgrees(t, opts, p, typ, label)
					}
				}
			}
		})
	}
}

// Lists of numbers decode into []float64 (ints too) and, when all are
// ints, into []int64 without falling back, and without the stack growing
// as the main loop makes it grow.
func TestTypedNumberRunsFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	mixed, ints := numRunPickle(rng, 8000, 1000, 0, true), numRunPickle(rng, 8000, 1000, 0, false)
	for _, c := range []struct {
		p   []byte
		typ reflect.Type
	}{
		{mixed, reflect.TypeFor[[]float64]()},
		{ints, reflect.TypeFor[[]float64]()},
		{ints, reflect.TypeFor[[]int64]()},
		{ints, reflect.TypeFor[[]int]()},
	} {
		assert.True(t, checkAgrees(t, DecodeOptions{}, c.p, c.typ, "fast path"), "into %s: fell back", c.typ)
		assertFewerAllocs(t, "into "+c.typ.String(), func(cfg *decodeConfig) {
			require.NoError(t, unmarshalTyped(cfg, c.p, decPlanFor(c.typ), reflect.New(c.typ).UnsafePointer()))
		})
	}
}

// Every cut, and every odd shape of TestNumberRunsMixed, decodes into the
// typed targets as through the reference path.
func TestTypedNumberRunsCutAndMixed(t *testing.T) {
	p := numRunPickle(rand.New(rand.NewPCG(21, 22)), 40, 16, 0, false)
	for n := range len(p) {
		for _, typ := range numRunTargets {
			label := fmt.Sprintf("cut at %d", n)
			typedBothWays(t, DecodeOptions{}, p[:n], typ, label)
			checkAgrees(t, DecodeOptions{}, p[:n], typ, label)
		}
	}
	for _, tc := range numRunMixedCases() {
		for _, typ := range numRunTargets {
			typedBothWays(t, DecodeOptions{}, tc.p, typ, tc.name)
			checkAgrees(t, DecodeOptions{}, tc.p, typ, tc.name)
		}
	}
}
