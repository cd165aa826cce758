package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// payloads hands out test payloads, each in memory of its own, and
// remembers where they are, so that a segment can be told to share one.
type payloads struct{ mem [][]byte }

func (p *payloads) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + n)
	}
	p.mem = append(p.mem, b)
	return b
}

func (p *payloads) str(n int) string {
	b := p.bytes(n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return unsafe.String(unsafe.SliceData(b), n)
}

// text is a str of n bytes of UTF-8 with two-byte letters in it.
func (p *payloads) text(n int) string {
	b := p.bytes(n)
	for i := 0; i+1 < n; i += 2 {
		b[i], b[i+1] = 0xc3, 0xa9 // é
	}
	if n%2 == 1 {
		b[n-1] = 'x'
	}
	return unsafe.String(unsafe.SliceData(b), n)
}

// shares reports whether seg lies inside one of the payloads.
func (p *payloads) shares(seg []byte) bool {
	if len(seg) == 0 {
		return false
	}
	s := uintptr(unsafe.Pointer(unsafe.SliceData(seg)))
	for _, m := range p.mem {
		if len(m) == 0 {
			continue
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
		if s >= lo && s+uintptr(len(seg)) <= lo+uintptr(len(m)) {
			return true
		}
	}
	return false
}

type buffersCase struct {
	name string
	// make builds the value; shared(proto) is how many segments must
	// share a payload's memory at that protocol (0 to 5).
	make   func(p *payloads) any
	shared func(proto int) int
}

func from(min, n int) func(int) int {
	return func(proto int) int {
		if proto >= min {
			return n
		}
		return 0
	}
}

const lp = LargePayload

func buffersCases() []buffersCase {
	cases := []buffersCase{
		{"small", func(p *payloads) any { return []any{"a", int64(1), 2.5, []byte("b")} }, from(9, 0)},
		{"bytes/threshold-1", func(p *payloads) any { return p.bytes(lp - 1) }, from(9, 0)},
		{"bytes/threshold", func(p *payloads) any { return p.bytes(lp) }, from(3, 1)},
		{"bytes/threshold+1", func(p *payloads) any { return p.bytes(lp + 1) }, from(3, 1)},
		{"bytes/1MiB", func(p *payloads) any { return p.bytes(1 << 20) }, from(3, 1)},
		{"str/threshold-1", func(p *payloads) any { return p.str(lp - 1) }, from(9, 0)},
		{"str/threshold", func(p *payloads) any { return p.str(lp) }, from(1, 1)},
		{"str/1MiB", func(p *payloads) any { return p.str(1 << 20) }, from(1, 1)},
		{"str/non-ASCII", func(p *payloads) any { return p.text(lp + 3) }, from(1, 1)},
		{"bytearray/threshold-1", func(p *payloads) any { return ByteArray(p.bytes(lp - 1)) }, from(9, 0)},
		{"bytearray/threshold", func(p *payloads) any { return ByteArray(p.bytes(lp)) }, from(5, 1)},
		{"py2str/threshold", func(p *payloads) any { return ByteString(p.str(lp)) }, from(1, 1)},
		{"py2str/threshold-1", func(p *payloads) any { return ByteString(p.str(lp - 1)) }, from(9, 0)},
		{"picklebuffer/readonly", func(p *payloads) any { return PickleBuffer{Data: p.bytes(lp), ReadOnly: true} }, from(5, 1)},
		{"picklebuffer/writable", func(p *payloads) any { return PickleBuffer{Data: p.bytes(lp + 5)} }, from(5, 1)},
		{"picklebuffer/small", func(p *payloads) any { return PickleBuffer{Data: p.bytes(lp - 1)} }, from(9, 0)},
		{"picklebuffer/twice", func(p *payloads) any {
			b := PickleBuffer{Data: p.bytes(lp), ReadOnly: true}
			return []any{b, b, p.bytes(10)} // never memoized: two segments
		}, from(5, 2)},
		{"nested", func(p *payloads) any {
			return []any{
				"x", p.bytes(lp),
				map[string]any{"k": p.str(lp + 100), "small": p.bytes(100)},
				Tuple{ByteArray(p.bytes(2 * lp)), int64(7), []any{p.str(3 * lp)}},
			}
		}, func(proto int) int { return from(1, 2)(proto) + from(3, 1)(proto) + from(5, 1)(proto) }},
		{"struct", func(p *payloads) any {
			type S struct {
				A []byte
				B string
				C []string
			}
			return &S{A: p.bytes(lp), B: p.str(lp), C: []string{p.str(lp + 1), "c"}}
		}, func(proto int) int { return from(1, 2)(proto) + from(3, 1)(proto) }},
		{"shared/bytes", func(p *payloads) any {
			b := p.bytes(lp)
			return []any{b, b, []any{b}}
		}, from(3, 1)},
		{"shared/str", func(p *payloads) any {
			s := p.str(lp)
			return map[string]any{"a": s, "b": s}
		}, from(1, 1)},
		{"shared/bytearray", func(p *payloads) any {
			b := ByteArray(p.bytes(lp))
			return Tuple{b, b}
		}, from(5, 1)},
		{"overlapping", func(p *payloads) any {
			b := p.bytes(lp + 1)
			return []any{b[:lp], b, b[1:]} // three bytes objects
		}, from(3, 3)},
		{"adjacent", func(p *payloads) any {
			return []any{p.bytes(lp), p.str(lp), p.bytes(lp)}
		}, func(proto int) int { return from(1, 1)(proto) + from(3, 2)(proto) }},
		{"many", func(p *payloads) any {
			l := make([]any, 1500) // more than a batch of 1000
			for i := range l {
				if i%3 == 0 {
					l[i] = p.bytes(lp + i)
				} else {
					l[i] = int64(i)
				}
			}
			return l
		}, from(3, 500)},
	}
	// FRAME boundaries: small items filling the current frame to just
	// under, at and over 64 KiB before a large payload, and after one.
	for _, pad := range []int{lp - 40, lp - 12, lp - 11, lp - 10, lp - 9, lp - 2, lp - 1} {
		cases = append(cases,
			buffersCase{fmt.Sprintf("frame/pad%d-then-large", pad), func(p *payloads) any {
				return []any{strings.Repeat("p", pad), p.bytes(lp)}
			}, from(3, 1)},
			buffersCase{fmt.Sprintf("frame/large-then-pad%d", pad), func(p *payloads) any {
				return []any{p.bytes(lp), strings.Repeat("p", pad), p.str(lp)}
			}, func(proto int) int { return from(1, 1)(proto) + from(3, 1)(proto) }},
			buffersCase{fmt.Sprintf("frame/small-items-%d", pad), func(p *payloads) any {
				l := []any{}
				for n := 0; n < pad; n += 10 {
					l = append(l, int64(n))
				}
				return append(l, p.str(lp))
			}, from(1, 1)},
		)
	}
	return cases
}

var allProtocols = []int{Protocol0, 1, 2, 3, 4, 5}

func protoNumber(p int) int {
	if p == Protocol0 {
		return 0
	}
	return p
}

func concat(bufs net.Buffers) []byte {
	var b []byte
	for _, s := range bufs {
		b = append(b, s...)
	}
	return b
}

func TestAppendMarshalBuffersMatchesAppendMarshal(t *testing.T) {
	for _, tc := range buffersCases() {
		for _, proto := range allProtocols {
			pn := protoNumber(proto)
			t.Run(fmt.Sprintf("%s/proto%d", tc.name, pn), func(t *testing.T) {
				var p payloads
				v := tc.make(&p)
				opts := EncodeOptions{Protocol: proto}
				want, err := opts.AppendMarshal([]byte("prefix"), v)
				require.NoError(t, err)

				prev := net.Buffers{[]byte("kept")}
				bufs, err := opts.AppendMarshalBuffers(prev, []byte("prefix"), v)
				require.NoError(t, err)
				require.Equal(t, []byte("kept"), bufs[0], "existing elements are kept")
				segs := bufs[1:]
				require.True(t, bytes.HasPrefix(segs[0], []byte("prefix")))
				require.True(t, bytes.Equal(want, concat(segs)), "the segments are AppendMarshal's bytes")

				shared := 0
				for i, s := range segs {
					if p.shares(s) {
						shared++
						assert.GreaterOrEqual(t, len(s), LargePayload, "segment %d shares a small payload", i)
					}
				}
				assert.Equal(t, tc.shared(pn), shared, "segments sharing the caller's memory")
				assert.False(t, p.shares(segs[0]), "the first segment is the encoder's")
				assert.False(t, p.shares(segs[len(segs)-1]), "the last segment is the encoder's")
			})
		}
	}
}

// A payload's segment must see the caller's memory: no copy was made.
func TestAppendMarshalBuffersShares(t *testing.T) {
	b := make([]byte, 1<<20)
	bufs, err := EncodeOptions{}.AppendMarshalBuffers(nil, nil, []any{b, "small"})
	require.NoError(t, err)
	require.Len(t, bufs, 3)
	b[0], b[len(b)-1] = 1, 2
	assert.Equal(t, byte(1), bufs[1][0])
	assert.Equal(t, byte(2), bufs[1][len(b)-1])
	// Owned segments are capped: appending to one cannot write over the
	// payload.
	assert.Equal(t, len(bufs[0]), cap(bufs[0]))
}

func TestAppendMarshalBuffersError(t *testing.T) {
	var p payloads
	bufs := make(net.Buffers, 1, 16)
	bufs[0] = []byte("kept")
	for _, proto := range allProtocols {
		v := []any{p.bytes(lp), p.str(2 * lp), map[string]any{"bad": make(chan int)}}
		got, err := EncodeOptions{Protocol: proto}.AppendMarshalBuffers(bufs, nil, v)
		var ee *EncodeError
		require.ErrorAs(t, err, &ee)
		assert.Len(t, got, 1)
		for _, s := range bufs[1:cap(bufs)] {
			assert.Nil(t, s, "nothing is written past len(bufs)")
		}
	}
	_, err := EncodeOptions{Protocol: 6}.AppendMarshalBuffers(nil, nil, 1)
	assert.Error(t, err)
}

// Reusing bufs and dst gives the same bytes, and a pooled encoder does not
// keep the caller's payloads.
func TestAppendMarshalBuffersReuse(t *testing.T) {
	var p payloads
	var bufs net.Buffers
	var dst []byte
	for i := range 5 {
		v := []any{p.bytes(lp + i), int64(i), p.str(lp)}
		want, err := Marshal(v)
		require.NoError(t, err)
		bufs, err = EncodeOptions{}.AppendMarshalBuffers(bufs[:0], dst[:0], v)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, concat(bufs)))
		dst = bufs[0][:0]
	}
	e := getEncoder(&EncodeOptions{}, 4, nil)
	defer putEncoder(e)
	for _, s := range e.segs[:cap(e.segs)] {
		assert.Empty(t, s.data, "a pooled encoder holds no payload")
	}
}

