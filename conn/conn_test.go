//go:build unix

package conn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// transport makes a connected pair of Conns of one kind; every framing test
// runs over each kind.
type transport struct {
	name string
	pair func(t *testing.T) (a, b *Conn)
}

var transports = []transport{
	{"socketpair", func(t *testing.T) (*Conn, *Conn) {
		a, b, err := Pipe(nil)
		require.NoError(t, err)
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}},
	{"os.Pipe", func(t *testing.T) (*Conn, *Conn) {
		r, w, err := OneWayPipe(nil)
		require.NoError(t, err)
		t.Cleanup(func() { r.Close(); w.Close() })
		return w, r // a sends, b receives
	}},
	{"unix", func(t *testing.T) (*Conn, *Conn) { return netPair(t, "unix", t.TempDir()+"/s") }},
	{"tcp", func(t *testing.T) (*Conn, *Conn) { return netPair(t, "tcp", "127.0.0.1:0") }},
}

func netPair(t *testing.T, network, addr string) (*Conn, *Conn) {
	ln, err := net.Listen(network, addr)
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial(network, ln.Addr().String())
	require.NoError(t, err)
	s := <-accepted
	require.NotNil(t, s)
	a, b := New(d, nil), New(s, nil)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func eachTransport(t *testing.T, body func(t *testing.T, a, b *Conn)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			a, b := tr.pair(t)
			body(t, a, b)
		})
	}
}

func TestBytesRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 3, 4, 5, 100, smallFrame - 1, smallFrame, smallFrame + 1, 1 << 20, 5<<20 + 3}
	eachTransport(t, func(t *testing.T, a, b *Conn) {
		go func() {
			for _, n := range sizes {
				if err := a.SendBytes(pattern(n)); err != nil {
					t.Errorf("send %d: %v", n, err)
					return
				}
			}
			a.Close()
		}()
		for _, n := range sizes {
			got, err := b.RecvBytes()
			require.NoError(t, err, "size %d", n)
			require.Equal(t, n, len(got))
			require.True(t, bytes.Equal(pattern(n), got), "size %d: body differs", n)
		}
		_, err := b.RecvBytes()
		assert.Equal(t, io.EOF, err, "clean close between messages is io.EOF")
		_, err = b.RecvBytes()
		assert.Equal(t, io.EOF, err, "EOF stays")
	})
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func TestWireFormat(t *testing.T) {
	a, b, err := SocketPair()
	require.NoError(t, err)
	defer b.Close()
	c, err := FromFile(a, nil)
	require.NoError(t, err)
	defer c.Close()

	require.NoError(t, c.SendBytes([]byte("hi")))
	require.NoError(t, c.SendBytes(nil))
	want := []byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0}
	got := make([]byte, len(want))
	_, err = io.ReadFull(b, got)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestLongHeader(t *testing.T) {
	var buf [headerRoom]byte
	start := putHeader(buf[:], 0x80000000)
	assert.Equal(t, 0, start)
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0}, buf[:])
	assert.Equal(t, buf[:], appendHeader(nil, 0x80000000))

	start = putHeader(buf[:], 0x7fffffff)
	assert.Equal(t, headerRoom-4, start)
	assert.Equal(t, []byte{0x7f, 0xff, 0xff, 0xff}, buf[start:])

	// Reading: -1 then an 8-byte length.
	fr := newFrameReader(bytes.NewReader(append(appendHeader(nil, 3), "abc"...)))
	body, err := fr.next(10, nil)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(body))
	fr = newFrameReader(bytes.NewReader(appendHeader(nil, 1<<40)))
	_, err = fr.next(1<<41, nil)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "an 8-byte length is read whole before the body")
	assert.Equal(t, uint64(1<<40), fr.n)
}

func TestNoLongHeadersRefusesBeforeWriting(t *testing.T) {
	// A Go program talking to Python 3.7 must not send a frame that Python
	// cannot parse. The check happens on the length alone, so a slice
	// header over a small array is enough to exercise it without 2 GiB.
	a, b, err := Pipe(&Options{NoLongHeaders: true})
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	err = a.checkSendSize(0x80000000)
	var tl *MessageTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.True(t, tl.Sending)
	assert.NoError(t, a.checkSendSize(0x7fffffff))
}

// rawPair returns a Conn and the raw peer socket, to write arbitrary bytes.
func rawPair(t *testing.T, opts *Options) (*Conn, *os.File) {
	a, b, err := SocketPair()
	require.NoError(t, err)
	c, err := FromFile(a, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); b.Close() })
	return c, b
}

func TestCutShort(t *testing.T) {
	cases := map[string][]byte{
		"inside header":   {0, 0},
		"inside body":     {0, 0, 0, 10, 'a', 'b'},
		"inside long len": {0xff, 0xff, 0xff, 0xff, 0, 0},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			c, peer := rawPair(t, nil)
			_, err := peer.Write(raw)
			require.NoError(t, err)
			peer.Close()
			_, err = c.RecvBytes()
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			_, err = c.RecvBytes()
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the failure is sticky")
		})
	}
}

