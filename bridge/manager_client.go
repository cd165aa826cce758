package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/pickle"
)

// ManagerOptions configure DialManager. The zero value is ready to use;
// DialManager copies it.
type ManagerOptions struct {
	// Auth configures the handshake of every connection; its Key is
	// replaced by DialManager's authkey. A nil AcceptDigests accepts
	// DigestLegacyMD5 besides Digest, as Python 3.12's Client does: a
	// server of Python 3.11 or older answers with nothing else.
	Auth conn.Auth

	// Conn configures every connection; nil means the defaults. When the
	// server turns out to be Python 2.7, 3.6 or 3.7, NoLongHeaders is set.
	Conn *conn.Options

	// Protocol is the pickle protocol of requests, 2 to 5. Zero means
	// the protocol of the server's first reply, which is its Python's
	// default (2 for 2.7, 3 for 3.6 and 3.7, 4 for 3.8 to 3.13), so that
	// it can always be read. Other values are an error.
	Protocol int

	// Decode configures decoding of replies (limits, Python 2 strings).
	Decode pickle.DecodeOptions

	// MaxIdleConns is how many connections to keep for later calls when
	// no call uses them. Zero means 4; negative means none: every call
	// opens (and authenticates) a connection of its own.
	MaxIdleConns int
}

// Manager is a client of a multiprocessing.managers server, such as a
// Python BaseManager's get_server().serve_forever() or start(), or a
// ManagerServer.
//
// A Manager is safe for concurrent use. Requests about objects (Create,
// Proxy.Close) each open a connection, as Python's manager does; method
// calls run over connections taken from a pool, one call at a time on
// each, so calls from many goroutines run in parallel on as many
// connections (and server threads). Up to MaxIdleConns connections are
// kept open between calls.
type Manager struct {
	address  string
	dial     conn.DialOptions
	proto    int
	decode   pickle.DecodeOptions
	maxIdle  int
	name     string
	nextConn atomic.Uint64

	mu     sync.Mutex
	idle   []*conn.Conn
	active map[*conn.Conn]struct{} // every open connection, idle or in a call
	closed bool
}

// DialManager connects to the manager server at address with the
// authentication key authkey, as Python's BaseManager(address,
// authkey).connect() does: it sends the server a "dummy" request and waits
// for its reply, which also tells the server's pickle protocol.
//
// The address is "host:port", a Unix socket path or "@name" for a Linux
// abstract socket. An authentication failure is a *conn.AuthError matching
// conn.ErrAuthentication.
func DialManager(ctx context.Context, address string, authkey []byte, opts *ManagerOptions) (*Manager, error) {
	var o ManagerOptions
	if opts != nil {
		o = *opts
	}
	if o.Protocol != 0 && (o.Protocol < 2 || o.Protocol > pickle.HighestProtocol) {
		return nil, fmt.Errorf("bridge: ManagerOptions.Protocol %d: want 0, or 2 to %d", o.Protocol, pickle.HighestProtocol)
	}
	m := &Manager{
		address: address,
		proto:   o.Protocol,
		decode:  o.Decode,
		maxIdle: o.MaxIdleConns,
		active:  map[*conn.Conn]struct{}{},
		name:    "GoProcess-" + strconv.Itoa(os.Getpid()),
	}
	if m.maxIdle == 0 {
		m.maxIdle = 4
	}
	m.dial.Auth = o.Auth
	m.dial.Auth.Key = slices.Clone(authkey)
	if m.dial.Auth.AcceptDigests == nil {
		m.dial.Auth.AcceptDigests = []conn.Digest{conn.DigestLegacyMD5}
	}
	if o.Conn != nil {
		co := *o.Conn
		m.dial.Conn = &co
	}
	learn := m.proto == 0
	if learn {
		m.proto = 2 // every server reads it
	}
	proto, _, err := m.control(ctx, "dummy", nil, nil)
	if err != nil {
		return nil, err
	}
	if learn {
		m.proto = max(proto, 2)
	}
	if m.proto < 4 {
		co := conn.Options{}
		if m.dial.Conn != nil {
			co = *m.dial.Conn
		}
		co.NoLongHeaders = true
		m.dial.Conn = &co
	}
	return m, nil
}

