package pickle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"math"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Go types of the standard library's classes, on their own; the
// Python round trips are in typed_python_test.go.

// Python 3.13's str(decimal.Decimal(s)), and strings it refuses;
// TestDecimalStringPython checks both tables, and ParseDecimal on them,
// against every Python found.
var (
	decimalStrings = map[string]string{
		"1.50": "1.50", "-0": "-0", "0E-7": "0E-7", "1E+3": "1E+3", "123.456e-10": "1.23456E-8",
		"-12345678901234567890.12345": "-12345678901234567890.12345", "0.000001": "0.000001",
		"0.0000001": "1E-7", "1e6": "1E+6", ".5": "0.5", "5.": "5", "1_000": "1000", "inf": "Infinity",
		"-Infinity": "-Infinity", "nan": "NaN", "sNaN12": "sNaN12", "-nan3": "-NaN3", "  7  ": "7",
		"100E-2": "1.00", "1.23E+8": "1.23E+8",
		// Python 3.6+ strips whitespace, then drops every underscore.
		"1_0": "10", "1__0": "10", "_1": "1", "1_": "1", "1_.5": "1.5", "_1_": "1", "__1": "1",
		"1._5": "1.5", "1.5_": "1.5", "._5": "0.5", "1e1_0": "1E+10", "1e_10": "1E+10",
		"1e10_": "1E+10", "1_e5": "1E+5", "1e+_5": "1E+5", "1e_+5": "1E+5", "+_1": "1", "_+1": "1",
		"-_1": "-1", "_-1": "-1", "inf_": "Infinity", "_inf": "Infinity", "in_f": "Infinity",
		"Infin_ity": "Infinity", "N_aN": "NaN", "NaN_1": "NaN1", "Na_N1_2": "NaN12", "sN_aN": "sNaN",
		"1_0.0_1e-1_0": "1.001E-9", " 1_0 ": "10", " _1": "1", "1_ ": "1", "1_\u00a0": "1",
		// Python's whitespace, and Unicode decimal digits.
		"\t1\n": "1", "\u00a01\u00a0": "1", "\x1c1\x1f": "1", "\u20001": "1", "\u0085 1": "1",
		"\u0661\u0662": "12", "1\u0662_3": "123", "\uff11": "1", "_\u0661": "1", "1e\u0661": "1E+1",
		"\u0661.\u0662e\u0663": "1.2E+3", "\U0001d7cf": "1", "NaN\u0661": "NaN1",
	}
	badDecimalStrings = []string{
		"", "1..2", "e5", "1e", "0x10", "NaNx", "--1",
		"_", "__", "_._", "_.", ".", "_e5", "_ 1", "1 _", "1 0", "1e+", "+",
		"\u200b1", "1\u00b2", "1\x00", "\uff49nf", "1\xff",
	}
)

func TestDecimalString(t *testing.T) {
	for in, want := range decimalStrings {
		d, err := ParseDecimal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, d.String(), in)
	}
	for _, bad := range badDecimalStrings {
		_, err := ParseDecimal(bad)
		assert.Error(t, err, bad)
	}
}

