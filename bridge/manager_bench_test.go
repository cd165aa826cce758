//go:build unix

package bridge_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// Go calls a trivial Python method (add) on one connection, one call at a
// time, and from several goroutines at once.
func BenchmarkManagerGoCallsPython(b *testing.B) {
	py := pymatrix.Newest(b)
	for _, par := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", par), func(b *testing.B) {
			srv := startPyManager(b, py, "127.0.0.1:0")
			ctx := context.Background()
			m := dialTest(b, ctx, srv.addr, nil)
			calc, err := m.Create(ctx, "calc")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if par {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := calc.Call(ctx, "add", 1, 2); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if _, err := calc.Call(ctx, "add", 1, 2); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// Python calls a trivial Go method (add) in a loop; the metric is Python's
// own measure of the loop.
func BenchmarkManagerPythonCallsGo(b *testing.B) {
	py := pymatrix.Newest(b)
	g := startGoManager(b, "127.0.0.1:0", nil)
	n := max(b.N, 100)
	got := runPyClient(b, py, g.addr, fmt.Sprintf("bench=%d", n))
	secs, _ := got["seconds"].(float64)
	if secs <= 0 {
		b.Fatalf("no timing: %v", got)
	}
	b.ReportMetric(float64(n)/secs, "calls/s")
}
