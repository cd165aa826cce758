package pickle

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDisassemble(t *testing.T) {
	// pickle.dumps({'a': [1, 2.5, None, True, 2**70, -3], 'b': (b'x', {1, 2}), 'c': '\u2603'}, 4)
	data := []byte("\x80\x04\x95\x46\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94\x5d\x94\x28\x4b\x01\x47\x40\x04\x00\x00\x00\x00\x00\x00\x4e\x88\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x4a\xfd\xff\xff\xff\x65\x8c\x01\x62\x94\x43\x01\x78\x94\x8f\x94\x28\x4b\x01\x4b\x02\x90\x86\x94\x8c\x01\x63\x94\x8c\x03\xe2\x98\x83\x94\x75\x2e")
	var out bytes.Buffer
	require.NoError(t, Disassemble(&out, data))
	want := `    0: \x80 PROTO      4
    2: \x95 FRAME      70
   11: }    EMPTY_DICT
   12: \x94 MEMOIZE    (as 0)
   13: (    MARK
   14: \x8c     SHORT_BINUNICODE 'a'
   17: \x94     MEMOIZE    (as 1)
   18: ]        EMPTY_LIST
   19: \x94     MEMOIZE    (as 2)
   20: (        MARK
   21: K            BININT1    1
   23: G            BINFLOAT   2.5
   32: N            NONE
   33: \x88         NEWTRUE
   34: \x8a         LONG1      1180591620717411303424
   45: J            BININT     -3
   50: e            APPENDS    (MARK at 20)
   51: \x8c     SHORT_BINUNICODE 'b'
   54: \x94     MEMOIZE    (as 3)
   55: C        SHORT_BINBYTES b'x'
   58: \x94     MEMOIZE    (as 4)
   59: \x8f     EMPTY_SET
   60: \x94     MEMOIZE    (as 5)
   61: (        MARK
   62: K            BININT1    1
   64: K            BININT1    2
   66: \x90         ADDITEMS   (MARK at 61)
   67: \x86     TUPLE2
   68: \x94     MEMOIZE    (as 6)
   69: \x8c     SHORT_BINUNICODE 'c'
   72: \x94     MEMOIZE    (as 7)
   73: \x8c     SHORT_BINUNICODE '☃'
   78: \x94     MEMOIZE    (as 8)
   79: u        SETITEMS   (MARK at 13)
   80: .    STOP
highest protocol among opcodes = 4
`
	assert.Equal(t, want, out.String())
}

func TestDisassembleProtocol0(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, Disassemble(&out, []byte("(lp0\nI1\naS'x'\np1\nac__builtin__\nset\np2\na.")))
	assert.Contains(t, out.String(), `    0: (    MARK`)
	assert.Contains(t, out.String(), `    1: l        LIST       (MARK at 0)`)
	assert.Contains(t, out.String(), `    9: S    STRING     "'x'"`)
	assert.Contains(t, out.String(), `   18: c    GLOBAL     '__builtin__ set'`)
	assert.True(t, strings.HasSuffix(out.String(), "highest protocol among opcodes = 0\n"))
}

func TestDisassembleErrors(t *testing.T) {
	cases := map[string]struct {
		data   string
		offset int64
		cause  error
	}{
		"empty":           {"", 0, ErrTruncated},
		"no STOP":         {"\x80\x04N", 3, ErrTruncated},
		"unknown opcode":  {"\x80\x04\xff.", 2, ErrUnknownOpcode},
		"short argument":  {"\x80\x04J\x01\x02", 2, ErrTruncated},
		"lying length":    {"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10x.", 2, ErrTruncated},
		"no MARK":         {"\x80\x04e.", 2, ErrMark},
		"MARK left open":  {"\x80\x04(.", 3, ErrMark},
		"line without NL": {"I12", 0, ErrTruncated},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := Disassemble(&out, []byte(c.data))
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, c.offset, de.Offset)
			assert.True(t, errors.Is(err, c.cause), "got %v", err)
			assert.NotContains(t, out.String(), "highest protocol")
		})
	}
}
