package conn

import (
	"encoding/binary"
	"io"
	"math"
)

// The wire format of multiprocessing.connection.Connection on POSIX
// (Lib/multiprocessing/connection.py, _send_bytes and _recv_bytes):
//
//	length ≤ 0x7fffffff:  int32 big-endian length, body
//	length >  0x7fffffff: int32 -1, uint64 big-endian length, body   (Python ≥ 3.8)
//
// Nothing else is on the wire.
const (
	shortHeaderLen = 4
	longHeaderLen  = 4 + 8
	maxShortBody   = 0x7fffffff
	// headerRoom is the space reserved in front of an encoded body so that
	// the header can be written in place and the frame sent in one write.
	headerRoom = longHeaderLen
)

// putHeader writes the header for a body of n bytes at the end of
// buf[:headerRoom] and returns where the frame starts.
func putHeader(buf []byte, n uint64) (start int) {
	if n <= maxShortBody {
		binary.BigEndian.PutUint32(buf[headerRoom-shortHeaderLen:headerRoom], uint32(n))
		return headerRoom - shortHeaderLen
	}
	binary.BigEndian.PutUint32(buf[0:4], math.MaxUint32) // int32(-1)
	binary.BigEndian.PutUint64(buf[4:12], n)
	return 0
}

// appendHeader appends the header for a body of n bytes to dst.
func appendHeader(dst []byte, n uint64) []byte {
	if n <= maxShortBody {
		return binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	dst = binary.BigEndian.AppendUint32(dst, math.MaxUint32)
	return binary.BigEndian.AppendUint64(dst, n)
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: once part of a frame has been
// read, the end of the stream cuts a message short.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// initialBodyAlloc bounds what a header alone can make us allocate. A body
// up to this size is read straight into its final buffer; a larger one
// grows as its bytes actually arrive: four times over up to
// quadrupleBodyMax (so a 64 MiB body is copied twice on its way, a third
// of its size), then doubling. A lying header thus costs 1 MiB, and then
// a few times the bytes the peer really sent (the buffer is at most four
// times them; with those it replaced, about five and a half). (Receive into
// a buffer of your own, RecvBytesAppend or RecvBytesInto, to copy
// nothing.)
const (
	initialBodyAlloc = 1 << 20
	quadrupleBodyMax = 64 << 20
)

// frameReader reads frames and can be resumed: when a read fails with a
// timeout (a deadline, a cancelled context), the part of the frame already
// read is kept and the next call carries on from there, so a deadline never
// costs the stream its framing.
type frameReader struct {
	r      io.Reader
	hdr    [longHeaderLen]byte
	hdrGot int    // header bytes read so far
	hdrLen int    // shortHeaderLen, or longHeaderLen once -1 was seen
	n      uint64 // body length, once the header is complete
	body   []byte // the body being filled; len is what is allocated
	got    int    // body bytes read so far
	// borrowed is true while body is the caller's buffer (RecvBytesInto),
	// which must not be handed to anyone else.
	borrowed bool
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r, hdrLen: shortHeaderLen}
}

// inFrame reports whether part of a frame has been read.
func (f *frameReader) inFrame() bool { return f.hdrGot > 0 }

// next reads the rest of the current frame and returns its body. A body
// over limit is refused with a *MessageTooLargeError once its header is
// read. When dst is non-nil and the body fits in it, the body is read into
// dst and the result aliases it; otherwise the body is newly allocated.
//
// The error is io.EOF only when the stream ended before a frame began; a
// frame cut short is io.ErrUnexpectedEOF. After a timeout the state is kept
// for the next call; after any other error the caller must give up on the
// stream.
func (f *frameReader) next(limit uint64, dst []byte) ([]byte, error) {
	for f.hdrGot < f.hdrLen {
		m, err := f.r.Read(f.hdr[f.hdrGot:f.hdrLen])
		f.hdrGot += m
		if f.hdrGot == shortHeaderLen && f.hdrLen == shortHeaderLen {
			if short := int32(binary.BigEndian.Uint32(f.hdr[:4])); short == -1 {
				f.hdrLen = longHeaderLen
			} else if short < 0 {
				return nil, &FrameError{Header: append([]byte(nil), f.hdr[:4]...), Reason: "negative length"}
			} else {
				f.n = uint64(short)
			}
		}
		if f.hdrGot == f.hdrLen {
			if f.hdrLen == longHeaderLen {
				f.n = binary.BigEndian.Uint64(f.hdr[4:12])
			}
			break
		}
		if err != nil {
			if f.hdrGot == 0 {
				return nil, err // io.EOF between frames stays io.EOF
			}
			return nil, noEOF(err)
		}
	}
	if f.n > limit {
		return nil, &MessageTooLargeError{Size: f.n, Max: int64(limit)}
	}
	f.placeBody(dst)
	for uint64(f.got) < f.n {
		if f.got == len(f.body) {
			f.growBody()
		}
		m, err := f.r.Read(f.body[f.got:])
		f.got += m
		if err != nil && uint64(f.got) < f.n {
			f.release()
			return nil, noEOF(err)
		}
	}
	body := f.body[:f.n]
	if !f.borrowed && dst != nil && f.n <= uint64(len(dst)) {
		// Resumed after a timeout: the body is in our own buffer.
		body = dst[:copy(dst, body)]
	}
	*f = frameReader{r: f.r, hdrLen: shortHeaderLen}
	return body, nil
}

// placeBody chooses where the body goes: the caller's dst when it fits and
// nothing of the body has been read yet, else a buffer of our own, which
// after an interrupted call already holds what was read.
func (f *frameReader) placeBody(dst []byte) {
	switch {
	case f.got == 0 && dst != nil && f.n <= uint64(len(dst)):
		f.body, f.borrowed = dst[:f.n], true
	case f.body == nil:
		f.body = make([]byte, min(f.n, initialBodyAlloc))
	}
}

// release stops using the caller's buffer when a call returns before the
// body is complete: the caller may reuse that memory at once. What was read
// moves into a buffer of our own, sized by what arrived, which the next call
// reads on into (and copies into its dst at the end).
func (f *frameReader) release() {
	if !f.borrowed {
		return
	}
	var own []byte
	if f.got > 0 {
		own = make([]byte, f.got)
		copy(own, f.body[:f.got])
	}
	f.body, f.borrowed = own, false
}

func (f *frameReader) growBody() {
	grow := uint64(len(f.body)) * 2
	if len(f.body) < quadrupleBodyMax {
		grow *= 2
	}
	if grow > f.n || grow > math.MaxInt {
		grow = f.n
	}
	next := make([]byte, grow)
	copy(next, f.body[:f.got])
	f.body = next
}
