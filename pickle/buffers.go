package pickle

import (
	"fmt"
	"net"
	"slices"
	"unsafe"
)

// LargePayload is the size from which AppendMarshalBuffers leaves a str,
// bytes, bytearray or PickleBuffer payload in the caller's memory instead
// of copying it: 64 KiB.
//
// It is CPython's frame size. From protocol 4 on, a payload this large is
// written outside any FRAME, so it can stand alone without changing a
// byte of the pickle; a smaller one sits inside a frame. Below it the copy
// is cheap next to the write: BenchmarkMarshalBuffers measured a 64 KiB
// bytes value at 0.9 µs to encode with the copy and 0.2 µs without (16
// KiB: 0.4 µs either way), while one write system call costs several
// microseconds.
const LargePayload = 64 << 10

// segment is a payload that AppendMarshalBuffers leaves where it is: it
// goes at buf[at] of the encoder's output.
type segment struct {
	at   int
	data string
}

// AppendMarshalBuffers encodes v as AppendMarshal(dst, v) does, but
// without copying large payloads: every str, bytes, bytearray or
// PickleBuffer payload of at least LargePayload bytes that is written
// as-is (protocols 1 and later for str, 3 and later for bytes, 5 for
// bytearray and in-band PickleBuffers) is a segment of its own that shares
// the memory of the value it comes from. The rest of the pickle is in
// buffers the encoder owns; the first segment starts with dst, extended
// as append extends it. The segments are appended to bufs, whose elements
// are left as they are, and the result is returned.
//
// The concatenation of the appended segments is exactly what
// AppendMarshal(dst, v) returns. Write them with net.Buffers.WriteTo,
// which makes one writev call on a socket.
//
// The caller must not modify the values passed in v until the segments
// have been written, and must not modify the segments: a segment of a Go
// string shares memory that must never change.
//
// On error AppendMarshalBuffers returns bufs unchanged, with no segment of
// v, and an *EncodeError.
func (o EncodeOptions) AppendMarshalBuffers(bufs net.Buffers, dst []byte, v any) (net.Buffers, error) {
	proto, ok := o.protocol()
	if !ok {
		return bufs, fmt.Errorf("pickle: unsupported protocol %d", o.Protocol)
	}
	e := getEncoder(&o, proto, dst)
	defer putEncoder(e)
	e.split = true
	if err := e.dump(v); err != nil {
		return bufs, e.encodeError(err)
	}
	if len(e.segs) == 0 {
		return append(bufs, e.buf), nil
	}
	bufs = slices.Grow(bufs, 2*len(e.segs)+1)
	prev := 0
	for _, s := range e.segs {
		// Full slice expressions: appending to a segment must not write
		// over the next one.
		bufs = append(bufs, e.buf[prev:s.at:s.at], unsafe.Slice(unsafe.StringData(s.data), len(s.data)))
		prev = s.at
	}
	return append(bufs, e.buf[prev:]), nil
}
