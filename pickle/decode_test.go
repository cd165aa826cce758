package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decode(t *testing.T, data string) any {
	t.Helper()
	var v any
	require.NoError(t, Unmarshal([]byte(data), &v), "%q", data)
	return v
}

func decodeErr(t *testing.T, opts DecodeOptions, data []byte) *DecodeError {
	t.Helper()
	var v any
	err := opts.Unmarshal(data, &v)
	require.Error(t, err)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.True(t, strings.HasPrefix(err.Error(), "pickle: "), err.Error())
	return de
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name string
		data string
		want any
	}{
		{"INT true", "I01\n.", true},
		{"INT false", "I00\n.", false},
		{"INT", "I-42\n.", int64(-42)},
		{"INT hex", "I0x1f\n.", int64(31)},
		{"INT underscores", "I1_000\n.", int64(1000)},
		{"INT big", "I123456789012345678901234567890\n.", mustBig("123456789012345678901234567890")},
		{"LONG", "L123L\n.", int64(123)},
		{"LONG no L", "L-5\n.", int64(-5)},
		{"LONG big", "L-99999999999999999999L\n.", mustBig("-99999999999999999999")},
		{"FLOAT", "F1.5\n.", 1.5},
		{"FLOAT exp", "F1e+16\n.", 1e16},
		{"FLOAT inf", "Finf\n.", math.Inf(1)},
		{"FLOAT -inf", "F-Infinity\n.", math.Inf(-1)},
		{"FLOAT nan", "Fnan\n.", math.NaN()},
		{"UNICODE escapes", "Va\\u005cb\\u000a\\u20ac\\U0001f600\\udc80\n.", "a\\b\n€😀\xed\xb2\x80"},
		{"UNICODE latin1", "V\xe9\n.", "é"},
		{"UNICODE even backslashes", "V\\\\u0041\n.", "\\\\u0041"},
		{"STRING", "S'abc'\n.", "abc"},
		{"STRING escapes", "S'a\\'b\\n\\x41\\101\\\\'\n.", "a'b\nAA\\"},
		{"STRING double quotes", "S\"it's\"\n.", "it's"},
		{"PUT GET", "(lp0\nI1\nag0\na.", nil},
		{"GLOBAL py2 name", "c__builtin__\nset\n.", Global{"builtins", "set"}},
		{"GLOBAL renamed", "cexceptions\nStandardError\n.", Global{"builtins", "Exception"}},
		{"GLOBAL py3 at protocol 3", "\x80\x03c__builtin__\nset\n.", Global{"__builtin__", "set"}},
		{"DICT", "(S'a'\nI1\nd.", mustDict("a", 1)},
		{"TUPLE", "(I1\nI2\nt.", Tuple{1, 2}},
		{"LIST", "(I1\nl.", []any{1}},
		{"INST", "(I1\nimod\nCls\n.", &Object{Callable: Global{"mod", "Cls"}, Args: Tuple{1}, Inst: true}},
		{"OBJ", "(cmod\nCls\nI2\no.", &Object{Callable: Global{"mod", "Cls"}, Args: Tuple{2}, Inst: true}},
		{"POP_MARK", "I1\n(I2\nI3\n1.", int64(1)},
		{"POP pops a mark", "I1\n(0.", int64(1)},
		{"DUP", "((l2t.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decode(t, tt.data)
			switch tt.name {
			case "PUT GET":
				l := got.([]any)
				require.Len(t, l, 2)
				assert.Equal(t, int64(1), l[0])
				inner, ok := l[1].([]any)
				require.True(t, ok, "l[1] is %s", describe(l[1]))
				require.Len(t, inner, 2)
				assert.Same(t, &l[0], &inner[0], "GET of the list itself")
			case "DUP":
				tup := got.(Tuple)
				require.Len(t, tup, 2)
				assert.Same(t, &tup[0].([]any)[:1][0], &tup[1].([]any)[:1][0], "DUP shares the list")
			default:
				assert.True(t, Equal(tt.want, got), "got %s, want %s", describe(got), describe(tt.want))
			}
		})
	}
}

