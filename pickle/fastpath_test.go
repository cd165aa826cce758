package pickle

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The decoder reads SHORT_BINUNICODE, and the MEMOIZE that protocol 4
// writes after every str, on paths of their own (loadShortUnicode and
// memoizeNext for one str, strRun for a run of them), and the encoder
// writes strings found in its hot cache inline. These tests hold those
// paths to CPython.

// shortStrCases returns protocol 4 pickles of a list holding one short
// str twice, [s, s], for text of every length up to 20 with, at every
// position, bytes Python accepts or refuses; and of the same str twice in
// the middle of a run of strs, which strRun takes, for text of every
// length up to 36 (strRun's inner loop takes up to 32 bytes).
func shortStrCases() [][]byte {
	alone := func(text []byte) []byte {
		p := []byte{0x80, 4, opEmptyList, opMemoize, opMark, opShortBinunicode, byte(len(text))}
		p = append(p, text...)
		return append(p, opMemoize, opBinget, 1, opAppends, opStop)
	}
	inRun := func(text []byte) []byte {
		// Not "a": CPython's one-character strs are singletons, so
		// text "a" would come out shared with it.
		p := []byte{0x80, 4, opEmptyList, opMemoize, opMark, opShortBinunicode, 4, 'l', 'e', 'a', 'd', opMemoize, opShortBinunicode, byte(len(text))}
		p = append(p, text...)
		p = append(p, opMemoize, opShortBinunicode, 40)
		p = append(p, strings.Repeat("p", 40)...)
		return append(p, opMemoize, opBinget, 2, opShortBinunicode, 1, 'z', opMemoize, opAppends, opStop)
	}
	out := strCases(alone, 20)
	out = append(out, strCases(inRun, 36)...)
	// Cut short anywhere, and MEMOIZE with nothing above the mark.
	for _, whole := range [][]byte{alone([]byte("hello world")), inRun([]byte("hello world"))} {
		for i := 3; i < len(whole); i++ {
			out = append(out, whole[:i])
		}
	}
	out = append(out,
		[]byte{0x80, 4, opMark, opMemoize, opStop},
		[]byte{0x80, 4, opShortBinunicode, 1, 'x', opMemoize, opMemoize, opBinget, 1, opStop},
		[]byte{0x80, 4, opShortBinunicode, 1, 'x', opPop, opMemoize, opStop},
	)
	return out
}

// strCases returns wrap's pickles of text of every length up to maxLen,
// all ASCII or with, at every position, bytes Python accepts or refuses.
func strCases(wrap func([]byte) []byte, maxLen int) [][]byte {
	inserts := [][]byte{
		{0xff},                   // never UTF-8
		{0xc3, 0xa9},             // é
		{0xc3},                   // a lead byte without its continuation
		{0xed, 0xa0, 0x80},       // a lone surrogate: Python's pickles allow it
		{0xc0, 0x80},             // overlong
		{0xf4, 0x90, 0x80, 0x80}, // beyond U+10FFFF
		{0xf0, 0x9f, 0x98, 0x80}, // 😀
		{0x80},                   // a continuation byte alone
	}
	var out [][]byte
	for n := 0; n <= maxLen; n++ {
		ascii := []byte(strings.Repeat("abcdefghij", 4)[:n])
		out = append(out, wrap(ascii))
		for i := 0; i < n; i++ {
			for _, in := range inserts {
				text := append(append(append([]byte(nil), ascii[:i]...), in...), ascii[i:]...)
				out = append(out, wrap(text))
			}
		}
	}
	return out
}

// pyReencode runs each pickle through CPython: for one it loads, the
// pickle of the value at protocol 4; for one it refuses, "".
func pyReencode(t *testing.T, py pymatrix.Interpreter, pickles [][]byte) []string {
	const script = `
import sys, pickle, binascii, json
for line in sys.stdin:
    try:
        v = pickle.loads(binascii.unhexlify(line.strip()))
    except Exception:
        print(json.dumps(""))
        continue
    print(json.dumps(binascii.hexlify(pickle.dumps(v, 4)).decode()))
`
	var in bytes.Buffer
	for _, p := range pickles {
		in.WriteString(hex.EncodeToString(p) + "\n")
	}
	cmd := py.Command("-c", script)
	cmd.Stdin = &in
	out, err := cmd.Output()
	require.NoError(t, err)
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var s string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s))
		res = append(res, s)
	}
	require.Len(t, res, len(pickles), "one answer per pickle")
	return res
}