// Address is the server's address, as given to DialManager.
func (m *Manager) Address() string { return m.address }

// Protocol is the pickle protocol of the requests sent to the server.
func (m *Manager) Protocol() int { return m.proto }

// Create asks the server to create a shared object of the registered
// typeid, passing it args (and a trailing Kwargs as keyword arguments),
// as the method that Python's BaseManager.register adds does. The Proxy
// holds one reference to the object until Close.
func (m *Manager) Create(ctx context.Context, typeid string, args ...any) (*Proxy, error) {
	pos, kw := splitArgs(args)
	_, res, err := m.control(ctx, "create", append(pickle.Tuple{typeid}, pos...), kw)
	if err != nil {
		return nil, fmt.Errorf("bridge: create %s: %w", typeid, err)
	}
	t, ok := res.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("bridge: create %s: %w: reply %s", typeid, ErrBadMessage, quote(res))
	}
	id, ok := asString(t[0])
	if !ok {
		return nil, fmt.Errorf("bridge: create %s: %w: id %s", typeid, ErrBadMessage, quote(t[0]))
	}
	exposed, err := names(t[1])
	if err != nil {
		return nil, fmt.Errorf("bridge: create %s: %w", typeid, err)
	}
	return &Proxy{m: m, token: Token{TypeID: typeid, Address: m.address, ID: id}, exposed: exposed}, nil
}

// names reads a sequence of method names.
func names(v any) ([]string, error) {
	var items []any
	switch s := v.(type) {
	case pickle.Tuple:
		items = s
	case []any:
		items = s
	default:
		return nil, fmt.Errorf("%w: exposed methods are %T", ErrBadMessage, v)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := asString(it)
		if !ok {
			return nil, fmt.Errorf("%w: method name %s", ErrBadMessage, quote(it))
		}
		out = append(out, s)
	}
	return out, nil
}

// NumberOfObjects returns how many shared objects the server holds.
func (m *Manager) NumberOfObjects(ctx context.Context) (int, error) {
	_, res, err := m.control(ctx, "number_of_objects", nil, nil)
	if err != nil {
		return 0, err
	}
	var n int
	if err := pickle.Convert(res, &n); err != nil {
		return 0, fmt.Errorf("%w: number_of_objects: %w", ErrBadMessage, err)
	}
	return n, nil
}

// DebugInfo returns the server's description of its shared objects and
// their reference counts.
func (m *Manager) DebugInfo(ctx context.Context) (string, error) {
	_, res, err := m.control(ctx, "debug_info", nil, nil)
	if err != nil {
		return "", err
	}
	s, _ := asString(res)
	return s, nil
}

// Shutdown asks the server to stop, as BaseManager.shutdown does, and then
// closes m. The server replies before it stops.
func (m *Manager) Shutdown(ctx context.Context) error {
	_, _, err := m.control(ctx, "shutdown", nil, nil)
	m.Close()
	return err
}

// Close closes every connection of m. Calls in progress fail with
// ErrManagerClosed, as do later ones. Shared objects on the server are
// not released: Close the Proxies first for that. Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	conns := make([]*conn.Conn, 0, len(m.active))
	for c := range m.active {
		conns = append(conns, c)
	}
	m.active = map[*conn.Conn]struct{}{}
	m.idle = nil
	m.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// track records c as open, unless m is closed.
func (m *Manager) track(c *conn.Conn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		c.Close()
		return ErrManagerClosed
	}
	m.active[c] = struct{}{}
	return nil
}

// drop closes c and forgets it.
func (m *Manager) drop(c *conn.Conn) {
	m.mu.Lock()
	delete(m.active, c)
	m.mu.Unlock()
	c.Close()
}

// connect opens and authenticates a connection to the server.
func (m *Manager) connect(ctx context.Context) (*conn.Conn, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrManagerClosed
	}
	c, err := conn.DialContext(ctx, m.address, &m.dial)
	if err != nil {
		return nil, err
	}
	if err := m.track(c); err != nil {
		return nil, err
	}
	return c, nil
}

