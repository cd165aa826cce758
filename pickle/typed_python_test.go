package pickle

import (
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Round trips of typed Go values through every Python of the matrix, at
// every protocol each supports, both ways, batched: one Python process
// per interpreter and direction (testdata/typed_helper.py).
//
//	Python → Go → Python: Python pickles an expression's value; Go decodes
//	it into the case's Go type and compares it with the case's Go value,
//	encodes it again, and Python compares what it loads with the value.
//	Go → Python → Go: Go encodes the case's Go value; Python compares what
//	it loads with the expression's value and pickles it again; Go decodes
//	that and compares it with the Go value.

// The Go side of typed_helper.py's classes.
type pyItem struct {
	SKU   string  `pickle:"sku"`
	Qty   int     `pickle:"qty"`
	Price Decimal `pickle:"price"`
}

type pyPoint struct{ X, Y int }

type pyVec struct{ X, Y float64 }

type pyColor int

type pyMood string

type pyOrder struct {
	ID       int               `pickle:"id"`
	Customer string            `pickle:"customer"`
	Items    []pyItem          `pickle:"items"`
	Created  time.Time         `pickle:"created"`
	ShipTo   *pyPoint          `pickle:"ship_to"`
	Color    pyColor           `pickle:"color"`
	Notes    map[string]string `pickle:"notes"`
}

type pyFrozen struct {
	A int    `pickle:"a"`
	B string `pickle:"b"`
}

type pySlotsDC struct {
	A int    `pickle:"a"`
	B string `pickle:"b"`
}

type pyPlain struct {
	A int `pickle:"a"`
	B any `pickle:"b"`
}

type pySlotted struct {
	X int `pickle:"x"`
	Y int `pickle:"y"`
}

func typedRegistry(t testing.TB) *Registry {
	r := NewRegistry()
	for _, reg := range []struct {
		name string
		v    any
		form Form
	}{
		{"Item", pyItem{}, ObjectForm},
		{"Order", pyOrder{}, ObjectForm},
		{"Frozen", pyFrozen{}, ObjectForm},
		{"SlotsDC", pySlotsDC{}, SlotsForm},
		{"Plain", pyPlain{}, ObjectForm},
		{"Slotted", pySlotted{}, SlotsForm},
		{"Point", pyPoint{}, TupleForm},
		{"Vec", pyVec{}, TupleForm},
		{"Color", pyColor(0), EnumForm},
		{"Mood", pyMood(""), EnumForm},
	} {
		require.NoError(t, r.Register("__main__", reg.name, reg.v, reg.form))
	}
	return r
}

// typedCase is a Go value and the Python expression for the same value.
type typedCase struct {
	name     string
	python   string
	value    any
	since    [2]int // the oldest Python that has it
	minProto int
	eq       func(a, b any) bool // instead of reflect.DeepEqual
}

func mustLoc(t testing.TB, name string) *time.Location {
	l, err := time.LoadLocation(name)
	require.NoError(t, err)
	return l
}

// sameTime compares instants and their locations' names and offsets.
func sameTime(a, b any) bool {
	ta, tb := a.(time.Time), b.(time.Time)
	na, oa := ta.Zone()
	nb, ob := tb.Zone()
	return ta.Equal(tb) && oa == ob && na == nb && ta.Location().String() == tb.Location().String() &&
		(ta.Location() == Naive) == (tb.Location() == Naive)
}

func typedCorpus(t testing.TB) []typedCase {
	paris := mustLoc(t, "Europe/Paris")
	u, err := ParseUUID("12345678-1234-5678-1234-567812345678")
	require.NoError(t, err)
	dec := func(s string) Decimal {
		d, err := ParseDecimal(s)
		require.NoError(t, err)
		return d
	}
	decEq := func(a, b any) bool { return a.(Decimal).String() == b.(Decimal).String() }
	od := OrderedDict[string, int]{}
	od.Set("b", 1)
	od.Set("a", 2)
	py3 := [2]int{3, 0}
	return []typedCase{
		// Classes of the registry.
		{name: "dataclass", since: [2]int{3, 7},
			python: "Order(7, 'ada', [Item('x-1', 2, decimal.Decimal('1.50')), Item('y', 1, decimal.Decimal('-0.001'))], datetime.datetime(2024, 3, 5, 6, 7, 8, 9), Point(1, 2), Color.GREEN, {'k': 'v'})",
			value: pyOrder{ID: 7, Customer: "ada", Items: []pyItem{{"x-1", 2, dec("1.50")}, {"y", 1, dec("-0.001")}},
				Created: time.Date(2024, 3, 5, 6, 7, 8, 9000, Naive), ShipTo: &pyPoint{1, 2}, Color: 2, Notes: map[string]string{"k": "v"}},
			eq: func(a, b any) bool {
				x, y := a.(pyOrder), b.(pyOrder)
				if len(x.Items) != len(y.Items) {
					return false
				}
				for i := range x.Items {
					p, q := x.Items[i], y.Items[i]
					if p.SKU != q.SKU || p.Qty != q.Qty || p.Price.String() != q.Price.String() {
						return false
					}
				}
				return reflect.DeepEqual(x.ShipTo, y.ShipTo) && x.ID == y.ID && x.Customer == y.Customer &&
					sameTime(x.Created, y.Created) && x.Color == y.Color && reflect.DeepEqual(x.Notes, y.Notes)
			}},
		{name: "dataclass_frozen", since: [2]int{3, 7}, python: "Frozen(1, 'b')", value: pyFrozen{1, "b"}},
		{name: "dataclass_slots", since: [2]int{3, 10}, minProto: 2, python: "SlotsDC(3, 'c')", value: pySlotsDC{3, "c"}},
		{name: "class_plain", python: "Plain(1, [u'x', 2])", value: pyPlain{1, []any{"x", int64(2)}}},
		{name: "class_slots", minProto: 2, python: "Slotted(4, 5)", value: pySlotted{4, 5}},
		{name: "namedtuple", python: "Point(-1, 2)", value: pyPoint{-1, 2}},
		{name: "namedtuple_typing", since: [2]int{3, 6}, python: "Vec(0.5, -2.0)", value: pyVec{0.5, -2}},
		{name: "namedtuple_pointer", python: "[Point(1, 1), None]", value: []*pyPoint{{1, 1}, nil}},
		{name: "enum_int", since: py3, python: "[Color.RED, Color.GREEN]", value: []pyColor{1, 2}},
		{name: "enum_str", since: py3, python: "{u'm': Mood.SAD}", value: map[string]pyMood{"m": "sad"}},
		// The datetime module.
		{name: "datetime_naive", python: "datetime.datetime(2024, 3, 5, 6, 7, 8, 123456)",
			value: time.Date(2024, 3, 5, 6, 7, 8, 123456000, Naive), eq: sameTime},
		{name: "datetime_utc", since: py3, python: "datetime.datetime(2024, 3, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)",
			value: time.Date(2024, 3, 5, 6, 7, 8, 9000, time.UTC), eq: sameTime},
		{name: "datetime_offset_named", since: py3,
			python: "datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=-5), 'EST'))",
			value:  time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("EST", -5*3600)), eq: sameTime},
		{name: "datetime_offset", since: py3,
			python: "datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))",
			value:  time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 5*3600+1800)), eq: sameTime},
		{name: "datetime_zoneinfo", since: [2]int{3, 9},
			python: "datetime.datetime(2024, 7, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo('Europe/Paris'))",
			value:  time.Date(2024, 7, 1, 12, 0, 0, 0, paris), eq: sameTime},
		// Fold survives only protocols 4 and 5.
		{name: "datetime_zoneinfo_fold0", since: [2]int{3, 9}, minProto: 4,
			python: "datetime.datetime(2024, 10, 27, 2, 30, tzinfo=zoneinfo.ZoneInfo('Europe/Paris'))",
			value:  time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC).In(paris), eq: sameTime},
		{name: "datetime_zoneinfo_fold1", since: [2]int{3, 9}, minProto: 4,
			python: "datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo('Europe/Paris'))",
			value:  time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC).In(paris), eq: sameTime},
		{name: "date", python: "datetime.date(2024, 2, 29)", value: Date{2024, 2, 29}},
		{name: "time_of_day", python: "datetime.time(13, 14, 15, 16)", value: TimeOfDay{Hour: 13, Minute: 14, Second: 15, Microsecond: 16}},
		{name: "time_of_day_utc", since: py3, python: "datetime.time(1, 2, 3, tzinfo=datetime.timezone.utc)",
			value: TimeOfDay{Hour: 1, Minute: 2, Second: 3, Location: time.UTC}},
		{name: "timedelta", python: "[datetime.timedelta(days=-1, seconds=5, microseconds=7), datetime.timedelta(0), datetime.timedelta(days=100000)]",
			value: []time.Duration{-24*time.Hour + 5*time.Second + 7*time.Microsecond, 0, 100000 * 24 * time.Hour}},
		// Numbers.
		{name: "decimal", python: "decimal.Decimal('-1.50')", value: dec("-1.50"), eq: decEq},
		{name: "decimal_exp", python: "decimal.Decimal('1E+3')", value: dec("1E+3"), eq: decEq},
		{name: "decimal_small", python: "decimal.Decimal('0.000001234')", value: dec("0.000001234"), eq: decEq},
		{name: "decimal_nan", python: "decimal.Decimal('-sNaN12')", value: dec("-sNaN12"), eq: decEq},
		{name: "decimal_inf", python: "decimal.Decimal('-Infinity')", value: dec("-Infinity"), eq: decEq},
		{name: "decimal_bigfloat", python: "decimal.Decimal('2.5')", value: big.NewFloat(2.5),
			eq: func(a, b any) bool { return a.(*big.Float).Cmp(b.(*big.Float)) == 0 }},
		{name: "fraction", python: "fractions.Fraction(-3, 7)", value: big.NewRat(-3, 7),
			eq: func(a, b any) bool { return a.(*big.Rat).Cmp(b.(*big.Rat)) == 0 }},
		{name: "uuid", python: "uuid.UUID('12345678123456781234567812345678')", value: u},
		{name: "complex", python: "[1-2j, complex(0.5, 0)]", value: []complex128{complex(1, -2), 0.5}},
		{name: "bigint", python: "2**100", value: new(big.Int).Lsh(big.NewInt(1), 100)},
		// Collections.
		{name: "ordereddict", python: "collections.OrderedDict([(u'b', 1), (u'a', 2)])", value: od},
		{name: "deque_bounded", python: "collections.deque([1, 2, 3], maxlen=5)", value: Deque[int]{[]int{1, 2, 3}, 5}},
		{name: "deque", python: "collections.deque([u'x'])", value: Deque[string]{Items: []string{"x"}}},
		{name: "path", since: py3, python: "pathlib.PosixPath('/tmp/a b/c')", value: Path("/tmp/a b/c")},
		{name: "map_int_keys", python: "{1: u'a', -2: u'b'}", value: map[int]string{1: "a", -2: "b"}},
		{name: "map_tuple_keys", python: "{(1, 2): u'x', (3, 4): u'y'}", value: map[[2]int]string{{1, 2}: "x", {3, 4}: "y"}},
		{name: "set", python: "set([u'a', u'b'])", value: map[string]struct{}{"a": {}, "b": {}}},
		{name: "bytes", since: py3, python: "[b'\\x00\\xff', bytearray(b'ab')]", value: []any{[]byte{0, 0xff}, ByteArray("ab")}},
		{name: "struct_nested", python: "{u'name': u'n', u'points': [Point(1, 2)], u'when': datetime.date(2000, 1, 1)}",
			value: struct {
				Name   string    `pickle:"name"`
				Points []pyPoint `pickle:"points"`
				When   Date      `pickle:"when"`
			}{"n", []pyPoint{{1, 2}}, Date{2000, 1, 1}}},
	}
}

