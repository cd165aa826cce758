package main

import (
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/pickle"
)

// TestParseLiteral reads each line and prints the value back with repr: the
// expected text is what CPython 3 prints for ast.literal_eval(line) (or for
// the JSON value, json.loads(line)).
func TestParseLiteral(t *testing.T) {
	tests := []struct{ in, repr string }{
		// Constants.
		{"None", "None"},
		{"True", "True"},
		{"False", "False"},
		{"null", "None"},
		{"[true, false, null]", "[True, False, None]"},
		{"  None  # trailing comment", "None"},
		// Ints.
		{"0", "0"},
		{"00", "0"},
		{"-7", "-7"},
		{"+5", "5"},
		{"1_000_000", "1000000"},
		{"0x_ff", "255"},
		{"0XFF", "255"},
		{"0o17", "15"},
		{"0b1_01", "5"},
		{"9223372036854775807", "9223372036854775807"},
		{"9223372036854775808", "9223372036854775808"},
		{"-9223372036854775808", "-9223372036854775808"},
		{"-9223372036854775809", "-9223372036854775809"},
		{"123456789012345678901234567890", "123456789012345678901234567890"},
		// Floats.
		{"1.5", "1.5"},
		{"1.", "1.0"},
		{".5", "0.5"},
		{"1E5", "100000.0"},
		{"1_000.5e-1_0", "1.0005e-07"},
		{"-0.0", "-0.0"},
		{"1e16", "1e+16"},
		{"1e400", "inf"},
		{"-1e400", "-inf"},
		{"inf", "inf"},
		{"-inf", "-inf"},
		{"nan", "nan"},
		{"Infinity", "inf"},
		{"-Infinity", "-inf"},
		{"NaN", "nan"},
		{"float('inf')", "inf"},
		{`float("-Infinity")`, "-inf"},
		{"float(' nan ')", "nan"},
		{"float('1_5.25')", "15.25"},
		{"float(2)", "2.0"},
		{"float()", "0.0"},
		// Complex.
		{"1j", "1j"},
		{"-1j", "(-0-1j)"},
		{"1+2j", "(1+2j)"},
		{"1.5 - 2.5j", "(1.5-2.5j)"},
		{"(1-2j)", "(1-2j)"},
		{"-1-0j", "(-1-0j)"},
		{"1.5+0j", "(1.5+0j)"},
		{"complex(1, 2)", "(1+2j)"},
		{"complex()", "0j"},
		// Strings.
		{`'abc'`, `'abc'`},
		{`"abc"`, `'abc'`},
		{`u'x'`, `'x'`},
		{`U"x"`, `'x'`},
		{`'''tri'ple'''`, `"tri'ple"`},
		{`"""a"b"""`, `'a"b'`},
		{`'a' "b" '''c'''`, `'abc'`},
		{`"it's"`, `"it's"`},
		{`'both \' and "'`, `'both \' and "'`},
		{`'\101\x41\u0041\U00000041'`, `'AAAA'`},
		{`'\a\b\f\n\r\t\v\0'`, `'\x07\x08\x0c\n\r\t\x0b\x00'`},
		{`'\q\/'`, `'\\q\\/'`},
		{`'\u00e9\u2603\U0001F600'`, `'é☃😀'`},
		{`'héllo ☃'`, `'héllo ☃'`},
		{`'\ud800'`, `'\ud800'`},
		{`'\ud83d\ude00'`, `'\ud83d\ude00'`},
		{`'\777'`, `'ǿ'`},
		{`r'\d\n'`, `'\\d\\n'`},
		{`r'\''`, `"\\'"`},
		{`R"\"x"`, `'\\"x'`},
		// JSON strings: the whole line is JSON.
		{`"a\/b"`, `'a/b'`},
		{`"\ud83d\ude00"`, `'😀'`},
		{`["\u00e9", "\n"]`, `['é', '\n']`},
		{`{"k": "\/"}`, `{'k': '/'}`},
		// Not JSON (a Python string in it): Python's escapes.
		{`["\/", 'x']`, `['\\/', 'x']`},
		// Bytes.
		{`b'abc'`, `b'abc'`},
		{`B"\x00\xff"`, `b'\x00\xff'`},
		{`b'\o'`, `b'\\o'`},
		{`b'\u00e9'`, `b'\\u00e9'`},
		{`rb'\x'`, `b'\\x'`},
		{`bR'\d'`, `b'\\d'`},
		{`b'a' b"b"`, `b'ab'`},
		{`b"'"`, `b"'"`},
		{`bytes([0, 255])`, `b'\x00\xff'`},
		{`bytes(2)`, `b'\x00\x00'`},
		{`bytes()`, `b''`},
		{`bytearray(b'ab')`, `bytearray(b'ab')`},
		{`bytearray()`, `bytearray(b'')`},
		{`bytearray([1, 2])`, `bytearray(b'\x01\x02')`},
		// Containers.
		{"[]", "[]"},
		{"[1,]", "[1]"},
		{"[1, [2, [3]]]", "[1, [2, [3]]]"},
		{"()", "()"},
		{"(1,)", "(1,)"},
		{"(1)", "1"},
		{"((1, 2), ())", "((1, 2), ())"},
		{"{}", "{}"},
		{"{1:2,}", "{1: 2}"},
		{"{'a': 1, 'a': 2}", "{'a': 2}"},
		{"{1: 'a', 1.0: 'b', True: 'c'}", "{1: 'c'}"},
		{"{'b': 1, 'a': 2}", "{'b': 1, 'a': 2}"},
		{"{(1, 2): [3], b'k': None, None: 0, frozenset({1}): 1}", "{(1, 2): [3], b'k': None, None: 0, frozenset({1}): 1}"},
		{"{1,}", "{1}"},
		{"{3, 1, 2, 1}", "{3, 1, 2}"},
		{"set()", "set()"},
		{"set([1, 2])", "{1, 2}"},
		{"set((1,))", "{1}"},
		{"set({'a': 1})", "{'a'}"},
		{"set('ab')", "{'a', 'b'}"},
		{"set(b'a')", "{97}"},
		{"frozenset()", "frozenset()"},
		{"frozenset({1, 2})", "frozenset({1, 2})"},
		{"frozenset([frozenset()])", "frozenset({frozenset()})"},
		{"[1, 'two', 3.0, None, (True,), {'k': b'v'}, {1}]", "[1, 'two', 3.0, None, (True,), {'k': b'v'}, {1}]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, ok, err := parseLiteral(tt.in)
			require.NoError(t, err)
			require.True(t, ok)
			got := string(appendRepr(nil, v))
			assert.Equal(t, tt.repr, got)

			// What repr prints reads back as the same value.
			again, ok, err := parseLiteral(got)
			require.NoError(t, err, "reading back %s", got)
			require.True(t, ok)
			assert.True(t, pickle.Equal(v, again), "%s read back as %s", got, appendRepr(nil, again))
		})
	}
}

