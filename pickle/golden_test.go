package pickle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenCases pairs Go values with the names of CPython's pickles of the
// same Python value in testdata/golden.json (see gen_golden.py). Each row
// is checked for exact bytes at every protocol, decoding, every truncated
// prefix and a failing writer.
var goldenCases = []struct {
	name  string
	value any
}{
	{"none", nil},
	{"true", true},
	{"false", false},
	{"int_0", 0},
	{"int_1", int64(1)},
	{"int_255", uint8(255)},
	{"int_256", int16(256)},
	{"int_65535", uint16(65535)},
	{"int_65536", int32(65536)},
	{"int_m1", -1},
	{"int_max32", int64(math.MaxInt32)},
	{"int_min32", int64(math.MinInt32)},
	{"int_max32p1", int64(math.MaxInt32 + 1)},
	{"int_min32m1", int64(math.MinInt32 - 1)},
	{"int_max64", int64(math.MaxInt64)},
	{"int_min64", int64(math.MinInt64)},
	{"int_max64p1", uint64(math.MaxInt64 + 1)},
	{"int_2e64", new(big.Int).Lsh(big.NewInt(1), 64)},
	{"int_2e100", new(big.Int).Lsh(big.NewInt(1), 100)},
	{"int_m2e100", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 100))},
	{"int_2e2100", new(big.Int).Lsh(big.NewInt(1), 2100)},
	{"float_0", 0.0},
	{"float_m0", math.Copysign(0, -1)},
	{"float_1_5", 1.5},
	{"float_0_1", 0.1},
	{"float_1e16", 1e16},
	{"float_1e15", 1e15},
	{"float_1em5", 1e-5},
	{"float_1e300", 1e300},
	{"float_inf", math.Inf(1)},
	{"float_minf", math.Inf(-1)},
	{"float_nan", math.Float64frombits(0x7ff8000000000000)}, // Python's NaN
	{"complex", complex(1, 2)},
	{"str_empty", ""},
	{"str_abc", "abc"},
	{"str_escapes", "a\\b\nc\r\x00\x1a€😀\xed\xb2\x80"},
	{"str_300", strings.Repeat("x", 300)},
	{"str_70000", strings.Repeat("s", 70000)},
	{"bytes_empty", []byte{}},
	{"bytes_abc", []byte("abc\xff")},
	{"bytes_300", bytes.Repeat([]byte("y"), 300)},
	{"bytes_70000", bytes.Repeat([]byte("b"), 70000)},
	{"bytearray_ab", ByteArray("ab")},
	{"bytearray_empty", ByteArray{}},
	{"tuple_0", Tuple{}},
	{"tuple_1", Tuple{1}},
	{"tuple_2", Tuple{1, 2}},
	{"tuple_3", Tuple{1, 2, 3}},
	{"tuple_4", Tuple{1, 2, 3, 4}},
	{"tuple_str_shared", Tuple{"x", "x"}},
	{"list_0", []any{}},
	{"list_1", []any{1}},
	{"list_2", []int{1, 2}},
	{"list_nested", []any{[]any{1}, []any{2, []any{3}}}},
	{"list_1001", intList(1001)},
	{"list_20000", pairList(20000)},
	{"dict_0", NewDict()},
	{"dict_1", mustDict("a", 1)},
	{"dict_2", map[string]int{"b": 2, "a": 1}},
	{"dict_1000", noneDict(1000)},
	{"set_0", mustSet()},
	{"set_2", mustSet(1, 2)},
	{"set_1000", mustSet(intList(1000)...)},
	{"frozenset_0", mustFrozenSet()},
	{"frozenset_1", mustFrozenSet(1)},
	{"shared_list", sharedList()},
	{"cyclic_list", cyclicList()},
	{"cyclic_dict", cyclicDict()},
	{"cyclic_tuple", cyclicTuple()},
	{"global", Global{"collections", "OrderedDict"}},
	{"global_nested", Global{"__main__", "Outer.Inner"}},
	{"obj_decimal", &Object{Callable: Global{"decimal", "Decimal"}, Args: Tuple{"1.5"}}},
	{"obj_date", &Object{Callable: Global{"datetime", "date"}, Args: Tuple{[]byte{0x07, 0xe4, 1, 2}}}},
	{"obj_plain", &Object{Callable: Global{"__main__", "Plain"}, New: true, Args: Tuple{},
		State: mustDict("a", 1, "b", []any{2})}},
	{"obj_plain_empty", &Object{Callable: Global{"__main__", "Plain"}, New: true, Args: Tuple{}}},
}

func intList(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

func pairList(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = []any{int64(i), strconv.Itoa(i)}
	}
	return l
}

func mustDict(kv ...any) *Dict {
	d := NewDict()
	for i := 0; i < len(kv); i += 2 {
		if err := d.Set(kv[i], kv[i+1]); err != nil {
			panic(err)
		}
	}
	return d
}

func noneDict(n int) *Dict {
	d := NewDict()
	for i := 0; i < n; i++ {
		_ = d.Set(int64(i), nil)
	}
	return d
}

