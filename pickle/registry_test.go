package pickle

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type rgCircle struct {
	R float64 `pickle:"r"`
}

type rgSquare struct {
	Side float64 `pickle:"side"`
}

type rgShape interface{ Area() float64 }

func (c rgCircle) Area() float64  { return 3 * c.R * c.R }
func (s *rgSquare) Area() float64 { return s.Side * s.Side }

type rgLevel string

func TestRegister(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Register("geo", "Circle", rgCircle{}, ObjectForm))
	require.NoError(t, r.Register("geo", "Square", (*rgSquare)(nil), ObjectForm))
	assert.ErrorIs(t, r.Register("geo", "Circle", rgSquare{}, ObjectForm), ErrRegistered)
	assert.ErrorIs(t, r.Register("geo", "Other", rgCircle{}, ObjectForm), ErrRegistered)
	assert.Error(t, r.Register("geo", "Bad", 1, ObjectForm), "ObjectForm needs a struct")
	assert.Error(t, r.Register("", "X", rgCircle{}, ObjectForm))
	assert.Error(t, r.Register("geo", "Fn", func() {}, EnumForm))
	require.NoError(t, r.Register("geo", "Level", rgLevel(""), EnumForm))

	g, form, ok := r.ClassOf(&rgSquare{})
	assert.True(t, ok)
	assert.Equal(t, Global{"geo", "Square"}, g)
	assert.Equal(t, ObjectForm, form)
	typ, form, ok := r.TypeOf(Global{"geo", "Level"})
	assert.True(t, ok)
	assert.Equal(t, reflect.TypeFor[rgLevel](), typ)
	assert.Equal(t, "EnumForm", form.String())
	_, _, ok = r.TypeOf(Global{"geo", "Nope"})
	assert.False(t, ok)
}

type rgOnce struct{ A int }

var registerOnce sync.Once

func TestRegisterDefault(t *testing.T) {
	registerOnce.Do(func() { Register("pickle_test_only", "Once", rgOnce{}, ObjectForm) })
	assert.Panics(t, func() { Register("pickle_test_only", "Once", rgOnce{}, ObjectForm) })
	data, err := Marshal(rgOnce{1})
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(data, &v))
	g, _ := v.(*Object).Class()
	assert.Equal(t, Global{"pickle_test_only", "Once"}, g)
}

// Registered classes decode into interfaces by their Go types, which
// must implement them.
func TestRegistryInterfaces(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Register("geo", "Circle", rgCircle{}, ObjectForm))
	require.NoError(t, r.Register("geo", "Square", rgSquare{}, ObjectForm))
	enc, dec := EncodeOptions{Registry: r}, DecodeOptions{Registry: r}
	in := []rgShape{rgCircle{1}, &rgSquare{2}}
	for p := 0; p <= HighestProtocol; p++ {
		data, err := EncodeOptions{Protocol: protoOption(p), Registry: r}.Marshal(in)
		require.NoError(t, err)
		var out []rgShape
		require.NoError(t, dec.Unmarshal(data, &out), "protocol %d", p)
		assert.Equal(t, in, out, "protocol %d", p)
		// An any keeps the model's *Object.
		var anys []any
		require.NoError(t, dec.Unmarshal(data, &anys))
		assert.IsType(t, &Object{}, anys[0])
	}
	// A class that is not registered has no Go type for an interface.
	data, err := enc.Marshal(&Object{Callable: Global{"geo", "Triangle"}, New: true, State: mustDict("a", 1)})
	require.NoError(t, err)
	var s rgShape
	err = dec.Unmarshal(data, &s)
	assert.EqualError(t, err, "pickle: cannot unmarshal Python geo.Triangle into Go value of type pickle.rgShape")
}

