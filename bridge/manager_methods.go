package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"syscall"
	"unicode"

	"github.com/pipebridge/pipebridge/pickle"
)

// method is a Go function callable with a Python call's arguments.
type method struct {
	name     string
	fn       reflect.Value
	ctx      bool           // takes a context.Context first
	kw       bool           // takes a Kwargs last
	in       []reflect.Type // the positional parameters
	variadic bool
	results  int  // 0 or 1 values besides the error
	err      bool // returns an error last
}

var (
	ctxType    = reflect.TypeFor[context.Context]()
	kwargsType = reflect.TypeFor[Kwargs]()
	errorType  = reflect.TypeFor[error]()
)

// newMethod checks that fn can be called from Python: a func whose
// results are (), (T), (error) or (T, error).
func newMethod(name string, fn any) (*method, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%s is %T, not a func", name, fn)
	}
	t := v.Type()
	m := &method{name: name, fn: v, variadic: t.IsVariadic()}
	first, last := 0, t.NumIn()
	if last > 0 && t.In(0) == ctxType {
		m.ctx = true
		first = 1
	}
	if last > first && t.In(last-1) == kwargsType && !m.variadic {
		m.kw = true
		last--
	}
	for i := first; i < last; i++ {
		m.in = append(m.in, t.In(i))
	}
	switch n := t.NumOut(); {
	case n == 0:
	case n == 1 && t.Out(0) == errorType:
		m.err = true
	case n == 1:
		m.results = 1
	case n == 2 && t.Out(1) == errorType:
		m.results, m.err = 1, true
	default:
		return nil, fmt.Errorf("%s returns %d values; want (), (T), (error) or (T, error)", name, n)
	}
	return m, nil
}

// methodsOf returns the methods obj exposes: the entries of a Methods
// value, or obj's exported methods under their Python names.
func methodsOf(obj any) (map[string]*method, error) {
	out := map[string]*method{}
	if ms, ok := obj.(Methods); ok {
		for name, fn := range ms {
			m, err := newMethod(name, fn)
			if err != nil {
				return nil, err
			}
			out[name] = m
		}
		return out, nil
	}
	if obj == nil {
		return out, nil
	}
	v := reflect.ValueOf(obj)
	t := v.Type()
	for i := range t.NumMethod() {
		name := pythonName(t.Method(i).Name)
		if m, err := newMethod(name, v.Method(i).Interface()); err == nil {
			out[name] = m
		}
	}
	return out, nil
}

// pythonName turns a Go method name into Python's snake case: AddItem is
// add_item, GetURL get_url, HTTPServer http_server.
func pythonName(goName string) string {
	r := []rune(goName)
	var out []rune
	for i, c := range r {
		if unicode.IsUpper(c) {
			if i > 0 && (!unicode.IsUpper(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))) && r[i-1] != '_' {
				out = append(out, '_')
			}
			c = unicode.ToLower(c)
		}
		out = append(out, c)
	}
	return string(out)
}

// call converts Python's arguments to the parameters' types, calls the
// function, and returns its result. Conversion failures are Python
// TypeErrors; a panic is a *panicError.
func (m *method) call(ctx context.Context, args pickle.Tuple, kwds *pickle.Dict) (res any, err error) {
	defer recoverPanic(m.name, &err)
	fixed := len(m.in)
	if m.variadic {
		fixed--
	}
	if len(args) < fixed || (!m.variadic && len(args) > fixed) {
		want := fmt.Sprint(fixed)
		if m.variadic {
			want = fmt.Sprintf("at least %d", fixed)
		}
		return nil, NewPythonError("TypeError", fmt.Sprintf("%s() takes %s positional arguments but %d were given", m.name, want, len(args)))
	}
	in := make([]reflect.Value, 0, len(args)+2)
	if m.ctx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, a := range args {
		t := m.in[min(i, len(m.in)-1)]
		if i >= fixed {
			t = t.Elem()
		}
		p := reflect.New(t)
		if err := pickle.Convert(a, p.Interface()); err != nil {
			return nil, NewPythonError("TypeError", fmt.Sprintf("%s() argument %d: %v", m.name, i+1, err))
		}
		in = append(in, p.Elem())
	}
	switch {
	case m.kw:
		kw := Kwargs{}
		if kwds != nil {
			for k, v := range kwds.All() {
				ks, ok := asString(k)
				if !ok {
					return nil, NewPythonError("TypeError", fmt.Sprintf("%s() keywords must be strings", m.name))
				}
				kw[ks] = v
			}
		}
		in = append(in, reflect.ValueOf(kw))
	case kwds != nil && kwds.Len() > 0:
		k, _ := kwds.At(0)
		return nil, NewPythonError("TypeError", fmt.Sprintf("%s() got an unexpected keyword argument %s", m.name, quote(k)))
	}
	out := m.fn.Call(in)
	if m.err {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if m.results == 1 {
		return out[0].Interface(), nil
	}
	return nil, nil
}

// isEOF reports whether err is a peer's ordinary hang-up.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
