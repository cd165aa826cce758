package conn

import (
	"bufio"
	"errors"
	"io"
	"math"
	"net"
	"sync"
	"time"
)

// DefaultMaxMessageSize is the largest body a Conn receives when
// Options.MaxMessageSize is zero: 1 GiB. Set MaxMessageSize to a negative
// value to accept any size the header can state, as Python does.
const DefaultMaxMessageSize = 1 << 30

// Options configure a Conn. The zero value is ready to use; each field's zero
// value is its documented default. A Conn copies its Options, so changing
// them afterwards has no effect on it.
type Options struct {
	// Codec encodes the values given to Send and decodes the bodies read by
	// Recv. Nil means Pickle, the pickle codec that Python's send and recv
	// use.
	Codec Codec

	// MaxMessageSize bounds the body of a received message, in bytes.
	// Zero means DefaultMaxMessageSize; negative means no limit beyond
	// what the header can state. A larger message closes the Conn with a
	// *MessageTooLargeError, as Python's recv_bytes(maxlength) does.
	MaxMessageSize int64

	// NoLongHeaders refuses to send bodies over 0x7fffffff bytes, which
	// need the 8-byte length header that only Python 3.8 and later can
	// read. Set it when the peer is Python 2.7, 3.6 or 3.7: the refusal
	// comes as a *MessageTooLargeError before anything is written.
	NoLongHeaders bool
}

func (o *Options) maxMessageSize() uint64 {
	switch {
	case o == nil || o.MaxMessageSize == 0:
		return DefaultMaxMessageSize
	case o.MaxMessageSize < 0:
		return math.MaxInt
	default:
		return uint64(o.MaxMessageSize)
	}
}

