//go:build unix

package conn

import (
	"encoding/binary"
	"fmt"
	"io"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The throughput benchmarks move bodies one way over a socketpair, three
// ways side by side in one run:
//
//	raw:   the floor: writev(header, body) and read(2) straight into a
//	       reused buffer, blocking syscalls, no Go machinery at all
//	conn:  Conn.SendBytes / Conn.RecvBytes (a new body per message)
//	append: Conn.SendBytes / Conn.RecvBytesAppend(buf[:0]) (a reused buffer)
//
// Each reports MB/s; BenchmarkThroughput's "pct-of-raw" metric is
// the rate as a percentage of raw's for the same size, from one run:
//
//	go test -run '^$' -bench Throughput -benchtime 2s ./conn
var benchSizes = []int{4 << 10, 1 << 20, 64 << 20}

func BenchmarkThroughput(b *testing.B) {
	for _, size := range benchSizes {
		name := fmt.Sprintf("%dKiB", size>>10)
		var rawRate float64
		b.Run(name+"/raw", func(b *testing.B) { rawRate = benchRaw(b, size) })
		b.Run(name+"/conn", func(b *testing.B) {
			rate := benchConn(b, size, false)
			if rawRate > 0 {
				b.ReportMetric(100*rate/rawRate, "pct-of-raw")
			}
		})
		b.Run(name+"/append", func(b *testing.B) {
			rate := benchConn(b, size, true)
			if rawRate > 0 {
				b.ReportMetric(100*rate/rawRate, "pct-of-raw")
			}
		})
	}
}

// rate returns MB/s for n bodies of size bytes in b's elapsed time.
func rate(b *testing.B, size int) float64 {
	return float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
}

func benchRaw(b *testing.B, size int) float64 {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	body := make([]byte, size)
	b.SetBytes(int64(size))
	done := make(chan error, 1)
	go func() {
		hdr := make([]byte, 4)
		buf := make([]byte, size)
		for i := 0; i < b.N; i++ {
			if err := readFull(fds[1], hdr); err != nil {
				done <- err
				return
			}
			n := int(binary.BigEndian.Uint32(hdr))
			if err := readFull(fds[1], buf[:n]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	hdr := binary.BigEndian.AppendUint32(nil, uint32(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		iov := [][]byte{hdr, body}
		for len(iov) > 0 {
			n, err := unix.Writev(fds[0], iov)
			if err != nil {
				b.Fatal(err)
			}
			for n > 0 {
				if n >= len(iov[0]) {
					n -= len(iov[0])
					iov = iov[1:]
				} else {
					iov[0] = iov[0][n:]
					n = 0
				}
			}
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return rate(b, size)
}

func readFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Read(fd, p)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		p = p[n:]
	}
	return nil
}

func benchConn(b *testing.B, size int, reuse bool) float64 {
	a, c, err := Pipe(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	defer c.Close()
	body := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	done := make(chan error, 1)
	go func() {
		var buf []byte
		for i := 0; i < b.N; i++ {
			var err error
			if reuse {
				buf, err = c.RecvBytesAppend(buf[:0])
			} else {
				_, err = c.RecvBytes()
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.SendBytes(body); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return rate(b, size)
}

// BenchmarkSmallObjectRoundTrip is a ping-pong of a small object between
// two Conns: the per-message cost of framing and the codec together.
func BenchmarkSmallObjectRoundTrip(b *testing.B) {
	a, c, err := Pipe(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	defer c.Close()
	go func() {
		for {
			var v any
			if err := c.Recv(&v); err != nil {
				return
			}
			if err := c.Send(v); err != nil {
				return
			}
		}
	}()
	msg := []any{"ping", int64(1), 2.5}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Send(msg); err != nil {
			b.Fatal(err)
		}
		var v any
		if err := a.Recv(&v); err != nil {
			b.Fatal(err)
		}
	}
}