// typedCases is the corpus with each case's limits in its name, as
// "datetime_zoneinfo_fold1[py3.9+,proto4+]".
func typedCases(t testing.TB) []typedCase {
	cases := typedCorpus(t)
	for i := range cases {
		var limits []string
		if c := cases[i]; c.since != [2]int{} {
			limits = append(limits, fmt.Sprintf("py%d.%d+", c.since[0], c.since[1]))
		}
		if c := cases[i]; c.minProto > 0 {
			limits = append(limits, fmt.Sprintf("proto%d+", c.minProto))
		}
		if len(limits) > 0 {
			cases[i].name += "[" + strings.Join(limits, ",") + "]"
		}
	}
	return cases
}

// logSkipped says which cases an interpreter does not have.
func logSkipped(t *testing.T, p pymatrix.Interpreter, cases []typedCase) {
	var skipped []string
	for _, c := range cases {
		if !p.AtLeast(c.since[0], c.since[1]) {
			skipped = append(skipped, c.name)
		}
	}
	if len(skipped) > 0 {
		t.Logf("Python %s lacks: %s", p.Version, strings.Join(skipped, " "))
	}
}

func (c typedCase) runs(p pymatrix.Interpreter, proto int) bool {
	return p.AtLeast(c.since[0], c.since[1]) && proto >= c.minProto
}