// countingWriter records each Write.
type countingWriter struct {
	bytes.Buffer
	writes int
	fail   bool
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.fail {
		return 0, errors.New("write failed")
	}
	return w.Buffer.Write(p)
}

func TestEncoderWritesSegments(t *testing.T) {
	var p payloads
	vals := []any{
		"small",
		[]any{p.bytes(lp), "x", p.str(3 * lp)},
		map[string]any{"k": p.bytes(lp - 1)},
		p.bytes(2 << 20),
	}
	for _, proto := range allProtocols {
		var w countingWriter
		enc := EncodeOptions{Protocol: proto}.NewEncoder(&w)
		var want []byte
		for _, v := range vals {
			require.NoError(t, enc.Encode(v))
			b, err := EncodeOptions{Protocol: proto}.Marshal(v)
			require.NoError(t, err)
			want = append(want, b...)
		}
		require.True(t, bytes.Equal(want, w.Bytes()), "the stream is Marshal's pickles")
		for _, s := range enc.vec[:cap(enc.vec)] {
			assert.False(t, p.shares(s), "the Encoder keeps no payload")
		}
		// And the stream reads back.
		dec := NewDecoder(bytes.NewReader(w.Bytes()))
		for range vals {
			var v any
			require.NoError(t, dec.Decode(&v))
		}
		var v any
		assert.ErrorIs(t, dec.Decode(&v), io.EOF)

		w.fail = true
		assert.Error(t, enc.Encode(vals[1]))
		w.fail, w.writes = false, 0
		assert.Error(t, enc.Encode(make(chan int)))
		assert.Zero(t, w.writes, "a failed encoding writes nothing")
	}
}

// The Encoder hands a socket one writev: the peer sees every byte.
func TestEncoderOverSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var p payloads
	v := []any{p.bytes(1 << 20), "mid", p.str(lp)}
	want, err := Marshal(v)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- NewEncoder(a).Encode(v)
	}()
	got := make([]byte, len(want))
	_, err = io.ReadFull(b, got)
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.True(t, bytes.Equal(want, got))
}