func TestUnknownClasses(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Register("geo", "Circle", rgCircle{}, ObjectForm))
	type Anything struct {
		R     float64 `pickle:"r"`
		Class Global  `pickle:",class"`
	}
	unknown, err := Marshal(&Object{Callable: Global{"geo", "Blob"}, New: true, State: mustDict("r", 2.0)})
	require.NoError(t, err)
	circle, err := EncodeOptions{Registry: r}.Marshal(rgCircle{3})
	require.NoError(t, err)

	// By default an instance's attributes fill any struct; a ",class"
	// field says which class it was.
	var a Anything
	require.NoError(t, DecodeOptions{Registry: r}.Unmarshal(unknown, &a))
	assert.Equal(t, Anything{2, Global{"geo", "Blob"}}, a)
	// That field makes the struct encode as an instance of the class again.
	back, err := Marshal(a)
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(back, &v))
	g, _ := v.(*Object).Class()
	assert.Equal(t, Global{"geo", "Blob"}, g)
	assert.True(t, Equal(mustDict("r", 2.0), v.(*Object).State))

	// With RejectUnknown, only registered classes decode.
	strict := DecodeOptions{Registry: r, UnknownClasses: RejectUnknown}
	err = strict.Unmarshal(unknown, &a)
	assert.ErrorIs(t, err, ErrUnknownClass)
	assert.EqualError(t, err, "pickle: cannot unmarshal Python geo.Blob into Go value of type pickle.Anything: class not registered for this Go type")
	require.NoError(t, strict.Unmarshal(circle, &a), "a registered class decodes into another struct")
	assert.Equal(t, 3.0, a.R)

	// A registered type takes only its own class.
	var c rgCircle
	err = DecodeOptions{Registry: r}.Unmarshal(unknown, &c)
	assert.ErrorIs(t, err, ErrUnknownClass)
	assert.Contains(t, err.Error(), "registered for geo.Circle")
	require.NoError(t, DecodeOptions{Registry: r}.Unmarshal(circle, &c))
	assert.Equal(t, rgCircle{3}, c)
	// A plain dict decodes into it, as into any struct.
	plain, err := Marshal(mustDict("r", 4.0))
	require.NoError(t, err)
	require.NoError(t, DecodeOptions{Registry: r}.Unmarshal(plain, &c))
	assert.Equal(t, rgCircle{4}, c)
}

// The shapes of state that Python's classes pickle with.
func TestObjectStates(t *testing.T) {
	type P struct {
		X int `pickle:"x"`
		Y int `pickle:"y"`
	}
	cls := Global{"m", "P"}
	cases := []struct {
		name string
		obj  *Object
	}{
		{"dict", &Object{Callable: cls, New: true, State: mustDict("x", 1, "y", 2)}},
		{"slots", &Object{Callable: cls, New: true, State: Tuple{nil, mustDict("x", 1, "y", 2)}}},
		{"dict_and_slots", &Object{Callable: cls, New: true, State: Tuple{mustDict("x", 1), mustDict("y", 2)}}},
		{"list", &Object{Callable: cls, New: true, State: []any{1, 2}}},
		{"new_args", &Object{Callable: cls, New: true, Args: Tuple{1, 2}}},
		{"reconstructor_tuple", &Object{Callable: gReconstructor, Args: Tuple{cls, Global{"builtins", "tuple"}, Tuple{1, 2}}}},
		{"dict_items", &Object{Callable: cls, New: true, DictItems: mustDict("x", 1, "y", 2)}},
	}
	for _, c := range cases {
		for p := 0; p <= HighestProtocol; p++ {
			data, err := EncodeOptions{Protocol: protoOption(p)}.Marshal(c.obj)
			require.NoError(t, err)
			var got P
			require.NoError(t, Unmarshal(data, &got), "%s protocol %d", c.name, p)
			assert.Equal(t, P{1, 2}, got, "%s protocol %d", c.name, p)
		}
	}
}

func TestEnumForm(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Register("log", "Level", rgLevel(""), EnumForm))
	data, err := EncodeOptions{Registry: r}.Marshal(map[string]rgLevel{"min": "debug"})
	require.NoError(t, err)
	var v any
	require.NoError(t, Unmarshal(data, &v))
	assert.Equal(t, "{min: log.Level[debug]}", fmt.Sprint(v))
	var back map[string]rgLevel
	require.NoError(t, DecodeOptions{Registry: r}.Unmarshal(data, &back))
	assert.Equal(t, map[string]rgLevel{"min": "debug"}, back)
	// A member decodes into the value's own type too.
	var s map[string]string
	require.NoError(t, DecodeOptions{Registry: r}.Unmarshal(data, &s))
	assert.Equal(t, "debug", s["min"])
}