// control sends one request on a connection of its own and returns the
// reply's protocol and result, as Python's dispatch does for requests to
// the server itself (ident None).
func (m *Manager) control(ctx context.Context, method string, args pickle.Tuple, kw Kwargs) (int, any, error) {
	req, err := m.request(nil, method, args, kw)
	if err != nil {
		return 0, nil, err
	}
	c, err := m.connect(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer m.drop(c)
	return m.roundTrip(ctx, c, method, req)
}

// request encodes (ident, method, args, kwds).
func (m *Manager) request(ident any, method string, args pickle.Tuple, kw Kwargs) ([]byte, error) {
	if args == nil {
		args = pickle.Tuple{}
	}
	b, err := encodeOptions(m.proto).Marshal(pickle.Tuple{ident, method, args, kwdsValue(kw)})
	if err != nil {
		return nil, fmt.Errorf("bridge: %s: %w", method, err)
	}
	return b, nil
}

// roundTrip sends req on c and waits for the reply. An error other than
// the server's own reply leaves c unusable.
func (m *Manager) roundTrip(ctx context.Context, c *conn.Conn, method string, req []byte) (int, any, error) {
	if err := c.SendBytesContext(ctx, req); err != nil {
		return 0, nil, m.ioError(ctx, method, err)
	}
	body, err := c.RecvBytesContext(ctx)
	if err != nil {
		return 0, nil, m.ioError(ctx, method, err)
	}
	proto, _ := pickle.Protocol(body)
	var reply any
	if err := m.decode.Unmarshal(body, &reply); err != nil {
		return proto, nil, fmt.Errorf("bridge: %s: %w: %w", method, ErrBadMessage, err)
	}
	t, ok := reply.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return proto, nil, fmt.Errorf("bridge: %s: %w: reply %s", method, ErrBadMessage, quote(reply))
	}
	kind, _ := asString(t[0])
	switch kind {
	case kindReturn:
		return proto, t[1], nil
	case kindProxy:
		p, err := m.proxyFrom(t[1])
		return proto, p, err
	}
	return proto, nil, replyError(kind, t[1])
}

// ioError explains a failed send or receive: the context's error, a
// closed Manager, or a lost connection.
func (m *Manager) ioError(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("bridge: %s: %w", method, context.Cause(ctx))
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("bridge: %s: %w", method, ErrManagerClosed)
	}
	return fmt.Errorf("bridge: %s: %w: %w", method, ErrConnectionLost, err)
}

// proxyFrom reads the result of a '#PROXY' reply: (exposed, token). The
// server holds a reference for the new Proxy.
func (m *Manager) proxyFrom(v any) (*Proxy, error) {
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("%w: proxy %s", ErrBadMessage, quote(v))
	}
	exposed, err := names(t[0])
	if err != nil {
		return nil, err
	}
	tok, err := tokenFrom(t[1])
	if err != nil {
		return nil, err
	}
	tok.Address = m.address // as Python's client does: the address it knows
	return &Proxy{m: m, token: tok, exposed: exposed}, nil
}

// callConn returns a connection that accepts method calls: an idle one,
// or a new one after the accept_connection request.
func (m *Manager) callConn(ctx context.Context) (*conn.Conn, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrManagerClosed
	}
	if n := len(m.idle); n > 0 {
		c := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return c, nil
	}
	m.mu.Unlock()
	c, err := m.connect(ctx)
	if err != nil {
		return nil, err
	}
	name := m.name + "|conn-" + strconv.FormatUint(m.nextConn.Add(1), 10)
	req, err := m.request(nil, "accept_connection", pickle.Tuple{name}, nil)
	if err == nil {
		_, _, err = m.roundTrip(ctx, c, "accept_connection", req)
	}
	if err != nil {
		m.drop(c)
		return nil, err
	}
	return c, nil
}

// release returns c to the pool, or closes it.
func (m *Manager) release(c *conn.Conn) {
	m.mu.Lock()
	if !m.closed && len(m.idle) < m.maxIdle {
		m.idle = append(m.idle, c)
		m.mu.Unlock()
		return
	}
	delete(m.active, c)
	m.mu.Unlock()
	c.Close()
}

