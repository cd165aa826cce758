package main

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/pickle"
)

func dict(t *testing.T, kv ...any) *pickle.Dict {
	d := pickle.NewDict()
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, d.Set(kv[i], kv[i+1]))
	}
	return d
}

func set(t *testing.T, items ...any) *pickle.Set {
	s, err := pickle.NewSet(items...)
	require.NoError(t, err)
	return s
}

func frozenset(t *testing.T, items ...any) *pickle.FrozenSet {
	s, err := pickle.NewFrozenSet(items...)
	require.NoError(t, err)
	return s
}

// printCase is a value of the pickle model and how each format prints it.
type printCase struct {
	name string
	v    any
	repr string
	json string
}

func printCases(t *testing.T) []printCase {
	big70, _ := new(big.Int).SetString("-1180591620717411303424", 10)
	selfList := make([]any, 2)
	selfList[0] = int64(1)
	selfList[1] = selfList
	selfDict := pickle.NewDict()
	require.NoError(t, selfDict.Set("me", selfDict))
	point := &pickle.Object{Callable: pickle.Global{Module: "__main__", Name: "Point"}, New: true,
		Args: pickle.Tuple{}, State: dict(t, "x", int64(1), "y", "y")}
	return []printCase{
		{"None", nil, "None", "null"},
		{"bools", []any{true, false}, "[True, False]", "[true,false]"},
		{"int", int64(-42), "-42", "-42"},
		{"min int64", int64(math.MinInt64), "-9223372036854775808", "-9223372036854775808"},
		{"big int", big70, "-1180591620717411303424", "-1180591620717411303424"},
		{"float", 1.5, "1.5", "1.5"},
		{"integral float", 100.0, "100.0", "100.0"},
		{"negative zero", math.Copysign(0, -1), "-0.0", "-0.0"},
		{"inf", math.Inf(1), "inf", `{"$float":"inf"}`},
		{"-inf", math.Inf(-1), "-inf", `{"$float":"-inf"}`},
		{"nan", math.NaN(), "nan", `{"$float":"nan"}`},
		{"complex", complex(1, -2), "(1-2j)", `{"$complex":[1.0,-2.0]}`},
		{"imaginary", complex(0, 2.5), "2.5j", `{"$complex":[0.0,2.5]}`},
		{"complex inf", complex(math.Inf(1), math.NaN()), "(inf+nanj)", `{"$complex":[{"$float":"inf"},{"$float":"nan"}]}`},
		{"str", "abc", "'abc'", `"abc"`},
		{"str quotes", "it's", `"it's"`, `"it's"`},
		{"str both quotes", `'"`, `'\'"'`, `"'\""`},
		{"str escapes", "a\x00\t\n\r\x7f\\", `'a\x00\t\n\r\x7f\\'`, `"a\u0000\t\n\r\u007f\\"`},
		{"str non-ASCII", "é☃😀", "'é☃😀'", `"é☃😀"`},
		{"str unprintable", "\u00a0\u00ad\u200b\u2028\U000e0001", `'\xa0\xad\u200b\u2028\U000e0001'`, "\"\u00a0\u00ad\u200b\\u2028\U000e0001\""},
		{"str lone surrogate", "\xed\xa0\x80x", `'\ud800x'`, `"\ud800x"`},
		{"str stray byte", "a\xffb", `'a\udcffb'`, `"a\udcffb"`},
		{"bytes", []byte("a\x00\x7f\x80'\""), `b'a\x00\x7f\x80\'"'`, `{"$bytes":"YQB/gCci"}`},
		{"bytes quote", []byte("'"), `b"'"`, `{"$bytes":"Jw=="}`},
		{"bytearray", pickle.ByteArray("ab"), "bytearray(b'ab')", `{"$bytearray":"YWI="}`},
		{"py2 str", pickle.ByteString("abc"), "'abc'", `"abc"`},
		{"py2 str binary", pickle.ByteString("\x00\xff"), `'\x00\xff'`, `{"$bytes":"AP8="}`},
		{"list", []any{int64(1), "two", []any{}}, "[1, 'two', []]", `[1,"two",[]]`},
		{"tuple", pickle.Tuple{int64(1), int64(2)}, "(1, 2)", "[1,2]"},
		{"tuple of one", pickle.Tuple{int64(1)}, "(1,)", "[1]"},
		{"empty tuple", pickle.Tuple{}, "()", "[]"},
		{"dict", dict(t, "b", int64(1), "a", nil), "{'b': 1, 'a': None}", `{"b":1,"a":null}`},
		{"dict keys", dict(t, int64(1), "i", pickle.Tuple{int64(1), int64(2)}, "t", nil, "n", []byte("k"), "b", pickle.ByteString("s"), "s"),
			"{1: 'i', (1, 2): 't', None: 'n', b'k': 'b', 's': 's'}", `{"1":"i","(1, 2)":"t","None":"n","b'k'":"b","s":"s"}`},
		{"empty dict", pickle.NewDict(), "{}", "{}"},
		{"set", set(t, int64(3), int64(1)), "{3, 1}", `{"$set":[3,1]}`},
		{"empty set", set(t), "set()", `{"$set":[]}`},
		{"frozenset", frozenset(t, "x"), "frozenset({'x'})", `{"$frozenset":["x"]}`},
		{"empty frozenset", frozenset(t), "frozenset()", `{"$frozenset":[]}`},
		{"global", pickle.Global{Module: "collections", Name: "OrderedDict"}, "collections.OrderedDict", `{"$global":"collections.OrderedDict"}`},
		{"reduce", &pickle.Object{Callable: pickle.Global{Module: "fractions", Name: "Fraction"}, Args: pickle.Tuple{int64(1), int64(3)}},
			"fractions.Fraction(1, 3)", `{"$object":"fractions.Fraction","args":[1,3]}`},
		{"newobj with state", point,
			"<__main__.Point.__new__() state={'x': 1, 'y': 'y'}>", `{"$object":"__main__.Point","new":true,"state":{"x":1,"y":"y"}}`},
		{"newobj_ex", &pickle.Object{Callable: pickle.Global{Module: "m", Name: "C"}, New: true, Args: pickle.Tuple{int64(1)},
			Kwargs: dict(t, "k", int64(2), "not an identifier", int64(3))},
			"<m.C.__new__(1, k=2, **{'not an identifier': 3})>", `{"$object":"m.C","new":true,"args":[1],"kwargs":{"k":2,"not an identifier":3}}`},
		{"items", &pickle.Object{Callable: pickle.Global{Module: "m", Name: "L"}, ListItems: []any{int64(1)}, DictItems: dict(t, "k", "v")},
			"<m.L() items=[1] dictitems={'k': 'v'}>", `{"$object":"m.L","listitems":[1],"dictitems":{"k":"v"}}`},
		{"classic instance", &pickle.Object{Callable: pickle.Global{Module: "m", Name: "Old"}, Inst: true, State: dict(t, "a", int64(1))},
			"<m.Old() state={'a': 1}>", `{"$object":"m.Old","inst":true,"state":{"a":1}}`},
		{"persistent id", pickle.PersistentRef{ID: "obj-1"}, "<persistent id 'obj-1'>", `{"$persistent":"obj-1"}`},
		{"pickle buffer", pickle.PickleBuffer{Data: []byte("ab")}, "<PickleBuffer b'ab'>", `{"$picklebuffer":"YWI="}`},
		{"list in itself", selfList, "[1, [...]]", `[1,{"$repr":"..."}]`},
		{"dict in itself", selfDict, "{'me': {...}}", `{"me":{"$repr":"..."}}`},
		{"shared, not cyclic", []any{selfDict.Keys(), selfDict.Keys()}, "[['me'], ['me']]", `[["me"],["me"]]`},
		{"not of the model", struct{ A int }{1}, "<Go struct { A int } {1}>", `{"$repr":"<Go struct { A int } {1}>"}`},
	}
}