func mustBig(s string) *big.Int {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return b
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		cause  error
		opcode byte
		offset int64
	}{
		{"empty", "", ErrTruncated, 0, 0},
		{"no STOP", "N", ErrTruncated, 0, 1},
		{"unknown opcode", "N\xff.", ErrUnknownOpcode, 0xff, 1},
		{"underflow", "a", ErrStackUnderflow, 'a', 0},
		{"STOP on mark", "N(.", ErrMark, '.', 2},
		{"APPEND below mark", "]N(a", ErrMark, 'a', 3},
		{"memo miss", "h\x05.", ErrMemo, 'h', 0},
		{"bad protocol", "\x80\x09N.", ErrProtocol, 0x80, 0},
		{"unquoted STRING", "Sabc\n.", ErrSyntax, 'S', 0},
		{"bad escape", "S'\\'\n.", ErrSyntax, 'S', 0},
		{"bad INT", "I12x\n.", ErrSyntax, 'I', 0},
		{"leading zero INT", "I012\n.", ErrSyntax, 'I', 0},
		{"negative PUT", "Va\np-1\n.", ErrSyntax, 'p', 3},
		{"invalid UTF-8", "X\x01\x00\x00\x00\xff.", ErrSyntax, 'X', 0},
		{"list as key", "}]Ns.", ErrUnhashable, 's', 3},
		{"REDUCE on None", "N)R.", ErrType, 'R', 2},
		{"REDUCE args not tuple", "cbuiltins\nint\nNR.", ErrType, 'R', 15},
		{"NEWOBJ args", "cbuiltins\nint\nN\x81.", ErrType, 0x81, 15},
		{"BUILD on list", "]}b.", ErrType, 'b', 2},
		{"ADDITEMS on list", "](N\x90.", ErrType, 0x90, 3},
		{"odd DICT", "(Nd.", ErrStackUnderflow, 'd', 2},
		{"EXT unregistered", "\x82\x01.", ErrExtension, 0x82, 0},
		{"EXT zero", "\x82\x00.", ErrSyntax, 0x82, 0},
		{"NEXT_BUFFER without buffers", "\x97.", ErrBuffer, 0x97, 0},
		{"negative BINSTRING", "T\xff\xff\xff\xff.", ErrSyntax, 'T', 0},
		{"negative LONG4", "\x8b\xff\xff\xff\xff.", ErrSyntax, 0x8b, 0},
		{"frame too long", "\x95\x10\x00\x00\x00\x00\x00\x00\x00N.", ErrTruncated, 0x95, 0},
		{"STACK_GLOBAL non-str", "NN\x93.", ErrType, 0x93, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			de := decodeErr(t, DecodeOptions{}, []byte(tt.data))
			assert.ErrorIs(t, de, tt.cause)
			assert.Equal(t, tt.opcode, de.Opcode, "opcode")
			assert.Equal(t, tt.offset, de.Offset, "offset")
		})
	}
}

func TestDecodeLyingLength(t *testing.T) {
	for _, op := range []byte{opBinbytes8, opBinunicode8, opBytearray8} {
		data := append([]byte{0x80, 4, op}, binary.LittleEndian.AppendUint64(nil, 1<<60)...)
		data = append(data, bytes.Repeat([]byte{'x'}, 100)...)
		var de *DecodeError
		n := allocated(func() { de = decodeErr(t, DecodeOptions{}, data) })
		assert.Less(t, n, uint64(1<<20), "allocated before failing")
		var le *LimitError
		require.ErrorAs(t, de, &le)
		assert.Equal(t, "MaxStringLen", le.Limit)
		assert.ErrorIs(t, de, ErrLimit)

		// Without the limit, the length is still checked against the input.
		n = allocated(func() { de = decodeErr(t, DecodeOptions{MaxStringLen: -1}, data) })
		assert.Less(t, n, uint64(1<<20))
		assert.ErrorIs(t, de, ErrTruncated)
		assert.ErrorIs(t, de, io.ErrUnexpectedEOF)
	}
}

func nestedLists(n int) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02")
	for i := 0; i < n; i++ {
		b.WriteString("]")
	}
	for i := 0; i < n-1; i++ {
		b.WriteString("a")
	}
	b.WriteString(".")
	return b.Bytes()
}

