package conn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// DefaultMaxPending is ListenOptions.MaxPending when it is zero.
const DefaultMaxPending = 64

// ErrInsecureListen refuses a TCP Listener that anyone on the network could
// reach without a key: one on an address that is not loopback (including
// all interfaces, "" or "0.0.0.0") without a non-empty Auth.Key. Python
// allows it; set ListenOptions.InsecureNoKey to do so knowingly.
var ErrInsecureListen = errors.New("conn: refusing to listen on a non-loopback TCP address without an authentication key (set ListenOptions.InsecureNoKey to allow it)")

// ListenOptions configure Listen. The zero value listens without
// authentication and gives accepted Conns the default Options. Listen copies
// them; changing them afterwards has no effect on the Listener.
type ListenOptions struct {
	// Auth is the handshake that every accepted connection passes before
	// Accept returns it; with no Key there is none. A Listener plays
	// RoleServer: it delivers its challenge first.
	Auth Auth

	// Conn configures every accepted Conn; nil means the defaults.
	Conn *Options

	// InsecureNoKey allows a TCP Listener on a non-loopback address with no
	// Key, or with an empty one. Without it Listen returns
	// ErrInsecureListen: a multiprocessing peer unpickles what it receives,
	// so whoever reaches an unauthenticated port can usually run code.
	InsecureNoKey bool

	// MaxPending bounds the connections accepted from the socket but not
	// yet returned by Accept: those being authenticated and those waiting
	// for a caller. Beyond it new connections wait in the kernel's backlog.
	// Zero means DefaultMaxPending; negative is an error.
	MaxPending int
}

// Listener accepts connections from Python's multiprocessing.connection
// Client (any Python 2.7 to 3.13) or from Dial, as Python's
// multiprocessing.connection.Listener does.
//
// A Listener authenticates connections in the background, several at once,
// as they arrive: a peer that stalls its handshake (it is given Auth.Timeout)
// delays nobody else. Accept returns them in the order their handshakes
// finish.
//
// Concurrency: any number of goroutines may call Accept and AcceptContext at
// once; each connection goes to exactly one of them. Close may be called at
// any time, from any goroutine, any number of times.
type Listener struct {
	nl       net.Listener
	addr     Address
	auth     auth
	connOpts Options
	tempDir  string // created for a default Unix address; removed by Close

	ctx     context.Context // cancelled by Close: ends handshakes in progress
	cancel  context.CancelFunc
	slots   chan struct{}  // one per pending connection, MaxPending in all
	results chan accepted  // handshakes finished, waiting for Accept
	wg      sync.WaitGroup // the accept loop and every handshake

	closeOnce sync.Once
	closeErr  error
}

type accepted struct {
	c   *Conn
	err error
}

