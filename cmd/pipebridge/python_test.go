//go:build unix

package main

// Tests of the pipebridge binary against real Python processes of every
// interpreter in the matrix (internal/pymatrix). The Python side is
// testdata/pypeer.py, standard library only.

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/internal/testbin"
)

func pipebridgeBinary(t *testing.T) string { return testbin.Pipebridge(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// keyVar is the environment variable that carries the test key.
const keyVar = "PIPEBRIDGE_TEST_KEY"

// proc is a running process whose stdout arrives line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error // valid once done is closed
}

// start runs cmd with its stdout read line by line; cleanup kills it.
func start(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 256), stderr: &syncBuffer{}, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = p.stderr
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startBinary runs pipebridge with args; key, if not empty, is in keyVar.
func startBinary(t *testing.T, key string, stdin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(pipebridgeBinary(t), args...)
	cmd.Env = append(os.Environ(), keyVar+"="+key)
	cmd.Stdin = strings.NewReader(stdin)
	return start(t, "pipebridge "+strings.Join(args, " "), cmd)
}

// startPeer runs testdata/pypeer.py in mode with cfg as its first line of
// input.
func startPeer(t *testing.T, py pymatrix.Interpreter, mode string, cfg any) *proc {
	t.Helper()
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cmd := py.Command(filepath.Join("testdata", "pypeer.py"), mode)
	cmd.Stdin = strings.NewReader(string(b) + "\n")
	return start(t, "python "+py.Version+" pypeer.py "+mode, cmd)
}

// line returns the next line of output; nothing within 20 s, or the end of
// output, fails t.
func (p *proc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			t.Fatalf("%s ended (%v) before the next line; stderr:\n%s", p.name, p.err, p.stderr)
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("%s printed nothing for 20 s; stderr:\n%s", p.name, p.stderr)
	}
	return ""
}

// rest returns the remaining lines once the process has exited, and its
// exit error.
func (p *proc) rest(t *testing.T) ([]string, error) {
	t.Helper()
	var lines []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return lines, p.err
			}
			lines = append(lines, l)
		case <-timeout:
			t.Fatalf("%s did not exit within 30 s; stderr:\n%s", p.name, p.stderr)
		}
	}
}

// result reads a pypeer.py result line and requires it to be a success.
func (p *proc) result(t *testing.T) {
	t.Helper()
	var res struct {
		OK     bool
		Errors []string
	}
	line := p.line(t)
	require.NoError(t, json.Unmarshal([]byte(line), &res), "line %q", line)
	require.True(t, res.OK, "python reports:\n%s", strings.Join(res.Errors, "\n"))
}

// listening reads the "listening ADDRESS" line and returns ADDRESS.
func (p *proc) listening(t *testing.T) string {
	t.Helper()
	line := p.line(t)
	addr, ok := strings.CutPrefix(line, "listening ")
	require.True(t, ok, "first line of %s is %q", p.name, line)
	return addr
}

func hexKey(key string) any {
	if key == "" {
		return nil
	}
	return hex.EncodeToString([]byte(key))
}

// families are the transports of the tests, with a Listener address for
// each; "@" picks a fresh abstract name.
func families(t *testing.T) map[string]string {
	f := map[string]string{
		"tcp":  "127.0.0.1:0",
		"unix": filepath.Join(t.TempDir(), "echo.sock"),
	}
	if runtime.GOOS == "linux" {
		f["abstract"] = "@"
	}
	return f
}