// TestDecimalStringPython: each Python gives the strings of
// decimalStrings and refuses badDecimalStrings, and ParseDecimal gives
// what Python gives, with both the C decimal and _pydecimal. Python 2.7
// predates PEP 515 and refuses every underscore, which ParseDecimal
// accepts as Python 3 does; its other answers must agree.
func TestDecimalStringPython(t *testing.T) {
	var in []string
	for s := range decimalStrings {
		if utf8.ValidString(s) {
			in = append(in, s)
		}
	}
	for _, s := range badDecimalStrings {
		if utf8.ValidString(s) { // JSON cannot carry the others to Python
			in = append(in, s)
		}
	}
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		got := runPythonJSON(t, p, `
import decimal, json, sys
try:
    import _pydecimal
except ImportError:
    _pydecimal = None
def conv(D, s):
    try:
        return str(D(s))
    except decimal.InvalidOperation:
        return None
    except Exception as e:
        if _pydecimal is not None and isinstance(e, _pydecimal.InvalidOperation):
            return None
        raise
out = {}
for s in json.load(sys.stdin):
    c = conv(decimal.Decimal, s)
    if _pydecimal is not None and conv(_pydecimal.Decimal, s) != c:
        c = "decimal and _pydecimal differ"
    out[s] = c
json.dump(out, sys.stdout)
`, in)
		require.Len(t, got, len(in))
		py3 := p.AtLeast(3, 6)
		for _, s := range in {
			var goStr any
			if d, err := ParseDecimal(s); err == nil {
				goStr = d.String()
			}
			if !py3 && strings.Contains(s, "_") {
				assert.Nil(t, got[s], "Python %s refuses Decimal(%q)", p.Short(), s)
				continue
			}
			assert.Equal(t, got[s], goStr, "ParseDecimal(%q) against str(Decimal(%q)), nil for refused", s, s)
			if py3 {
				if want, ok := decimalStrings[s]; ok {
					assert.Equal(t, want, got[s], "str(Decimal(%q))", s)
				} else {
					assert.Nil(t, got[s], "Decimal(%q) is refused", s)
				}
			}
		}
	})
}

// runPythonJSON runs script under p with in as JSON on stdin and decodes
// the JSON it prints into a map.
func runPythonJSON(t *testing.T, p pymatrix.Interpreter, script string, in any) map[string]any {
	t.Helper()
	input, err := json.Marshal(in)
	require.NoError(t, err)
	cmd := p.Command("-c", script)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	return got
}

// TestCompatTablesFresh: compat.go is what gen_compat.py makes from the
// newest Python's _compat_pickle.
func TestCompatTablesFresh(t *testing.T) {
	p := pymatrix.Newest(t)
	if !p.AtLeast(3, 13) {
		t.Skipf("compat.go comes from Python 3.13's _compat_pickle; newest here is %s", p.Version)
	}
	cmd := p.Command("testdata/gen_compat.py")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	fresh, err := format.Source(out)
	require.NoError(t, err)
	have, err := os.ReadFile("compat.go")
	require.NoError(t, err)
	assert.Equal(t, string(fresh), string(have), "compat.go is stale: rerun gen_compat.py")
}

func TestDecimalConversions(t *testing.T) {
	d, _ := ParseDecimal("-1.25")
	r, ok := d.Rat()
	require.True(t, ok)
	assert.Equal(t, "-5/4", r.String())
	assert.Equal(t, -1.25, d.Float64())
	assert.Equal(t, big.NewInt(-125), d.Coefficient())
	assert.Equal(t, -2, d.Exponent())
	assert.Equal(t, "-1.25", d.BigFloat(64).Text('g', -1))
	inf, _ := ParseDecimal("-inf")
	assert.True(t, math.IsInf(inf.Float64(), -1))
	_, ok = inf.Rat()
	assert.False(t, ok)
	assert.Equal(t, "1.5E+3", NewDecimal(big.NewInt(15), 2).String())
	var zero Decimal
	assert.Equal(t, "0", zero.String())

	// A float decodes exactly, as Decimal(float) in Python.
	data, err := Marshal([]any{0.1, math.Copysign(0, -1), 100.0})
	require.NoError(t, err)
	var ds []Decimal
	require.NoError(t, Unmarshal(data, &ds))
	assert.Equal(t, "0.1000000000000000055511151231257827021181583404541015625", ds[0].String())
	assert.Equal(t, "-0", ds[1].String())
	assert.Equal(t, "100", ds[2].String())

	// big.Float and big.Rat go as Decimal and Fraction, and come back.
	f := new(big.Float).SetPrec(200)
	f.SetString("3.14159265358979323846264338327950288")
	type nums struct {
		F *big.Float
		R *big.Rat
		I *big.Int
	}
	in := nums{f, big.NewRat(-22, 7), new(big.Int).Exp(big.NewInt(7), big.NewInt(50), nil)}
	data, err = Marshal(in)
	require.NoError(t, err)
	// A big.Float keeps its precision, if set, as encoding/json keeps
	// what it decodes into.
	out := nums{F: new(big.Float).SetPrec(200)}
	require.NoError(t, Unmarshal(data, &out))
	assert.Equal(t, 0, f.Cmp(out.F), "%v", out.F)
	assert.Equal(t, 0, in.R.Cmp(out.R))
	assert.Equal(t, 0, in.I.Cmp(out.I))
}

