package pickle

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The compiled encoders write exactly what the reflection-based encoder
// writes (which a PersistentID hook that keeps every value selects).

type epInner struct {
	N    int    `pickle:"n"`
	Note string `pickle:"note,omitempty"`
}

type epEmbedded struct {
	Deep float32
}

type epOuter struct {
	*epEmbedded
	epInner
	Name    string
	Ints    []int
	Floats  []float64
	Strs    []string
	Nested  [][]int
	Ptr     *epInner
	Ptr2    *epInner
	Self    *epOuter
	Arr     [3]int8
	Bytes   []byte
	Any     any
	Map     map[string]int
	Time    time.Time
	Big     *big.Int
	Bool    bool `pickle:"b,omitempty"`
	Uint    uint16
	Color   pyColor
	Colors  []pyColor
	Skipped int `pickle:"-"`
}

func epCorpus() []any {
	shared := &epInner{N: 1, Note: "shared"}
	o := &epOuter{
		epEmbedded: &epEmbedded{Deep: 1.5}, epInner: epInner{N: 2}, Name: "outer",
		Ints: []int{1, -2, 300, 70000, 1 << 40}, Floats: []float64{0.5, -1}, Strs: []string{"a", "a", ""},
		Nested: [][]int{{1}, {}, nil}, Ptr: shared, Ptr2: shared, Arr: [3]int8{-1, 0, 1}, Bytes: []byte("xy"),
		Any: []any{int64(1), "s", epInner{N: 3}}, Map: map[string]int{"b": 2, "a": 1},
		Time: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC), Big: big.NewInt(-5), Uint: 65535,
		Color: 2, Colors: []pyColor{1, 2},
	}
	o.Self = o
	manyInts := make([]int, 2500)
	for i := range manyInts {
		manyInts[i] = i * 7
	}
	long := make([]epInner, 1001)
	for i := range long {
		long[i] = epInner{N: i, Note: strings.Repeat("x", i%300)}
	}
	recs := buildRecordStructs()[:3000]
	return []any{
		epInner{N: 5},
		&epInner{},
		o,
		[]epOuter{{Name: "no embedded pointer"}, {epEmbedded: &epEmbedded{}}},
		manyInts,
		long,
		recs,
		[]*epInner{shared, nil, shared},
		map[string]epInner{"k": {N: 1}},
		[][]string{{"a"}, {"a", "b"}},
	}
}

func TestCompiledEncodersMatchReflection(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("__main__", "Color", pyColor(0), EnumForm))
	keepAll := func(any) (any, error) { return nil, nil }
	for i, v := range epCorpus() {
		for p := 0; p <= HighestProtocol; p++ {
			for _, r := range []*Registry{NewRegistry(), reg} {
				opts := EncodeOptions{Protocol: protoOption(p), Registry: r}
				got, err := opts.Marshal(v)
				require.NoError(t, err, "value %d protocol %d", i, p)
				opts.PersistentID = keepAll
				want, err := opts.Marshal(v)
				require.NoError(t, err)
				if !bytes.Equal(got, want) {
					t.Errorf("value %d (%T) protocol %d: compiled and reflection encoders differ\n got: %q\nwant: %q", i, v, p, clip(got), clip(want))
				}
			}
		}
	}
}

func TestCompiledEncoderErrors(t *testing.T) {
	type Bad struct {
		Items []struct {
			F func()
		}
	}
	_, err := Marshal(Bad{Items: make([]struct{ F func() }, 2)})
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ".Items[0].F", ee.Path)
	_, err = Marshal([]string{"ok", "\xff"})
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "[1]", ee.Path)
	assert.ErrorIs(t, err, ErrInvalidUTF8)

}
