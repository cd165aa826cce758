//go:build linux

package conn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/leakcheck"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// Across hosts: the Listener and the Client in two network namespaces that
// the test creates, joined by a veth pair with addresses of their own, so
// that every connection crosses a real (virtual) link between two network
// stacks over TCP with an authentication key. The Go side runs in a
// namespace by re-executing this test binary under `ip netns exec` with
// PIPEBRIDGE_NETNS_ROLE set; the Python side by running the interpreter
// the same way. Traffic never leaves the two namespaces.
//
// It needs root (to create namespaces) and iproute2's `ip`; without them it
// is skipped, saying why.

const (
	netnsHostA = "10.199.0.1" // in the first namespace only
	netnsHostB = "10.199.0.2" // in the second namespace only
)

var netnsKey = []byte("pipebridge netns key")

func TestAcrossNamespaces(t *testing.T) {
	if role := os.Getenv("PIPEBRIDGE_NETNS_ROLE"); role != "" {
		netnsChild(t, role)
		return
	}
	a, b := netnsPair(t)
	leakcheck.Check(t)
	exe, err := os.Executable()
	require.NoError(t, err)

	t.Run("go listener, python client", func(t *testing.T) {
		p := pymatrix.Newest(t)
		lis := netnsStart(t, a, exe, "listen", "PIPEBRIDGE_NETNS_CONNS=1", "PIPEBRIDGE_NETNS_BAD=0")
		addr := lis.line(t)["addr"].(string)
		py := netnsStartCmd(t, a, exec.Command("ip", "netns", "exec", b, p.Path, "testdata/netns_peer.py", "client", addr, hex.EncodeToString(netnsKey)))
		res := py.line(t)
		assert.Equal(t, true, res["ok"], "python client: %v", res)
		assert.Equal(t, netnsHostB, res["local"], "the client connects from the other namespace's address")
		served := lis.line(t)
		assert.Equal(t, true, served["insecure_refused"], "a Listener on %s without a key must be refused", netnsHostA)
		assert.Equal(t, float64(1), served["served"])
		py.wait(t)
		lis.wait(t)
	})
	t.Run("python listener, go client", func(t *testing.T) {
		p := pymatrix.Newest(t)
		py := netnsStartCmd(t, a, exec.Command("ip", "netns", "exec", a, p.Path, "testdata/netns_peer.py", "listen", netnsHostA, hex.EncodeToString(netnsKey)))
		addr := py.line(t)["addr"].(string)
		dial := netnsStart(t, b, exe, "dial", "PIPEBRIDGE_NETNS_ADDR="+addr, "PIPEBRIDGE_NETNS_WRONG=0")
		res := dial.line(t)
		assert.Equal(t, true, res["ok"], "go client: %v", res)
		res = py.line(t)
		assert.Equal(t, true, res["ok"], "python listener: %v", res)
		assert.Equal(t, float64(len(netnsMessages)), res["n"])
		dial.wait(t)
		py.wait(t)
	})
	t.Run("go listener, go client", func(t *testing.T) {
		lis := netnsStart(t, a, exe, "listen", "PIPEBRIDGE_NETNS_CONNS=1", "PIPEBRIDGE_NETNS_BAD=1")
		addr := lis.line(t)["addr"].(string)
		dial := netnsStart(t, b, exe, "dial", "PIPEBRIDGE_NETNS_ADDR="+addr, "PIPEBRIDGE_NETNS_WRONG=1")
		res := dial.line(t)
		assert.Equal(t, true, res["ok"], "go client: %v", res)
		assert.Equal(t, true, res["wrong_key_refused"])
		served := lis.line(t)
		assert.Equal(t, float64(1), served["served"])
		assert.Equal(t, float64(1), served["refused"])
		dial.wait(t)
		lis.wait(t)
	})
}

// netnsPair creates two namespaces joined by a veth pair, each end with its
// address and up, and removes them when t ends. It skips t where that is
// not possible.
func netnsPair(t *testing.T) (a, b string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netns: iproute2's ip is not installed; install it (apt-get install iproute2) to test across network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("netns: creating network namespaces needs root; run the tests as root to test across hosts")
	}
	id := strconv.Itoa(os.Getpid())
	a, b = "pipebridge-a-"+id, "pipebridge-b-"+id
	va, vb := "pbva"+id, "pbvb"+id // interface names: at most 15 bytes
	if out, err := exec.Command("ip", "netns", "add", a).CombinedOutput(); err != nil {
		t.Skipf("netns: cannot create a network namespace here (%v: %s); it needs CAP_SYS_ADMIN", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		// Deleting a namespace removes its end of the veth pair, and so
		// the pair.
		for _, ns := range []string{a, b} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("No such file")) {
				t.Errorf("netns: removing %s: %v: %s", ns, err, out)
			}
		}
	})
	ip := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	ip("netns", "add", b)
	ip("link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b)
	for _, s := range []struct{ ns, dev, addr string }{{a, va, netnsHostA}, {b, vb, netnsHostB}} {
		ip("-n", s.ns, "addr", "add", s.addr+"/30", "dev", s.dev)
		ip("-n", s.ns, "link", "set", s.dev, "up")
		ip("-n", s.ns, "link", "set", "lo", "up")
	}
	return a, b
}

