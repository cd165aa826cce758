//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/pickle"
)

// runBinary runs a command in process with binary standard input and
// output.
func runBinary(stdin []byte, args ...string) (status int, stdout []byte, stderr string) {
	var out, errOut bytes.Buffer
	e := &env{
		stdin:     bytes.NewReader(stdin),
		stdout:    &out,
		stderr:    &errOut,
		lookupEnv: func(string) (string, bool) { return "", false },
	}
	status = run(args, e)
	return status, out.Bytes(), errOut.String()
}

type pyPickle struct {
	proto   int
	name    string
	data    []byte
	listing string
}

// pythonPickles runs testdata/pickles.py make under py.
func pythonPickles(t *testing.T, py pymatrix.Interpreter) []pyPickle {
	out, err := py.Command("testdata/pickles.py", "make").Output()
	require.NoError(t, err)
	r := bytes.NewReader(out)
	// next reads one length-prefixed record; false at the clean end of
	// the output, and a failure for anything cut short.
	next := func(what string) ([]byte, bool) {
		var n [4]byte
		_, err := io.ReadFull(r, n[:])
		if err == io.EOF {
			return nil, false
		}
		require.NoError(t, err, "reading the length of a %s", what)
		b := make([]byte, binary.BigEndian.Uint32(n[:]))
		_, err = io.ReadFull(r, b)
		require.NoError(t, err, "reading a %s", what)
		return b, true
	}
	var all []pyPickle
	for {
		head, ok := next("header")
		if !ok {
			return all
		}
		protoS, name, _ := strings.Cut(string(head), " ")
		proto, err := strconv.Atoi(protoS)
		require.NoError(t, err, "header %q", head)
		data, ok := next("pickle")
		require.True(t, ok, "%s: the output ends after its header", head)
		listing, ok := next("listing")
		require.True(t, ok, "%s: the output ends before its listing", head)
		all = append(all, pyPickle{proto: proto, name: name, data: data, listing: string(listing)})
	}
}

// TestRepickleThroughPython: every value of the corpus, pickled by each
// Python at each protocol it writes, repickled by Go at the protocol it
// came in, loads in that Python as the same value, with its shared parts
// and cycles.
func TestRepickleThroughPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, py pymatrix.Interpreter) {
		t.Parallel()
		var back bytes.Buffer
		record := func(b []byte) {
			back.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
			back.Write(b)
		}
		pickles := pythonPickles(t, py)
		require.NotEmpty(t, pickles)
		for _, p := range pickles {
			status, out, stderr := runBinary(p.data, "repickle")
			require.Equal(t, 0, status, "%d %s: %s", p.proto, p.name, stderr)
			// "The protocol it came in" is what its opcodes show: Python's
			// protocol 0 and 1 pickles of None are the same bytes.
			want, err := pickle.Protocol(p.data)
			require.NoError(t, err)
			got, err := pickle.Protocol(out)
			require.NoError(t, err)
			assert.Equal(t, want, got, "%d %s: written at the protocol it came in", p.proto, p.name)
			if p.proto >= 2 {
				assert.Equal(t, p.proto, got)
			}
			record([]byte(strconv.Itoa(p.proto) + " " + p.name))
			record(out)
		}
		cmd := py.Command("testdata/pickles.py", "check")
		cmd.Stdin = &back
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, "checked "+strconv.Itoa(len(pickles))+"\n", string(out))
	})
}

func TestRepickleProtocolFlag(t *testing.T) {
	in, err := pickle.EncodeOptions{Protocol: 2}.Marshal([]any{"x", int64(1)})
	require.NoError(t, err)
	for proto := 0; proto <= pickle.HighestProtocol; proto++ {
		status, out, stderr := runBinary(in, "repickle", "--protocol", strconv.Itoa(proto))
		require.Equal(t, 0, status, stderr)
		got, err := pickle.Protocol(out)
		require.NoError(t, err)
		assert.Equal(t, proto, got)
		var v any
		require.NoError(t, pickle.Unmarshal(out, &v))
		assert.Equal(t, []any{"x", int64(1)}, v)
	}
}

// TestRepickleInvalidInput: exit status 1, one line on standard error,
// nothing on standard output.
func TestRepickleInvalidInput(t *testing.T) {
	good, err := pickle.Marshal("ok")
	require.NoError(t, err)
	cases := map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("this is not a pickle"),
		"truncated":      good[:len(good)-1],
		"after STOP":     append(append([]byte{}, good...), 'N', '.'),
		"lying length":   []byte("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10x."),
		"unknown opcode": []byte("\x80\x04\xff."),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			status, out, stderr := runBinary(in, "repickle")
			assert.Equal(t, 1, status)
			assert.Empty(t, out)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			assert.True(t, strings.HasPrefix(stderr, "pipebridge repickle: "), stderr)
		})
	}
	status, out, stderr := runBinary(good, "repickle", "--protocol", "6")
	assert.Equal(t, 2, status)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "--protocol must be 0 to 5")
}

var offsetRE = regexp.MustCompile(`(?m)^\s*(\d+):`)

// TestDisMatchesPickletools: for every pickle of the newest Python, dis
// lists the same opcodes at the same offsets as pickletools.dis, and the
// same highest protocol.
func TestDisMatchesPickletools(t *testing.T) {
	py := pymatrix.Newest(t)
	pickles := pythonPickles(t, py)
	require.NotEmpty(t, pickles)
	for _, p := range pickles {
		status, out, stderr := runBinary(p.data, "dis")
		require.Equal(t, 0, status, "%d %s: %s", p.proto, p.name, stderr)
		ours, theirs := string(out), p.listing
		// Two empty lists would agree: pickletools' listing must parse.
		require.NotEmpty(t, opNames(theirs), "%d %s: no opcodes in pickletools' listing:\n%s", p.proto, p.name, theirs)
		assert.Equal(t, offsetRE.FindAllString(theirs, -1), offsetRE.FindAllString(ours, -1), "%d %s offsets", p.proto, p.name)
		assert.Equal(t, opNames(theirs), opNames(ours), "%d %s opcodes", p.proto, p.name)
		assert.Equal(t, lastLine(theirs), lastLine(ours))
	}
}

func opNames(listing string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(listing))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && strings.HasSuffix(f[0], ":") {
			names = append(names, f[2])
		}
	}
	return names
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func TestDisBrokenInput(t *testing.T) {
	status, out, stderr := runBinary([]byte("\x80\x04N\xff."), "dis")
	assert.Equal(t, 1, status)
	assert.Contains(t, string(out), "NONE", "what precedes the fault is listed")
	assert.Contains(t, stderr, "unknown opcode")
	assert.Equal(t, 1, strings.Count(stderr, "\n"))
}