func (c typedCase) equal(a, b any) bool {
	if c.eq != nil {
		return c.eq(a, b)
	}
	return reflect.DeepEqual(a, b)
}

// decodeAs decodes data into a new value of the case's type.
func (c typedCase) decodeAs(opts DecodeOptions, data []byte) (any, error) {
	target := reflect.New(reflect.TypeOf(c.value))
	if err := opts.Unmarshal(data, target.Interface()); err != nil {
		return nil, err
	}
	return target.Elem().Interface(), nil
}

func typedOptions(p pymatrix.Interpreter, reg *Registry, proto int) (DecodeOptions, EncodeOptions) {
	d := DecodeOptions{Registry: reg}
	if p.Major == 2 {
		d.Py2Str = Py2StrByteString
	}
	return d, EncodeOptions{Registry: reg, Protocol: protoOption(proto)}
}

func TestTypedPythonToGo(t *testing.T) {
	corpus := typedCases(t)
	reg := typedRegistry(t)
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		t.Parallel()
		logSkipped(t, p, corpus)
		h := startTypedHelper(t, p, "py2go")
		byName := map[string]typedCase{}
		sent := 0
		for _, c := range corpus {
			byName[c.name] = c
			for _, proto := range protocolsOf(p) {
				if c.runs(p, proto) {
					require.NoError(t, writeRecord(h.stdin, record{name: c.name, proto: strconv.Itoa(proto), extra: c.python}))
					sent++
				}
			}
		}
		require.NoError(t, writeRecord(h.stdin, record{}))
		recs := h.records(t)
		require.Len(t, recs, sent)
		for _, r := range recs {
			c := byName[r.name]
			proto, _ := strconv.Atoi(r.proto)
			dopts, eopts := typedOptions(p, reg, proto)
			back := []byte{}
			got, err := c.decodeAs(dopts, r.data)
			switch {
			case len(r.data) == 0:
				// Python could not pickle it; its report says why.
			case err != nil:
				t.Errorf("%s protocol %d: %v", r.name, proto, err)
			case !c.equal(c.value, got):
				t.Errorf("%s protocol %d: got %#v, want %#v", r.name, proto, got, c.value)
			default:
				back, err = eopts.Marshal(got)
				if err != nil {
					t.Errorf("%s protocol %d: encoding back: %v", r.name, proto, err)
				}
			}
			require.NoError(t, writeRecord(h.stdin, record{name: r.name, proto: r.proto, data: back}))
		}
		t.Logf("%d pickles from Python %s decoded, compared and sent back", sent, p.Version)
		h.report(t, sent)
	})
}

