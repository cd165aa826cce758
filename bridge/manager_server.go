package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/pickle"
)

// Shared is a result that shares its Value as a new object on the
// server, as Python's method_to_typeid does: a method of a ManagerServer
// that returns a Shared (or a *Shared) sends its caller a proxy of Value,
// with the methods Value exposes (as for Register), instead of a copy.
// Python's client must know TypeID, as M.register(typeid,
// create_method=False) tells it; a Manager's Call returns a *Proxy. The
// object lives until its last reference is released.
type Shared struct {
	TypeID string
	Value  any
}

// Methods is an explicit table of the methods of a shared object: Python
// method name to Go function. Register a Methods value to expose exactly
// these functions under exactly these names.
type Methods map[string]any

// ManagerServer serves Python's multiprocessing.managers clients: a Python
// program with nothing but the standard library does
//
//	class M(BaseManager): pass
//	M.register('calc')
//	m = M(address=('127.0.0.1', 6000), authkey=b'secret')
//	m.connect()
//	c = m.calc()
//	c.add(1, 2)
//
// and the Go object registered as "calc" runs Add(1, 2).
//
// Register the typeids before Serve. Each connection is served by a
// goroutine of its own; Python opens one per thread and proxy, and each
// of its calls runs in that connection's goroutine, so the methods of a
// shared object must be safe for concurrent use. A method that panics
// fails only its call.
type ManagerServer struct {
	// Decode configures decoding of requests (limits, Python 2 strings).
	Decode pickle.DecodeOptions

	// ErrorHandler, if set, is called with every error that ends a
	// connection abnormally: a failed handshake (a *conn.AuthError), a
	// malformed request, a broken connection. It may be called from many
	// goroutines at once.
	ErrorHandler func(error)

	mu        sync.Mutex
	types     map[string]*registration
	objects   map[string]*sharedObject
	nextID    uint64
	listeners map[*conn.Listener]struct{}
	conns     map[*conn.Conn]struct{}
	closing   bool // no new connections

	// ctx is cancelled by Close: it ends methods, replies and reads.
	ctx    context.Context
	cancel context.CancelFunc
	// idle is cancelled by Shutdown (and Close): it ends only the waits
	// for a connection's next request, so a request read is still served.
	idle     context.Context
	stopIdle context.CancelFunc
	wg       sync.WaitGroup
}

// registration is what Register or RegisterFactory was given.
type registration struct {
	typeid  string
	shared  *sharedObject // Register: one object for every create
	factory *method       // RegisterFactory
}

// sharedObject is an object on the server, with the references clients
// hold to it.
type sharedObject struct {
	ident   string
	typeid  string
	value   any
	methods map[string]*method
	exposed []string // sorted
	refs    int
}

// NewManagerServer returns a server with nothing registered.
func NewManagerServer() *ManagerServer {
	ctx, cancel := context.WithCancel(context.Background())
	idle, stopIdle := context.WithCancel(ctx)
	return &ManagerServer{
		types:     map[string]*registration{},
		objects:   map[string]*sharedObject{},
		listeners: map[*conn.Listener]struct{}{},
		conns:     map[*conn.Conn]struct{}{},
		ctx:       ctx,
		cancel:    cancel,
		idle:      idle,
		stopIdle:  stopIdle,
	}
}

