package conn

import (
	"errors"
	"net"
	"sync"
)

// sendVec is what one Send through a BuffersMarshaler needs: the buffer
// for the encoder's bytes, with room for the header in front, and the
// segment list. Pooled, so a Send costs no allocation for them.
type sendVec struct {
	buf []byte
	vec net.Buffers
	w   net.Buffers // what WriteTo consumes; here so that it does not escape per call
}

var sendVecPool = sync.Pool{New: func() any {
	return &sendVec{buf: make([]byte, 0, 4096), vec: make(net.Buffers, 0, 8)}
}}

// errNoHeaderRoom reports a BuffersMarshaler that did not begin its
// segments with dst.
var errNoHeaderRoom = errors.New("conn: codec's first segment does not start with dst")

// sendBuffers is Send through a BuffersMarshaler: the header is written in
// the room reserved in front of the first segment, and header and segments
// go out in one writev (one write when there is a single segment).
func (c *Conn) sendBuffers(m BuffersMarshaler, v any) error {
	sv := sendVecPool.Get().(*sendVec)
	defer putSendVec(sv)
	vec, err := m.AppendMarshalBuffers(sv.vec[:0], sv.buf[:headerRoom], v)
	if err != nil {
		return &EncodeError{Err: err}
	}
	sv.vec = vec
	if len(vec) == 0 || len(vec[0]) < headerRoom {
		return &EncodeError{Err: errNoHeaderRoom}
	}
	if len(vec) == 1 {
		sv.buf = vec[0][:0] // keep a grown buffer for reuse
	}
	var n uint64
	for _, b := range vec {
		n += uint64(len(b))
	}
	n -= headerRoom
	if err := c.checkSendSize(n); err != nil {
		return err
	}
	vec[0] = vec[0][putHeader(vec[0], n):]
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(vec) == 1 {
		return c.writeLocked(vec[0], nil)
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	sv.w = vec
	written, err := sv.w.WriteTo(c.rw)
	sv.w = nil
	return c.wrote(written, err)
}

// putSendVec pools sv without anything of the caller's: segments may share
// the memory of the value sent.
func putSendVec(sv *sendVec) {
	clear(sv.vec[:cap(sv.vec)])
	if cap(sv.vec) > 1024 {
		sv.vec = nil
	}
	if cap(sv.buf) > 1<<20 {
		sv.buf = make([]byte, 0, 4096) // let large one-off buffers go
	}
	sv.vec = sv.vec[:0]
	sendVecPool.Put(sv)
}
