package pickle_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pipebridge/pipebridge/pickle"
)

func ExampleMarshal() {
	type Point struct {
		X, Y int
		Tag  string `pickle:"tag,omitempty"`
	}
	data, err := pickle.Marshal([]any{Point{1, 2, ""}, map[string]float64{"b": 2, "a": 1}})
	if err != nil {
		panic(err)
	}
	p, _ := pickle.Protocol(data)
	fmt.Println("protocol", p)

	var v any
	if err := pickle.Unmarshal(data, &v); err != nil {
		panic(err)
	}
	fmt.Println(v)
	// Output:
	// protocol 4
	// [{X: 1, Y: 2} {a: 1, b: 2}]
}

func ExampleUnmarshal() {
	// pickle.dumps({'id': 7, 'tags': ('x', b'y'), 'ok': True}) in Python 3.
	data := []byte("\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x02id\x94K\x07\x8c\x04tags\x94\x8c\x01x\x94C\x01y\x94\x86\x94\x8c\x02ok\x94\x88u.")
	var v any
	if err := pickle.Unmarshal(data, &v); err != nil {
		panic(err)
	}
	d := v.(*pickle.Dict)
	for k, val := range d.All() {
		fmt.Printf("%v: %#v\n", k, val)
	}
	// Output:
	// id: 7
	// tags: pickle.Tuple{"x", []uint8{0x79}}
	// ok: true
}

func ExampleDict() {
	d := pickle.NewDict()
	_ = d.Set(1, "one")
	_ = d.Set(1.0, "uno") // 1 == 1.0 in Python: the same key
	_ = d.Set(pickle.Tuple{"a", 2}, "pair")
	err := d.Set([]any{}, "list")
	fmt.Println(d.Len(), d, errors.Is(err, pickle.ErrUnhashable))
	v, ok := d.Get(true) // True == 1
	fmt.Println(v, ok)
	// Output:
	// 2 {1: uno, [a 2]: pair} true
	// uno true
}

func ExampleObject() {
	// pickle.dumps(app.Point(1, 2)) in Python 3.13, where Point is a
	// dataclass: decoded without importing anything, written back unchanged.
	data := []byte("\x80\x04\x95%\x00\x00\x00\x00\x00\x00\x00\x8c\x03app\x94\x8c\x05Point\x94\x93\x94)\x81\x94}\x94(\x8c\x01x\x94K\x01\x8c\x01y\x94K\x02ub.")
	var v any
	if err := pickle.Unmarshal(data, &v); err != nil {
		panic(err)
	}
	obj := v.(*pickle.Object)
	class, _ := obj.Class()
	fmt.Println(class, obj.New, obj.State)

	again, _ := pickle.Marshal(obj)
	fmt.Println(bytes.Equal(again, data))
	// Output:
	// app.Point true {x: 1, y: 2}
	// true
}

func ExampleDecoder() {
	var stream bytes.Buffer
	enc := pickle.NewEncoder(&stream)
	for _, v := range []any{"hello", 42, []string{"a", "b"}} {
		if err := enc.Encode(v); err != nil {
			panic(err)
		}
	}
	dec := pickle.NewDecoder(&stream)
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(v)
	}
	// Output:
	// hello
	// 42
	// [a b]
	// EOF
}

func ExampleEncodeOptions() {
	// Python 2 reads protocols 0 to 2; bytes become _codecs.encode calls
	// and modules get their Python 2 names, as CPython writes them.
	py2 := pickle.EncodeOptions{Protocol: 2}
	data, _ := py2.Marshal(pickle.Global{Module: "builtins", Name: "set"})
	fmt.Printf("%q\n", data)
	data, _ = pickle.EncodeOptions{Protocol: pickle.Protocol0}.Marshal([]any{1, "é"})
	fmt.Printf("%q\n", data)
	// Output:
	// "\x80\x02c__builtin__\nset\nq\x00."
	// "(lp0\nI1\naV\xe9\np1\na."
}

func ExampleDecodeOptions() {
	// A 100-byte pickle claiming 2**60 bytes of data fails at once.
	data := append([]byte("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10"), make([]byte, 89)...)
	var v any
	err := pickle.DecodeOptions{MaxStringLen: 1 << 20}.Unmarshal(data, &v)
	var le *pickle.LimitError
	var de *pickle.DecodeError
	fmt.Println(errors.As(err, &le), le.Limit, errors.As(err, &de), de.Offset)
	fmt.Println(err)
	// Output:
	// true MaxStringLen true 2
	// pickle: BINBYTES8 (0x8e) at offset 2: MaxStringLen exceeded: 1152921504606846976 > 1048576
}

func ExampleToOgrek() {
	var v any
	_ = pickle.Unmarshal([]byte("\x80\x02]q\x00(X\x01\x00\x00\x00aq\x01C\x01be."), &v)
	og, err := pickle.ToOgrek(v)
	fmt.Printf("%#v %v\n", og, err)
	// Output:
	// []interface {}{"a", ogórek.Bytes("b")} <nil>
}

// KnownClasses is the mode for untrusted peers: a pickle that names any
// class or function outside Python's standard types, the Registry and
// AllowGlobals is refused where it names it.
func ExampleDecodeOptions_knownClasses() {
	opts := pickle.DecodeOptions{
		Classes:      pickle.KnownClasses,
		AllowGlobals: []pickle.Global{{Module: "shop", Name: "Order"}},
	}
	var v any
	err := opts.Unmarshal([]byte("cos\nsystem\n(S'rm -rf /'\ntR."), &v)
	fmt.Println(errors.Is(err, pickle.ErrForbiddenClass))
	fmt.Println(err)

	// pickle.dumps(shop.Order(7), 4)
	err = opts.Unmarshal([]byte("\x80\x04\x95 \x00\x00\x00\x00\x00\x00\x00\x8c\x04shop\x94\x8c\x05Order\x94\x93\x94)\x81\x94}\x94\x8c\x02id\x94K\x07sb."), &v)
	fmt.Println(err, v)
	// Output:
	// true
	// pickle: GLOBAL (0x63) at offset 0: class not allowed: os.system (DecodeOptions.Classes is KnownClasses)
	// <nil> shop.Order.__new__[] state={id: 7}
}
