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

// readHeader reads one frame header from r into scratch (at least 12 bytes).
// started reports whether any byte of the frame was consumed. The error is
// io.EOF only when r ended before the first byte of the header; a header cut
// short is io.ErrUnexpectedEOF.
func readHeader(r io.Reader, scratch []byte) (n uint64, started bool, err error) {
	if m, err := io.ReadFull(r, scratch[:shortHeaderLen]); err != nil {
		return 0, m > 0, err // io.EOF if nothing was read, io.ErrUnexpectedEOF if some
	}
	short := int32(binary.BigEndian.Uint32(scratch[:shortHeaderLen]))
	if short >= 0 {
		return uint64(short), true, nil
	}
	if short != -1 {
		return 0, true, &FrameError{Header: append([]byte(nil), scratch[:shortHeaderLen]...), Reason: "negative length"}
	}
	if _, err := io.ReadFull(r, scratch[shortHeaderLen:longHeaderLen]); err != nil {
		return 0, true, noEOF(err)
	}
	return binary.BigEndian.Uint64(scratch[shortHeaderLen:longHeaderLen]), true, nil
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
// grows as its bytes actually arrive, so a lying header costs at most about
// twice the bytes the peer really sent.
const initialBodyAlloc = 64 << 20

// readBody reads a body of n bytes from r into dst (grown as needed) and
// returns the body.
func readBody(r io.Reader, n uint64, dst []byte) ([]byte, error) {
	if n <= uint64(cap(dst)) {
		dst = dst[:n]
		_, err := io.ReadFull(r, dst)
		return dst, noEOF(err)
	}
	if n <= initialBodyAlloc {
		dst = make([]byte, n)
		_, err := io.ReadFull(r, dst)
		return dst, noEOF(err)
	}
	dst = make([]byte, initialBodyAlloc)
	got := 0
	for {
		m, err := io.ReadFull(r, dst[got:])
		got += m
		if err != nil {
			return nil, noEOF(err)
		}
		if uint64(got) == n {
			return dst, nil
		}
		grow := uint64(len(dst)) * 2
		if grow > n || grow > math.MaxInt {
			grow = n
		}
		next := make([]byte, grow)
		copy(next, dst[:got])
		dst = next
	}
}