// TestParseLiteralTypes checks the Go types of the model, which repr alone
// does not tell apart.
func TestParseLiteralTypes(t *testing.T) {
	big1, _ := new(big.Int).SetString("9223372036854775808", 10)
	tests := []struct {
		in   string
		want any
	}{
		{"None", nil},
		{"42", int64(42)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"9223372036854775808", big1},
		{"1.0", 1.0},
		{"2j", complex(0, 2)},
		{"'s'", "s"},
		{"b's'", []byte("s")},
		{"bytearray(b's')", pickle.ByteArray("s")},
		{"[1]", []any{int64(1)}},
		{"(1,)", pickle.Tuple{int64(1)}},
		{"()", pickle.Tuple{}},
		{"[]", []any{}},
		{`'\ud800'`, "\xed\xa0\x80"}, // the pickle package's form of a lone surrogate
	}
	for _, tt := range tests {
		v, ok, err := parseLiteral(tt.in)
		require.NoError(t, err, tt.in)
		require.True(t, ok, tt.in)
		assert.Equal(t, tt.want, v, tt.in)
	}
	for in, want := range map[string]string{"{}": "dict", "{1: 2}": "dict", "{1}": "set", "set()": "set", "frozenset()": "frozenset"} {
		v, _, err := parseLiteral(in)
		require.NoError(t, err)
		assert.Equal(t, want, pickle.TypeName(v), in)
	}
	neg, _, err := parseLiteral("-0.0")
	require.NoError(t, err)
	assert.True(t, math.Signbit(neg.(float64)), "-0.0 keeps its sign")
}

func TestParseLiteralSkips(t *testing.T) {
	for _, in := range []string{"", "   ", "\t", "# only a comment", "   # indented comment"} {
		v, ok, err := parseLiteral(in)
		assert.NoError(t, err, "%q", in)
		assert.False(t, ok, "%q", in)
		assert.Nil(t, v)
	}
}