// call runs one method call on a pooled connection.
func (m *Manager) call(ctx context.Context, ident, method string, args pickle.Tuple, kw Kwargs) (any, error) {
	req, err := m.request(ident, method, args, kw)
	if err != nil {
		return nil, err
	}
	c, err := m.callConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("bridge: %s: %w", method, err)
	}
	_, res, err := m.roundTrip(ctx, c, method, req)
	var pyErr *PythonError
	if err == nil || errors.As(err, &pyErr) {
		m.release(c) // a reply came: the connection is in step
	} else {
		m.drop(c)
	}
	return res, err
}

// Proxy is a shared object on a manager server, as Python's BaseProxy is:
// calls of its methods run on the server, and arguments and results cross
// as pickles. Its methods are safe for concurrent use.
type Proxy struct {
	m       *Manager
	token   Token
	exposed []string

	closeOnce sync.Once
	closeErr  error
}

// Token identifies the object on its server.
func (p *Proxy) Token() Token { return p.token }

// Exposed returns the names of the methods the server lets callers call.
func (p *Proxy) Exposed() []string { return slices.Clone(p.exposed) }

// Call calls the object's method with args, and with keyword arguments when
// the last argument is a Kwargs, and returns its result as package pickle
// decodes it into an any (int64, string, []any, pickle.Tuple, *pickle.Dict,
// ...). A result that the server sends as another shared object (Python's
// method_to_typeid) is a *Proxy.
//
// A Python exception raised by the method is a *PythonError. If the
// connection breaks before the reply, the error matches ErrConnectionLost;
// if ctx ends first, it matches ctx's error. The server is not told to
// stop the method: its result is dropped with the connection.
func (p *Proxy) Call(ctx context.Context, method string, args ...any) (any, error) {
	if !p.isExposed(method) {
		return nil, fmt.Errorf("%w: %s.%s (exposed: %v)", ErrNotExposed, p.token.TypeID, method, p.exposed)
	}
	pos, kw := splitArgs(args)
	return p.m.call(ctx, p.token.ID, method, pos, kw)
}

// CallInto is Call that decodes the result into out, a non-nil pointer,
// by the rules of pickle.Unmarshal.
func (p *Proxy) CallInto(ctx context.Context, out any, method string, args ...any) error {
	res, err := p.Call(ctx, method, args...)
	if err != nil {
		return err
	}
	return convertResult(method, res, out)
}

// Value returns a copy of the object itself, as BaseProxy._getvalue does.
func (p *Proxy) Value(ctx context.Context) (any, error) {
	return p.m.call(ctx, p.token.ID, getValue, nil, nil)
}

// ValueInto is Value that decodes the copy into out, a non-nil pointer.
func (p *Proxy) ValueInto(ctx context.Context, out any) error {
	res, err := p.Value(ctx)
	if err != nil {
		return err
	}
	return convertResult(getValue, res, out)
}

func convertResult(method string, res, out any) error {
	if err := pickle.Convert(res, out); err != nil {
		return fmt.Errorf("bridge: %s: %w", method, err)
	}
	return nil
}

// isExposed reports whether the server serves method on this object:
// an exposed one, or one of the fallbacks every server has.
func (p *Proxy) isExposed(method string) bool {
	switch method {
	case getValue, "__str__", "__repr__":
		return true
	}
	return slices.Contains(p.exposed, method)
}

// CloseContext releases the Proxy's reference to the object (a "decref"
// request); the server disposes of the object when no reference is left.
// Only the first call sends the request; later ones return its result.
func (p *Proxy) CloseContext(ctx context.Context) error {
	p.closeOnce.Do(func() {
		_, _, err := p.m.control(ctx, "decref", pickle.Tuple{p.token.ID}, nil)
		if err != nil {
			p.closeErr = fmt.Errorf("bridge: release %s %s: %w", p.token.TypeID, p.token.ID, err)
		}
	})
	return p.closeErr
}

// Close is CloseContext bounded by ten seconds.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.CloseContext(ctx)
}
