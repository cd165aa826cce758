// Package bridge connects whole processes: it starts a Python (or any)
// program with one end of a pipe attached, or picks up the end that a parent
// handed down, so that both sides talk through multiprocessing's
// Connection protocol.
//
// Go starts Python:
//
//	p, err := bridge.Start(exec.Command("python3", "worker.py"), nil)
//	...
//	p.Conn.Send("job 1")
//	var reply any
//	p.Conn.Recv(&reply)
//	p.Close(5 * time.Second)
//
// where worker.py needs only the standard library:
//
//	import os
//	from multiprocessing.connection import Connection
//	conn = Connection(int(os.environ["PIPEBRIDGE_FD"]))
//	job = conn.recv()
//	conn.send("done: " + job)
//
// Python starts Go: the Python parent passes one end of a Pipe() with
// pass_fds and names it in PIPEBRIDGE_FD; the Go child calls Inherited.
//
// On Python 2.7, whose Connection lives in the C module, the child uses
// _multiprocessing.Connection(fd) instead.
//
// # Calling functions across the boundary
//
// Python's own remote calls over Connections are multiprocessing.managers:
// a server shares objects, and clients call their methods through proxies.
// This package speaks that protocol in both roles, so the Python side
// needs nothing but its standard library.
//
// Go calls Python: [DialManager] connects to a BaseManager server (from
// get_server().serve_forever() or start()); [Manager.Create] creates a
// shared object of a registered typeid and returns its [Proxy];
// [Proxy.Call] and [Proxy.CallInto] call its methods, [Proxy.Value]
// copies it (#GETVALUE), [Proxy.Close] releases it (decref), and
// [Manager.Shutdown] stops the server.
//
//	m, err := bridge.DialManager(ctx, "127.0.0.1:6000", []byte("secret"), nil)
//	inv, err := m.Create(ctx, "inventory", bridge.Kwargs{"owner": "go"})
//	err = inv.CallInto(ctx, &n, "add", "apples", 3)
//
// Python calls Go: a [ManagerServer] shares Go objects, registered by
// typeid with [ManagerServer.Register] (one object for every create) or
// [ManagerServer.RegisterFactory] (a new object per create, from create's
// arguments), and serves a [conn.Listener]. A Python client registers the
// typeid by name only, M.register("calc"), connects, and calls m.calc().
// An object's exposed methods are its exported methods under snake-case
// names (AddItem is add_item), or the entries of a [Methods] table. A
// method that returns a [Shared] hands Python a new shared object, as
// method_to_typeid does in Python: the client gets a proxy for it (it
// registers that typeid with create_method=False).
//
// # The manager protocol
//
// Every connection is authenticated as a Listener and Client are (HMAC
// with the authkey). Its first request is the tuple (ident, methodname,
// args, kwds), with ident None for requests to the server itself: dummy
// (what BaseManager.connect sends), create (args are (typeid, *args), the
// reply (ident, exposed)), incref, decref, get_methods,
// number_of_objects, debug_info, shutdown. The server replies (kind,
// result) and closes the connection, except after accept_connection,
// which turns it into a connection for method calls: each request then
// names a shared object by ident, and each reply is ('#RETURN', value),
// ('#ERROR', exception), ('#TRACEBACK', text), ('#UNSERIALIZABLE', text)
// or ('#PROXY', (exposed, Token)) for a method that returns another shared
// object (method_to_typeid). Python opens one such connection per thread.
// #GETVALUE, __str__ and __repr__ are served for every object.
//
// Python versions differ in details this package follows: requests and
// replies are pickled at the peer's default protocol (2 for 2.7, 3 for
// 3.6 and 3.7, 4 for 3.8 to 3.13), which a Manager learns from the
// server's reply to its first request and a ManagerServer from each
// request; Python 2.7 checks that a traceback is a byte string; Python
// 3.11 and older authenticate with legacy HMAC-MD5 only, so a Listener
// for them lists conn.DigestLegacyMD5 in AcceptDigests (a Manager accepts
// it unless told otherwise). A Go string reaches Python 2 as unicode.
//
// # Concurrency
//
// A Manager and its Proxies are safe for concurrent use. Requests to the
// server (Create, Close, ...) each open a connection, as Python's manager
// does; method calls take a connection from a pool (or open one, with
// accept_connection), one call at a time on each, and put it back after
// the reply; up to ManagerOptions.MaxIdleConns stay open. A call whose
// context ends, or whose connection breaks, drops its connection: the
// server is not asked to stop the method, whose reply is discarded.
//
// A ManagerServer serves each connection in its own goroutine, so the
// methods of one shared object run concurrently when several Python
// threads or processes call them: make them safe for that. A method that
// takes a context.Context first gets one that is cancelled when its
// client hangs up or the server closes.
//
// # Values and errors
//
// Arguments and results are pickled by package pickle. A Go caller's
// arguments are encoded as Marshal encodes them; a trailing [Kwargs]
// becomes the call's keyword arguments. Results decode into an any as
// Unmarshal does (int64, string, []any, pickle.Tuple, *pickle.Dict, ...),
// or into a typed target with CallInto. A Go method's parameters are
// filled from Python's arguments by pickle's conversion rules (a
// variadic parameter takes the rest; a last parameter of type Kwargs takes
// the keyword arguments, which are refused otherwise), and its result is
// encoded back; it may return (), (T), (error) or (T, error).
//
// A Python exception raised by a method reaches Go as a [*PythonError]
// with the class name, args and, when the server sent only text, the
// traceback. A Go method raises a Python exception by returning a
// *PythonError ([NewPythonError]); any other error is raised as
// RuntimeError with the error's text. A panic in a Go method fails only
// that call: Python raises RemoteError with the panic and the Go stack.
// A broken connection is [ErrConnectionLost], a closed Manager
// [ErrManagerClosed], a failed handshake a *conn.AuthError.
package bridge