func TestLyingHeader(t *testing.T) {
	c, peer := rawPair(t, nil)
	_, err := peer.Write(appendHeader(nil, 1<<62))
	require.NoError(t, err)
	_, err = c.RecvBytes()
	var tl *MessageTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, uint64(1<<62), tl.Size)
	assert.EqualValues(t, DefaultMaxMessageSize, tl.Max)
	// The Conn was closed, as Python closes its connection.
	assert.ErrorIs(t, c.SendBytes([]byte("x")), net.ErrClosed)
}

func TestLyingHeaderUnlimitedAllocatesAsBytesArrive(t *testing.T) {
	// With no limit, a header claiming far more than is sent must not
	// make us allocate what it claims: the read fails when the peer
	// closes, having allocated only the initial buffer.
	c, peer := rawPair(t, &Options{MaxMessageSize: -1})
	_, err := peer.Write(appendHeader(nil, 1<<50))
	require.NoError(t, err)
	_, err = peer.Write([]byte("only this"))
	require.NoError(t, err)
	peer.Close()
	_, err = c.RecvBytes()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestBadNegativeHeader(t *testing.T) {
	c, peer := rawPair(t, nil)
	_, err := peer.Write([]byte{0xff, 0xff, 0xff, 0xfe})
	require.NoError(t, err)
	_, err = c.RecvBytes()
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xfe}, fe.Header)
}

func TestRecvBytesMax(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.SendBytes([]byte("12345")))
	require.NoError(t, a.SendBytes([]byte("123456")))
	got, err := b.RecvBytesMax(5)
	require.NoError(t, err)
	assert.Equal(t, "12345", string(got))
	_, err = b.RecvBytesMax(5)
	var tl *MessageTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.EqualValues(t, 6, tl.Size)
	assert.EqualValues(t, 5, tl.Max)
	_, err = b.RecvBytes()
	assert.ErrorAs(t, err, &tl, "a refused body closes the Conn for good")
}

func TestOneWayDirections(t *testing.T) {
	r, w, err := OneWayPipe(nil)
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.ErrorIs(t, r.SendBytes([]byte("x")), ErrNotWritable)
	assert.ErrorIs(t, r.Send(1), ErrNotWritable)
	_, err = w.RecvBytes()
	assert.ErrorIs(t, err, ErrNotReadable)
	var v any
	assert.ErrorIs(t, w.Recv(&v), ErrNotReadable)
	assert.True(t, r.Readable())
	assert.False(t, r.Writable())
	assert.False(t, w.Readable())
	assert.True(t, w.Writable())
}

func TestObjectsRoundTrip(t *testing.T) {
	eachTransport(t, func(t *testing.T, a, b *Conn) {
		values := []any{int64(1), "héllo", []any{int64(1), "x"}, true, 2.5}
		go func() {
			for _, v := range values {
				if err := a.Send(v); err != nil {
					t.Errorf("send %v: %v", v, err)
				}
			}
		}()
		for _, want := range values {
			var got any
			require.NoError(t, b.Recv(&got))
			assert.Equal(t, want, got)
		}
	})
}

func TestUnencodableSendsNothing(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	err = a.Send(make(chan int))
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	// Nothing reached the wire: the next message is the first one b sees.
	require.NoError(t, a.Send("next"))
	var got any
	require.NoError(t, b.Recv(&got))
	assert.Equal(t, "next", got)
}

func TestDecodeErrorKeepsConnUsable(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	require.NoError(t, a.SendBytes([]byte("not a pickle")))
	require.NoError(t, a.Send("after"))
	var got any
	err = b.Recv(&got)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "not a pickle", string(de.Body))
	require.NoError(t, b.Recv(&got))
	assert.Equal(t, "after", got)
}

func TestCloseUnblocksRecv(t *testing.T) {
	eachTransport(t, func(t *testing.T, a, b *Conn) {
		done := make(chan error, 1)
		go func() {
			_, err := b.RecvBytes()
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, b.Close())
		select {
		case err := <-done:
			assert.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(2 * time.Second):
			t.Fatal("Recv still blocked after Close")
		}
		assert.NoError(t, b.Close(), "Close again returns the first result")
	})
}