// Register makes obj the shared object that Python's create(typeid) (the
// method m.typeid() of a registered BaseManager) returns a proxy for; every
// create shares the same obj and takes no arguments.
//
// The methods exposed are the entries of a Methods value, or else obj's
// exported methods under their Python names: AddItem is add_item, GetURL
// is get_url (snake case). Methods whose results are not (), (T), (error)
// or (T, error) are not exposed. How arguments and results cross is
// described in the package documentation.
func (s *ManagerServer) Register(typeid string, obj any) error {
	methods, err := methodsOf(obj)
	if err != nil {
		return fmt.Errorf("bridge: register %s: %w", typeid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.types[typeid]; dup {
		return fmt.Errorf("bridge: register %s: already registered", typeid)
	}
	s.nextID++
	o := &sharedObject{ident: strconv.FormatUint(s.nextID, 16), typeid: typeid, value: obj, methods: methods, exposed: sortedNames(methods)}
	s.types[typeid] = &registration{typeid: typeid, shared: o}
	return nil
}

// RegisterFactory makes create(typeid, *args, **kwds) call factory with
// those arguments and share the object it returns, as Python's
// register(typeid, callable) does. factory is a func converted like an
// exposed method; it returns the object, and optionally an error. Each
// create makes a new object, which lives until its last reference is
// released.
func (s *ManagerServer) RegisterFactory(typeid string, factory any) error {
	f, err := newMethod(typeid, factory)
	if err != nil {
		return fmt.Errorf("bridge: register %s: %w", typeid, err)
	}
	if f.results == 0 {
		return fmt.Errorf("bridge: register %s: factory returns no object", typeid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.types[typeid]; dup {
		return fmt.Errorf("bridge: register %s: already registered", typeid)
	}
	s.types[typeid] = &registration{typeid: typeid, factory: f}
	return nil
}

func sortedNames(m map[string]*method) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Serve accepts connections on l and serves them until Close or Shutdown,
// or a client's shutdown request; it then returns ErrServerClosed. l must
// authenticate clients (conn.ListenOptions.Auth); Python 3.11 and older
// answer only with legacy HMAC-MD5, so list conn.DigestLegacyMD5 in
// Auth.AcceptDigests to admit them. A failed handshake costs only that
// connection. Serve closes l when it returns.
func (s *ManagerServer) Serve(l *conn.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	for {
		c, err := l.AcceptContext(s.ctx)
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			s.reportError(err)
			continue
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c, addressValue(l.Addr()))
	}
}

func (s *ManagerServer) reportError(err error) {
	if s.ErrorHandler != nil {
		s.ErrorHandler(err)
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, cancels the contexts of running methods, and waits for them
// to return. Close is idempotent.
func (s *ManagerServer) Close() error {
	s.abort()
	s.wg.Wait()
	return nil
}

// abort is Close without the wait, for a connection's own goroutine.
func (s *ManagerServer) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
}

// Shutdown stops the server gracefully: it closes the listeners, and
// closes each connection once it waits for its next request. A request
// that has reached the server, even in part, is served and replied to
// first, so a client that stalls in the middle of one, or does not read
// its reply, holds Shutdown until ctx ends. If ctx ends first, Shutdown
// closes everything as Close does and returns ctx's error.
func (s *ManagerServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.stopIdle()
	waited := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-waited
		return ctx.Err()
	}
}

// nextRequest waits for the next request on c. Once Shutdown has begun it
// stops waiting: it then receives a request that has arrived, in whole or
// in part, and otherwise returns nil and no error.
func (s *ManagerServer) nextRequest(c *conn.Conn) ([]byte, error) {
	body, err := c.RecvBytesContext(s.idle)
	if err == nil || s.idle.Err() == nil || !errors.Is(err, context.Canceled) {
		return body, err
	}
	if ready, _ := c.Poll(0); !ready {
		return nil, nil
	}
	// A receive given up midway loses nothing: this one goes on with it.
	return c.RecvBytesContext(s.ctx)
}

func (s *ManagerServer) forget(c *conn.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
	s.wg.Done()
}

// serveConn handles the first request of a connection, as Python's
// Server.handle_request does; accept_connection turns it into a
// connection for method calls.
func (s *ManagerServer) serveConn(c *conn.Conn, addr any) {
	defer s.forget(c)
	body, err := s.nextRequest(c)
	if err != nil || body == nil {
		s.connError(err)
		return
	}
	req, proto, err := s.decodeRequest(body)
	if err != nil {
		s.reportError(err)
		s.reply(c, proto, kindTraceback, formatTraceback("bridge.ProtocolError", err.Error()))
		return
	}
	if req.method == "accept_connection" {
		if !s.reply(c, proto, kindReturn, nil) {
			return
		}
		s.serveCalls(c, addr)
		return
	}
	kind, result := s.handleControl(req, proto)
	s.reply(c, proto, kind, result)
	if req.method == "shutdown" && kind == kindReturn {
		s.abort() // as Python's server, which exits
	}
}

// connError reports the error that ended a connection, unless it is the
// ordinary end: the client hung up between requests, or the server is
// closing.
func (s *ManagerServer) connError(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing || errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) || isEOF(err) {
		return
	}
	s.reportError(err)
}

// serveCalls serves method calls, one at a time, until the client hangs
// up, as Python's Server.serve_client does, or the server shuts down.
func (s *ManagerServer) serveCalls(c *conn.Conn, addr any) {
	for s.idle.Err() == nil {
		body, err := s.nextRequest(c)
		if err != nil || body == nil {
			s.connError(err)
			return
		}
		req, proto, err := s.decodeRequest(body)
		var kind string
		var result any
		if err != nil {
			s.reportError(err)
			kind, result = kindTraceback, formatTraceback("bridge.ProtocolError", err.Error())
		} else {
			kind, result = s.handleCall(c, req, proto)
			if sh, ok := sharedResult(kind, result); ok {
				kind, result = s.share(sh, addr, proto)
			}
		}
		if !s.reply(c, proto, kind, result) {
			return
		}
	}
}

// request is a decoded (ident, methodname, args, kwds).
type request struct {
	ident  string
	method string
	args   pickle.Tuple
	kwds   *pickle.Dict
}

func (s *ManagerServer) decodeRequest(body []byte) (request, int, error) {
	proto, err := pickle.Protocol(body)
	if err != nil {
		proto = 2
	}
	var v any
	if err := s.Decode.Unmarshal(body, &v); err != nil {
		return request{}, proto, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 4 {
		return request{}, proto, fmt.Errorf("%w: request is %s, not (ident, methodname, args, kwds)", ErrBadMessage, quote(v))
	}
	var r request
	if t[0] != nil {
		if r.ident, ok = asString(t[0]); !ok {
			return r, proto, fmt.Errorf("%w: ident %s", ErrBadMessage, quote(t[0]))
		}
	}
	if r.method, ok = asString(t[1]); !ok {
		return r, proto, fmt.Errorf("%w: method name %s", ErrBadMessage, quote(t[1]))
	}
	switch a := t[2].(type) {
	case pickle.Tuple:
		r.args = a
	case []any:
		r.args = a
	case nil:
	default:
		return r, proto, fmt.Errorf("%w: args %s", ErrBadMessage, quote(t[2]))
	}
	switch k := t[3].(type) {
	case *pickle.Dict:
		r.kwds = k
	case nil:
	default:
		return r, proto, fmt.Errorf("%w: kwds %s", ErrBadMessage, quote(t[3]))
	}
	return r, proto, nil
}

// reply sends (kind, result) at the request's protocol, so that whichever
// Python sent it can read it. A result that cannot be encoded becomes an
// '#UNSERIALIZABLE' reply, as in Python. It reports whether the
// connection can go on.
func (s *ManagerServer) reply(c *conn.Conn, proto int, kind string, result any) bool {
	body, err := encodeReply(proto, kind, result)
	if err != nil {
		text := formatTraceback("bridge.EncodeError", err.Error())
		if body, err = encodeReply(proto, kindUnserializable, text); err != nil {
			return false
		}
	}
	if err := c.SendBytesContext(s.ctx, body); err != nil {
		s.connError(err)
		return false
	}
	return true
}

// encodeReply pickles (kind, result). Encoding runs the result's own code
// (a MarshalPickle method), so a panic there is an error of this reply.
func encodeReply(proto int, kind string, result any) (body []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			body, err = nil, fmt.Errorf("panic: %v\n\n%s", v, debug.Stack())
		}
	}()
	if proto <= 2 {
		// Python 2's client checks that a traceback is a str: send bytes.
		if t, ok := result.(string); ok && kind != kindReturn && kind != kindError {
			result = pickle.ByteString(t)
		}
	}
	body, err = encodeOptions(proto).Marshal(pickle.Tuple{kind, result})
	if err == nil && proto < 4 && len(body) > 0x7fffffff {
		err = errors.New("reply longer than 2 GiB, which this Python cannot receive")
	}
	return body, err
}

// formatTraceback writes an error as the last line of a Python traceback,
// which Python's client shows in its RemoteError.
func formatTraceback(typ, msg string) string {
	return "Traceback (most recent call last):\n  (in the Go manager server)\n" + typ + ": " + msg + "\n"
}

// handleControl answers a request to the server itself.
func (s *ManagerServer) handleControl(r request, proto int) (string, any) {
	switch r.method {
	case "dummy":
		return kindReturn, nil
	case "create":
		return s.create(r, proto)
	case "incref", "decref":
		if len(r.args) != 1 {
			return kindTraceback, formatTraceback("TypeError", r.method+"() takes one argument")
		}
		ident, _ := asString(r.args[0])
		if err := s.changeRef(ident, r.method == "incref"); err != nil {
			return kindTraceback, formatTraceback("KeyError", err.Error())
		}
		return kindReturn, nil
	case "get_methods":
		if len(r.args) != 1 {
			return kindTraceback, formatTraceback("TypeError", "get_methods() takes one argument")
		}
		tok, err := tokenFrom(r.args[0])
		if err != nil {
			return kindTraceback, formatTraceback("TypeError", err.Error())
		}
		s.mu.Lock()
		o := s.objects[tok.ID]
		s.mu.Unlock()
		if o == nil {
			return kindTraceback, formatTraceback("KeyError", strconv.Quote(tok.ID))
		}
		return kindReturn, nameTuple(o.exposed, proto)
	case "number_of_objects":
		s.mu.Lock()
		defer s.mu.Unlock()
		return kindReturn, len(s.objects)
	case "debug_info":
		return kindReturn, s.debugInfo()
	case "shutdown":
		return kindReturn, nil
	}
	return kindTraceback, formatTraceback("AssertionError", strconv.Quote(r.method)+" unrecognized")
}

// nameTuple is a tuple of names, as Python 2 str for Python 2.
func nameTuple(names []string, proto int) pickle.Tuple {
	t := make(pickle.Tuple, len(names))
	for i, n := range names {
		t[i] = protoString(n, proto)
	}
	return t
}

// protoString is a protocol-level name (an ident, a method name) as the
// peer's own str: a byte string for Python 2.
func protoString(s string, proto int) any {
	if proto <= 2 {
		return pickle.ByteString(s)
	}
	return s
}

// create makes (or, for Register, shares) an object and returns its
// ident and exposed methods, holding one reference for the caller.
func (s *ManagerServer) create(r request, proto int) (string, any) {
	if len(r.args) < 1 {
		return kindTraceback, formatTraceback("TypeError", "create() missing typeid")
	}
	typeid, _ := asString(r.args[0])
	s.mu.Lock()
	reg := s.types[typeid]
	s.mu.Unlock()
	if reg == nil {
		return kindTraceback, formatTraceback("KeyError", pyQuote(typeid))
	}
	var o *sharedObject
	if reg.shared != nil {
		if len(r.args) > 1 || (r.kwds != nil && r.kwds.Len() > 0) {
			return kindError, NewPythonError("TypeError", typeid+" takes no arguments").pickleValue()
		}
		o = reg.shared
	} else {
		v, err := reg.factory.call(s.ctx, r.args[1:], r.kwds)
		if err != nil {
			return errorReply(err)
		}
		methods, err := methodsOf(v)
		if err != nil {
			return errorReply(NewPythonError("TypeError", err.Error()))
		}
		o = &sharedObject{typeid: typeid, value: v, methods: methods, exposed: sortedNames(methods)}
	}
	s.mu.Lock()
	if o.ident == "" {
		s.nextID++
		o.ident = strconv.FormatUint(s.nextID, 16)
	}
	s.objects[o.ident] = o
	o.refs++
	s.mu.Unlock()
	return kindReturn, pickle.Tuple{protoString(o.ident, proto), nameTuple(o.exposed, proto)}
}

// sharedResult reports whether a method's result is a Shared.
func sharedResult(kind string, result any) (Shared, bool) {
	if kind != kindReturn {
		return Shared{}, false
	}
	switch sh := result.(type) {
	case Shared:
		return sh, true
	case *Shared:
		if sh != nil {
			return *sh, true
		}
	}
	return Shared{}, false
}

// share makes sh a shared object with one reference, which the caller
// takes over, and returns the '#PROXY' reply for it.
func (s *ManagerServer) share(sh Shared, addr any, proto int) (string, any) {
	methods, err := methodsOf(sh.Value)
	if err != nil {
		return errorReply(NewPythonError("TypeError", err.Error()))
	}
	o := &sharedObject{typeid: sh.TypeID, value: sh.Value, methods: methods, exposed: sortedNames(methods), refs: 1}
	s.mu.Lock()
	s.nextID++
	o.ident = strconv.FormatUint(s.nextID, 16)
	s.objects[o.ident] = o
	s.mu.Unlock()
	token := &pickle.Object{Callable: tokenClass, New: true, Args: pickle.Tuple{},
		State: pickle.Tuple{protoString(o.typeid, proto), addr, protoString(o.ident, proto)}}
	return kindProxy, pickle.Tuple{nameTuple(o.exposed, proto), token}
}

// addressValue is a listener's address as Python writes it in a Token.
// Python's clients replace it with the address they know.
func addressValue(a conn.Address) any {
	switch a.Family {
	case conn.FamilyTCP:
		return pickle.Tuple{a.Host, a.Port}
	case conn.FamilyAbstract:
		return "\x00" + a.Path
	case conn.FamilyUnix, conn.FamilyPipe:
		return a.Path
	}
	return nil
}

// changeRef adds or releases a reference; the last release forgets the
// object.
func (s *ManagerServer) changeRef(ident string, add bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[ident]
	if o == nil {
		return fmt.Errorf("%s: no such object", pyQuote(ident))
	}
	if add {
		o.refs++
		return nil
	}
	o.refs--
	if o.refs <= 0 {
		o.refs = 0
		delete(s.objects, ident)
	}
	return nil
}

func (s *ManagerServer) debugInfo() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	idents := make([]string, 0, len(s.objects))
	for id := range s.objects {
		idents = append(idents, id)
	}
	sort.Strings(idents)
	lines := make([]string, 0, len(idents))
	for _, id := range idents {
		o := s.objects[id]
		desc := fmt.Sprintf("%s %T", o.typeid, o.value)
		if len(desc) > 75 {
			desc = desc[:75]
		}
		lines = append(lines, fmt.Sprintf("  %s:       refcount=%d\n    %s", id, o.refs, desc))
	}
	return strings.Join(lines, "\n")
}

