package pickle

import (
	"fmt"
	"net"
	"testing"
)

// BenchmarkMarshalBuffers compares AppendMarshal, which copies a bytes
// payload into the pickle, with AppendMarshalBuffers, which leaves it
// where it is, into reused buffers as conn.Send uses them. Sizes around
// LargePayload show what the copy costs there.
func BenchmarkMarshalBuffers(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 10 << 20} {
		v := make([]byte, size)
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run("AppendMarshal/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				out, err := EncodeOptions{}.AppendMarshal(dst[:0], v)
				if err != nil {
					b.Fatal(err)
				}
				dst = out
			}
		})
		b.Run("AppendMarshalBuffers/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var bufs net.Buffers
			var dst []byte
			for b.Loop() {
				out, err := EncodeOptions{}.AppendMarshalBuffers(bufs[:0], dst[:0], v)
				if err != nil {
					b.Fatal(err)
				}
				bufs = out
				if len(out) == 1 {
					dst = out[0][:0]
				} else if dst == nil {
					dst = make([]byte, 0, 4096) // as conn.Send has
				}
			}
		})
	}
}