func TestDecodeDeepNesting(t *testing.T) {
	cases := map[string][]byte{
		"lists":  nestedLists(1_000_000),
		"tuples": append(append([]byte("\x80\x02)"), bytes.Repeat([]byte{opTuple1}, 1_000_000)...), '.'),
		"dicts": func() []byte {
			var b bytes.Buffer
			b.WriteString("\x80\x02}")
			for i := 0; i < 1_000_000; i++ {
				b.WriteString("K\x01}")
			}
			b.Write(bytes.Repeat([]byte("s"), 1_000_000))
			b.WriteString(".")
			return b.Bytes()
		}(),
		// 200,000 is past hardMaxDepth and keeps this case quick under
		// the race detector: each level is a whole object.
		"objects": append(append(append([]byte("\x80\x02"), bytes.Repeat([]byte("cm\nC\n)\x81"), 200_000)...), bytes.Repeat([]byte("b"), 199_999)...), '.'),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			var de *DecodeError
			n := allocated(func() { de = decodeErr(t, DecodeOptions{}, data) })
			var le *LimitError
			require.ErrorAs(t, de, &le)
			assert.Equal(t, "MaxDepth", le.Limit)
			assert.Less(t, time.Since(start), 60*time.Second, "a hang, not a slow machine")
			assert.Less(t, n, uint64(48*len(data)), "bytes allocated for %d bytes of input", len(data))

			// Negative means no limit, up to the hard bound.
			de = decodeErr(t, DecodeOptions{MaxDepth: -1}, data)
			require.ErrorAs(t, de, &le)
			assert.Equal(t, int64(hardMaxDepth), le.Max)
		})
	}
	// Within the limit, deep values decode and re-encode.
	var v any
	require.NoError(t, Unmarshal(nestedLists(5000), &v))
	_, err := Marshal(v)
	require.NoError(t, err)
	_, err = EncodeOptions{MaxDepth: 100}.Marshal(v)
	assert.ErrorIs(t, err, ErrEncodeDepth)
}

func TestDecodeLimits(t *testing.T) {
	many := func(op string, n int) []byte {
		return []byte("\x80\x04(" + strings.Repeat(op, n) + "t.")
	}
	t.Run("MaxContainerLen", func(t *testing.T) {
		de := decodeErr(t, DecodeOptions{MaxContainerLen: 10}, many("N", 11))
		var le *LimitError
		require.ErrorAs(t, de, &le)
		assert.Equal(t, "MaxContainerLen", le.Limit)
		var v any
		assert.NoError(t, DecodeOptions{MaxContainerLen: 10}.Unmarshal(many("N", 10), &v))
	})
	t.Run("MaxMemo", func(t *testing.T) {
		de := decodeErr(t, DecodeOptions{MaxMemo: 5}, many("N\x94", 6))
		var le *LimitError
		require.ErrorAs(t, de, &le)
		assert.Equal(t, "MaxMemo", le.Limit)
	})
	t.Run("sparse memo", func(t *testing.T) {
		v := decode(t, "\x80\x02Nr\xff\xff\xff\xff0j\xff\xff\xff\xff.")
		assert.Nil(t, v)
	})
	t.Run("MaxAllocFactor", func(t *testing.T) {
		data := []byte("\x80\x04(" + strings.Repeat("}", 200000) + "t.")
		de := decodeErr(t, DecodeOptions{MaxAllocFactor: 2}, data)
		var le *LimitError
		require.ErrorAs(t, de, &le)
		assert.Equal(t, "MaxAllocFactor", le.Limit)
		var v any
		assert.NoError(t, Unmarshal(data, &v))
	})
	t.Run("key DAG", func(t *testing.T) {
		// t0 = (), t(n+1) = (tn, tn): hashing it naively takes 2^60 steps.
		var b bytes.Buffer
		b.WriteString("\x80\x04}))\x86\x94")
		for i := 0; i < 60; i++ {
			b.WriteString("\x94h\x00\x86") // not a real memo chain; see below
		}
		// Build it properly with MEMOIZE/BINGET pairs.
		b.Reset()
		b.WriteString("\x80\x04})")
		for i := 0; i < 60; i++ {
			b.WriteString("\x94")                         // memo[i] = t_i
			b.WriteString("h" + string(rune(i)) + "\x86") // (t_i, t_i)
		}
		b.WriteString("Ns.")
		start := time.Now()
		de := decodeErr(t, DecodeOptions{}, b.Bytes())
		assert.ErrorIs(t, de, ErrUnhashable)
		assert.Less(t, time.Since(start), 20*time.Second, "a hang, not a slow machine")
	})
}