// netnsProc is a process running in a namespace that speaks in JSON lines,
// those of a Go child prefixed with "NETNS ".
type netnsProc struct {
	cmd    *exec.Cmd
	lines  chan map[string]any
	output *tailBuffer
	done   chan error
}

// netnsStart re-executes this test binary in namespace ns, playing role.
func netnsStart(t *testing.T, ns, exe, role string, env ...string) *netnsProc {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^TestAcrossNamespaces$", "-test.v")
	cmd.Env = append(os.Environ(), append(env, "PIPEBRIDGE_NETNS_ROLE="+role, "PIPEBRIDGE_NETNS_KEY="+hex.EncodeToString(netnsKey))...)
	return netnsStartCmd(t, ns, cmd)
}

func netnsStartCmd(t *testing.T, ns string, cmd *exec.Cmd) *netnsProc {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &netnsProc{cmd: cmd, lines: make(chan map[string]any, 8), output: &tailBuffer{max: 8192}, done: make(chan error, 1)}
	cmd.Stderr = p.output
	require.NoError(t, cmd.Start(), "in %s", ns)
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stdout, p.output))
		for sc.Scan() {
			line, ok := bytes.CutPrefix(sc.Bytes(), []byte("NETNS "))
			if !ok && !bytes.HasPrefix(sc.Bytes(), []byte("{")) {
				continue // the Go test runner's own lines
			}
			var m map[string]any
			if json.Unmarshal(line, &m) == nil {
				p.lines <- m
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range p.lines {
		}
	})
	return p
}

// line returns the process's next JSON line; none within 30 s fails t.
func (p *netnsProc) line(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m, ok := <-p.lines:
		require.True(t, ok, "%s ended early; output:\n%s", p.cmd.Args, p.output)
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("%s said nothing for 30 s; output:\n%s", p.cmd.Args, p.output)
		return nil
	}
}

// wait waits for the process to exit successfully.
func (p *netnsProc) wait(t *testing.T) {
	t.Helper()
	for range p.lines {
	}
	select {
	case err := <-p.done:
		assert.NoError(t, err, "%s; output:\n%s", p.cmd.Args, p.output)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit; output:\n%s", p.cmd.Args, p.output)
	}
}

// netnsMessages are what the Go client sends and expects back: bytes with
// SendBytes, values with Send.
var netnsMessages = []any{
	[]byte{},
	bytes.Repeat([]byte{0, 0xff}, 50000),
	map[string]any{"n": []any{int64(1), int64(2)}, "s": "héllo"},
	strings.Repeat("x", 70000),
}

// netnsChild plays one side inside a namespace and reports in "NETNS " lines.
func netnsChild(t *testing.T, role string) {
	key, err := hex.DecodeString(os.Getenv("PIPEBRIDGE_NETNS_KEY"))
	require.NoError(t, err)
	report := func(m map[string]any) {
		b, _ := json.Marshal(m)
		fmt.Printf("NETNS %s\n", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	switch role {
	case "listen":
		conns, _ := strconv.Atoi(os.Getenv("PIPEBRIDGE_NETNS_CONNS"))
		bad, _ := strconv.Atoi(os.Getenv("PIPEBRIDGE_NETNS_BAD"))
		// Not loopback: without a key this must be refused.
		_, err := Listen(netnsHostA+":0", nil)
		insecureRefused := errors.Is(err, ErrInsecureListen)
		l, err := Listen(netnsHostA+":0", &ListenOptions{Auth: Auth{Key: key}})
		require.NoError(t, err)
		defer l.Close()
		report(map[string]any{"addr": l.Addr().String()})
		served, refused := 0, 0
		for served < conns || refused < bad {
			c, err := l.AcceptContext(ctx)
			if errors.Is(err, ErrAuthentication) {
				refused++
				continue
			}
			require.NoError(t, err)
			n := 0
			for {
				b, err := c.RecvBytesContext(ctx)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				require.NoError(t, c.SendBytes(b))
				n++
			}
			c.Close()
			served++
		}
		report(map[string]any{"served": served, "refused": refused, "insecure_refused": insecureRefused})
	case "dial":
		addr := os.Getenv("PIPEBRIDGE_NETNS_ADDR")
		res := map[string]any{}
		if os.Getenv("PIPEBRIDGE_NETNS_WRONG") == "1" {
			_, err := DialContext(ctx, addr, &DialOptions{Auth: Auth{Key: []byte("wrong key")}})
			res["wrong_key_refused"] = errors.Is(err, ErrAuthentication)
		}
		c, err := DialContext(ctx, addr, &DialOptions{Auth: Auth{Key: key}})
		require.NoError(t, err)
		defer c.Close()
		for i, m := range netnsMessages {
			var want []byte
			if b, ok := m.([]byte); ok {
				require.NoError(t, c.SendBytes(b))
				want = b
			} else {
				require.NoError(t, c.Send(m))
				want, err = Pickle.AppendMarshal(nil, m)
				require.NoError(t, err)
			}
			got, err := c.RecvBytesContext(ctx)
			require.NoError(t, err)
			require.Equal(t, want, got, "message %d came back changed", i)
		}
		res["ok"] = true
		report(res)
	default:
		t.Fatalf("unknown PIPEBRIDGE_NETNS_ROLE %q", role)
	}
}
