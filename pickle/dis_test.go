package pickle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDisassemble(t *testing.T) {
	// pickle.dumps({'a': [1, 2.5, None, True, 2**70, -3], 'b': (b'x', {1, 2}), 'c': '\u2603'}, 4)
	data := []byte("\x80\x04\x95\x46\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94\x5d\x94\x28\x4b\x01\x47\x40\x04\x00\x00\x00\x00\x00\x00\x4e\x88\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x4a\xfd\xff\xff\xff\x65\x8c\x01\x62\x94\x43\x01\x78\x94\x8f\x94\x28\x4b\x01\x4b\x02\x90\x86\x94\x8c\x01\x63\x94\x8c\x03\xe2\x98\x83\x94\x75\x2e")
	var out bytes.Buffer
	require.NoError(t, Disassemble(&out, data))
	want := `    0: \x80 PROTO      4
    2: \x95 FRAME      70
   11: }    EMPTY_DICT
   12: \x94 MEMOIZE    (as 0)
   13: (    MARK
   14: \x8c     SHORT_BINUNICODE 'a'
   17: \x94     MEMOIZE    (as 1)
   18: ]        EMPTY_LIST
   19: \x94     MEMOIZE    (as 2)
   20: (        MARK
   21: K            BININT1    1
   23: G            BINFLOAT   2.5
   32: N            NONE
   33: \x88         NEWTRUE
   34: \x8a         LONG1      1180591620717411303424
   45: J            BININT     -3
   50: e            APPENDS    (MARK at 20)
   51: \x8c     SHORT_BINUNICODE 'b'
   54: \x94     MEMOIZE    (as 3)
   55: C        SHORT_BINBYTES b'x'
   58: \x94     MEMOIZE    (as 4)
   59: \x8f     EMPTY_SET
   60: \x94     MEMOIZE    (as 5)
   61: (        MARK
   62: K            BININT1    1
   64: K            BININT1    2
   66: \x90         ADDITEMS   (MARK at 61)
   67: \x86     TUPLE2
   68: \x94     MEMOIZE    (as 6)
   69: \x8c     SHORT_BINUNICODE 'c'
   72: \x94     MEMOIZE    (as 7)
   73: \x8c     SHORT_BINUNICODE '☃'
   78: \x94     MEMOIZE    (as 8)
   79: u        SETITEMS   (MARK at 13)
   80: .    STOP
highest protocol among opcodes = 4
`
	assert.Equal(t, want, out.String())
}

func TestDisassembleProtocol0(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, Disassemble(&out, []byte("(lp0\nI1\naS'x'\np1\nac__builtin__\nset\np2\na.")))
	assert.Contains(t, out.String(), `    0: (    MARK`)
	assert.Contains(t, out.String(), `    1: l        LIST       (MARK at 0)`)
	assert.Contains(t, out.String(), `    5: I    INT        1`)
	assert.Contains(t, out.String(), `    9: S    STRING     'x'`)
	assert.Contains(t, out.String(), `   18: c    GLOBAL     '__builtin__ set'`)
	assert.True(t, strings.HasSuffix(out.String(), "highest protocol among opcodes = 0\n"))
}

func TestDisassembleErrors(t *testing.T) {
	cases := map[string]struct {
		data   string
		offset int64
		cause  error
	}{
		"empty":           {"", 0, ErrTruncated},
		"no STOP":         {"\x80\x04N", 3, ErrTruncated},
		"unknown opcode":  {"\x80\x04\xff.", 2, ErrUnknownOpcode},
		"short argument":  {"\x80\x04J\x01\x02", 2, ErrTruncated},
		"lying length":    {"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10x.", 2, ErrTruncated},
		"no MARK":         {"\x80\x04e.", 2, ErrMark},
		"MARK left open":  {"\x80\x04(.", 3, ErrMark},
		"line without NL": {"I12", 0, ErrTruncated},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := Disassemble(&out, []byte(c.data))
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, c.offset, de.Offset)
			assert.True(t, errors.Is(err, c.cause), "got %v", err)
			assert.NotContains(t, out.String(), "highest protocol")
		})
	}
}