func TestDecodeIdentity(t *testing.T) {
	t.Run("shared list", func(t *testing.T) {
		v := decode(t, "\x80\x02]q\x00(]q\x01K\x01ah\x01e.").([]any)
		require.Len(t, v, 2)
		a, b := v[0].([]any), v[1].([]any)
		assert.Equal(t, []any{int64(1)}, a)
		assert.Same(t, &a[0], &b[0])
	})
	t.Run("shared empty lists stay distinct", func(t *testing.T) {
		v := decode(t, "\x80\x02](]]e.").([]any)
		a, b := v[0].([]any), v[1].([]any)
		assert.NotSame(t, unsafeData(a), unsafeData(b))
		v = decode(t, "\x80\x02](]q\x01h\x01e.").([]any)
		a, b = v[0].([]any), v[1].([]any)
		assert.Same(t, unsafeData(a), unsafeData(b))
	})
	t.Run("list containing itself", func(t *testing.T) {
		v := decode(t, "\x80\x02]q\x00h\x00a.").([]any)
		require.Len(t, v, 1)
		inner := v[0].([]any)
		require.Len(t, inner, 1)
		assert.Same(t, &v[0], &inner[0])
	})
	t.Run("list appended after it was stored", func(t *testing.T) {
		// l = []; t = (l,); l.append(1); l.append(2) -- written by hand,
		// CPython never writes this.
		v := decode(t, "\x80\x02]q\x00\x85q\x01h\x00K\x01ah\x00K\x02a0h\x01.").(Tuple)
		require.Len(t, v, 1)
		assert.Equal(t, []any{int64(1), int64(2)}, v[0])
	})
	t.Run("list grown after it was stored, through a dict and an object", func(t *testing.T) {
		// l = []; d = {'k': l}; o = C(); o.__setstate__(l); then
		// [d, o, 1, 2, 3] is built, l.append(4) runs, and l is popped:
		// the result is [d, o, 1, 2, 3] with d['k'] and o's state the one
		// list l, holding the 4 appended after both stored it.
		v := decode(t, "\x80\x02]q\x00}q\x01X\x01\x00\x00\x00kh\x00scm\nC\n)\x81q\x02h\x00b(h\x01h\x02l(K\x01K\x02K\x03eh\x00K\x04a0.").([]any)
		require.Len(t, v, 5)
		assert.Equal(t, []any{int64(1), int64(2), int64(3)}, v[2:])
		d, ok := v[0].(*Dict)
		require.True(t, ok, "v[0] is %s", describe(v[0]))
		inDict, _ := d.Get("k")
		o, ok := v[1].(*Object)
		require.True(t, ok, "v[1] is %s", describe(v[1]))
		assert.Equal(t, Global{"m", "C"}, o.Callable)
		l1, ok1 := inDict.([]any)
		l2, ok2 := o.State.([]any)
		require.True(t, ok1 && ok2, "d['k'] is %s, state is %s", describe(inDict), describe(o.State))
		assert.Equal(t, []any{int64(4)}, l1, "the dict's list")
		assert.Equal(t, []any{int64(4)}, l2, "the object's state")
		require.Len(t, l1, 1)
		require.Len(t, l2, 1)
		assert.Same(t, &l1[0], &l2[0], "one list")
	})
	t.Run("tuple cycle", func(t *testing.T) {
		tup := decode(t, "\x80\x02]q\x00h\x00\x85q\x01a0h\x01.").(Tuple)
		l := tup[0].([]any)
		require.Len(t, l, 1)
		assert.Same(t, &tup[0], &l[0].(Tuple)[0])
	})
}

func unsafeData(s []any) *any {
	if cap(s) == 0 {
		return nil
	}
	return &s[:1][0]
}

