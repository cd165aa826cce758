package conn

import (
	"bufio"
	"context"
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
// Concurrency: any number of goroutines may call the sending methods at
// once; each frame is written whole, never interleaved with another. Any
// number may call the receiving methods (Recv, RecvBytes, RecvBytesInto,
// Poll and their variants) at once; each receives one whole message, in the
// order messages arrive, so with several receivers which goroutine gets which
// message is not defined. Sending and receiving run independently of each
// other. Close may be called at any time from any goroutine, any number of
// times; it unblocks pending calls.
type Conn struct {
	rw       io.ReadWriteCloser
	readable bool
	writable bool
	codec    Codec
	maxSize  uint64
	noLong   bool

	rmu     sync.Mutex // serialises whole frames on the read side
	br      *bufio.Reader
	fr      *frameReader
	readErr error // sticky: a broken frame leaves the stream unusable

	wmu      sync.Mutex  // serialises whole frames on the write side
	wbuf     []byte      // header and small body, copied together for one write
	wbufs    [2][]byte   // header and large body, for writev
	wvec     net.Buffers // the writev vector; a field so it does not escape per call
	writeErr error       // sticky: a frame partly written leaves the stream unusable

	dmu      sync.Mutex // guards the deadlines the user set
	userRD   time.Time
	userWD   time.Time
	closeMu  sync.Once
	closed   chan struct{}
	closeErr error
}

// readBufferSize is the read buffer: large enough that a small message and
// its header usually arrive in one read call, small enough to be cheap per
// connection. Larger bodies bypass it and are read into their final buffer.
const readBufferSize = 16 << 10

// New returns a Conn that exchanges messages over rw, which it owns from now
// on: Close closes rw. rw may be a net.Conn, an *os.File, or any other
// stream; deadlines, Poll with a timeout and the Context variants work when
// rw has SetReadDeadline/SetWriteDeadline methods that work (sockets, and
// pipes that the runtime poller manages).
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
		c.fr = newFrameReader(c.br)
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
	if m, ok := c.codec.(BuffersMarshaler); ok {
		return c.sendBuffers(m, v)
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
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(frame[start:], nil)
}

// SendBytes sends b as one message, unchanged, as Python's
// conn.send_bytes(b) does; the peer receives it with recv_bytes. Python's
// send_bytes(buf, offset, size) is SendBytes(buf[offset:offset+size]).
func (c *Conn) SendBytes(b []byte) error {
	if !c.writable {
		return ErrNotWritable
	}
	if err := c.checkSendSize(uint64(len(b))); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(b) <= smallFrame {
		// One write of header and body together, like CPython for
		// bodies up to 16 KiB; the copy costs less than a second syscall.
		c.wbuf = append(appendHeader(c.wbuf[:0], uint64(len(b))), b...)
		return c.writeLocked(c.wbuf, nil)
	}
	c.wbuf = appendHeader(c.wbuf[:0], uint64(len(b)))
	return c.writeLocked(c.wbuf, b)
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

// writeLocked writes head and then body (which may be nil) as one frame,
// with writev where the stream supports it. c.wmu must be held.
func (c *Conn) writeLocked(head, body []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	var n int64
	var err error
	if body == nil {
		var m int
		m, err = c.rw.Write(head)
		n = int64(m)
	} else {
		c.wbufs = [2][]byte{head, body}
		c.wvec = c.wbufs[:]
		n, err = c.wvec.WriteTo(c.rw)
		c.wbufs, c.wvec = [2][]byte{}, nil // do not keep the caller's body alive
	}
	return c.wrote(n, err)
}

// wrote reports the result of writing n bytes of a frame. c.wmu must be
// held.
func (c *Conn) wrote(n int64, err error) error {
	if err != nil {
		err = c.wrapErr(err)
		// A frame partly written cannot be finished by a later call in
		// a way the caller could reason about, so from then on every
		// send fails with this error. A deadline that expired before
		// the first byte went out leaves the stream intact.
		if n > 0 || !isTimeout(err) {
			c.writeErr = err
		}
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
	body, err := c.recv(nil, c.maxSize)
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
	return c.recv(nil, c.maxSize)
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
	return c.recv(nil, limit)
}

// RecvBytesInto receives one message into buf and returns its length, as
// Python's conn.recv_bytes_into(buf) does (recv_bytes_into(buf, offset) is
// RecvBytesInto(buf[offset:])). If the message is longer than buf, it is
// returned whole in a *BufferTooShortError and the Conn stays usable, as
// Python raises BufferTooShort.
func (c *Conn) RecvBytesInto(buf []byte) (int, error) {
	if buf == nil {
		buf = []byte{}
	}
	body, err := c.recv(buf, c.maxSize)
	if err != nil {
		return 0, err
	}
	if len(body) > 0 && len(buf) > 0 && &body[0] == &buf[0] {
		return len(body), nil
	}
	if len(body) > len(buf) {
		return 0, &BufferTooShortError{Message: body}
	}
	return copy(buf, body), nil
}

// RecvBytesAppend receives one message and appends its body to dst,
// returning the extended slice, in the manner of strconv.AppendInt. Passing
// the previous result as buf[:0] reuses its memory, which for large messages
// is far cheaper than a new allocation each time.
func (c *Conn) RecvBytesAppend(dst []byte) ([]byte, error) {
	body, err := c.recv(dst[len(dst):cap(dst)], c.maxSize)
	if err != nil {
		return dst, err
	}
	if len(body) > 0 && cap(dst) > len(dst) && &body[0] == &dst[len(dst):cap(dst)][0] {
		return dst[:len(dst)+len(body)], nil
	}
	return append(dst, body...), nil
}

func (c *Conn) recv(dst []byte, limit uint64) ([]byte, error) {
	if !c.readable {
		return nil, ErrNotReadable
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.recvLocked(dst, limit)
}

func (c *Conn) recvLocked(dst []byte, limit uint64) ([]byte, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	body, err := c.fr.next(limit, dst)
	if err == nil {
		return body, nil
	}
	err = c.wrapErr(err)
	if isTimeout(err) {
		return nil, err // the frame reader keeps its place
	}
	// Anything else breaks the stream for good: the end of it, a header
	// no CPython writes, a body we refuse (Python closes the connection
	// then too), or an I/O error.
	c.readErr = err
	var fe *FrameError
	var tl *MessageTooLargeError
	if errors.As(err, &fe) || errors.As(err, &tl) {
		c.Close()
	}
	return nil, err
}

// Poll reports whether a message, or the end of the stream, is ready to be
// received, as Python's conn.poll(timeout) does: with timeout zero it checks
// without waiting, with a negative timeout it waits until one is, and
// otherwise it waits up to timeout. Part of a message that has arrived
// counts as ready.
func (c *Conn) Poll(timeout time.Duration) (bool, error) {
	switch {
	case timeout < 0:
		return c.PollContext(context.Background())
	case timeout == 0:
		return c.pollNow()
	default:
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		ok, err := c.PollContext(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil
		}
		return ok, err
	}
}

// PollContext waits until a message, or the end of the stream, is ready to
// be received, or ctx is done; it then returns ctx's error.
func (c *Conn) PollContext(ctx context.Context) (bool, error) {
	if !c.readable {
		return false, ErrNotReadable
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if ready, err, done := c.readyLocked(); done {
		return ready, err
	}
	var err error
	withReadContext(c, ctx, func() { _, err = c.br.Peek(1) })
	if cerr := contextCause(ctx, err); cerr != nil {
		return false, cerr
	}
	if err != nil && isTimeout(err) {
		return false, err // the caller's own deadline
	}
	if err != nil && errors.Is(c.wrapErr(err), net.ErrClosed) {
		return false, net.ErrClosed
	}
	// Data, the end of the stream or a broken one: a receive would not
	// block, and reports what happened.
	return true, nil
}

// readyLocked answers Poll without I/O when it can.
func (c *Conn) readyLocked() (ready bool, err error, done bool) {
	select {
	case <-c.closed:
		return false, net.ErrClosed, true
	default:
	}
	if c.readErr != nil || c.fr.inFrame() || c.br.Buffered() > 0 {
		return true, nil, true
	}
	return false, nil, false
}

// pollNow checks readiness without waiting.
func (c *Conn) pollNow() (bool, error) {
	if !c.readable {
		return false, ErrNotReadable
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if ready, err, done := c.readyLocked(); done {
		return ready, err
	}
	if ready, ok := pollFD(c.rw); ok {
		return ready, nil
	}
	// A stream without a descriptor: a short wait stands in for a
	// non-blocking check.
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	withReadContext(c, ctx, func() { _, err = c.br.Peek(1) })
	return err == nil || !isTimeout(err), nil
}

// RecvContext is Recv that gives up when ctx is done, returning ctx's
// error. Giving up in the middle of a message loses nothing: the next
// receive carries on with it.
func (c *Conn) RecvContext(ctx context.Context, v any) error {
	body, err := c.recvContext(ctx, nil, c.maxSize)
	if err != nil {
		return err
	}
	if err := c.codec.Unmarshal(body, v); err != nil {
		return &DecodeError{Body: body, Err: err}
	}
	return nil
}

// RecvBytesContext is RecvBytes that gives up when ctx is done.
func (c *Conn) RecvBytesContext(ctx context.Context) ([]byte, error) {
	return c.recvContext(ctx, nil, c.maxSize)
}

func (c *Conn) recvContext(ctx context.Context, dst []byte, limit uint64) ([]byte, error) {
	if !c.readable {
		return nil, ErrNotReadable
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var body []byte
	var err error
	withReadContext(c, ctx, func() { body, err = c.recvLocked(dst, limit) })
	if cerr := contextCause(ctx, err); cerr != nil {
		return nil, cerr
	}
	return body, err
}

// SendContext is Send that gives up when ctx is done, returning ctx's
// error. If some of the message was already written, the Conn can send
// nothing more (every later send fails), since the peer is left holding
// part of a frame.
func (c *Conn) SendContext(ctx context.Context, v any) error {
	var err error
	withWriteContext(c, ctx, func() { err = c.Send(v) })
	if cerr := contextCause(ctx, err); cerr != nil {
		return cerr
	}
	return err
}

// SendBytesContext is SendBytes that gives up when ctx is done; see
// SendContext.
func (c *Conn) SendBytesContext(ctx context.Context, b []byte) error {
	var err error
	withWriteContext(c, ctx, func() { err = c.SendBytes(b) })
	if cerr := contextCause(ctx, err); cerr != nil {
		return cerr
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
	c.closeMu.Do(func() {
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
// net.Conn.SetReadDeadline does. A receive that times out, even in the
// middle of a message, leaves the Conn usable: the next receive carries on
// where it stopped.
func (c *Conn) SetReadDeadline(t time.Time) error {
	d, ok := c.rw.(readDeadliner)
	if !ok {
		return ErrNoDeadline
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.userRD = t
	return d.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for sending calls. A send that times
// out before writing anything leaves the Conn usable; one that times out
// part-way through a message leaves every later send failing.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	d, ok := c.rw.(writeDeadliner)
	if !ok {
		return ErrNoDeadline
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.userWD = t
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
