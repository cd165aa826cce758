package bridge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pipebridge/pipebridge/pickle"
)

// The kinds of reply a multiprocessing.managers server sends: each reply is
// the pair (kind, result).
const (
	kindReturn         = "#RETURN"         // result is the value
	kindError          = "#ERROR"          // result is the exception the method raised
	kindTraceback      = "#TRACEBACK"      // result is a formatted traceback (str)
	kindUnserializable = "#UNSERIALIZABLE" // the value could not be pickled; result is the traceback
	kindProxy          = "#PROXY"          // result is (exposed, Token) of a new shared object
)

// getValue is the method name that asks a server for a copy of the object
// itself (BaseProxy._getvalue).
const getValue = "#GETVALUE"

// Kwargs are keyword arguments. As the last argument of [Proxy.Call],
// [Proxy.CallInto] or [Manager.Create] they are sent as the call's **kwds
// rather than as a positional dict; a method of a [ManagerServer] that takes
// a Kwargs as its last parameter receives the keyword arguments of Python's
// call in it.
type Kwargs map[string]any

// splitArgs separates trailing Kwargs from positional arguments.
func splitArgs(args []any) (pickle.Tuple, Kwargs) {
	if n := len(args); n > 0 {
		if kw, ok := args[n-1].(Kwargs); ok {
			return pickle.Tuple(args[:n-1]), kw
		}
	}
	return pickle.Tuple(args), nil
}

// kwdsValue is kw as the request's kwds: always a dict, never None.
func kwdsValue(kw Kwargs) any {
	if kw == nil {
		return map[string]any{}
	}
	return map[string]any(kw)
}

var (
	// ErrManagerClosed is returned by calls on a Manager, or a Proxy of
	// it, after Close or Shutdown.
	ErrManagerClosed = errors.New("bridge: manager closed")

	// ErrServerClosed is returned by ManagerServer.Serve after Close or
	// Shutdown, or after a client asked the server to shut down.
	ErrServerClosed = errors.New("bridge: manager server closed")

	// ErrConnectionLost reports that the connection to a manager broke
	// during a call: the server died, or closed the connection, before it
	// replied. Whether the method ran is unknown. The error also wraps
	// the I/O error that revealed it.
	ErrConnectionLost = errors.New("bridge: manager connection lost")

	// ErrNotExposed reports a call of a method the shared object does not
	// expose.
	ErrNotExposed = errors.New("bridge: method not exposed")

	// ErrBadMessage reports a request or reply that is not shaped as the
	// manager protocol says.
	ErrBadMessage = errors.New("bridge: malformed manager message")
)

// PythonError is a Python exception crossing a manager connection.
//
// A Manager's calls return one when the Python method raised (the server
// sent the exception itself, or, for failures outside the method, a
// traceback, which Python's client raises as RemoteError). A method of a
// ManagerServer returns one to raise that exception in the Python caller;
// any other error is raised as RuntimeError.
type PythonError struct {
	// Type is the exception's class as a traceback names it: "ValueError"
	// for built-in exceptions, "module.Name" for others. From a traceback,
	// it is the class named on its last line, if any.
	Type string

	// Args are the exception's args, as decoded by package pickle. From a
	// traceback, the text after the class name on its last line.
	Args []any

	// Traceback is the formatted traceback the server sent instead of the
	// exception (Python's RemoteError), or empty.
	Traceback string
}

// NewPythonError returns the exception typ(*args) for a ManagerServer
// method to raise in its Python caller. typ is "ValueError" or
// "builtins.ValueError" for a built-in class, "module.Name" for others; the
// caller's Python must be able to import it (Python 2 has no
// FileNotFoundError, for one).
func NewPythonError(typ string, args ...any) *PythonError {
	return &PythonError{Type: strings.TrimPrefix(typ, "builtins."), Args: args}
}

// Message is the exception's message: its single argument as a string, or
// its arguments formatted together.
func (e *PythonError) Message() string {
	switch len(e.Args) {
	case 0:
		return ""
	case 1:
		if s, ok := e.Args[0].(string); ok {
			return s
		}
		return fmt.Sprint(e.Args[0])
	}
	return fmt.Sprint(pickle.Tuple(e.Args))
}

func (e *PythonError) Error() string {
	if m := e.Message(); m != "" {
		return "bridge: python " + e.Type + ": " + m
	}
	return "bridge: python " + e.Type
}

// class returns the Global that builds the exception in Python.
func (e *PythonError) class() pickle.Global {
	typ := e.Type
	if typ == "" {
		typ = "RuntimeError"
	}
	if i := strings.LastIndexByte(typ, '.'); i >= 0 {
		return pickle.Global{Module: typ[:i], Name: typ[i+1:]}
	}
	return pickle.Global{Module: "builtins", Name: typ}
}