func mustSet(items ...any) *Set {
	s, err := NewSet(items...)
	if err != nil {
		panic(err)
	}
	return s
}

func mustFrozenSet(items ...any) *FrozenSet {
	s, err := NewFrozenSet(items...)
	if err != nil {
		panic(err)
	}
	return s
}

func sharedList() []any {
	a := []any{1}
	return []any{a, a}
}

func cyclicList() []any {
	l := make([]any, 1)
	l[0] = l
	return l
}

func cyclicDict() *Dict {
	d := NewDict()
	_ = d.Set("me", d)
	return d
}

func cyclicTuple() Tuple {
	l := make([]any, 1)
	t := Tuple{l}
	l[0] = t
	return t
}

// protoOption is the EncodeOptions.Protocol value for protocol p.
func protoOption(p int) int {
	if p == 0 {
		return Protocol0
	}
	return p
}

type goldenFile struct {
	Python string                       `json:"python"`
	Cases  map[string]map[string]string `json:"cases"`
}

func loadGolden(t testing.TB) goldenFile {
	t.Helper()
	data, err := os.ReadFile("testdata/golden.json")
	require.NoError(t, err)
	var g goldenFile
	require.NoError(t, json.Unmarshal(data, &g))
	return g
}

// matchGolden compares a pickle with a golden entry: hex bytes, or
// "sha256:digest:length" for large pickles.
func matchGolden(want string, got []byte) bool {
	if rest, ok := strings.CutPrefix(want, "sha256:"); ok {
		sum := sha256.Sum256(got)
		return rest == fmt.Sprintf("%x:%d", sum, len(got))
	}
	return want == hex.EncodeToString(got)
}

type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestGolden(t *testing.T) {
	g := loadGolden(t)
	require.Len(t, g.Cases, len(goldenCases), "golden.json and the table must name the same cases")
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := g.Cases[c.name]
			require.True(t, ok, "no golden pickle for %s", c.name)
			for p := 0; p <= HighestProtocol; p++ {
				opts := EncodeOptions{Protocol: protoOption(p)}
				got, err := opts.Marshal(c.value)
				require.NoError(t, err, "protocol %d", p)
				assert.True(t, matchGolden(want[strconv.Itoa(p)], got),
					"protocol %d: encoding differs from CPython's\n got: %x\nwant: %s", p, got, want[strconv.Itoa(p)])

				data := got
				if !strings.HasPrefix(want[strconv.Itoa(p)], "sha256:") {
					data, err = hex.DecodeString(want[strconv.Itoa(p)])
					require.NoError(t, err)
				}
				var v any
				require.NoError(t, Unmarshal(data, &v), "protocol %d", p)
				assert.True(t, Equal(c.value, v), "protocol %d: decoded %s, want %s", p, describe(v), describe(c.value))
				// Equal does not see sharing; CPython's bytes, decoded and
				// encoded again, come back the same only if it was kept.
				again, err := opts.Marshal(v)
				require.NoError(t, err, "protocol %d", p)
				assert.True(t, matchGolden(want[strconv.Itoa(p)], again), "protocol %d: CPython's pickle decoded and encoded again differs\n got: %x", p, again)
				proto, err := Protocol(data)
				require.NoError(t, err)
				if p >= 2 {
					assert.Equal(t, p, proto)
				} else {
					assert.LessOrEqual(t, proto, p)
				}

				// Round trip through our own bytes too.
				var v2 any
				require.NoError(t, Unmarshal(got, &v2))
				assert.True(t, Equal(c.value, v2))

				if len(data) < 4096 {
					for i := 0; i < len(data); i++ {
						var x any
						err := Unmarshal(data[:i], &x)
						if !assert.Error(t, err, "protocol %d: prefix of %d bytes decoded", p, i) {
							continue
						}
						assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "protocol %d: prefix of %d bytes", p, i)
						var de *DecodeError
						assert.True(t, errors.As(err, &de))
					}
				}

				werr := errors.New("disk full")
				err = opts.NewEncoder(failingWriter{werr}).Encode(c.value)
				assert.ErrorIs(t, err, werr)
			}
		})
	}
}

// TestGoldenFresh regenerates golden.json with the interpreter it was made
// with and checks that the checked-in file is current.
func TestGoldenFresh(t *testing.T) {
	g := loadGolden(t)
	// Any patch release of the generating major.minor will do. Find fails
	// the test when that version is required (PIPEBRIDGE_REQUIRE_PYTHONS)
	// and missing, so the skip below is reachable only outside CI.
	var py *pymatrix.Interpreter
	all := pymatrix.Find(t)
	for i := range all {
		if strings.HasPrefix(g.Python+".", all[i].Short()+".") {
			py = &all[i]
		}
	}
	if py == nil {
		t.Skipf("Python %s, which made golden.json, is not installed", g.Python)
	}
	out, err := py.Command("testdata/gen_golden.py").Output()
	require.NoError(t, err)
	var fresh goldenFile
	require.NoError(t, json.Unmarshal(out, &fresh))
	assert.Equal(t, g.Cases, fresh.Cases, "testdata/golden.json is stale: rerun gen_golden.py")
}