func TestRepr(t *testing.T) {
	for _, tt := range printCases(t) {
		assert.Equal(t, tt.repr, string(appendRepr(nil, tt.v)), tt.name)
	}
}

func TestJSON(t *testing.T) {
	for _, tt := range printCases(t) {
		got := appendJSON(nil, tt.v)
		assert.Equal(t, tt.json, string(got), tt.name)
		assert.True(t, json.Valid(got), "%s: %s is not JSON", tt.name, got)
	}
}

// TestPyFloat: Python's repr of floats, as CPython 3 prints them, and of
// complex numbers built from them.
func TestPyFloat(t *testing.T) {
	tests := []struct {
		f             float64
		repr, complex string
	}{
		{0, "0.0", "0j"},
		{1, "1.0", "(1-1j)"},
		{0.1, "0.1", "(0.1-0.1j)"},
		{0.3, "0.3", "(0.3-0.3j)"},
		{1e16, "1e+16", "(1e+16-1e+16j)"},
		{1e15, "1000000000000000.0", "(1000000000000000-1000000000000000j)"},
		{1234567890123456, "1234567890123456.0", "(1234567890123456-1234567890123456j)"},
		{123456789012345678, "1.2345678901234568e+17", "(1.2345678901234568e+17-1.2345678901234568e+17j)"},
		{1e-4, "0.0001", "(0.0001-0.0001j)"},
		{1e-5, "1e-05", "(1e-05-1e-05j)"},
		{0.00012345, "0.00012345", "(0.00012345-0.00012345j)"},
		{1.5e-7, "1.5e-07", "(1.5e-07-1.5e-07j)"},
		{5e-324, "5e-324", "(5e-324-5e-324j)"},
		{math.MaxFloat64, "1.7976931348623157e+308", "(1.7976931348623157e+308-1.7976931348623157e+308j)"},
		{1e22, "1e+22", "(1e+22-1e+22j)"},
		{-2.5e-10, "-2.5e-10", "(-2.5e-10+2.5e-10j)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.repr, string(appendPyFloat(nil, tt.f, true)))
		if tt.f != 0 {
			assert.Equal(t, tt.complex, string(appendPyComplex(nil, complex(tt.f, -tt.f))))
		}
	}
	negZero := math.Copysign(0, -1)
	for c, want := range map[complex128]string{
		complex(negZero, 1):                       "(-0+1j)",
		complex(0, negZero):                       "-0j",
		complex(1, math.NaN()):                    "(1+nanj)",
		complex(math.Inf(1), math.Inf(-1)):        "(inf-infj)",
		complex(negZero, negZero):                 "(-0-0j)",
		complex(math.NaN(), 0):                    "(nan+0j)",
		complex(0, -math.Copysign(math.NaN(), 1)): "nanj",
	} {
		assert.Equal(t, want, string(appendPyComplex(nil, c)))
	}
}

// TestReprOfPythonPickles decodes pickles that CPython 3.13 wrote (pickle.dumps
// at protocols 2 and 4) and prints them.
func TestReprOfPythonPickles(t *testing.T) {
	tests := []struct{ hex, repr, json string }{
		{"80049520000000000000008c086461746574696d65948c0464617465949394430407e8010294859452942e",
			`datetime.date(b'\x07\xe8\x01\x02')`, `{"$object":"datetime.date","args":[{"$bytes":"B+gBAg=="}]}`},
		{"8002636461746574696d650a646174650a7100635f636f646563730a656e636f64650a7101580500000007c3a80102710258060000006c6174696e3171038671045271058571065271072e",
			`datetime.date(b'\x07\xe8\x01\x02')`, `{"$object":"datetime.date","args":[{"$bytes":"B+gBAg=="}]}`},
		{"80049530000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c017a944b018c0161944b02752e",
			"<collections.OrderedDict() dictitems={'z': 1, 'a': 2}>", `{"$object":"collections.OrderedDict","dictitems":{"z":1,"a":2}}`},
		{"80049522000000000000008c096672616374696f6e73948c084672616374696f6e9493944b014b03869452942e",
			"fractions.Fraction(1, 3)", `{"$object":"fractions.Fraction","args":[1,3]}`},
		{"8004952a000000000000008c085f5f6d61696e5f5f948c05506f696e749493942981947d94288c0178944b018c017994680675622e",
			"<__main__.Point.__new__() state={'x': 1, 'y': 'y'}>", `{"$object":"__main__.Point","new":true,"state":{"x":1,"y":"y"}}`},
		{"8004951f000000000000008c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942e",
			"collections.OrderedDict", `{"$global":"collections.OrderedDict"}`},
		{"8002635f5f6275696c74696e5f5f0a6c656e0a71002e", "builtins.len", `{"$global":"builtins.len"}`},
	}
	for _, tt := range tests {
		body, err := hex.DecodeString(tt.hex)
		require.NoError(t, err)
		var v any
		require.NoError(t, decodeOptions.Unmarshal(body, &v))
		assert.Equal(t, tt.repr, string(appendRepr(nil, v)))
		assert.Equal(t, tt.json, string(appendJSON(nil, v)))
	}
}

// The demo prints a received dict in its insertion order, which Python's
// dict has and *pickle.Dict keeps.
func TestGoReprDictOrder(t *testing.T) {
	d := pickle.NewDict()
	require.NoError(t, d.Set("reply", "hi"))
	require.NoError(t, d.Set("numbers", []any{int64(1)}))
	require.NoError(t, d.Set("a", true))
	assert.Equal(t, `dict{"reply": "hi", "numbers": []any{int64(1)}, "a": bool(true)}`, goRepr(d))
}

// A list or dict inside itself is written once, not followed until the
// stack overflows.
func TestGoReprSelfReference(t *testing.T) {
	l := make([]any, 2)
	l[0], l[1] = int64(1), l
	d := pickle.NewDict()
	require.NoError(t, d.Set("self", d))
	require.NoError(t, d.Set("list", l))
	assert.Equal(t, `dict{"self": dict{...}, "list": []any{int64(1), []any{...}}}`, goRepr(d))
	tuple := pickle.Tuple{nil, "x"}
	tuple[0] = tuple
	assert.Equal(t, `pickle.Tuple([(...) x])`, goRepr(tuple))
}