func TestShortStrMatchesPython(t *testing.T) {
	py := pymatrix.Newest(t)
	cases := shortStrCases()
	want := pyReencode(t, py, cases)
	var loaded, refused int
	for i, p := range cases {
		var v any
		err := Unmarshal(p, &v)
		if want[i] == "" {
			refused++
			if assert.Error(t, err, "Python refuses % x", p) {
				assert.True(t, errors.Is(err, ErrSyntax) || errors.Is(err, ErrTruncated) ||
					errors.Is(err, ErrStackUnderflow) || errors.Is(err, ErrMark) || errors.Is(err, ErrMemo),
					"% x: %v", p, err)
			}
			continue
		}
		loaded++
		if !assert.NoError(t, err, "Python loads % x", p) {
			continue
		}
		got, err := EncodeOptions{Protocol: 4}.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, want[i], hex.EncodeToString(got), "% x decoded and encoded again", p)
	}
	// Both outcomes must be well represented, or the test proves little.
	t.Logf("%s: %d pickles loaded, %d refused", py.Short(), loaded, refused)
	assert.Greater(t, loaded, 400)
	assert.Greater(t, refused, 400)
}

func TestShortStrLimits(t *testing.T) {
	p := []byte{0x80, 4, opShortBinunicode, 5, 'h', 'e', 'l', 'l', 'o', opMemoize, opStop}
	var v any
	err := DecodeOptions{MaxStringLen: 4}.Unmarshal(p, &v)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "MaxStringLen", le.Limit)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, int64(2), de.Offset, "the error is at the SHORT_BINUNICODE")
	require.NoError(t, DecodeOptions{MaxStringLen: 5}.Unmarshal(p, &v))
	assert.Equal(t, "hello", v)

	// The MEMOIZE read along with the string is held to MaxMemo as
	// one read on its own.
	two := []byte{0x80, 4, opShortBinunicode, 1, 'a', opMemoize, opShortBinunicode, 1, 'b', opMemoize, opTuple2, opStop}
	err = DecodeOptions{MaxMemo: 1}.Unmarshal(two, &v)
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "MaxMemo", le.Limit)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, int64(9), de.Offset, "the error is at the second MEMOIZE")
	require.NoError(t, DecodeOptions{MaxMemo: 2}.Unmarshal(two, &v))
	assert.Equal(t, Tuple{"a", "b"}, v)
}

// The encoder's inline path for strings in the hot cache writes what the
// general path writes: a dict's keys repeated across many dicts come out
// as GETs of the first, at every binary protocol, and Python reads the
// result back equal.
func TestHotStringsMatchPython(t *testing.T) {
	py := pymatrix.Newest(t)
	keys := []string{"id", "name", "tags"}
	rows := make([]any, 300)
	for i := range rows {
		d := NewDict()
		for _, k := range keys {
			require.NoError(t, d.Set(k, []any{k, int64(i)}))
		}
		rows[i] = d
	}
	var pickles [][]byte
	for proto := 1; proto <= 5; proto++ {
		p, err := EncodeOptions{Protocol: proto}.Marshal(rows)
		require.NoError(t, err)
		// Each key is written once as text; every other use is a GET.
		for _, k := range keys {
			assert.Equal(t, 1, bytes.Count(p, []byte(k)), "protocol %d: %q", proto, k)
		}
		pickles = append(pickles, p)
	}
	// Python's own pickle of what it loaded is what Go writes at
	// protocol 4.
	want := pyReencode(t, py, pickles)
	for i, w := range want {
		require.NotEmpty(t, w, "Python refused the protocol %d pickle", i+1)
	}
	assert.Equal(t, hex.EncodeToString(pickles[3]), want[3])
}