// TestEchoListenPython: `echo --listen` on every transport, with and
// without a key, serves Python Clients of every interpreter, several at
// once; a wrong key costs that client only; SIGTERM or SIGINT ends it with
// status 0.
func TestEchoListenPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		key := "echo key " + py.Version
		type server struct {
			p     *proc
			addr  string
			keyed bool
			path  string // a Unix socket file
		}
		var servers []*server
		var cases []map[string]any
		add := func(address, key, mode string, extra ...string) *server {
			args := append([]string{"echo", "--listen", address}, extra...)
			if key != "" {
				args = append(args, "--authkey-env", keyVar)
			}
			s := &server{p: startBinary(t, key, "", args...), keyed: key != ""}
			s.addr = s.p.listening(t)
			servers = append(servers, s)
			ok := func(threads int) map[string]any {
				return map[string]any{"addr": s.addr, "key": hexKey(key), "expect": "ok", "threads": threads, "mode": mode}
			}
			if key == "" {
				cases = append(cases, ok(3))
			} else {
				wrong := ok(1)
				wrong["expect"] = "auth"
				cases = append(cases, ok(2), wrong, ok(1))
			}
			return s
		}
		for fam, address := range families(t) {
			for _, k := range []string{"", key} {
				if fam == "unix" {
					address = filepath.Join(t.TempDir(), "echo.sock")
				}
				s := add(address, k, "objects")
				if fam == "tcp" && k == "" {
					// Every protocol, once: re-encoding does not depend on
					// the transport.
					cases[len(cases)-1]["sweep"] = true
				}
				switch fam {
				case "tcp":
					assert.Regexp(t, `^127\.0\.0\.1:[1-9][0-9]*$`, s.addr)
				case "unix":
					assert.Equal(t, address, s.addr)
					s.path = address
				case "abstract":
					assert.Regexp(t, `^@.+`, s.addr)
				}
			}
		}
		add("127.0.0.1:0", "", "bytes", "--mode", "bytes")
		add("127.0.0.1:0", key, "proto2", "--protocol", "2")

		startPeer(t, py, "clients", map[string]any{"cases": cases}).result(t)

		for i, s := range servers {
			sig := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}[i%2]
			require.NoError(t, s.p.cmd.Process.Signal(sig))
			out, err := s.p.rest(t)
			require.NoError(t, err, "%s after %v; stderr:\n%s", s.p.name, sig, s.p.stderr)
			assert.Empty(t, out)
			stderr := s.p.stderr.String()
			if s.keyed {
				// The wrong key, and nothing else.
				assert.Equal(t, 1, strings.Count(stderr, "\n"), "stderr:\n%s", stderr)
				assert.Contains(t, stderr, "pipebridge echo: conn: authentication failed")
			} else {
				assert.Empty(t, stderr)
			}
			if s.path != "" {
				assert.NoFileExists(t, s.path, "the socket file is removed on exit")
			}
		}
	})
}

// TestEchoDialPython: `echo --dial` against a Python Listener of every
// interpreter, on every transport, with and without a key.
func TestEchoDialPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		key := "dial key"
		var cases []map[string]any
		for fam := range families(t) {
			for _, k := range []string{"", key} {
				cases = append(cases, map[string]any{"family": fam, "key": hexKey(k), "mode": "objects"})
			}
		}
		cases = append(cases, map[string]any{"family": "tcp", "key": nil, "mode": "bytes"})
		peer := startPeer(t, py, "listeners", map[string]any{"cases": cases})
		for _, c := range cases {
			var listening struct{ Addr string }
			require.NoError(t, json.Unmarshal([]byte(peer.line(t)), &listening))
			args := []string{"echo", "--dial", listening.Addr, "--mode", c["mode"].(string)}
			k := ""
			if c["key"] != nil {
				k = key
				args = append(args, "--authkey-env", keyVar)
			}
			echo := startBinary(t, k, "", args...)
			out, err := echo.rest(t)
			require.NoError(t, err, "%s; stderr:\n%s", echo.name, echo.stderr)
			assert.Empty(t, out)
			assert.Empty(t, echo.stderr.String())
			peer.result(t)
		}
	})
}

// literalCase is a line typed into dial or listen, the same value as a
// Python expression that both Python 2 and 3 evaluate, and how it prints.
type literalCase struct {
	in    string // the input line
	py    string // the value, in Python
	repr  string // printed, as it comes from Python 3
	repr2 string // printed, as it comes from Python 2, when different
	json  string // printed with --json
	json2 string // printed with --json, from Python 2, when different
}