func TestUUID(t *testing.T) {
	u, err := ParseUUID("{urn:uuid:12345678-1234-5678-1234-567812345678}")
	require.NoError(t, err)
	assert.Equal(t, "12345678-1234-5678-1234-567812345678", u.String())
	_, err = ParseUUID("1234")
	assert.Error(t, err)
	data, err := Marshal(u)
	require.NoError(t, err)
	var back UUID
	require.NoError(t, Unmarshal(data, &back))
	assert.Equal(t, u, back)
}

// foldCases: datetime(2024, m, day, 2, 30, fold=fold,
// tzinfo=ZoneInfo('Europe/Paris')).timestamp() on the wall times that Paris
// skips (2024-03-31 02:30) and repeats (2024-10-27 02:30).
var foldCases = []struct {
	day  int
	fold bool
	unix int64
}{
	{31, false, 1711848600}, {31, true, 1711845000},
	{27, false, 1729989000}, {27, true, 1729992600},
}

// PEP 495 as Python's zoneinfo applies it.
func TestWallTimeFold(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	for _, c := range foldCases {
		month := time.March
		if c.day == 27 {
			month = time.October
		}
		got := wallTime(2024, month, c.day, 2, 30, 0, 0, paris, c.fold)
		assert.Equal(t, c.unix, got.Unix(), "%v fold=%v", month, c.fold)
	}
	// The second of the repeated instants has fold set, and survives a
	// round trip at protocol 4.
	second := time.Unix(1729992600, 0).In(paris)
	assert.True(t, foldOf(second))
	assert.False(t, foldOf(time.Unix(1729989000, 0).In(paris)))
	data, err := EncodeOptions{Protocol: 4}.Marshal(second)
	require.NoError(t, err)
	var back time.Time
	require.NoError(t, Unmarshal(data, &back))
	assert.True(t, back.Equal(second))
}

// TestWallTimeFoldPython: foldCases are the newest Python's zoneinfo's.
func TestWallTimeFoldPython(t *testing.T) {
	p := pymatrix.Newest(t)
	if !p.AtLeast(3, 9) {
		t.Skipf("zoneinfo needs Python 3.9; newest here is %s", p.Version)
	}
	got := runPythonJSON(t, p, `
import datetime, json, sys, zoneinfo
paris = zoneinfo.ZoneInfo('Europe/Paris')
out = {}
for month, day, fold in json.load(sys.stdin):
    out['%d %d %d' % (month, day, fold)] = datetime.datetime(2024, month, day, 2, 30, fold=fold, tzinfo=paris).timestamp()
json.dump(out, sys.stdout)
`, [][3]int{{3, 31, 0}, {3, 31, 1}, {10, 27, 0}, {10, 27, 1}})
	for _, c := range foldCases {
		month, fold := 3, 0
		if c.day == 27 {
			month = 10
		}
		if c.fold {
			fold = 1
		}
		assert.Equal(t, float64(c.unix), got[fmt.Sprintf("%d %d %d", month, c.day, fold)], "Python's timestamp, %d/%d fold=%d", month, c.day, fold)
	}
}