// disLine splits a listing line into what precedes the opcode's name
// (offset, opcode byte, MARK indentation), the name, and the argument.
var disLine = regexp.MustCompile(`^(\s*\d+: \S+\s+)([A-Z_0-9]+)(.*)$`)

// TestDisassembleMatchesPickletools: the newest Python's pickletools.dis
// and Disassemble list the same lines, for a corpus at every protocol and
// for Python 2 text pickles: the same offsets, opcode bytes, MARK
// indentation, names and arguments, and the same closing line. The corpus
// must hold the arguments whose repr is easy to get wrong (disMustShow).
func TestDisassembleMatchesPickletools(t *testing.T) {
	p := pymatrix.Newest(t)
	got := runPythonJSON(t, p, `
import collections, datetime, decimal, io, json, pickle, pickletools, sys
values = {
    'mixed': {'a': [1, 2.5, None, True, 2**70, -3], 'b': (b'x', {1, 2}), 'c': u'\u2603'},
    'text': ['x', "it's", 'a"b', u'caf\xe9 \u20ac \U0001f600', 'back\\slash\n', b'\x00\xff', 'y' * 300],
    'nums': [0, -1, 255, 65536, 2**31, -2**63, 2**64, -2**2000, 1e-300, float('inf'), float('nan'), 0.1, -0.0, 1 + 2j,
             1.0, 1e300, -float('inf'), 1e16, 1e-5, 123456789.25],
    'objs': [datetime.date(2020, 1, 2), collections.OrderedDict(a=1), decimal.Decimal('1.5'), frozenset([1]),
             bytearray(b'ab'), bytearray(b"it's \\ \x00\xff"), bytearray(), set(), collections.deque([1])],
    'shared': (lambda l: [l, l, (l,), {'k': l}])([1]),
    'cyclic': (lambda l: l.append(l) or l)([]),
    'long': list(range(1500)),
}
pickles = dict(('%s/%d' % (n, p), pickle.dumps(v, p)) for n, v in values.items() for p in range(pickle.HIGHEST_PROTOCOL + 1))
for n, d in json.load(sys.stdin).items():
    pickles[n] = bytes.fromhex(d)
out = {}
for n, d in pickles.items():
    s = io.StringIO()
    pickletools.dis(d, s)
    out[n] = [d.hex(), s.getvalue()]
json.dump(out, sys.stdout)
`, map[string]string{
		"py2/str": hex.EncodeToString([]byte("(lp0\nI1\naS'x'\np1\naS'it\\'s \\x00'\np2\naVcaf\xe9 \\u20ac\np3\naI01\naI00\na" +
			"S\"it's\"\naS'a\\tb \\\\ \\'q\\' \"d\" \\x7f \\n \\101'\naS''\naS'\\x41\\\\'\na" +
			"Vback\\\\slash \\U0001f600 \\ud800 \\u0085 \xff \x85 '\"\t\naV\naVit's\na" +
			"g1\nag00\na.")),
		"py2/long":   hex.EncodeToString([]byte("(L12345678901234567890L\nL-5L\nL0\nI007\nI-0\nI-12\np01\nI1_0\nPpid \\x41\nt.")),
		"py2/float":  hex.EncodeToString([]byte("(F1.5\nFinf\nF1.0\nF-0.0\nF-inf\nFnan\nF1e300\nF0.1\nF1e16\nF1E-5\nF2\nt.")),
		"py2/global": hex.EncodeToString([]byte("c__builtin__\nset\n((I1\nI2\nI3\nlp0\ntR.")),
		"py2/inst":   hex.EncodeToString([]byte("(I1\ni__main__\nC\np0\n(dp1\nS'a'\nI2\nsb.")),
	})
	require.GreaterOrEqual(t, len(got), 40, "pickles listed by pickletools")
	lines, shown := 0, map[string]bool{}
	for name, v := range got {
		pair := v.([]any)
		data, err := hex.DecodeString(pair[0].(string))
		require.NoError(t, err)
		theirs := strings.Split(pair[1].(string), "\n")
		var out bytes.Buffer
		require.NoError(t, Disassemble(&out, data), name)
		ours := strings.Split(out.String(), "\n")
		require.Equal(t, len(theirs), len(ours), "%s: lines\nours:\n%s\ntheirs:\n%s", name, out.String(), pair[1])
		for i := range theirs {
			mt, mo := disLine.FindStringSubmatch(theirs[i]), disLine.FindStringSubmatch(ours[i])
			if mt == nil || mo == nil {
				assert.Equal(t, theirs[i], ours[i], "%s line %d", name, i)
				continue
			}
			lines++
			if !assert.Equal(t, mt[1]+mt[2], mo[1]+mo[2], "%s line %d", name, i) {
				continue
			}
			assert.Equal(t, mt[3], mo[3], "%s line %d: argument", name, i)
			shown[mt[2]+" "+strings.TrimSpace(mt[3])] = true
		}
	}
	require.NotZero(t, lines, "opcode lines compared")
	for _, want := range disMustShow {
		found := false
		for line := range shown {
			if strings.HasPrefix(line, want) {
				found = true
				break
			}
		}
		assert.True(t, found, "no %q line in pickletools' listings", want)
	}
	t.Logf("%d pickles, %d opcode lines compared", len(got), lines)
}

