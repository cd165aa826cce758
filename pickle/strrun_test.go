package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Runs of SHORT_BINUNICODE go through strRun (strrun.go), whose inner
// loop copies text 32 bytes at a time and checks room and limits for many
// strs at once. Whatever it takes, the main loop must have taken the same
// way, and where it stops, the main loop must report the same error.
// These tests decode each pickle both ways and compare.

// decodeBothWays decodes data with opts through strRun and through the
// main loop alone, and fails unless both give the same value, written out
// the same (so the same strs are shared), or the same error at the same
// opcode.
func decodeBothWays(t *testing.T, opts DecodeOptions, data []byte) (any, error) {
	t.Helper()
	fast, mainLoop := withAndWithoutRuns(opts)
	v, _, err := decodePickle(fast, data)
	sv, _, serr := decodePickle(mainLoop, data)
	if err != nil || serr != nil {
		require.Error(t, err, "strRun decodes what the main loop refuses: %v", serr)
		require.Error(t, serr, "the main loop decodes what strRun refuses: %v", err)
		var de, sde *DecodeError
		require.ErrorAs(t, err, &de)
		require.ErrorAs(t, serr, &sde)
		require.Equal(t, sde.Offset, de.Offset, "%v / %v", err, serr)
		require.Equal(t, sde.Opcode, de.Opcode, "%v / %v", err, serr)
		require.Equal(t, serr.Error(), err.Error())
		return nil, err
	}
	require.True(t, Equal(sv, v), "strRun gives\n%s\nthe main loop\n%s", describe(v), describe(sv))
	opts5 := EncodeOptions{Protocol: 5}
	b, err := opts5.Marshal(v)
	sb, serr := opts5.Marshal(sv)
	if err != nil || serr != nil {
		require.EqualError(t, err, fmt.Sprint(serr))
		return v, nil
	}
	require.Equal(t, sb, b, "the values share differently")
	return v, nil
}

// strRunText returns text of n bytes: ASCII letters and digits, and now
// and then, where the length allows, a two-byte character, which the
// inner loop leaves to the main loop.
func strRunText(rng *rand.Rand, n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@."
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	if n > 1 && rng.IntN(10) == 0 {
		i := rng.IntN(n - 1)
		b[i], b[i+1] = 0xc3, 0xa9 // é
	}
	return b
}

// strRunPickle returns a protocol 4 pickle of a dict of count str keys and
// str values, of lengths up to maxLen, in batches of 1000 as CPython
// writes them. With memoize, each str has a MEMOIZE after it; with dup,
// some keys repeat an earlier str's text, and some strs are GETs of one.
func strRunPickle(rng *rand.Rand, count, maxLen int, memoize, dup bool) []byte {
	p := []byte{0x80, 4, opEmptyDict, opMemoize}
	var texts [][]byte
	for i := 0; i < count; {
		p = append(p, opMark)
		for j := 0; j < 1000 && i < count; i, j = i+1, j+1 {
			for range 2 {
				if dup && memoize && len(texts) > 0 && rng.IntN(10) == 0 {
					idx := 1 + rng.IntN(len(texts)) // the dict is 0
					if idx < 256 {
						p = append(p, opBinget, byte(idx))
					} else {
						p = append(p, opLongBinget, byte(idx), byte(idx>>8), byte(idx>>16), byte(idx>>24))
					}
					continue
				}
				text := strRunText(rng, rng.IntN(maxLen+1))
				if dup && len(texts) > 0 && rng.IntN(8) == 0 {
					text = texts[rng.IntN(len(texts))]
				}
				p = append(p, opShortBinunicode, byte(len(text)))
				p = append(p, text...)
				if memoize {
					p = append(p, opMemoize)
					texts = append(texts, text)
				}
			}
		}
		p = append(p, opSetitems)
	}
	return append(p, opStop)
}

func TestStrRunsMatchMainLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		count, maxLen int
		memoize, dup  bool
	}{
		{0, 0, true, false},
		{1, 8, true, false},
		{3, 40, true, false},
		{300, 12, true, false},
		{300, 40, true, true},
		{300, 40, false, true},
		{5000, 20, true, false}, // past a memo chunk, many slab chunks and arena chunks
		{5000, 255, true, true},
		{40000, 0, true, false}, // 40 bytes of allowance for 3 of input: passes MaxAllocFactor 1
	} {
		t.Run(fmt.Sprintf("%d_%d_%v_%v", tc.count, tc.maxLen, tc.memoize, tc.dup), func(t *testing.T) {
			p := strRunPickle(rng, tc.count, tc.maxLen, tc.memoize, tc.dup)
			v, err := decodeBothWays(t, DecodeOptions{}, p)
			require.NoError(t, err)
			require.Equal(t, tc.count > 0, v.(*Dict).Len() > 0)
			for _, opts := range []DecodeOptions{
				{ZeroCopy: true},
				{MaxMemo: 3}, {MaxMemo: 1500},
				{MaxStringLen: 254}, {MaxStringLen: 255},
				{MaxAllocFactor: 1}, {MaxAllocFactor: 3},
				{MaxContainerLen: 100},
			} {
				decodeBothWays(t, opts, p)
			}
		})
	}
}

