package pickle

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// numpy arrays of every dtype, shape, memory order and byte order, both
// ways, at every protocol, in band and out of band, with the Python that
// has numpy (Debian's python3-numpy for /usr/bin/python3; .ci/run installs
// it).

func numpyPython(t *testing.T) pymatrix.Interpreter {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	all, _ := pymatrix.All()
	for _, p := range all {
		candidates = append(candidates, p.Path)
	}
	for _, path := range candidates {
		out, err := exec.Command(path, "-c", "import sys, numpy; print('%d %d' % sys.version_info[:2], numpy.__version__)").Output()
		if err != nil {
			continue
		}
		f := strings.Fields(string(out))
		major, _ := strconv.Atoi(f[0])
		minor, _ := strconv.Atoi(f[1])
		if major < 3 {
			continue
		}
		t.Logf("numpy %s with Python %s.%s (%s)", f[2], f[0], f[1], path)
		return pymatrix.Interpreter{Path: path, Version: f[0] + "." + f[1], Major: major, Minor: minor}
	}
	if os.Getenv("PIPEBRIDGE_REQUIRE_NUMPY") != "" {
		t.Fatal("PIPEBRIDGE_REQUIRE_NUMPY is set but no Python imports numpy")
	}
	t.Skip("no Python with numpy: install Debian's python3-numpy (apt-get install python3-numpy), as .ci/run does")
	return pymatrix.Interpreter{}
}

func startNumpyHelper(t *testing.T, p pymatrix.Interpreter, mode string) *helper {
	t.Helper()
	return startScript(t, p, "testdata/typed_numpy.py", mode)
}

// cOrderItems returns a's items in C order, as float64, complex128 or
// bool.
func cOrderItems(t *testing.T, a *NDArray) []any {
	t.Helper()
	var flat []any
	add := func(n int, at func(int) any) {
		for i := 0; i < n; i++ {
			flat = append(flat, at(i))
		}
	}
	var err error
	switch a.DType[1:] {
	case "b1":
		var v []bool
		v, err = a.Bools()
		add(len(v), func(i int) any { return strconv.FormatBool(v[i]) })
	case "i1":
		var v []int8
		v, err = a.Int8s()
		add(len(v), func(i int) any { return strconv.FormatInt(int64(v[i]), 10) })
	case "u1":
		var v []uint8
		v, err = a.Uint8s()
		add(len(v), func(i int) any { return strconv.FormatUint(uint64(v[i]), 10) })
	case "i2":
		var v []int16
		v, err = a.Int16s()
		add(len(v), func(i int) any { return strconv.FormatInt(int64(v[i]), 10) })
	case "u2":
		var v []uint16
		v, err = a.Uint16s()
		add(len(v), func(i int) any { return strconv.FormatUint(uint64(v[i]), 10) })
	case "i4":
		var v []int32
		v, err = a.Int32s()
		add(len(v), func(i int) any { return strconv.FormatInt(int64(v[i]), 10) })
	case "u4":
		var v []uint32
		v, err = a.Uint32s()
		add(len(v), func(i int) any { return strconv.FormatUint(uint64(v[i]), 10) })
	case "i8":
		var v []int64
		v, err = a.Int64s()
		add(len(v), func(i int) any { return strconv.FormatInt(int64(v[i]), 10) })
	case "u8":
		var v []uint64
		v, err = a.Uint64s()
		add(len(v), func(i int) any { return strconv.FormatUint(uint64(v[i]), 10) })
	case "f4":
		var v []float32
		v, err = a.Float32s()
		add(len(v), func(i int) any { return strconv.FormatFloat(float64(v[i]), 'g', -1, 64) })
	case "f8":
		var v []float64
		v, err = a.Float64s()
		add(len(v), func(i int) any { return strconv.FormatFloat(v[i], 'g', -1, 64) })
	case "c8":
		var v []complex64
		v, err = a.Complex64s()
		add(len(v), func(i int) any { return fmt.Sprint(complex128(v[i])) })
	case "c16":
		var v []complex128
		v, err = a.Complex128s()
		add(len(v), func(i int) any { return fmt.Sprint(complex128(v[i])) })
	default:
		t.Fatalf("dtype %s", a.DType)
	}
	require.NoError(t, err)
	if !a.Fortran {
		return flat
	}
	// Item i in C order is at the Fortran offset of its multi-index.
	out := make([]any, len(flat))
	for i := range out {
		rest, off, stride := i, 0, 1
		idx := make([]int, len(a.Shape))
		for d := len(a.Shape) - 1; d >= 0; d-- {
			idx[d] = rest % a.Shape[d]
			rest /= a.Shape[d]
		}
		for d := range a.Shape {
			off += idx[d] * stride
			stride *= a.Shape[d]
		}
		out[i] = flat[off]
	}
	return out
}