// Runs of BININT1, BININT2, BININT and BINFLOAT are read in a loop of
// their own (loadNumbers). Whole, the list decodes as Python reads it;
// cut anywhere inside the run, the error names the opcode that was cut.
func TestNumberRunsMatchPython(t *testing.T) {
	py := pymatrix.Newest(t)
	p := []byte{0x80, 4, opEmptyList, opMemoize, opMark}
	var starts []int
	add := func(op byte, arg ...byte) {
		starts = append(starts, len(p))
		p = append(append(p, op), arg...)
	}
	add(opBinint1, 0)
	add(opBinint1, 255)
	add(opBinint2, 0, 1)                          // 256
	add(opBinint2, 0xff, 0xff)                    // 65535
	add(opBinint, 0, 0, 1, 0)                     // 65536
	add(opBinint, 0xff, 0xff, 0xff, 0xff)         // -1
	add(opBinint, 0, 0, 0, 0x80)                  // -2**31
	add(opBinfloat, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0) // 1.5
	add(opBinfloat, 0x80, 0, 0, 0, 0, 0, 0, 0)    // -0.0
	add(opBinint1, 7)
	end := len(p)
	p = append(p, opAppends, opStop)

	want := pyReencode(t, py, [][]byte{p})
	var v any
	require.NoError(t, Unmarshal(p, &v))
	assert.Equal(t, []any{int64(0), int64(255), int64(256), int64(65535), int64(65536), int64(-1), int64(-1 << 31), 1.5, negZero(), int64(7)}, v)
	got, err := EncodeOptions{Protocol: 4}.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, want[0], hex.EncodeToString(got))

	for cut := starts[0] + 1; cut < end; cut++ {
		at := 0
		for _, s := range starts {
			if s < cut {
				at = s
			}
		}
		err := Unmarshal(p[:cut], &v)
		require.ErrorIs(t, err, ErrTruncated, "cut at %d", cut)
		var de *DecodeError
		require.ErrorAs(t, err, &de)
		if isOpBoundary(starts, cut) {
			// The input ends between opcodes: no opcode was cut.
			assert.Equal(t, int64(cut), de.Offset, "cut at %d", cut)
			assert.Equal(t, byte(0), de.Opcode, "cut at %d", cut)
			continue
		}
		assert.Equal(t, int64(at), de.Offset, "cut at %d", cut)
		assert.Equal(t, p[at], de.Opcode, "cut at %d", cut)
	}
}

func isOpBoundary(starts []int, pos int) bool {
	for _, s := range starts {
		if s == pos {
			return true
		}
	}
	return false
}

func negZero() float64 {
	z := 0.0
	return -z
}

// saveDict writes str keys on a path of its own; an error there names the
// key, as one from saveEntry does, and writes nothing.
func TestDictStrKeyErrorPath(t *testing.T) {
	d := NewDict()
	require.NoError(t, d.Set("ok", int64(1)))
	require.NoError(t, d.Set("bad\xff", int64(2)))
	require.NoError(t, d.Set("after", make(chan int)))
	for proto := 0; proto <= 5; proto++ {
		out, err := EncodeOptions{Protocol: proto}.AppendMarshal([]byte("keep"), []any{d})
		var ee *EncodeError
		require.ErrorAs(t, err, &ee, "protocol %d", proto)
		assert.Equal(t, `[0]["bad\xff"](key)`, ee.Path, "protocol %d", proto)
		assert.Equal(t, "keep", string(out))
	}
	require.True(t, d.Delete("bad\xff"))
	for proto := 0; proto <= 5; proto++ {
		_, err := EncodeOptions{Protocol: proto}.Marshal([]any{d})
		var ee *EncodeError
		require.ErrorAs(t, err, &ee, "protocol %d", proto)
		assert.Equal(t, `[0]["after"]`, ee.Path, "protocol %d", proto)
	}
}

// An error in a list subclass's items names them .ListItems[i] at every
// protocol (protocol 0 writes them one APPEND at a time, on another path).
func TestListItemsErrorPath(t *testing.T) {
	obj := &Object{Callable: Global{"collections", "UserList"}, New: true,
		ListItems: []any{int64(1), make(chan int)}}
	for proto := 0; proto <= 5; proto++ {
		_, err := EncodeOptions{Protocol: proto}.Marshal(obj)
		var ee *EncodeError
		require.ErrorAs(t, err, &ee, "protocol %d", proto)
		assert.Equal(t, ".ListItems[1]", ee.Path, "protocol %d", proto)
	}
}