// Listen listens on address, given in a form ParseAddress reads, and starts
// accepting and authenticating connections; see Listener.
//
// Addresses are as Python's: "host:port" listens on TCP (port 0 picks a free
// port; "localhost:0" is what Python's default AF_INET address is), a path
// on a Unix socket, "@name" on a Linux abstract socket ("@" alone picks a
// fresh name). An empty address does what Python does without one on POSIX:
// a Unix socket in a new private temporary directory. On Windows, where
// Python would use a named pipe, it is "127.0.0.1:0" instead. Addr reports
// the address actually bound, in a form Dial takes.
//
// Close removes a Unix socket file (and the temporary directory of an empty
// address), as Python's Listener.close does. An existing file at the path is
// an error, as in Python. Windows named pipes are refused with an error
// matching errors.ErrUnsupported, and so are abstract sockets outside Linux.
//
// A TCP Listener on an address other than loopback needs a Key or
// InsecureNoKey: see ErrInsecureListen.
func Listen(address string, opts *ListenOptions) (*Listener, error) {
	if opts == nil {
		opts = &ListenOptions{}
	}
	a, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	v, err := opts.Auth.validate()
	if err != nil {
		return nil, err
	}
	pending := opts.MaxPending
	switch {
	case pending == 0:
		pending = DefaultMaxPending
	case pending < 0:
		return nil, fmt.Errorf("conn: negative ListenOptions.MaxPending %d", pending)
	}
	l := &Listener{auth: v}
	if opts.Conn != nil {
		l.connOpts = *opts.Conn
	}
	if err := l.bind(a, opts.InsecureNoKey || len(opts.Auth.Key) > 0); err != nil {
		return nil, err
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.slots = make(chan struct{}, pending)
	l.results = make(chan accepted)
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

func (l *Listener) bind(a Address, keyed bool) error {
	switch a.Family {
	case 0:
		if runtime.GOOS == "windows" {
			a = Address{Family: FamilyTCP, Host: "127.0.0.1"}
			break
		}
		dir, err := os.MkdirTemp("", "pipebridge-")
		if err != nil {
			return fmt.Errorf("conn: listen: %w", err)
		}
		l.tempDir = dir
		a = Address{Family: FamilyUnix, Path: filepath.Join(dir, "listener.sock")}
	case FamilyAbstract:
		if a.Path == "" {
			var b [8]byte
			rand.Read(b[:])
			a.Path = fmt.Sprintf("pipebridge-%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
		}
	}
	if err := l.listen(a, keyed); err != nil {
		if l.tempDir != "" {
			os.RemoveAll(l.tempDir)
		}
		return err
	}
	l.addr = addressOf(l.nl.Addr())
	return nil
}

func (l *Listener) listen(a Address, keyed bool) error {
	network, address, err := a.netAddress()
	if err != nil {
		return err
	}
	if network == "tcp" {
		return l.listenTCP(address, keyed)
	}
	if l.nl, err = net.Listen(network, address); err != nil {
		return fmt.Errorf("conn: listen: %w", err)
	}
	return nil
}

// listenTCP resolves the address once so that the rule on keys applies to
// exactly the IP bound.
func (l *Listener) listenTCP(address string, keyed bool) error {
	ta, err := net.ResolveTCPAddr("tcp", address)
	if err != nil {
		return fmt.Errorf("conn: listen: %w", err)
	}
	if !keyed && !ta.IP.IsLoopback() {
		return fmt.Errorf("%w: %s", ErrInsecureListen, address)
	}
	if l.nl, err = net.ListenTCP("tcp", ta); err != nil {
		return fmt.Errorf("conn: listen: %w", err)
	}
	return nil
}

// Addr returns the address the Listener is bound to, with the port or name
// it picked; its String form is what Dial takes and its Python form what
// Python's Client takes. It is what Python's Listener.address reports.
func (l *Listener) Addr() Address { return l.addr }

// Accept waits for the next authenticated connection; see AcceptContext.
func (l *Listener) Accept() (*Conn, error) { return l.AcceptContext(context.Background()) }

// AcceptContext waits until a connection has passed the handshake, ctx is
// done or the Listener is closed.
//
// An error that concerns one connection leaves the Listener working, and the
// next call returns the next connection: an *AuthError when the peer failed
// the handshake (matching ErrAuthentication for a wrong key) or stalled it,
// or an error from the socket (such as too many open files), after which the
// Listener retries with a growing pause. After Close it returns an error
// matching net.ErrClosed. So a serving loop reads:
//
//	for {
//		c, err := l.Accept()
//		if errors.Is(err, net.ErrClosed) {
//			return
//		}
//		if err != nil {
//			log.Print(err) // one peer failed; keep serving
//			continue
//		}
//		go serve(c)
//	}
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	select {
	case <-l.ctx.Done():
		return nil, l.closedError()
	default:
	}
	select {
	case r := <-l.results:
		return r.c, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		return nil, l.closedError()
	}
}

func (l *Listener) closedError() error {
	return &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var pause time.Duration
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.ctx.Done():
			return
		}
		nc, err := l.nl.Accept()
		if err != nil {
			<-l.slots
			if l.ctx.Err() != nil {
				return
			}
			// Like net/http: a failing accept (EMFILE, ECONNABORTED) is
			// reported and retried after a pause, never a busy loop.
			if !l.handOver(accepted{err: fmt.Errorf("conn: accept: %w", err)}) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		pause = 0
		l.wg.Add(1)
		go l.authenticate(nc)
	}
}

// authenticate runs the handshake on one new connection and hands the
// result to an Accept call.
func (l *Listener) authenticate(nc net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	c := New(nc, &l.connOpts)
	if err := l.auth.run(l.ctx, c, RoleServer); err != nil {
		c.Close()
		var ae *AuthError
		if errors.As(err, &ae) {
			ae.Addr = nc.RemoteAddr()
		}
		l.handOver(accepted{err: err})
		return
	}
	if !l.handOver(accepted{c: c}) {
		c.Close()
	}
}

// handOver gives r to an Accept call, or reports false once the Listener is
// closed.
func (l *Listener) handOver(r accepted) bool {
	select {
	case l.results <- r:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// Close stops listening, closes the connections that Accept has not yet
// returned (those it returned are the caller's), removes a Unix socket file,
// and waits for the Listener's goroutines to end. Pending Accept calls
// return an error matching net.ErrClosed. Later calls return the first
// call's result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.nl.Close()
		l.wg.Wait()
		if l.tempDir != "" {
			if err := os.RemoveAll(l.tempDir); err != nil && l.closeErr == nil {
				l.closeErr = err
			}
		}
	})
	return l.closeErr
}