func TestTimeEncodings(t *testing.T) {
	tzOf := func(v time.Time) any {
		data, err := Marshal(v)
		require.NoError(t, err)
		var m any
		require.NoError(t, Unmarshal(data, &m))
		args := m.(*Object).Args
		if len(args) < 2 {
			return nil
		}
		return args[1]
	}
	at := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	assert.Nil(t, tzOf(at.In(Naive)))
	assert.Equal(t, "datetime.timezone[datetime.timedelta[0 0 0]]", tzOfString(tzOf(at)))
	assert.Contains(t, tzOfString(tzOf(at.In(time.FixedZone("EST", -5*3600)))), "EST")
	assert.Contains(t, tzOfString(tzOf(at.In(mustLoc(t, "Asia/Tokyo")))), "zoneinfo.ZoneInfo._unpickle[Asia/Tokyo 1]")
	// time.Local has no IANA key: its offset at that instant.
	assert.Contains(t, tzOfString(tzOf(at.In(time.Local))), "datetime.timezone[")

	_, err := Marshal(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.Error(t, err)
	_, err = Marshal(Date{2024, 13, 1})
	assert.Error(t, err)

	// Durations are rounded to microseconds and normalized as timedelta.
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-1, "datetime.timedelta[0 0 0]"},
		{-1500 * time.Nanosecond, "datetime.timedelta[-1 86399 999998]"},
		{36*time.Hour + 1500*time.Nanosecond, "datetime.timedelta[1 43200 2]"},
	} {
		assert.Equal(t, c.want, timedeltaOf(c.d).String())
	}

	// A date decodes into a time.Time at midnight, naive.
	data, err := Marshal(Date{2024, 2, 29})
	require.NoError(t, err)
	var tt time.Time
	require.NoError(t, Unmarshal(data, &tt))
	assert.Equal(t, time.Date(2024, 2, 29, 0, 0, 0, 0, Naive), tt)
}

func tzOfString(v any) string {
	if o, ok := v.(*Object); ok {
		return o.String()
	}
	return "<nil>"
}

func TestCollections(t *testing.T) {
	var od OrderedDict[string, int]
	od.Set("b", 1)
	od.Set("a", 2)
	od.Set("b", 3)
	assert.Equal(t, []string{"b", "a"}, od.Keys())
	v, ok := od.Get("b")
	assert.True(t, ok)
	assert.Equal(t, 3, v)
	assert.True(t, od.Delete("b"))
	assert.False(t, od.Delete("b"))
	assert.Equal(t, 1, od.Len())
	for k, v := range od.All() {
		assert.Equal(t, "a", k)
		assert.Equal(t, 2, v)
	}

	// A plain dict decodes into an OrderedDict, in its order; a list into a
	// Deque.
	data, err := Marshal(mustDict("z", 1, "y", 2))
	require.NoError(t, err)
	var od2 OrderedDict[string, int]
	require.NoError(t, Unmarshal(data, &od2))
	assert.Equal(t, []string{"z", "y"}, od2.Keys())
	data, err = Marshal([]int{1, 2})
	require.NoError(t, err)
	var dq Deque[int]
	require.NoError(t, Unmarshal(data, &dq))
	assert.Equal(t, Deque[int]{Items: []int{1, 2}}, dq)

	// Paths: pathlib's parts, joined.
	for _, c := range []struct {
		class string
		parts []any
		want  Path
	}{
		{"PosixPath", []any{"/", "usr", "lib"}, "/usr/lib"},
		{"PurePosixPath", []any{"a", "/abs", "b"}, "/abs/b"},
		{"PureWindowsPath", []any{`C:\`, "Users", "x"}, `C:\Users\x`},
		{"PosixPath", nil, "."},
	} {
		data, err := Marshal(call(Global{"pathlib", c.class}, c.parts...))
		require.NoError(t, err)
		var p Path
		require.NoError(t, Unmarshal(data, &p))
		assert.Equal(t, c.want, p)
	}
}
