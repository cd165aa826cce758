package pickle

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selfObject returns an object of class __main__.C whose state holds it,
// as the pickle selfObjectPickle makes it.
func selfObject() *Object {
	o := &Object{Callable: Global{"__main__", "C"}, New: true}
	state := NewDict()
	_ = state.Set("s", o)
	o.State = state
	return o
}

// Values that hold themselves print once, and as Python prints them
// inside: fmt would follow them until the stack overflows, which no
// recover catches.
func TestFormatSelfReference(t *testing.T) {
	list := make([]any, 2)
	list[0], list[1] = int64(1), list
	d := NewDict()
	require.NoError(t, d.Set("self", d))
	require.NoError(t, d.Set("list", list))
	tuple := Tuple{nil, "x"}
	tuple[0] = tuple
	set, err := NewSet(int64(1), Tuple{"a"})
	require.NoError(t, err)

	assert.Equal(t, "[1 [...]]", Format(list, 0))
	assert.Equal(t, "{self: {...}, list: [1 [...]]}", d.String())
	assert.Equal(t, "[(...) x]", Format(tuple, 0))
	assert.Equal(t, "__main__.C.__new__[] state={s: ...}", selfObject().String())
	assert.Equal(t, "{1, [a]}", set.String())
	assert.Equal(t, "set()", (*Set)(nil).String())
	assert.Equal(t, "frozenset()", (*FrozenSet)(nil).String())
	assert.Equal(t, "{}", (*Dict)(nil).String())
	// The same container twice, side by side, is not a cycle.
	inner := []any{"a"}
	assert.Equal(t, "[[a] [a]]", Format([]any{inner, inner}, 0))

	long := make([]any, 100_000)
	for i := range long {
		long[i] = list
	}
	s := reprShort(long)
	assert.LessOrEqual(t, len(s), 40)
	assert.True(t, strings.HasSuffix(s, "..."), s)
}

// selfObjectPickle is {C.__new__(C) with state {'s': itself}: 1} at
// protocol 2.
const selfObjectPickle = "\x80\x02}q\x00c__main__\nC\nq\x01)\x81q\x02}q\x03X\x01\x00\x00\x00sq\x04h\x02sbK\x01s."

// A decoding error that quotes a key which holds itself (here an object
// as the key of a dict decoded into a map of str keys, which FuzzTypedDecode
// found crashing the process) reports it, and returns.
func TestErrorQuotesSelfReference(t *testing.T) {
	var any1 any
	require.NoError(t, Unmarshal([]byte(selfObjectPickle), &any1))
	var m map[string]int
	err := Unmarshal([]byte(selfObjectPickle), &m)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[__main__.C.__new__[] state={s: ...}](key)")

	var s struct{ A int }
	err = DecodeOptions{UnknownFields: RejectUnknown}.Unmarshal([]byte(selfObjectPickle), &s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "__main__.C.__new__[] state={s: ...}")

	// Encoding: an error inside the value of such a key names the key.
	d := NewDict()
	require.NoError(t, d.Set(selfObject(), make(chan int)))
	_, err = Marshal(d)
	var ee *EncodeError
	require.True(t, errors.As(err, &ee), "%v", err)
	assert.Contains(t, err.Error(), "__main__.C.__new__[] state={s: ...}")
}

func TestFormatCutShort(t *testing.T) {
	l := []any{"abcdef", int64(12345), []byte("xyz")}
	assert.Equal(t, "[abcdef 12345 [120 121 122]]", Format(l, 0))
	assert.Equal(t, "[abcdef 12345 [120 121 122]]", Format(l, 28))
	assert.Equal(t, "[abcdef 12345 [120 1...", Format(l, 23))
	assert.Equal(t, "..", Format(l, 2))
	self := make([]any, 1)
	self[0] = self
	assert.Equal(t, "[[...]]", Format(self, 0))
}
