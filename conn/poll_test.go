//go:build unix

package conn

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPoll(t *testing.T) {
	eachTransport(t, func(t *testing.T, a, b *Conn) {
		ok, err := b.Poll(0)
		require.NoError(t, err)
		assert.False(t, ok, "nothing sent yet")

		start := time.Now()
		ok, err = b.Poll(50 * time.Millisecond)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)

		go func() {
			time.Sleep(30 * time.Millisecond)
			a.SendBytes([]byte("x"))
		}()
		ok, err = b.Poll(-1)
		require.NoError(t, err)
		assert.True(t, ok, "a message arrived")
		ok, err = b.Poll(0)
		require.NoError(t, err)
		assert.True(t, ok, "polling consumes nothing")
		got, err := b.RecvBytes()
		require.NoError(t, err)
		assert.Equal(t, "x", string(got))

		ok, err = b.Poll(0)
		require.NoError(t, err)
		assert.False(t, ok)
		require.NoError(t, a.Close())
		ok, err = b.Poll(time.Second)
		require.NoError(t, err)
		assert.True(t, ok, "end of stream is ready, as in Python")
		_, err = b.RecvBytes()
		assert.Equal(t, io.EOF, err)

		require.NoError(t, b.Close())
		_, err = b.Poll(0)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

func TestPollKeepsUserDeadline(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	start := time.Now()
	require.NoError(t, b.SetReadDeadline(start.Add(80*time.Millisecond)))
	ok, err := b.Poll(10 * time.Millisecond)
	require.NoError(t, err)
	assert.False(t, ok)
	// The user's deadline is still the one in force: not the Poll's own,
	// which has passed (the receive would fail at once), and not none (it
	// would wait for the message sent long after).
	late := time.AfterFunc(2*time.Second, func() { a.SendBytes([]byte("late")) })
	defer late.Stop()
	_, err = b.RecvBytes()
	elapsed := time.Since(start)
	assert.True(t, isTimeout(err), "got %v", err)
	assert.GreaterOrEqual(t, elapsed, 70*time.Millisecond, "the receive timed out before the user's deadline")
	assert.Less(t, elapsed, time.Second, "the receive outlived the user's deadline")
}

func TestResumeAfterTimeoutMidFrame(t *testing.T) {
	c, peer := rawPair(t, nil)
	body := pattern(100000)
	frame := append(appendHeader(nil, uint64(len(body))), body...)
	// Part of the header, then part of the body, each followed by a
	// receive that times out; the frame still arrives whole.
	cuts := []int{0, 2, 4 + 50000, len(frame)}
	for i := 1; i < len(cuts); i++ {
		_, err := peer.Write(frame[cuts[i-1]:cuts[i]])
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		got, err := c.RecvBytes()
		if i < len(cuts)-1 {
			require.Error(t, err)
			require.True(t, isTimeout(err), "got %v", err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, body, got)
	}
}

func TestRecvContextCancelledMidFrameLosesNothing(t *testing.T) {
	c, peer := rawPair(t, nil)
	_, err := peer.Write([]byte{0, 0, 0, 5, 'h', 'e'})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err = c.RecvBytesContext(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = peer.Write([]byte("llo"))
	require.NoError(t, err)
	got, err := c.RecvBytesContext(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var v any
	assert.ErrorIs(t, c.RecvContext(ctx, &v), context.DeadlineExceeded)
}

func TestRecvBytesInto(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	for _, m := range []string{"hello", "", "too long for it", "after"} {
		require.NoError(t, a.SendBytes([]byte(m)))
	}
	buf := make([]byte, 10)
	n, err := b.RecvBytesInto(buf[2:]) // recv_bytes_into(buf, 2)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, "\x00\x00hello\x00\x00\x00", string(buf))

	n, err = b.RecvBytesInto(buf)
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	_, err = b.RecvBytesInto(buf)
	var short *BufferTooShortError
	require.ErrorAs(t, err, &short)
	assert.Equal(t, "too long for it", string(short.Message))

	n, err = b.RecvBytesInto(buf)
	require.NoError(t, err, "the Conn stays usable after BufferTooShort")
	assert.Equal(t, "after", string(buf[:n]))
}

func TestRecvBytesIntoResumesIntoNewBuffer(t *testing.T) {
	c, peer := rawPair(t, nil)
	_, err := peer.Write([]byte{0, 0, 0, 6, 'a', 'b', 'c'})
	require.NoError(t, err)
	first := make([]byte, 8)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = c.RecvBytesInto(first)
	require.True(t, isTimeout(err))
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	_, err = peer.Write([]byte("def"))
	require.NoError(t, err)
	// A different buffer, then a plain RecvBytes: both see the whole body.
	second := make([]byte, 6)
	n, err := c.RecvBytesInto(second)
	require.NoError(t, err)
	assert.Equal(t, "abcdef", string(second[:n]))
}

func TestWriteDeadlineBeforeAnyByteIsNotSticky(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	require.NoError(t, a.SetWriteDeadline(pastDeadline))
	err = a.SendBytes([]byte("lost"))
	require.True(t, isTimeout(err), "got %v", err)
	require.NoError(t, a.SetWriteDeadline(time.Time{}))
	require.NoError(t, a.SendBytes([]byte("kept")))
	got, err := b.RecvBytes()
	require.NoError(t, err)
	assert.Equal(t, "kept", string(got), "nothing of the timed-out frame reached the wire")
}

func TestWriteTimeoutMidFrameIsSticky(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	// Nobody reads b, so a large body fills the socket buffers and the
	// write blocks part-way through the frame.
	sent := make(chan error, 1)
	go func() { sent <- a.SendBytes(make([]byte, 32<<20)) }()
	// Wait until part of the frame is on the wire (b has bytes to read),
	// then let the write deadline expire under the blocked write.
	for {
		ok, err := b.Poll(10 * time.Millisecond)
		require.NoError(t, err)
		if ok {
			break
		}
	}
	require.NoError(t, a.SetWriteDeadline(time.Now()))
	err = <-sent
	require.True(t, isTimeout(err), "got %v", err)
	require.NoError(t, a.SetWriteDeadline(time.Time{}))
	err = a.SendBytes([]byte("x"))
	assert.True(t, isTimeout(err), "later sends fail with the same error, got %v", err)
}

func TestSendContextBeforeAnyByte(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, a.SendBytesContext(ctx, []byte("never")), context.Canceled)
	require.NoError(t, a.SendBytes([]byte("sent")), "nothing was written, so the Conn is intact")
	got, err := b.RecvBytes()
	require.NoError(t, err)
	assert.Equal(t, "sent", string(got))
}

func TestWait(t *testing.T) {
	var ends []*Conn
	var peers []*Conn
	for i := 0; i < 4; i++ {
		a, b, err := Pipe(nil)
		require.NoError(t, err)
		defer a.Close()
		defer b.Close()
		peers, ends = append(peers, a), append(ends, b)
	}
	ready, err := Wait(ends, 0)
	require.NoError(t, err)
	assert.Empty(t, ready)

	start := time.Now()
	ready, err = Wait(ends, 30*time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, ready, "timeout with nothing ready")
	assert.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond, "Wait returned before its timeout")

	go func() {
		time.Sleep(20 * time.Millisecond)
		peers[2].SendBytes([]byte("two"))
	}()
	ready, err = Wait(ends, -1)
	require.NoError(t, err)
	assert.Equal(t, []*Conn{ends[2]}, ready)

	require.NoError(t, peers[0].SendBytes([]byte("zero")))
	require.NoError(t, peers[3].Close())
	time.Sleep(10 * time.Millisecond)
	ready, err = Wait(ends, time.Second)
	require.NoError(t, err)
	assert.Equal(t, []*Conn{ends[0], ends[2], ends[3]}, ready, "messages and end of stream, in the order given")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = WaitContext(ctx, ends[1:2])
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestRecvBytesAppend(t *testing.T) {
	a, b, err := Pipe(nil)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	for _, m := range []string{"one", "", "three!", "a longer fourth message"} {
		require.NoError(t, a.SendBytes([]byte(m)))
	}
	buf, err := b.RecvBytesAppend([]byte("prefix:"))
	require.NoError(t, err)
	assert.Equal(t, "prefix:one", string(buf))

	buf, err = b.RecvBytesAppend(buf[:0])
	require.NoError(t, err)
	assert.Equal(t, "", string(buf))

	buf = make([]byte, 0, 16)
	first := &buf[:1][0]
	buf, err = b.RecvBytesAppend(buf)
	require.NoError(t, err)
	assert.Equal(t, "three!", string(buf))
	assert.Same(t, first, &buf[0], "a body that fits reuses dst's memory")

	buf, err = b.RecvBytesAppend(buf[:0])
	require.NoError(t, err)
	assert.Equal(t, "a longer fourth message", string(buf), "a body that does not fit grows dst")
}