// disMustShow: prefixes of "NAME argument" that pickletools' listings of
// the corpus must include, so that each form is compared at least once.
var disMustShow = []string{
	"INT True", "INT False", "INT 7", "INT 0", "LONG 12345678901234567890", "LONG -5",
	"FLOAT 1.0", "FLOAT -0.0", "FLOAT inf", "FLOAT -inf", "FLOAT nan", "FLOAT 1e+300", "FLOAT 0.1",
	"FLOAT 1e+16", "FLOAT 1e-05", "FLOAT 2.0",
	"BINFLOAT 1.0", "BINFLOAT -0.0", "BINFLOAT inf", "BINFLOAT nan", "BINFLOAT 1e+300", "BINFLOAT 0.1",
	"BYTEARRAY8 bytearray(b'ab')", `BYTEARRAY8 bytearray(b"it\'s \\ \x00\xff")`, "BYTEARRAY8 bytearray(b'')",
	`STRING "it's"`, `STRING 'a\tb \\ \'q\' "d" \x7f \n A'`, "STRING ''", `STRING 'A\\'`,
	"UNICODE 'café €'", `UNICODE 'back\\\\slash 😀 \ud800 \x85 ÿ \x85 \'"\t'`, "UNICODE ''", `UNICODE "it's"`,
	"GET 1", "GET False", "PUT True", "PERSID 'pid A'",
}

// TestDisassembleStringPython2: Python 3's pickletools fails on a STRING
// whose bytes are not ASCII; Disassemble shows it as Python 2's
// pickletools does, as the repr of a Python 2 str. (PERSID too, but
// Python 2 does not undo its escapes and Python 3 does, as Disassemble
// does; so this PERSID has none.)
func TestDisassembleStringPython2(t *testing.T) {
	var py2 *pymatrix.Interpreter
	for _, p := range pymatrix.Find(t) {
		if p.Major == 2 {
			py2 = &p
		}
	}
	if py2 == nil {
		t.Skip("no Python 2 interpreter found")
	}
	data := []byte("(S'caf\xc3\xa9'\nS'\\xe9\\x85 \\'q\\''\nS\"it's \xff\"\nPpid \xe9\nt.")
	got := runPythonJSON(t, *py2, `
import binascii, json, pickletools, sys, StringIO
s = StringIO.StringIO()
pickletools.dis(binascii.unhexlify(json.load(sys.stdin)), s)
json.dump({'out': s.getvalue()}, sys.stdout)
`, hex.EncodeToString(data))
	var out bytes.Buffer
	require.NoError(t, Disassemble(&out, data))
	theirs, ours := strings.Split(got["out"].(string), "\n"), strings.Split(out.String(), "\n")
	require.Equal(t, len(theirs), len(ours), "ours:\n%s\ntheirs:\n%s", out.String(), got["out"])
	strs := 0
	for i := range theirs {
		mt, mo := disLine.FindStringSubmatch(theirs[i]), disLine.FindStringSubmatch(ours[i])
		if mt != nil && (mt[2] == "STRING" || mt[2] == "PERSID") {
			strs++
			require.NotNil(t, mo, ours[i])
			assert.Equal(t, mt[1:], mo[1:], "line %d", i)
		}
	}
	assert.Equal(t, 4, strs, "STRING and PERSID lines")
}
