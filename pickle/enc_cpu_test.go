package pickle

import (
	"os"
	"strings"
	"testing"
)

// TestEncodeCPU prints the CPU time of encoding the benchmark payloads
// named in PICKLE_PAYLOADS (all by default), as TestCPUTimes does but
// without decoding them, for quicker A/B runs of encoder changes:
//
//	PICKLE_BENCH=1 PICKLE_PAYLOADS=records,strdict go test -run 'TestEncodeCPU$' -v ./pickle/
func TestEncodeCPU(t *testing.T) {
	if os.Getenv("PICKLE_BENCH") == "" {
		t.Skip("set PICKLE_BENCH=1")
	}
	only := os.Getenv("PICKLE_PAYLOADS")
	for _, p := range benchPayloads {
		if only != "" && !strings.Contains(only, p.name) {
			continue
		}
		bp := payload(t, p.name)
		var buf []byte
		enc := cpuPerOp(func() { buf, _ = EncodeOptions{}.AppendMarshal(buf[:0], bp.value) })
		t.Logf("%-8s encode %8.2fms", p.name, float64(enc)/1e6)
	}
}
