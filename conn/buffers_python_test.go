//go:build unix

package conn

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/pickle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segPattern is pattern() of testdata/segment_peer.py: n as 8 big-endian
// bytes, then 0..250 repeated, cut to n bytes.
func segPattern(n int) []byte {
	block := binary.BigEndian.AppendUint64(nil, uint64(n))
	for i := range 251 {
		block = append(block, byte(i))
	}
	return []byte(strings.Repeat(string(block), n/len(block)+1)[:n])
}

// segText is text() of testdata/segment_peer.py.
func segText(n int) string {
	block := fmt.Sprintf("<%d>", n) + strings.Repeat("abcdefghijklmnopqrstuvwxyz", 4)
	return strings.Repeat(block, n/len(block)+1)[:n]
}

// segValue is the object segment_peer.py expects for size n: large
// payloads as segments of their own, a shared one written once.
func segValue(n, proto int) pickle.Tuple {
	b := segPattern(n)
	t := pickle.Tuple{b, segText(n)}
	if n > 1<<20 {
		return t // spare the interpreters' memory
	}
	t = append(t, b, pickle.ByteArray(segPattern(n)))
	if proto >= 5 {
		t = append(t, pickle.PickleBuffer{Data: segPattern(n), ReadOnly: true}, pickle.PickleBuffer{Data: segPattern(n)})
	}
	return t
}

// Python receives large bytes, str, bytearray and PickleBuffer payloads
// that Send wrote straight from Go's memory, at the highest protocol each
// interpreter reads.
func TestSendBuffersToPython(t *testing.T) {
	var _ BuffersMarshaler = PickleCodec{}
	sizes := []int{0, pickle.LargePayload - 1, pickle.LargePayload, 1 << 20, 64 << 20}
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		proto := min(p.HighestProtocol(), pickle.HighestProtocol)
		a, b, err := SocketPair()
		require.NoError(t, err)
		args := []string{"../testdata/segment_peer.py", "3"}
		for _, n := range sizes {
			args = append(args, fmt.Sprint(n))
		}
		cmd := p.Command(args...)
		cmd.ExtraFiles = append(cmd.ExtraFiles, b)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		b.Close()
		c, err := FromFile(a, &Options{Codec: PickleCodec{Encode: pickle.EncodeOptions{Protocol: proto}}})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(); cmd.Process.Kill(); cmd.Wait() })
		for _, n := range sizes {
			require.NoError(t, c.Send(segValue(n, proto)), "size %d", n)
			reply, err := c.RecvBytes()
			require.NoError(t, err, "size %d: %s", n, &out)
			assert.Equal(t, "ok", string(reply), "size %d at protocol %d", n, proto)
		}
		require.NoError(t, c.Close())
		require.NoError(t, cmd.Wait(), "%s", &out)
		assert.Equal(t, "EOF\n", out.String())
	})
}