func TestDecodePy2Str(t *testing.T) {
	data := []byte("\x80\x02(U\x03abcT\x02\x00\x00\x00\xc3\xa9S'\\xff'\ntq\x00.")
	tests := []struct {
		mode Py2Str
		want Tuple
	}{
		{Py2StrLatin1, Tuple{"abc", "Ã©", "ÿ"}},
		{Py2StrByteString, Tuple{ByteString("abc"), ByteString("é"), ByteString("\xff")}},
		{Py2StrBytes, Tuple{[]byte("abc"), []byte("é"), []byte{0xff}}},
	}
	for _, tt := range tests {
		var v any
		require.NoError(t, DecodeOptions{Py2Str: tt.mode}.Unmarshal(data, &v))
		assert.Equal(t, tt.want, v, "mode %d", tt.mode)
	}
	// The default accepts UTF-8 and refuses other bytes.
	de := decodeErr(t, DecodeOptions{}, data)
	assert.ErrorIs(t, de, ErrSyntax)
	v := decode(t, "\x80\x02(U\x03abcT\x02\x00\x00\x00\xc3\xa9t.")
	assert.Equal(t, Tuple{"abc", "é"}, v)
	// ByteString re-encodes as a Python 2 str.
	for p := -1; p <= 5; p++ {
		b, err := EncodeOptions{Protocol: p}.Marshal(ByteString("x\xff'"))
		require.NoError(t, err)
		var back any
		require.NoError(t, DecodeOptions{Py2Str: Py2StrByteString}.Unmarshal(b, &back))
		assert.Equal(t, ByteString("x\xff'"), back)
	}
}

func TestPersistentIDs(t *testing.T) {
	v := decode(t, "Pkey1\n.")
	assert.Equal(t, PersistentRef{ID: "key1"}, v)
	v = decode(t, "\x80\x02K\x05Q.")
	assert.Equal(t, PersistentRef{ID: int64(5)}, v)

	load := func(id any) (any, error) {
		if id == "bad" {
			return nil, errors.New("no such object")
		}
		return "loaded:" + id.(string), nil
	}
	var got any
	require.NoError(t, DecodeOptions{PersistentLoad: load}.Unmarshal([]byte("(Pa\nPb\nt."), &got))
	assert.Equal(t, Tuple{"loaded:a", "loaded:b"}, got)
	err := DecodeOptions{PersistentLoad: load}.Unmarshal([]byte("Pbad\n."), &got)
	assert.ErrorContains(t, err, "no such object")

	for p := -1; p <= 5; p++ {
		b, err := EncodeOptions{Protocol: p}.Marshal([]any{PersistentRef{ID: "x"}, 1})
		require.NoError(t, err)
		var back any
		require.NoError(t, Unmarshal(b, &back))
		assert.Equal(t, []any{PersistentRef{ID: "x"}, int64(1)}, back)
	}
	// PersistentID turns chosen values into ids.
	pid := func(v any) (any, error) {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "db:") {
			return s[3:], nil
		}
		return nil, nil
	}
	b, err := EncodeOptions{PersistentID: pid}.Marshal([]any{"db:42", "plain"})
	require.NoError(t, err)
	var back any
	require.NoError(t, Unmarshal(b, &back))
	assert.Equal(t, []any{PersistentRef{ID: "42"}, "plain"}, back)
	_, err = EncodeOptions{Protocol: Protocol0}.Marshal(PersistentRef{ID: 5})
	assert.Error(t, err, "protocol 0 persistent ids are strings")
}

func TestExtensions(t *testing.T) {
	g := Global{"collections", "OrderedDict"}
	for _, code := range []int{1, 300, 70000} {
		b, err := EncodeOptions{Protocol: 2, Extensions: map[Global]int{g: code}}.Marshal(g)
		require.NoError(t, err)
		assert.Contains(t, []byte{opExt1, opExt2, opExt4}, b[2])
		var v any
		require.NoError(t, DecodeOptions{Extensions: map[int]Global{code: g}}.Unmarshal(b, &v))
		assert.Equal(t, g, v)
		assert.ErrorIs(t, Unmarshal(b, &v), ErrExtension)
	}
	// Below protocol 2 there are no EXT opcodes.
	b, err := EncodeOptions{Protocol: 1, Extensions: map[Global]int{g: 1}}.Marshal(g)
	require.NoError(t, err)
	assert.Equal(t, "ccollections\nOrderedDict\nq\x00.", string(b))
}