// TestParseLiteralErrors: malformed lines fail with the column of the
// mistake and a message that says what is wrong.
func TestParseLiteralErrors(t *testing.T) {
	tests := []struct {
		in  string
		col int
		msg string
	}{
		{"'abc", 1, "unterminated string"},
		{`"abc\"`, 1, "unterminated string"},
		{`'''abc''`, 1, "unterminated string"},
		{`'abc\`, 5, "unterminated string (it ends with a backslash)"},
		{"[1, 2", 6, "expected ',' or ']', found end of line"},
		{"[1 2]", 4, "expected ',' or ']', found '2'"},
		{"(1 2)", 4, "expected ',' or ')', found '2'"},
		{"{1: 2", 6, "expected ',' or '}', found end of line"},
		{"{1: 2, 3}", 9, "expected ':' after a dict key, found '}'"},
		{"{1 2}", 4, "expected ',', ':' or '}', found '2'"},
		{"1 2", 3, "unexpected '2' after the value"},
		{"None None", 6, "unexpected 'N' after the value"},
		{"2**3", 2, "unexpected '*' after the value"},
		{"2+3", 2, "only a real number plus or minus an imaginary one"},
		{"'a'+1j", 4, "only a real number plus or minus an imaginary one"},
		{"-'a'", 1, "a sign must be followed by a number"},
		{"-None", 1, "a sign must be followed by a number"},
		{"--5", 2, "unexpected '-'"},
		{"foo", 1, `name "foo" is not a literal (strings need quotes)`},
		{"[1, hello]", 5, `name "hello" is not a literal`},
		{"dict()", 1, "dict() is not one of the calls a literal may use"},
		{"float('x')", 1, `float(): could not convert string to float: "x"`},
		{"float(1j)", 1, "float(): needs a number or a string, not complex"},
		{"bytes([256])", 1, "bytes(): item 0 is not an int in range(0, 256)"},
		{"bytes('a')", 1, "bytes(): a str needs an encoding"},
		{"set(1)", 1, "set(): 'int' object is not iterable"},
		{"set([[]])", 1, "set(): "},
		{"01", 1, "leading zeros in a decimal integer are not allowed"},
		{"1__0", 1, "misplaced underscore"},
		{"1_", 1, "misplaced underscore"},
		{"0x", 1, "invalid number"},
		{"0xg", 1, "invalid number"},
		{"0b2", 1, "invalid number"},
		{"1abc", 1, "invalid number"},
		{"1.2.3", 1, "invalid number"},
		{`f'x'`, 1, "f-strings are not literals"},
		{`xb'x'`, 1, `invalid string prefix "xb"`},
		{`b'é'`, 3, "bytes can only contain ASCII characters"},
		{`'\x4'`, 2, `truncated \x escape`},
		{`'\u12'`, 2, `truncated \u escape`},
		{`'\U00110000'`, 2, `\U00110000 is beyond the last Unicode character`},
		{`'\N{BULLET}'`, 2, `\N{...} escapes are not supported`},
		{`b'\777'`, 3, "octal escape"},
		{`'a' b'b'`, 5, "cannot join bytes and str literals"},
		{"[[]: 1]", 4, "expected ',' or ']', found ':'"},
		{"{[]: 1}", 2, "unhashable type: 'list' as a dict key"},
		{"{1, {}}", 2, "unhashable type: 'dict' in a set"},
		{"{[1]}", 2, "unhashable type: 'list'"},
		{"é", 1, `name "é" is not a literal`},
		{"[1, é, 2]", 5, `name "é" is not a literal`},
		{"@", 1, "unexpected '@'"},
		{"'a\xff'", 3, "not UTF-8"},
		{"[1, @]", 5, "unexpected '@'"},
		{"(", 2, "expected a value, found end of line"},
		{strings.Repeat("[", maxLiteralDepth+5), maxLiteralDepth + 2, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			_, ok, err := parseLiteral(tt.in)
			require.Error(t, err)
			assert.False(t, ok)
			var le *literalError
			require.ErrorAs(t, err, &le)
			assert.Contains(t, le.Msg, tt.msg)
			assert.Equal(t, tt.col, le.Col, "column of %q in %q", le.Msg, tt.in)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// FuzzParseLiteral: any line either fails cleanly or gives a value whose
// repr reads back as an equal value.
func FuzzParseLiteral(f *testing.F) {
	for _, s := range []string{"None", "[1, (2,), {3: b'4'}]", `'\ud800\x00'`, "1+2j", "{1, 2}", "frozenset()", `"\u00e9"`, "-0x_1", "1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		v, ok, err := parseLiteral(line)
		if err != nil || !ok {
			return
		}
		r := string(appendRepr(nil, v))
		if len(r) > 1<<16 {
			return // bytes(1048576): correct, but too slow to fuzz with
		}
		again, ok, err := parseLiteral(r)
		if err != nil || !ok {
			t.Fatalf("%q parsed, but its repr %s does not: %v", line, r, err)
		}
		if !pickle.Equal(v, again) {
			t.Fatalf("%q: repr %s reads back as %s", line, r, appendRepr(nil, again))
		}
		appendJSON(nil, v)
	})
}