func TestTypedGoToPython(t *testing.T) {
	corpus := typedCases(t)
	reg := typedRegistry(t)
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		t.Parallel()
		logSkipped(t, p, corpus)
		h := startTypedHelper(t, p, "go2py")
		byName := map[string]typedCase{}
		sent := 0
		for _, c := range corpus {
			byName[c.name] = c
			for _, proto := range protocolsOf(p) {
				if !c.runs(p, proto) {
					continue
				}
				_, eopts := typedOptions(p, reg, proto)
				data, err := eopts.Marshal(c.value)
				require.NoError(t, err, "%s protocol %d", c.name, proto)
				require.NoError(t, writeRecord(h.stdin, record{name: c.name, proto: strconv.Itoa(proto), data: data, extra: c.python}))
				sent++
			}
		}
		require.NoError(t, writeRecord(h.stdin, record{}))
		recs := h.records(t)
		require.Len(t, recs, sent)
		for _, r := range recs {
			if len(r.data) == 0 {
				continue // Python's report says why
			}
			c := byName[r.name]
			proto, _ := strconv.Atoi(r.proto)
			dopts, _ := typedOptions(p, reg, proto)
			got, err := c.decodeAs(dopts, r.data)
			if assert.NoError(t, err, "%s protocol %d", r.name, proto) {
				assert.True(t, c.equal(c.value, got), "%s protocol %d: got %#v, want %#v", r.name, proto, got, c.value)
			}
		}
		t.Logf("%d pickles from Go loaded by Python %s and decoded back", sent, p.Version)
		h.typedReport(t, sent)
	})
}

// startTypedHelper runs testdata/typed_helper.py in mode.
func startTypedHelper(t *testing.T, p pymatrix.Interpreter, mode string) *helper {
	t.Helper()
	return startScript(t, p, "testdata/typed_helper.py", mode)
}

// typedReport closes the helper's input and checks the report that
// follows its records.
func (h *helper) typedReport(t *testing.T, sent int) {
	t.Helper()
	require.NoError(t, h.stdin.Close())
	rest, err := io.ReadAll(h.stdout)
	require.NoError(t, err)
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.stderr.String())
	ok := 0
	for _, line := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
		switch {
		case strings.HasPrefix(line, "OK "):
			ok++
		case line != "":
			t.Error(line)
		}
	}
	assert.Equal(t, sent, ok, "records checked by Python")
}