func TestBuffers(t *testing.T) {
	data := []any{PickleBuffer{Data: []byte("big data"), ReadOnly: true}, PickleBuffer{Data: []byte("rw")}}
	var oob [][]byte
	b, err := EncodeOptions{Protocol: 5, BufferCallback: func(pb PickleBuffer) bool {
		oob = append(oob, pb.Data)
		return false
	}}.Marshal(data)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "big data")
	require.Len(t, oob, 2)
	var v any
	require.NoError(t, DecodeOptions{Buffers: oob}.Unmarshal(b, &v))
	assert.Equal(t, data, v)
	assert.ErrorIs(t, DecodeOptions{Buffers: oob[:1]}.Unmarshal(b, &v), ErrBuffer)

	// In band: bytes and bytearray.
	for _, p := range []int{4, 5} {
		b, err = EncodeOptions{Protocol: p}.Marshal(data)
		require.NoError(t, err)
		require.NoError(t, Unmarshal(b, &v))
		assert.Equal(t, []any{[]byte("big data"), ByteArray("rw")}, v)
	}
	// READONLY_BUFFER on a bytearray.
	v = decode(t, "\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00ab\x98.")
	assert.Equal(t, PickleBuffer{Data: []byte("ab"), ReadOnly: true}, v)
}

func TestDecoderStream(t *testing.T) {
	var stream bytes.Buffer
	values := []any{int64(1), "two", []any{3.0}, mustDict("four", nil)}
	for i, v := range values {
		require.NoError(t, EncodeOptions{Protocol: i%6 - 1}.NewEncoder(&stream).Encode(v))
	}
	for _, r := range []io.Reader{bytes.NewReader(stream.Bytes()), iotest.OneByteReader(bytes.NewReader(stream.Bytes())), iotest.HalfReader(bytes.NewReader(stream.Bytes()))} {
		dec := NewDecoder(r)
		for _, want := range values {
			var v any
			require.NoError(t, dec.Decode(&v))
			assert.True(t, Equal(want, v), "got %s", describe(v))
		}
		var v any
		assert.Equal(t, io.EOF, dec.Decode(&v))
	}
	// A pickle cut short is an unexpected EOF.
	dec := NewDecoder(bytes.NewReader(stream.Bytes()[:stream.Len()-1]))
	var v any
	for i := 0; i < len(values)-1; i++ {
		require.NoError(t, dec.Decode(&v))
	}
	assert.ErrorIs(t, dec.Decode(&v), io.ErrUnexpectedEOF)

	// Errors from the reader come through.
	werr := errors.New("broken pipe")
	dec = NewDecoder(io.MultiReader(bytes.NewReader([]byte("\x80\x04")), iotest.ErrReader(werr)))
	assert.ErrorIs(t, dec.Decode(&v), werr)

	// Buffered holds what follows the pickle.
	dec = NewDecoder(bytes.NewReader([]byte("N.rest")))
	require.NoError(t, dec.Decode(&v))
	rest, _ := io.ReadAll(dec.Buffered())
	assert.Equal(t, "rest", string(rest))

	// A declared length is not trusted by the stream reader either.
	dec = DecodeOptions{MaxStringLen: -1}.NewDecoder(bytes.NewReader(append([]byte{0x8e}, binary.LittleEndian.AppendUint64(nil, 1<<50)...)))
	n := allocated(func() { assert.ErrorIs(t, dec.Decode(&v), io.ErrUnexpectedEOF) })
	assert.Less(t, n, uint64(1<<20))
}