// numpyItem formats an item of numpy's tolist() as cOrderItems formats
// Go's.
func numpyItem(v any) any {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case *big.Int:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case complex128:
		return fmt.Sprint(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return v
}

func TestNumpyToGoToNumpy(t *testing.T) {
	p := numpyPython(t)
	h := startNumpyHelper(t, p, "py2go")
	recs := h.records(t)
	require.NotEmpty(t, recs)
	sent, zeroCopy := 0, 0
	for i := 0; i < len(recs); {
		r := recs[i]
		i++
		var bufs [][]byte
		for i < len(recs) && recs[i].name == "buffer" {
			bufs = append(bufs, recs[i].data)
			i++
		}
		proto, _ := strconv.Atoi(r.proto)
		var a NDArray
		require.NoError(t, DecodeOptions{Buffers: bufs}.Unmarshal(r.data, &a), "%s protocol %d", r.name, proto)
		var want []any
		require.NoError(t, Unmarshal([]byte(r.extra), &want))
		assert.Equal(t, want[0], a.DType, r.name)
		shape := make([]int, len(want[1].([]any)))
		for k, d := range want[1].([]any) {
			shape[k] = int(d.(int64))
		}
		assert.Equal(t, shape, a.Shape, r.name)
		assert.Equal(t, want[2], a.Fortran, r.name)
		items := want[3].([]any)
		got := cOrderItems(t, &a)
		require.Len(t, got, len(items), r.name)
		for k := range items {
			if w := numpyItem(items[k]); w != got[k] {
				t.Errorf("%s protocol %d item %d: %v, want %v", r.name, proto, k, got[k], w)
				break
			}
		}
		if len(bufs) > 0 && len(a.Data) > 0 {
			// Out-of-band data is the caller's buffer, not a copy.
			assert.Same(t, &bufs[0][0], &a.Data[0], "%s: zero copy", r.name)
			zeroCopy++
		}
		var outBufs [][]byte
		opts := EncodeOptions{Protocol: protoOption(proto)}
		if len(bufs) > 0 {
			opts.BufferCallback = func(b PickleBuffer) bool {
				outBufs = append(outBufs, b.Data)
				return false
			}
		}
		back, err := opts.Marshal(a)
		require.NoError(t, err)
		require.NoError(t, writeRecord(h.stdin, record{name: r.name, proto: r.proto, data: back}))
		for _, b := range outBufs {
			require.NoError(t, writeRecord(h.stdin, record{name: "buffer", proto: r.proto, data: b}))
		}
		sent++
	}
	t.Logf("%d arrays from numpy; %d with out-of-band buffers taken without a copy", sent, zeroCopy)
	assert.NotZero(t, zeroCopy, "arrays with out-of-band buffers")
	h.report(t, sent)
}

func TestGoToNumpyToGo(t *testing.T) {
	p := numpyPython(t)
	type arrayCase struct {
		name   string
		array  func() (NDArray, error)
		python string
	}
	f64 := []float64{-1.5, 0, 2.25, math.Inf(1), 1e300, -0.0}
	cases := []arrayCase{
		{"f8", func() (NDArray, error) { return NewNDArray(f64) }, "np.array([-1.5, 0, 2.25, np.inf, 1e300, -0.0])"},
		{"f8_2x3", func() (NDArray, error) { return NewNDArray(f64, 2, 3) }, "np.array([-1.5, 0, 2.25, np.inf, 1e300, -0.0]).reshape(2, 3)"},
		{"f8_fortran", func() (NDArray, error) {
			a, err := NewNDArray([]float64{1, 4, 2, 5, 3, 6}, 2, 3)
			a.Fortran = true
			return a, err
		}, "np.asfortranarray(np.array([[1., 2, 3], [4, 5, 6]]))"},
		{"i4_big_endian", func() (NDArray, error) {
			return NDArray{DType: ">i4", Shape: []int{2}, Data: []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}}, nil
		}, "np.array([1, -2], dtype='>i4')"},
		{"u8", func() (NDArray, error) { return NewNDArray([]uint64{0, math.MaxUint64}) }, "np.array([0, 2**64-1], dtype='u8')"},
		{"i1_scalar", func() (NDArray, error) { return NewNDArray([]int8{-7}, []int{}...) }, "np.array(-7, dtype='i1')"},
		{"bool", func() (NDArray, error) { return NewNDArray([]bool{true, false, true}) }, "np.array([True, False, True])"},
		{"c16", func() (NDArray, error) { return NewNDArray([]complex128{1 + 2i, -3i}) }, "np.array([1+2j, -3j])"},
		{"c8", func() (NDArray, error) { return NewNDArray([]complex64{0.5 - 1i}) }, "np.array([0.5-1j], dtype='c8')"},
		{"f4_empty", func() (NDArray, error) { return NewNDArray([]float32{}, 0, 4) }, "np.zeros((0, 4), dtype='f4')"},
		{"i2_3d", func() (NDArray, error) { return NewNDArray([]int16{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2) }, "np.arange(1, 9, dtype='i2').reshape(2, 2, 2)"},
	}
	h := startNumpyHelper(t, p, "go2py")
	byName := map[string]NDArray{}
	sent := 0
	for _, c := range cases {
		a, err := c.array()
		require.NoError(t, err, c.name)
		byName[c.name] = a
		for proto := 0; proto <= HighestProtocol; proto++ {
			data, err := EncodeOptions{Protocol: protoOption(proto)}.Marshal(a)
			require.NoError(t, err)
			require.NoError(t, writeRecord(h.stdin, record{name: c.name, proto: strconv.Itoa(proto), data: data, extra: c.python}))
			sent++
		}
	}
	require.NoError(t, writeRecord(h.stdin, record{}))
	recs := h.records(t)
	require.Len(t, recs, sent)
	for _, r := range recs {
		if len(r.data) == 0 {
			continue
		}
		var got NDArray
		require.NoError(t, Unmarshal(r.data, &got), "%s protocol %s", r.name, r.proto)
		want := byName[r.name]
		if r.proto == "5" {
			assert.Equal(t, want.DType, got.DType, r.name)
		} else {
			// numpy loads big-endian arrays in the machine's order
			// below protocol 5, and pickles them so.
			assert.Equal(t, want.DType[1:], got.DType[1:], r.name)
		}
		assert.Equal(t, want.Shape, got.Shape, r.name)
		assert.Equal(t, want.Fortran, got.Fortran, r.name)
		assert.Equal(t, fmt.Sprint(cOrderItems(t, &want)), fmt.Sprint(cOrderItems(t, &got)), r.name)
	}
	h.typedReport(t, sent)
}

func TestNDArrayValues(t *testing.T) {
	data := []float64{1, 2, 3}
	a, err := NewNDArray(data)
	require.NoError(t, err)
	assert.Equal(t, "<f8", a.DType)
	v, err := a.Float64s()
	require.NoError(t, err)
	assert.Same(t, &data[0], &v[0], "native order and aligned: a view")
	_, err = a.Int64s()
	assert.ErrorIs(t, err, ErrDType)

	// Big-endian items are swapped, into a copy.
	b := NDArray{DType: ">f8", Shape: []int{1}, Data: []byte{0x3f, 0xf8, 0, 0, 0, 0, 0, 0}}
	f, err := b.Float64s()
	require.NoError(t, err)
	assert.Equal(t, []float64{1.5}, f)

	// Misaligned data is copied.
	raw := make([]byte, 17)
	m := NDArray{DType: "<f8", Shape: []int{2}, Data: raw[1:]}
	f, err = m.Float64s()
	require.NoError(t, err)
	assert.NotEqual(t, unsafe.Pointer(&raw[1]), unsafe.Pointer(&f[0]))

	bad := NDArray{DType: "<f8", Shape: []int{3}, Data: raw}
	_, err = bad.Float64s()
	assert.Error(t, err)
	_, err = Marshal(NDArray{DType: "<U4", Shape: []int{1}, Data: []byte("abcd")})
	assert.ErrorIs(t, err, ErrDType)

	// Zero copy from an out-of-band buffer, through a typed struct field.
	type holder struct{ A NDArray }
	var bufs [][]byte
	pk, err := EncodeOptions{Protocol: 5, BufferCallback: func(b PickleBuffer) bool { bufs = append(bufs, b.Data); return false }}.Marshal(holder{a})
	require.NoError(t, err)
	require.Len(t, bufs, 1)
	var h holder
	require.NoError(t, DecodeOptions{Buffers: bufs}.Unmarshal(pk, &h))
	v, err = h.A.Float64s()
	require.NoError(t, err)
	assert.Same(t, &data[0], &v[0], "no copy from the Go slice to the decoded one")

	// numpy 2.x names its modules numpy._core.
	dt := dtypeObject("<i2")
	for _, obj := range []*Object{
		{Callable: gReconstruct2, Args: Tuple{gNDArray, Tuple{int64(0)}, []byte("b")},
			State: Tuple{int64(1), Tuple{int64(2)}, dt, false, []byte{1, 0, 2, 0}}},
		call(gFromBuffer2, ByteArray{1, 0, 2, 0}, dt, Tuple{int64(2)}, "C"),
	} {
		data, err := Marshal(obj)
		require.NoError(t, err)
		var n NDArray
		require.NoError(t, Unmarshal(data, &n))
		i, err := n.Int16s()
		require.NoError(t, err)
		assert.Equal(t, []int16{1, 2}, i)
	}
}