// The same for a dict subclass's items and for the class, which protocols
// 0 and 1 write inside copyreg._reconstructor's arguments.
func TestObjectFieldErrorPaths(t *testing.T) {
	items := NewDict()
	require.NoError(t, items.Set("k", make(chan int)))
	cases := []struct {
		obj  *Object
		path string
	}{
		{&Object{Callable: Global{"collections", "OrderedDict"}, New: true, DictItems: items}, `.DictItems["k"]`},
		{&Object{Callable: make(chan int), New: true}, ".Callable"},
		{&Object{Callable: make(chan int), New: true, ListItems: []any{int64(1)}}, ".Callable"},
	}
	for _, c := range cases {
		for proto := 0; proto <= 5; proto++ {
			_, err := EncodeOptions{Protocol: proto}.Marshal(c.obj)
			var ee *EncodeError
			require.ErrorAs(t, err, &ee, "protocol %d", proto)
			assert.Equal(t, c.path, ee.Path, "protocol %d", proto)
		}
	}
}

// []float64, []int64 and []int encode their batches in loops of their own
// (appendFloat64s, appendInt64s); the bytes are those of the same numbers
// as a list of the model's values, across frames and batches and at every
// protocol, with ints of every width.
func TestTypedNumberSlicesMatchModel(t *testing.T) {
	const n = 12000 // several batches, and more than a 64 KiB frame
	fs := make([]float64, n)
	is := make([]int64, n)
	ints := make([]int, n)
	mf, mi := make([]any, n), make([]any, n)
	for i := range fs {
		fs[i] = float64(i) * 1.1
		if i%7 == 0 {
			fs[i] = -fs[i]
		}
		x := int64(i) * int64(i) * 977 // up to ~1.4e11, beyond int32
		if i%3 == 0 {
			x = -x
		}
		if i%5 == 0 {
			x = int64(i % 300)
		}
		is[i], ints[i] = x, int(x)
		mf[i], mi[i] = fs[i], x
	}
	for proto := 0; proto <= 5; proto++ {
		o := EncodeOptions{Protocol: protoOption(proto)}
		want, err := o.Marshal(mf)
		require.NoError(t, err)
		got, err := o.Marshal(fs)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "[]float64, protocol %d", proto)
		want, err = o.Marshal(mi)
		require.NoError(t, err)
		got, err = o.Marshal(is)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "[]int64, protocol %d", proto)
		got, err = o.Marshal(ints)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "[]int, protocol %d", proto)
	}
}

// String-keyed maps are sorted through 8-byte key prefixes (keyPrefix),
// with the whole keys compared only on a tie: the keys still come out in
// Go's string order, also where prefixes tie or keys end early.
func TestStrMapKeyOrder(t *testing.T) {
	keys := []string{"", "\x00", "\x00\x00", "a", "a\x00", "abc", "abc\x00", "abcdefgh", "abcdefgh\x00",
		"abcdefgh1", "abcdefgh0", "abcdefghij", "abcdefgi", "\U0010ffff", "\U0010ffff\U0010ffff\x01",
		"\U0010ffff\U0010ffff", "zzzzzzzz", "zzzzzzzzz", "é", "key10000", "key1000", "key100000"}
	for i := 0; i < 300; i++ {
		keys = append(keys, fmt.Sprintf("same-prefix-%d", i*7919%1000))
	}
	m := map[string]string{}
	ma := map[string]any{}
	for i, k := range keys {
		m[k] = strconv.Itoa(i)
		ma[k] = int64(i)
	}
	want := slices.Sorted(maps.Keys(m))
	for _, v := range []any{m, ma} {
		data, err := Marshal(v)
		require.NoError(t, err)
		var d *Dict
		require.NoError(t, Unmarshal(data, &d))
		var got []string
		for k := range d.All() {
			got = append(got, k.(string))
		}
		assert.Equal(t, want, got, "%T", v)
	}
}