var literalCases = []literalCase{
	{in: "None", py: "None", repr: "None", json: "null"},
	{in: "True", py: "True", repr: "True", json: "true"},
	{in: "-7", py: "-7", repr: "-7", json: "-7"},
	{in: "123456789012345678901234567890", py: "123456789012345678901234567890",
		repr: "123456789012345678901234567890", json: "123456789012345678901234567890"},
	{in: "-0x_ff", py: "-255", repr: "-255", json: "-255"},
	{in: "1.5", py: "1.5", repr: "1.5", json: "1.5"},
	{in: "-0.0", py: "-0.0", repr: "-0.0", json: "-0.0"},
	{in: "1e16", py: "1e16", repr: "1e+16", json: "1e+16"},
	{in: "float('-inf')", py: "float('-inf')", repr: "-inf", json: `{"$float":"-inf"}`},
	{in: "nan", py: "float('nan')", repr: "nan", json: `{"$float":"nan"}`},
	{in: "1-2j", py: "complex(1, -2)", repr: "(1-2j)", json: `{"$complex":[1.0,-2.0]}`},
	{in: `'h\u00e9llo\n'`, py: `u'h\xe9llo\n'`, repr: `'héllo\n'`, json: `"héllo\n"`},
	{in: `"it's"`, py: `u"it's"`, repr: `"it's"`, json: `"it's"`},
	{in: `"\ud83d\ude00 JSON"`, py: `u'\U0001f600 JSON'`, repr: `'😀 JSON'`, json: `"😀 JSON"`},
	{in: `b'\x00\xff'`, py: `b'\x00\xff'`, repr: `b'\x00\xff'`, repr2: `'\x00\xff'`, json: `{"$bytes":"AP8="}`},
	{in: `b'abc'`, py: `b'abc'`, repr: `b'abc'`, repr2: `'abc'`, json: `{"$bytes":"YWJj"}`, json2: `"abc"`},
	{in: "bytearray(b'ab')", py: "bytearray(b'ab')", repr: "bytearray(b'ab')", json: `{"$bytearray":"YWI="}`},
	{in: "[1, 'two', (3,), []]", py: "[1, u'two', (3,), []]", repr: "[1, 'two', (3,), []]", json: `[1,"two",[3],[]]`},
	{in: "()", py: "()", repr: "()", json: "[]"},
	{in: "{'a': [1, 2]}", py: "{u'a': [1, 2]}", repr: "{'a': [1, 2]}", json: `{"a":[1,2]}`},
	{in: "{(1, 2): None}", py: "{(1, 2): None}", repr: "{(1, 2): None}", json: `{"(1, 2)":null}`},
	{in: `{"k": [true, false, null, "a\/b"]}`, py: "{u'k': [True, False, None, u'a/b']}",
		repr: "{'k': [True, False, None, 'a/b']}", json: `{"k":[true,false,null,"a/b"]}`},
	{in: "{1, 2, 3}", py: "set([1, 2, 3])", repr: "{1, 2, 3}", json: `{"$set":[1,2,3]}`},
	{in: "set()  # empty", py: "set()", repr: "set()", json: `{"$set":[]}`},
	{in: "frozenset({4})", py: "frozenset([4])", repr: "frozenset({4})", json: `{"$frozenset":[4]}`},
}

func literalInput() (input string, py []string) {
	var b strings.Builder
	b.WriteString("# a comment, then a blank line\n\n")
	for _, c := range literalCases {
		b.WriteString(c.in + "\n")
		py = append(py, c.py)
	}
	return b.String(), py
}

// TestDialPython: `dial` sends literals typed on stdin to a Python service,
// which checks each and sends it back; dial prints what comes back, and the
// greeting the service sends first, as Python's repr.
func TestDialPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		key := "service key"
		input, exprs := literalInput()
		peer := startPeer(t, py, "service", map[string]any{
			"family": "tcp", "key": hexKey(key), "greeting": "hello from Python", "expected": exprs})
		var listening struct{ Addr string }
		require.NoError(t, json.Unmarshal([]byte(peer.line(t)), &listening))
		args := []string{"dial", listening.Addr, "--authkey-env", keyVar, "--wait", "-1"}
		if py.Major == 2 {
			args = append(args, "--protocol", "2")
		}
		dial := startBinary(t, key, input, args...)
		out, err := dial.rest(t)
		peer.result(t)
		require.NoError(t, err, "stderr:\n%s", dial.stderr)
		assert.Empty(t, dial.stderr.String())
		want := []string{"'hello from Python'"}
		for _, c := range literalCases {
			if py.Major == 2 && c.repr2 != "" {
				want = append(want, c.repr2)
			} else {
				want = append(want, c.repr)
			}
		}
		assert.Equal(t, want, out)
	})
}

// TestListenPython: `listen --json` on a Unix socket accepts a Python
// Client (after turning away one with a wrong key), prints what it sends as
// JSON, and sends it the literals typed on stdin.
func TestListenPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		key := "listen key"
		input, exprs := literalInput()
		address := filepath.Join(t.TempDir(), "listen.sock")
		args := []string{"listen", "--json", address, "--authkey-env", keyVar, "--wait=-1"}
		if py.Major == 2 {
			args = append(args, "--protocol=2")
		}
		listen := startBinary(t, key, input, args...)
		require.Equal(t, address, listen.listening(t))
		peer := startPeer(t, py, "client", map[string]any{
			"addr": address, "key": hexKey(key), "wrongkey": true, "send": exprs, "expected": exprs})
		peer.result(t)
		out, err := listen.rest(t)
		require.NoError(t, err, "stderr:\n%s", listen.stderr)
		var want []string
		for _, c := range literalCases {
			if py.Major == 2 && c.json2 != "" {
				want = append(want, c.json2)
			} else {
				want = append(want, c.json)
			}
		}
		assert.Equal(t, want, out)
		stderr := listen.stderr.String()
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line for the wrong key; stderr:\n%s", stderr)
		assert.Contains(t, stderr, "pipebridge listen: conn: authentication failed")
		assert.NoFileExists(t, address)
	})
}
