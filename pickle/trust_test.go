package pickle

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type trustCase struct {
	Group  string `json:"group"`
	Name   string `json:"name"`
	Proto  int    `json:"proto"`
	Class  string `json:"class"`
	Pickle string `json:"pickle"`
}

func trustCases(t *testing.T, p pymatrix.Interpreter) []trustCase {
	out, err := p.Command("testdata/trust.py").Output()
	require.NoError(t, err)
	var cases []trustCase
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c trustCase
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		cases = append(cases, c)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, cases)
	return cases
}

type trustPlain struct {
	A int `pickle:"a"`
}

// TestKnownClassesPython decodes what every Python of the matrix pickles
// at every protocol it has: standard values decode under KnownClasses to
// what AnyClass gives, and instances of classes that are neither modelled,
// registered nor allowed fail with ErrForbiddenClass naming the class,
// into any and into a typed target alike, until they are registered or
// allowed.
func TestKnownClassesPython(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("__main__", "Plain", trustPlain{}, ObjectForm))
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		var safe, refused int
		for _, c := range trustCases(t, p) {
			data, err := hex.DecodeString(c.Pickle)
			require.NoError(t, err)
			open := DecodeOptions{Py2Str: Py2StrLatin1}
			known := open
			known.Classes = KnownClasses
			known.Registry = NewRegistry()
			var want, got any
			require.NoError(t, open.Unmarshal(data, &want), "%s proto %d", c.Name, c.Proto)
			err = known.Unmarshal(data, &got)
			if c.Group == "safe" {
				if assert.NoError(t, err, "%s proto %d", c.Name, c.Proto) {
					assert.True(t, Equal(want, got), "%s proto %d: %v != %v", c.Name, c.Proto, got, want)
				}
				var typed map[string]any
				if c.Name == "ordereddict" {
					assert.NoError(t, known.Unmarshal(data, &typed), "%s proto %d into a map", c.Name, c.Proto)
				}
				safe++
				continue
			}
			require.ErrorIs(t, err, ErrForbiddenClass, "%s proto %d", c.Name, c.Proto)
			assert.Contains(t, err.Error(), c.Class)
			var de *DecodeError
			if assert.ErrorAs(t, err, &de) {
				assert.Contains(t, []byte{opGlobal, opStackGlobal, opInst}, de.Opcode, "%s proto %d: %v", c.Name, c.Proto, err)
			}
			// A typed target is refused the same way.
			var typed map[string]any
			assert.ErrorIs(t, known.Unmarshal(data, &typed), ErrForbiddenClass, "%s proto %d typed", c.Name, c.Proto)
			// Allowed by name, or registered, the class decodes again.
			allowed := known
			allowed.AllowGlobals = []Global{{"__main__", "Point"}, {"__main__", "Plain"}}
			if assert.NoError(t, allowed.Unmarshal(data, &got), "%s proto %d allowed", c.Name, c.Proto) {
				assert.True(t, Equal(want, got), "%s proto %d allowed", c.Name, c.Proto)
			}
			if c.Name == "plain" {
				registered := known
				registered.Registry = reg
				var pl trustPlain
				if assert.NoError(t, registered.Unmarshal(data, &pl), "proto %d registered", c.Proto) {
					assert.Equal(t, trustPlain{A: 1}, pl)
				}
			}
			refused++
		}
		t.Logf("%d standard pickles accepted, %d of unknown classes refused", safe, refused)
		assert.NotZero(t, safe)
		assert.NotZero(t, refused)
	})
}

// TestKnownClassesAttacks: the pickles that run code when Python loads
// them name a function such as os.system; KnownClasses refuses them at
// that opcode, whatever opcode names it.
func TestKnownClassesAttacks(t *testing.T) {
	known := DecodeOptions{Classes: KnownClasses, Extensions: map[int]Global{7: {"os", "system"}}}
	cases := []struct {
		name   string
		pickle string
		op     byte
		offset int64
	}{
		{"GLOBAL REDUCE", "cos\nsystem\n(S'echo hi'\ntR.", opGlobal, 0},
		{"INST", "(S'echo hi'\nios\nsystem\n.", opInst, 12},
		{"STACK_GLOBAL", "\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x07echo hi\x85R.", opStackGlobal, 14},
		{"EXT1", "\x80\x02\x82\x07X\x07\x00\x00\x00echo hi\x85R.", opExt1, 2},
		{"Python 2 name", "c__builtin__\neval\n(S'1'\ntR.", opGlobal, 0},
		{"inside a container", "\x80\x02]q\x00(K\x01cposix\nsystem\nq\x01e.", opGlobal, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v any
			// Without the policy these decode, harmlessly, to *Object.
			require.NoError(t, (&DecodeOptions{Extensions: known.Extensions}).Unmarshal([]byte(c.pickle), &v))
			err := known.Unmarshal([]byte(c.pickle), &v)
			require.ErrorIs(t, err, ErrForbiddenClass)
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, c.op, de.Opcode, "%v", err)
			assert.Equal(t, c.offset, de.Offset, "%v", err)
			assert.Equal(t, c.op, c.pickle[c.offset], "the test's offset")
		})
	}
}

func TestClassPolicyString(t *testing.T) {
	assert.Equal(t, "AnyClass", AnyClass.String())
	assert.Equal(t, "KnownClasses", KnownClasses.String())
	assert.Equal(t, "ClassPolicy(9)", ClassPolicy(9).String())
}

// Every class a stdlib decoder of this package models is accepted under
// KnownClasses: a pathlib.PurePosixPath decodes into Path either way.
func TestKnownClassesModelled(t *testing.T) {
	opts := DecodeOptions{Classes: KnownClasses}
	require.NotEmpty(t, pathClasses)
	for name := range pathClasses {
		data := []byte("\x80\x02cpathlib\n" + name + "\nX\x04\x00\x00\x00/tmp\x85R.")
		var p Path
		require.NoError(t, opts.Unmarshal(data, &p), name)
		assert.Equal(t, Path("/tmp"), p, name)
	}
}