// Conn is one end of a multiprocessing connection: a stream of
// length-prefixed messages, compatible with Python's
// multiprocessing.connection.Connection.
//
// Concurrency: any number of goroutines may call Send and SendBytes at once;
// each frame is written whole, never interleaved with another. Any number may
// call Recv and RecvBytes at once; each call receives one whole message, in
// the order the messages arrive, so with several receivers which goroutine
// gets which message is not defined. Sends and receives run independently of
// each other. Close may be called at any time from any goroutine, any number
// of times; it unblocks pending calls.
type Conn struct {
	rw       io.ReadWriteCloser
	readable bool
	writable bool
	codec    Codec
	maxSize  uint64
	noLong   bool

	rmu     sync.Mutex // serialises whole frames on the read side
	br      *bufio.Reader
	rhdr    [longHeaderLen]byte
	readErr error // sticky: a frame cut or refused leaves the stream unusable

	wmu      sync.Mutex // serialises whole frames on the write side
	writeErr error      // sticky: a frame partly written leaves the stream unusable

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// readBufferSize is the read buffer: large enough that a small message and
// its header usually arrive in one read call, small enough to be cheap per
// connection. Larger bodies bypass it and are read into their final buffer.
const readBufferSize = 16 << 10

// New returns a Conn that exchanges messages over rw, which it owns from now
// on: Close closes rw. rw may be a net.Conn, an *os.File, or any other
// stream; deadlines work when rw has SetReadDeadline/SetWriteDeadline
// methods that work (sockets, and pipes that the runtime poller manages).
func New(rw io.ReadWriteCloser, opts *Options) *Conn {
	return newConn(rw, true, true, opts)
}

func newConn(rw io.ReadWriteCloser, readable, writable bool, opts *Options) *Conn {
	c := &Conn{
		rw:       rw,
		readable: readable,
		writable: writable,
		maxSize:  opts.maxMessageSize(),
		closed:   make(chan struct{}),
	}
	if opts != nil {
		c.codec = opts.Codec
		c.noLong = opts.NoLongHeaders
	}
	if c.codec == nil {
		c.codec = Pickle
	}
	if readable {
		c.br = bufio.NewReaderSize(rw, readBufferSize)
	}
	return c
}

// Readable reports whether this end can receive.
func (c *Conn) Readable() bool { return c.readable }

// Writable reports whether this end can send.
func (c *Conn) Writable() bool { return c.writable }

// Send encodes v with the Conn's Codec and sends it as one message, as
// Python's conn.send(obj) does. If v cannot be encoded, Send returns an
// *EncodeError and writes nothing; the Conn stays usable.
func (c *Conn) Send(v any) error {
	if !c.writable {
		return ErrNotWritable
	}
	buf := getBuffer()
	defer putBuffer(buf)
	frame, err := c.codec.AppendMarshal((*buf)[:headerRoom], v)
	if err != nil {
		return &EncodeError{Err: err}
	}
	*buf = frame[:0] // keep a grown buffer for reuse
	n := uint64(len(frame) - headerRoom)
	if err := c.checkSendSize(n); err != nil {
		return err
	}
	start := putHeader(frame, n)
	return c.writeFrame(frame[start:], nil)
}

// SendBytes sends b as one message, unchanged, as Python's
// conn.send_bytes(b) does. The peer receives it with recv_bytes.
func (c *Conn) SendBytes(b []byte) error {
	if !c.writable {
		return ErrNotWritable
	}
	if err := c.checkSendSize(uint64(len(b))); err != nil {
		return err
	}
	if len(b) <= smallFrame {
		// One write of header and body together, like CPython for
		// bodies up to 16 KiB; the copy costs less than a second syscall.
		var arr [longHeaderLen + smallFrame]byte
		frame := append(appendHeader(arr[:0], uint64(len(b))), b...)
		return c.writeFrame(frame, nil)
	}
	var hdr [longHeaderLen]byte
	return c.writeFrame(appendHeader(hdr[:0], uint64(len(b))), b)
}

// smallFrame is the body size up to which SendBytes copies the body next to
// its header to send both in one write.
const smallFrame = 16 << 10

func (c *Conn) checkSendSize(n uint64) error {
	if n > maxShortBody && c.noLong {
		return &MessageTooLargeError{Size: n, Max: maxShortBody, Sending: true}
	}
	return nil
}

// writeFrame writes head and then body (which may be nil) as one frame:
// with writev where the stream supports it, and never interleaved with
// another frame.
func (c *Conn) writeFrame(head, body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	var err error
	if body == nil {
		_, err = c.rw.Write(head)
	} else {
		bufs := net.Buffers{head, body}
		_, err = bufs.WriteTo(c.rw)
	}
	if err != nil {
		err = c.wrapErr(err)
		// A frame may have been partly written: nothing sent after it
		// could be framed correctly, so every later send fails the same
		// way. A deadline that expired before any byte went out is the
		// one case that could be retried, but we cannot tell that apart
		// reliably from a partial write, so it is sticky too.
		c.writeErr = err
	}
	return err
}

// Recv receives one message and decodes it into v with the Conn's Codec, as
// Python's conn.recv() does. v must be a non-nil pointer; *any receives the
// codec's generic value model.
//
// At a clean end of stream between messages Recv returns io.EOF; a message
// cut short is io.ErrUnexpectedEOF. A body that cannot be decoded is a
// *DecodeError, after which the next Recv reads the next message.
func (c *Conn) Recv(v any) error {
	c.rmu.Lock()
	body, err := c.readFrameLocked(nil, c.maxSize)
	c.rmu.Unlock()
	if err != nil {
		return err
	}
	if err := c.codec.Unmarshal(body, v); err != nil {
		return &DecodeError{Body: body, Err: err}
	}
	return nil
}

// RecvBytes receives one message and returns its body unchanged, as
// Python's conn.recv_bytes() does. The returned slice is newly allocated and
// belongs to the caller.
func (c *Conn) RecvBytes() ([]byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readFrameLocked(nil, c.maxSize)
}

// RecvBytesMax is RecvBytes with a tighter limit for this one message, as
// Python's conn.recv_bytes(maxlength) is. A longer message closes the Conn
// and returns a *MessageTooLargeError, as Python closes its connection with
// "bad message length"; a max above the Conn's own limit has no effect.
func (c *Conn) RecvBytesMax(max int) ([]byte, error) {
	limit := c.maxSize
	if max >= 0 && uint64(max) < limit {
		limit = uint64(max)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readFrameLocked(nil, limit)
}

func (c *Conn) readFrameLocked(dst []byte, limit uint64) ([]byte, error) {
	if !c.readable {
		return nil, ErrNotReadable
	}
	if c.readErr != nil {
		return nil, c.readErr
	}
	n, started, err := readHeader(c.br, c.rhdr[:])
	if err != nil {
		return nil, c.failRead(err, started)
	}
	if n > limit {
		c.failRead(&MessageTooLargeError{Size: n, Max: int64(limit)}, true)
		c.Close()
		return nil, c.readErr
	}
	body, err := readBody(c.br, n, dst)
	if err != nil {
		return nil, c.failRead(err, true)
	}
	return body, nil
}

// failRead decides what err means for later reads and returns it for the
// caller. Every failure is permanent except a timeout before the first byte
// of a frame: then nothing of the stream was consumed and the Conn stays
// usable. A header no CPython can write closes the Conn.
func (c *Conn) failRead(err error, started bool) error {
	err = c.wrapErr(err)
	var fe *FrameError
	if errors.As(err, &fe) {
		c.Close()
	}
	if started || !isTimeout(err) {
		c.readErr = err
	}
	return err
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// wrapErr reports any failure on a closed Conn as net.ErrClosed, whatever
// the underlying stream calls it (an *os.File says os.ErrClosed).
func (c *Conn) wrapErr(err error) error {
	select {
	case <-c.closed:
		if !errors.Is(err, net.ErrClosed) {
			return net.ErrClosed
		}
	default:
	}
	return err
}

// Close closes the underlying stream. Pending and later calls return an
// error that matches net.ErrClosed. Close is safe to call more than once;
// later calls return the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.closeErr = c.rw.Close()
	})
	return c.closeErr
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// ErrNoDeadline is returned when the underlying stream does not support
// deadlines.
var ErrNoDeadline = errors.New("conn: stream does not support deadlines")

// SetReadDeadline sets the deadline for receiving calls, as
// net.Conn.SetReadDeadline does. A receive that times out before any byte of
// a message arrived leaves the Conn usable; one that times out in the middle
// of a message leaves the read side failed, since the rest of that message is
// still on its way.
func (c *Conn) SetReadDeadline(t time.Time) error {
	d, ok := c.rw.(readDeadliner)
	if !ok {
		return ErrNoDeadline
	}
	return d.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for sending calls.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	d, ok := c.rw.(writeDeadliner)
	if !ok {
		return ErrNoDeadline
	}
	return d.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // let large one-off buffers go
	}
	bufferPool.Put(b)
}