// pickleValue is the exception as a pickled object: class(*args).
func (e *PythonError) pickleValue() *pickle.Object {
	return &pickle.Object{Callable: e.class(), Args: pickle.Tuple(e.Args)}
}

// typeName names a class as a traceback does: without "builtins.".
func typeName(g pickle.Global) string {
	if g.Module == "builtins" || g.Module == "exceptions" || g.Module == "" {
		return g.Name
	}
	return g.Module + "." + g.Name
}

// pythonErrorFrom turns the result of an '#ERROR' reply into a PythonError.
func pythonErrorFrom(result any) *PythonError {
	o, ok := result.(*pickle.Object)
	if !ok {
		// Not an exception instance: whatever was raised, as text.
		return &PythonError{Type: "RemoteError", Args: []any{fmt.Sprint(result)}}
	}
	e := &PythonError{Type: fmt.Sprint(o.Callable), Args: []any(o.Args)}
	if g, ok := o.Class(); ok {
		e.Type = typeName(g)
	}
	if e.Args == nil {
		// Exceptions pickled with NEWOBJ keep their args in the state.
		if st, ok := o.State.(*pickle.Dict); ok {
			if a, ok := st.Get("args"); ok {
				if t, ok := a.(pickle.Tuple); ok {
					e.Args = []any(t)
				}
			}
		}
	}
	return e
}

// tracebackError turns the text of a '#TRACEBACK' or '#UNSERIALIZABLE'
// reply into a PythonError named after the traceback's last line.
func tracebackError(kind string, result any) *PythonError {
	var text string
	switch r := result.(type) {
	case string:
		text = r
	case pickle.ByteString:
		text = string(r)
	case []byte:
		text = string(r)
	default:
		text = fmt.Sprint(r)
	}
	e := &PythonError{Type: "RemoteError", Traceback: text}
	if kind == kindUnserializable {
		e.Args = []any{"unserializable message"}
	}
	last := strings.TrimSpace(text)
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	name, msg, _ := strings.Cut(last, ":")
	if name != "" && !strings.ContainsAny(name, " \t'\"()") {
		e.Type = name
		e.Args = []any{strings.TrimSpace(msg)}
	}
	return e
}

// replyError turns a failed reply into the error it stands for.
func replyError(kind string, result any) error {
	switch kind {
	case kindError:
		return pythonErrorFrom(result)
	case kindTraceback, kindUnserializable:
		return tracebackError(kind, result)
	}
	return fmt.Errorf("%w: unknown reply kind %q", ErrBadMessage, kind)
}

// quote is a value a peer sent, for an error message: short, and safe on
// a value that holds itself, which fmt would follow until the stack
// overflows.
func quote(v any) string { return pickle.Format(v, 80) }

// asString reads a str that may come from Python 2 as a byte string.
func asString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case pickle.ByteString:
		return string(s), true
	case []byte: // with DecodeOptions.Py2Str set to Py2StrBytes
		return string(s), true
	}
	return "", false
}

// Token identifies a shared object on a manager server, as
// multiprocessing.managers.Token does: the typeid it was created as, the
// server's address, and the object's id there.
type Token struct {
	TypeID  string
	Address any // as the server gave it: ("host", port) as a pickle.Tuple, or a path
	ID      string
}

// tokenClass is the class of a pickled Token.
var tokenClass = pickle.Global{Module: "multiprocessing.managers", Name: "Token"}

// tokenFrom reads a pickled Token: NEWOBJ of the class, then BUILD with the
// state tuple (typeid, address, id), which is how every version pickles
// this class with __slots__ and __getstate__.
func tokenFrom(v any) (Token, error) {
	o, ok := v.(*pickle.Object)
	if !ok {
		return Token{}, fmt.Errorf("%w: token is %T, not an object", ErrBadMessage, v)
	}
	st, ok := o.State.(pickle.Tuple)
	if !ok || len(st) != 3 {
		return Token{}, fmt.Errorf("%w: token state %s", ErrBadMessage, quote(o.State))
	}
	typeid, ok1 := asString(st[0])
	id, ok2 := asString(st[2])
	if !ok1 || !ok2 {
		return Token{}, fmt.Errorf("%w: token state %s", ErrBadMessage, quote(st))
	}
	return Token{TypeID: typeid, Address: st[1], ID: id}, nil
}

// pickleValue is the Token as Python pickles it.
func (t Token) pickleValue() *pickle.Object {
	return &pickle.Object{Callable: tokenClass, New: true, Args: pickle.Tuple{},
		State: pickle.Tuple{t.TypeID, t.Address, t.ID}}
}

// encodeOptions writes protocol p, which is at least 2 for every peer.
func encodeOptions(p int) pickle.EncodeOptions {
	if p < 2 {
		p = 2
	}
	return pickle.EncodeOptions{Protocol: p}
}