func TestProtocol(t *testing.T) {
	for p := 0; p <= 5; p++ {
		b, err := EncodeOptions{Protocol: protoOption(p)}.Marshal([]any{1, "a", mustDict("k", 1.5)})
		require.NoError(t, err)
		got, err := Protocol(b)
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	got, err := Protocol([]byte("(lp0\n."))
	require.NoError(t, err)
	assert.Equal(t, 0, got)
	_, err = Protocol([]byte("(lp0\n"))
	assert.ErrorIs(t, err, ErrTruncated)
	_, err = Protocol([]byte("\xff."))
	assert.ErrorIs(t, err, ErrUnknownOpcode)
}

func TestUnmarshalTarget(t *testing.T) {
	var s string
	assert.ErrorIs(t, Unmarshal([]byte("N."), s), ErrUnsupportedTarget)
	assert.ErrorIs(t, Unmarshal([]byte("N."), nil), ErrUnsupportedTarget)
	var p *any
	assert.ErrorIs(t, Unmarshal([]byte("N."), p), ErrUnsupportedTarget)
}

func TestTrailingData(t *testing.T) {
	// As pickle.loads, bytes after STOP are ignored.
	assert.Equal(t, int64(1), decode(t, "K\x01.garbage"))
}

func TestZeroCopy(t *testing.T) {
	data, err := Marshal([]any{"text", []byte("bin"), ByteArray("ba"), strings.Repeat("long", 1000)})
	require.NoError(t, err)
	var v any
	require.NoError(t, DecodeOptions{ZeroCopy: true}.Unmarshal(data, &v))
	l := v.([]any)
	assert.Equal(t, []any{"text", []byte("bin"), ByteArray("ba"), strings.Repeat("long", 1000)}, l)
	b := l[1].([]byte)
	assert.True(t, &b[0] == &data[bytes.Index(data, []byte("bin"))], "bytes alias the input")
	n := allocated(func() { _ = DecodeOptions{ZeroCopy: true}.Unmarshal(data, &v) })
	assert.Less(t, n, uint64(2000), "the long string is not copied")

	// The stream decoder gives each pickle its own buffer.
	var stream bytes.Buffer
	require.NoError(t, NewEncoder(&stream).Encode("first"))
	require.NoError(t, NewEncoder(&stream).Encode("second"))
	dec := DecodeOptions{ZeroCopy: true}.NewDecoder(&stream)
	var a, c any
	require.NoError(t, dec.Decode(&a))
	require.NoError(t, dec.Decode(&c))
	assert.Equal(t, "first", a)
	assert.Equal(t, "second", c)
}

// A long list grows to an estimate of its final length, made from the
// input it took per item so far and the input left. Input that follows
// the list misleads the estimate; the list is then trimmed, so that it
// never holds more than twice the memory its items need.
func TestLongListEstimate(t *testing.T) {
	items := make([]any, 5000)
	for i := range items {
		items[i] = int64(i % 100)
	}
	for _, tail := range []int{0, 1 << 20} {
		data, err := Marshal(Tuple{items, make([]byte, tail)})
		require.NoError(t, err)
		var v any
		require.NoError(t, Unmarshal(data, &v))
		l := v.(Tuple)[0].([]any)
		assert.Equal(t, items, l)
		assert.LessOrEqual(t, cap(l), 2*len(l), "tail %d", tail)
	}
	// The list read from the memo is the same list, trimmed or not.
	data, err := Marshal([]any{items, items, make([]byte, 1<<20)})
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(data, &v))
	a, b := v.([]any)[0].([]any), v.([]any)[1].([]any)
	assert.Equal(t, items, a)
	assert.True(t, &a[0] == &b[0], "one list, referenced twice")
	assert.LessOrEqual(t, cap(a), 2*len(a))

	// Dicts are sized the same way.
	dict := NewDict()
	for i := 0; i < 5000; i++ {
		require.NoError(t, dict.Set("k"+strconv.Itoa(i), int64(i)))
	}
	for _, tail := range []int{0, 1 << 20} {
		data, err := Marshal(Tuple{dict, make([]byte, tail)})
		require.NoError(t, err)
		var v any
		require.NoError(t, Unmarshal(data, &v))
		got := v.(Tuple)[0].(*Dict)
		assert.True(t, Equal(dict, got))
		assert.LessOrEqual(t, cap(got.entries), 2*got.Len(), "tail %d", tail)
		assert.LessOrEqual(t, len(got.index), 4*got.Len(), "tail %d", tail)
		x, ok := got.Get("k4999")
		assert.True(t, ok)
		assert.Equal(t, int64(4999), x)
	}
}

