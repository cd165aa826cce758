//go:build unix

package conn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pipebridge/pipebridge/pickle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyCodec hides PickleCodec's AppendMarshalBuffers: Send then copies
// the whole pickle into one buffer, as it does for any other Codec.
type copyCodec struct{ Codec }

// wireRecorder is a stream that keeps what is written to it.
type wireRecorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int64
	writes int
	keep   bool // keep the bytes, not just count them
}

func (w *wireRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	w.n += int64(len(p))
	if w.keep || w.buf.Len() < longHeaderLen+16 {
		w.buf.Write(p)
	}
	return len(p), nil
}
func (w *wireRecorder) Read([]byte) (int, error) { return 0, io.EOF }
func (w *wireRecorder) Close() error             { return nil }

// The segmented Send puts on the wire exactly what the copying one does.
func TestSendBuffersSameWire(t *testing.T) {
	big := segPattern(1 << 20)
	values := []any{
		nil, "small", []any{int64(1), "two"},
		big, segText(pickle.LargePayload), pickle.ByteArray(big[:pickle.LargePayload-1]),
		[]any{big, "x", big, map[string]any{"k": big[1:]}},
		pickle.PickleBuffer{Data: big[:70000]},
	}
	for _, proto := range []int{2, 3, 4, 5} {
		codec := PickleCodec{Encode: pickle.EncodeOptions{Protocol: proto}}
		seg := &wireRecorder{keep: true}
		cp := &wireRecorder{keep: true}
		cs := New(seg, &Options{Codec: codec})
		cc := New(cp, &Options{Codec: copyCodec{codec}})
		for i, v := range values {
			require.NoError(t, cs.Send(v), "proto %d value %d", proto, i)
			require.NoError(t, cc.Send(v), "proto %d value %d", proto, i)
		}
		require.True(t, bytes.Equal(cp.buf.Bytes(), seg.buf.Bytes()), "protocol %d", proto)
		// And it reads back.
		r := New(struct {
			io.Reader
			io.WriteCloser
		}{bytes.NewReader(seg.buf.Bytes()), seg}, nil)
		for i := range values {
			var v any
			require.NoError(t, r.Recv(&v), "value %d", i)
		}
		var extra any
		require.Equal(t, io.EOF, r.Recv(&extra), "one frame per Send, and nothing else")
	}
}

func TestSendBuffersEncodeErrorWritesNothing(t *testing.T) {
	w := &wireRecorder{}
	c := New(w, nil)
	err := c.Send([]any{segPattern(1 << 20), make(chan int)})
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Zero(t, w.writes)
	require.NoError(t, c.Send(segPattern(1<<20)), "the Conn stays usable")
	want, err := pickle.Marshal(segPattern(1 << 20))
	require.NoError(t, err)
	assert.EqualValues(t, 4+len(want), w.n)
}

// views returns k distinct []byte values of n bytes each that share one
// allocation of n+k bytes: a frame of k*n bytes that costs little memory.
func views(n, k int) []any {
	mem := make([]byte, n+k)
	v := make([]any, k)
	for i := range v {
		v[i] = mem[i : i+n]
	}
	return v
}

// Over 2 GiB: the long header, or with NoLongHeaders a refusal before any
// byte is written.
func TestSendBuffersLongHeader(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 GiB")
	}
	v := views(1<<20, 2100) // 2100 MiB, one frame
	w := &wireRecorder{}
	err := New(w, &Options{NoLongHeaders: true}).Send(v)
	var tl *MessageTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.True(t, tl.Sending)
	assert.Zero(t, w.writes, "nothing written")

	require.NoError(t, New(w, nil).Send(v))
	hdr := w.buf.Bytes()
	require.Equal(t, uint32(0xffffffff), binary.BigEndian.Uint32(hdr))
	n := binary.BigEndian.Uint64(hdr[4:])
	assert.Greater(t, n, uint64(maxShortBody))
	assert.Equal(t, int64(n)+longHeaderLen, w.n, "the header states the body's length")
	assert.Equal(t, []byte{0x80, 4}, hdr[longHeaderLen:longHeaderLen+2], "protocol 4 pickle follows")
}

// Frames of concurrent Sends never interleave, segments or not.
func TestSendBuffersConcurrent(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	const senders, each = 4, 6
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v := bytes.Repeat([]byte{byte(s*each + i)}, pickle.LargePayload+s*100000+i)
				assert.NoError(t, a.Send([]any{v, "mid", string(v)}))
			}
		}()
	}
	for range senders * each {
		var got []any
		require.NoError(t, b.Recv(&got))
		require.Len(t, got, 3)
		bs := got[0].([]byte)
		assert.Equal(t, string(bs), got[2].(string))
		assert.Empty(t, bytes.Trim(bs, string(bs[:1])), "one message's bytes only")
	}
	wg.Wait()
}

// A deadline that passed leaves the stream usable; a blocked large Send
// cancelled part-way breaks it for later sends.
func TestSendBuffersDeadline(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	v := segPattern(64 << 20)
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(-time.Second)))
	err = a.Send([]any{v})
	require.True(t, isTimeout(err), "%v", err)
	require.NoError(t, a.SetWriteDeadline(time.Time{}))

	done := make(chan error, 1)
	go func() { done <- a.Send([]any{v, "end"}) }()
	var got []any
	require.NoError(t, b.Recv(&got))
	require.NoError(t, <-done)
	assert.True(t, bytes.Equal(v, got[0].([]byte)))

	require.NoError(t, a.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	err = a.Send([]any{v}) // nobody reads: the kernel's buffer fills
	require.True(t, isTimeout(err), "%v", err)
	require.NoError(t, a.SetWriteDeadline(time.Time{}))
	assert.True(t, isTimeout(a.Send("small")), "a frame partly written fails every later send")
}

// BenchmarkSendLarge compares, side by side, Send of a large []byte
// through the segmented path, through the copying path (a Codec without
// AppendMarshalBuffers), and SendBytes of the same body, the raw floor:
//
//	go test ./conn/ -run '^$' -bench SendLarge -benchtime 2s
func BenchmarkSendLarge(b *testing.B) {
	for _, size := range []int{10 << 20, 64 << 20} {
		body := make([]byte, size)
		name := fmt.Sprintf("%dMiB", size>>20)
		b.Run("Send-segments/"+name, func(b *testing.B) { benchSendLarge(b, nil, body, false) })
		b.Run("Send-copy/"+name, func(b *testing.B) { benchSendLarge(b, copyCodec{Pickle}, body, false) })
		b.Run("SendBytes/"+name, func(b *testing.B) { benchSendLarge(b, nil, body, true) })
	}
}

func benchSendLarge(b *testing.B, codec Codec, body []byte, raw bool) {
	a, c, err := Pipe(&Options{Codec: codec})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			var err error
			buf, err = c.RecvBytesAppend(buf[:0])
			if err != nil {
				done <- err
				return
			}
		}
	}()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var v any = body
	for b.Loop() {
		var err error
		if raw {
			err = a.SendBytes(body)
		} else {
			err = a.Send(v)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	a.Close()
	<-done
}
