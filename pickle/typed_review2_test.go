package pickle

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests from a second review of the typed decoder: each pickle here made
// the typed decoder give another value or error than the reference path.

type r2Rec struct {
	Name  string `pickle:"name"`
	T     any    `pickle:"t"`
	X     int    `pickle:"x"`
	Class Global `pickle:",class"`
}

// r2Pickle is tsPickle, with "GLOBAL" standing for the opcode GLOBAL of
// __main__.Rec.
func r2Pickle(parts ...any) []byte {
	var out []any
	for _, p := range parts {
		if p == "GLOBAL" {
			for _, b := range []byte("c__main__\nRec\n") {
				out = append(out, b)
			}
			continue
		}
		out = append(out, p)
	}
	return tsPickle(out...)
}

// BUILD makes an instance whose state is a dict built as a struct that
// very struct (adopt). A SETITEM on the instance after its BUILD then set
// the struct's field over the state's, where the reference path keeps
// such items apart (the instance's dict items) and applies the state
// after them: {"name": "a"} as state then "name": "b" gave "b" instead of
// "a".
func TestTypedSetitemAfterBuild(t *testing.T) {
	p := r2Pickle("GLOBAL", opEmptyTuple, opNewobj, opEmptyDict, "name", "a", opSetitem, opBuild,
		"name", "b", opSetitem)
	var r r2Rec
	require.NoError(t, Unmarshal(p, &r))
	assert.Equal(t, "a", r.Name)
	checkAgrees(t, DecodeOptions{}, p, reflect.TypeFor[r2Rec](), "SETITEM after BUILD")
}