// ShareLarge shares the memory of a str, bytes or bytearray that is at
// least half of the input, and copies everything else, into any and
// typed targets alike.
func TestShareLarge(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 1<<20)
	bigStr := strings.Repeat("s", 1<<20)
	inInput := func(data []byte, p *byte) bool {
		return uintptr(unsafe.Pointer(p)) >= uintptr(unsafe.Pointer(&data[0])) &&
			uintptr(unsafe.Pointer(p)) < uintptr(unsafe.Pointer(&data[0]))+uintptr(len(data))
	}
	opts := DecodeOptions{ShareLarge: true}

	data, err := Marshal(Tuple{"small", big})
	require.NoError(t, err)
	var v any
	require.NoError(t, opts.Unmarshal(data, &v))
	assert.Equal(t, big, v.(Tuple)[1])
	assert.True(t, inInput(data, &v.(Tuple)[1].([]byte)[0]), "the large bytes share the input")
	assert.False(t, inInput(data, unsafe.StringData(v.(Tuple)[0].(string))), "the small str is copied")
	require.NoError(t, DecodeOptions{}.Unmarshal(data, &v))
	assert.False(t, inInput(data, &v.(Tuple)[1].([]byte)[0]), "without ShareLarge, copied")

	var typed struct {
		S string `pickle:"s"`
		B []byte `pickle:"b"`
	}
	data, err = Marshal(map[string]any{"s": bigStr})
	require.NoError(t, err)
	require.NoError(t, opts.Unmarshal(data, &typed))
	assert.Equal(t, bigStr, typed.S)
	assert.True(t, inInput(data, unsafe.StringData(typed.S)), "typed: the large str shares the input")

	// Two large values of which neither is half of the input: copied.
	data, err = Marshal([]any{big, big[1:], big[2:]})
	require.NoError(t, err)
	require.NoError(t, opts.Unmarshal(data, &v))
	for _, x := range v.([]any) {
		assert.False(t, inInput(data, &x.([]byte)[0]))
	}

	// A stream Decoder reuses its buffer, so its values never share it.
	var stream bytes.Buffer
	enc := NewEncoder(&stream)
	require.NoError(t, enc.Encode(big))
	require.NoError(t, enc.Encode(bytes.Repeat([]byte("c"), 1<<20)))
	dec := opts.NewDecoder(&stream)
	var first, second []byte
	require.NoError(t, dec.Decode(&first))
	require.NoError(t, dec.Decode(&second))
	assert.Equal(t, big, first)
	assert.Equal(t, bytes.Repeat([]byte("c"), 1<<20), second)
}

// A long dict whose later SETITEMS batches repeat keys of earlier ones
// keeps each key where it first came, with its last value, as Python's
// dict does.
func TestLongDictRepeatedKeys(t *testing.T) {
	p := []byte{0x80, 4, opEmptyDict}
	batch := func(from, to int, tag string) {
		p = append(p, opMark)
		for i := from; i < to; i++ {
			k, v := "k"+strconv.Itoa(i), tag+strconv.Itoa(i)
			p = append(p, opShortBinunicode, byte(len(k)))
			p = append(p, k...)
			p = append(p, opShortBinunicode, byte(len(v)))
			p = append(p, v...)
		}
		p = append(p, opSetitems)
	}
	batch(0, 1000, "a")
	batch(1000, 2000, "b")
	batch(500, 1500, "c")
	batch(1900, 2100, "d")
	p = append(p, opStop)
	var v any
	require.NoError(t, Unmarshal(p, &v))
	d := v.(*Dict)
	require.Equal(t, 2100, d.Len())
	for i, k := range d.Keys() {
		require.Equal(t, "k"+strconv.Itoa(i), k)
	}
	for i, want := range map[int]string{0: "a0", 499: "a499", 500: "c500", 1499: "c1499", 1500: "b1500", 1899: "b1899", 1900: "d1900", 2099: "d2099"} {
		got, ok := d.Get("k" + strconv.Itoa(i))
		require.True(t, ok)
		assert.Equal(t, want, got, "k%d", i)
	}
}
