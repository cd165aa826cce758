//go:build unix

package pipebridge_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// BenchmarkCrossLanguage measures, in one run and with one interpreter,
// what the Go side changes for a Python program:
//
//   - bulk bytes, Python sender to a Python receiver, against the same
//     Python sender to a Go receiver (Conn.RecvBytesAppend);
//   - small-object round trips of a Python client against a Python echo
//     peer, and against a Go echo peer (Conn.Recv/Send, in process).
//
// It runs its scenarios once whatever b.N is; run it as
//
//	go test -run '^$' -bench CrossLanguage -benchtime 1x .
//
// The interpreter is $PIPEBRIDGE_BENCH_PYTHON, else the newest one found.
// Metrics: MB/s per direction, round trips per second per peer, and the
// ratios go-vs-python for each.
func BenchmarkCrossLanguage(b *testing.B) {
	py := benchPython(b)
	b.Logf("Python %s (%s)", py.Version, py.Path)
	const count, size = 16, 64 << 20
	const roundTrips = 20000

	pyToPy := bulkPythonToPython(b, py, count, size)
	pyToGo := bulkPythonToGo(b, py, count, size)
	pyEcho := pingPong(b, py, roundTrips, false)
	goEcho := pingPong(b, py, roundTrips, true)

	mb := float64(count*size) / 1e6
	b.ReportMetric(mb/pyToPy.Seconds(), "py→py-MB/s")
	b.ReportMetric(mb/pyToGo.Seconds(), "py→go-MB/s")
	b.ReportMetric(pyToPy.Seconds()/pyToGo.Seconds(), "py→go/py→py")
	b.ReportMetric(roundTrips/pyEcho.Seconds(), "py-echo-rt/s")
	b.ReportMetric(roundTrips/goEcho.Seconds(), "go-echo-rt/s")
	b.ReportMetric(pyEcho.Seconds()/goEcho.Seconds(), "go-echo/py-echo")
}

func benchPython(b *testing.B) pymatrix.Interpreter {
	if want := os.Getenv("PIPEBRIDGE_BENCH_PYTHON"); want != "" {
		all, _ := pymatrix.All()
		for _, p := range all {
			if p.Path == want || p.Short() == want || p.Version == want {
				return p
			}
		}
		b.Fatalf("PIPEBRIDGE_BENCH_PYTHON=%s: no such interpreter", want)
	}
	py := pymatrix.Newest(b)
	if !py.AtLeast(3, 3) {
		b.Skip("the benchmark peer needs Python 3.3+ (time.perf_counter)")
	}
	return py
}

func benchPeer(py pymatrix.Interpreter, files []*os.File, args ...string) *exec.Cmd {
	cmd := py.Command(append([]string{filepath.Join("testdata", "bench_peer.py")}, args...)...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	return cmd
}

// seconds parses the elapsed time a bench_peer.py command printed.
func seconds(b *testing.B, out []byte) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("bench_peer.py printed %q", out)
	}
	return time.Duration(f * float64(time.Second))
}

func bulkPythonToPython(b *testing.B, py pymatrix.Interpreter, count, size int) time.Duration {
	s, r, err := conn.SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	sender := benchPeer(py, []*os.File{s}, "send-bulk", "3", strconv.Itoa(count), strconv.Itoa(size))
	receiver := benchPeer(py, []*os.File{r}, "recv-bulk", "3", strconv.Itoa(count))
	if err := sender.Start(); err != nil {
		b.Fatal(err)
	}
	out, err := receiver.Output()
	s.Close()
	r.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := sender.Wait(); err != nil {
		b.Fatal(err)
	}
	return seconds(b, out)
}

func bulkPythonToGo(b *testing.B, py pymatrix.Interpreter, count, size int) time.Duration {
	mine, theirs, err := conn.SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	c, err := conn.FromFile(mine, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sender := benchPeer(py, []*os.File{theirs}, "send-bulk", "3", strconv.Itoa(count), strconv.Itoa(size))
	if err := sender.Start(); err != nil {
		b.Fatal(err)
	}
	theirs.Close()
	// Timed like recv-bulk: from the first receive call to the last body.
	start := time.Now()
	var buf []byte
	for i := 0; i < count; i++ {
		if buf, err = c.RecvBytesAppend(buf[:0]); err != nil {
			b.Fatal(err)
		}
		if len(buf) != size {
			b.Fatalf("got %d bytes, want %d", len(buf), size)
		}
	}
	elapsed := time.Since(start)
	if err := sender.Wait(); err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// pingPong times a Python client's small-object round trips against a
// Python echo peer, or against a Go one when goPeer is set.
func pingPong(b *testing.B, py pymatrix.Interpreter, n int, goPeer bool) time.Duration {
	clientEnd, peerEnd, err := conn.SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	client := benchPeer(py, []*os.File{clientEnd}, "pingpong", "3", strconv.Itoa(n))
	if goPeer {
		c, err := conn.FromFile(peerEnd, nil)
		if err != nil {
			b.Fatal(err)
		}
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
	} else {
		peer := benchPeer(py, []*os.File{peerEnd}, "echo", "3")
		if err := peer.Start(); err != nil {
			b.Fatal(err)
		}
		peerEnd.Close()
		defer peer.Wait()
	}
	out, err := client.Output()
	clientEnd.Close()
	if err != nil {
		b.Fatal(err)
	}
	return seconds(b, out)
}