func TestReadDeadline(t *testing.T) {
	eachTransport(t, func(t *testing.T, a, b *Conn) {
		require.NoError(t, b.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
		_, err := b.RecvBytes()
		require.Error(t, err)
		assert.True(t, isTimeout(err), "got %v", err)
		// Nothing of a frame was consumed: the Conn is still usable.
		require.NoError(t, b.SetReadDeadline(time.Time{}))
		require.NoError(t, a.SendBytes([]byte("late")))
		got, err := b.RecvBytes()
		require.NoError(t, err)
		assert.Equal(t, "late", string(got))
	})
}

func TestConcurrentSendersNeverInterleave(t *testing.T) {
	eachTransport(t, func(t *testing.T, a, b *Conn) {
		const senders, each = 8, 500
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					// Sizes straddle the one-write threshold.
					body := make([]byte, 8+(i*977)%(3*smallFrame))
					binary.BigEndian.PutUint32(body, uint32(s))
					binary.BigEndian.PutUint32(body[4:], uint32(i))
					for j := 8; j < len(body); j++ {
						body[j] = byte(s)
					}
					if err := a.SendBytes(body); err != nil {
						t.Errorf("sender %d: %v", s, err)
						return
					}
				}
			}(s)
		}
		next := make([]int, senders)
		for k := 0; k < senders*each; k++ {
			body, err := b.RecvBytes()
			require.NoError(t, err)
			s := int(binary.BigEndian.Uint32(body))
			i := int(binary.BigEndian.Uint32(body[4:]))
			require.Less(t, s, senders)
			require.Equal(t, next[s], i, "sender %d's messages arrive in order", s)
			require.Equal(t, 8+(i*977)%(3*smallFrame), len(body))
			for j := 8; j < len(body); j++ {
				if body[j] != byte(s) {
					t.Fatalf("message %d of sender %d is mixed with another at byte %d", i, s, j)
				}
			}
			next[s]++
		}
		wg.Wait()
	})
}

func TestFromFDPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	// Hand FromFD a descriptor of its own, as a child inherits one.
	fd, err := dupFD(pr)
	require.NoError(t, err)
	pr.Close()
	c, err := FromFDReadOnly(fd, nil)
	require.NoError(t, err)
	defer c.Close()
	w, err := FromFileWriteOnly(pw, nil)
	require.NoError(t, err)
	require.NoError(t, w.SendBytes([]byte("via fd")))
	w.Close()
	got, err := c.RecvBytes()
	require.NoError(t, err)
	assert.Equal(t, "via fd", string(got))
	_, err = c.RecvBytes()
	assert.Equal(t, io.EOF, err)
	// Pipes are under the poller, so deadlines work on them.
	assert.NoError(t, c.SetReadDeadline(time.Now()))
}

func TestErrorsMatch(t *testing.T) {
	var err error = &DecodeError{Err: io.ErrUnexpectedEOF}
	assert.True(t, errors.Is(err, io.ErrUnexpectedEOF))
	err = &EncodeError{Err: io.ErrShortWrite}
	assert.True(t, errors.Is(err, io.ErrShortWrite))
}

// TestConcurrentBothWays: 8 goroutines send 10,000 messages each from
// either end while 4 goroutines receive at each end; every message arrives
// exactly once, whole.
func TestConcurrentBothWays(t *testing.T) {
	const senders, receivers, each = 8, 4, 10000
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()

	type tally struct {
		mu   sync.Mutex
		seen map[uint64]bool
	}
	run := func(from, to *Conn, dir byte, got *tally) *sync.WaitGroup {
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					// id, then a body of id-determined length and content
					id := uint64(s)<<32 | uint64(i)
					body := make([]byte, 9+i%61)
					body[0] = dir
					binary.BigEndian.PutUint64(body[1:], id)
					for j := 9; j < len(body); j++ {
						body[j] = byte(id) ^ byte(j)
					}
					if err := from.SendBytes(body); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			}(s)
		}
		for r := 0; r < receivers; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got.mu.Lock()
					done := len(got.seen) == senders*each
					got.mu.Unlock()
					if done {
						return
					}
					body, err := to.RecvBytes()
					if err != nil {
						// Woken by the deadline once everything arrived;
						// any other error is one.
						got.mu.Lock()
						if len(got.seen) != senders*each {
							t.Errorf("receive with %d of %d messages in: %v", len(got.seen), senders*each, err)
						}
						got.mu.Unlock()
						return
					}
					id := binary.BigEndian.Uint64(body[1:])
					ok := body[0] == dir && len(body) == 9+int(uint32(id))%61
					for j := 9; ok && j < len(body); j++ {
						ok = body[j] == byte(id)^byte(j)
					}
					got.mu.Lock()
					if !ok || got.seen[id] {
						t.Errorf("message %x arrived damaged or twice", id)
					}
					got.seen[id] = true
					complete := len(got.seen) == senders*each
					got.mu.Unlock()
					if complete {
						// Wake the other receivers of this direction.
						to.SetReadDeadline(time.Now())
						return
					}
				}
			}()
		}
		return &wg
	}
	ab := &tally{seen: map[uint64]bool{}}
	ba := &tally{seen: map[uint64]bool{}}
	w1 := run(a, b, 'a', ab)
	w2 := run(b, a, 'b', ba)
	finished := make(chan struct{})
	go func() { w1.Wait(); w2.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		t.Fatal("messages went missing: receivers still waiting")
	}
	assert.Len(t, ab.seen, senders*each)
	assert.Len(t, ba.seen, senders*each)
}