// handleCall runs one method call on a shared object.
func (s *ManagerServer) handleCall(c *conn.Conn, r request, proto int) (string, any) {
	s.mu.Lock()
	o := s.objects[r.ident]
	s.mu.Unlock()
	if o == nil {
		return kindTraceback, formatTraceback("KeyError", pyQuote(r.ident))
	}
	switch r.method {
	case getValue:
		return kindReturn, o.value
	case "__str__", "__repr__":
		if _, ok := o.methods[r.method]; !ok {
			return kindReturn, fmt.Sprint(o.value)
		}
	}
	m := o.methods[r.method]
	if m == nil {
		return kindTraceback, formatTraceback("AttributeError",
			fmt.Sprintf("method %s of %s object is not in exposed=%v", pyQuote(r.method), o.typeid, o.exposed))
	}
	ctx := s.ctx
	if m.ctx {
		// Cancel the method's context if the client hangs up meanwhile: a
		// Python client sends nothing else while it waits for the reply,
		// so a readable connection means its end.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(s.ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			if ok, _ := c.PollContext(ctx); ok {
				cancel()
			}
		}()
		defer func() {
			cancel()
			<-watched // no goroutine outlives its connection, or Close
		}()
	}
	res, err := m.call(ctx, r.args, r.kwds)
	if err != nil {
		return errorReply(err)
	}
	return kindReturn, res
}

// errorReply is the reply for a method's error: a panic as a traceback, a
// PythonError as that exception, anything else as RuntimeError.
func errorReply(err error) (kind string, result any) {
	defer func() {
		if v := recover(); v != nil { // in the error's own Error method
			kind, result = kindTraceback, formatTraceback("GoPanic", fmt.Sprintf("Error of %T: %v\n\n%s", err, v, debug.Stack()))
		}
	}()
	var p *panicError
	if errors.As(err, &p) {
		return kindTraceback, formatTraceback("GoPanic", fmt.Sprintf("%s: %v\n\n%s", p.method, p.value, p.stack))
	}
	var pe *PythonError
	if errors.As(err, &pe) {
		return kindError, pe.pickleValue()
	}
	return kindError, NewPythonError("RuntimeError", err.Error()).pickleValue()
}

// panicError is a panic of a Go method, with the stack where it happened.
type panicError struct {
	method string
	value  any
	stack  []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("bridge: %s panicked: %v", p.method, p.value) }

func recoverPanic(method string, err *error) {
	if v := recover(); v != nil {
		*err = &panicError{method: method, value: v, stack: debug.Stack()}
	}
}

// pyQuote is a Python repr of a str.
func pyQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