// Every cut of a pickle with a run of strs ends it somewhere in the run:
// in a str's length, its text, or before a MEMOIZE, near the end of the
// input where the inner loop's 32-byte reads would run off it.
func TestStrRunsTruncated(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := strRunPickle(rng, 12, 36, true, false)
	for n := range len(p) {
		_, err := decodeBothWays(t, DecodeOptions{}, p[:n])
		require.ErrorIs(t, err, ErrTruncated, "cut at %d", n)
	}
}

// A str that is not UTF-8, in the middle of a long run, with its bad byte
// at any of its places, fails at its own offset; one with text that is
// not ASCII but is UTF-8 decodes.
func TestStrRunsNotASCII(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 1; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for _, bad := range []bool{true, false} {
				text := strRunText(rng, n)
				for i := range text {
					if text[i] >= 0x80 {
						text[i] = 'x'
					}
				}
				if bad {
					text[at] = 0xff
				} else if at+1 < n {
					text[at], text[at+1] = 0xc3, 0xa9
				}
				p := []byte{0x80, 4, opMark}
				for i := range 40 {
					s := []byte(fmt.Sprintf("s%d", i))
					if i == 20 {
						s = text
					}
					p = append(p, opShortBinunicode, byte(len(s)))
					p = append(p, s...)
					p = append(p, opMemoize)
				}
				p = append(p, opTuple, opStop)
				_, err := decodeBothWays(t, DecodeOptions{}, p)
				if bad {
					require.ErrorIs(t, err, ErrSyntax, "%q", text)
				} else {
					require.NoError(t, err, "%q", text)
				}
			}
		}
	}
}

// The run stops at anything it does not take (another opcode, a MEMOIZE
// with no str before it in the run, a MARK between strs), and the main
// loop goes on from there.
func TestStrRunsMixed(t *testing.T) {
	str := func(s string) []byte { return append([]byte{opShortBinunicode, byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	long := strings.Repeat("x", 33)
	cases := map[string][]byte{
		"tuple of strs":       cat([]byte{0x80, 4, opMark}, str("a"), str("bb"), str(""), str("ccc"), []byte{opTuple, opStop}),
		"memoize of a list":   cat([]byte{0x80, 4, opEmptyList, opMemoize, opMark}, str("a"), []byte{opMemoize}, str("b"), []byte{opMemoize, opBinget, 0, opAppends, opStop}),
		"long str in the run": cat([]byte{0x80, 4, opMark}, str("a"), []byte{opMemoize}, str(long), []byte{opMemoize}, str("b"), []byte{opMemoize, opTuple, opStop}),
		"get of a str":        cat([]byte{0x80, 4, opMark}, str("a"), []byte{opMemoize}, str("b"), []byte{opMemoize, opBinget, 0, opBinget, 1, opTuple, opStop}),
		"put far ahead":       cat([]byte{0x80, 2, opMark}, str("a"), []byte{opBinput, 200}, str("b"), []byte{opMemoize}, str("c"), []byte{opMemoize, opBinget, 200, opTuple, opStop}),
		"memoize at the mark": cat([]byte{0x80, 4}, str("a"), []byte{opMark, opMemoize}, str("b"), str("c"), []byte{opTuple, opStop}),
		"memoize at the end":  cat([]byte{0x80, 4, opMark}, str("a"), str("b"), []byte{opMemoize}),
		"non-ascii":           cat([]byte{0x80, 4, opMark}, str("a"), []byte{opMemoize}, str("é"), []byte{opMemoize}, str("\xff"), []byte{opMemoize, opTuple, opStop}),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := decodeBothWays(t, DecodeOptions{}, p)
			switch name {
			case "memoize at the mark":
				assert.True(t, errors.Is(err, ErrMark) || errors.Is(err, ErrStackUnderflow), "%v", err)
			case "memoize at the end":
				assert.ErrorIs(t, err, ErrTruncated)
			case "non-ascii":
				assert.ErrorIs(t, err, ErrSyntax)
			default:
				assert.NoError(t, err)
				assert.NotNil(t, v)
			}
		})
	}
}
