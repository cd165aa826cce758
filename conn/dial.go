package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// DialOptions configure Dial. The zero value connects without
// authentication and gives the Conn the default Options. Dial copies them.
type DialOptions struct {
	// Auth is the handshake run after connecting; with no Key there is
	// none. Dial plays RoleClient: it answers the Listener's challenge
	// first, then delivers its own.
	Auth Auth

	// Conn configures the Conn; nil means the defaults.
	Conn *Options
}

// Dial connects to a Listener, Python's or Go's, as Python's
// multiprocessing.connection.Client does; see DialContext.
func Dial(address string, opts *DialOptions) (*Conn, error) {
	return DialContext(context.Background(), address, opts)
}

// DialContext connects to the Listener at address (a form ParseAddress
// reads: "host:port", a Unix socket path, "@name" for a Linux abstract
// socket) and runs the handshake when opts.Auth has a Key.
//
// ctx bounds connecting and the handshake; the handshake is also bounded by
// Auth.Timeout (DefaultHandshakeTimeout unless set). A wrong key fails with
// an *AuthError matching ErrAuthentication, on this side and on the
// Listener's. Windows named pipes are refused with an error matching
// errors.ErrUnsupported, and so are abstract sockets outside Linux.
//
// A Python Listener that has no authkey, or an empty one in Python 2.7 to
// 3.12, sends no challenge: dialing it with a Key waits for one until the
// handshake times out.
func DialContext(ctx context.Context, address string, opts *DialOptions) (*Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	a, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	if a.Family == 0 {
		return nil, errors.New("conn: dial: empty address")
	}
	v, err := opts.Auth.validate()
	if err != nil {
		return nil, err
	}
	network, addr, err := a.netAddress()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	c := New(nc, opts.Conn)
	if err := v.run(ctx, c, RoleClient); err != nil {
		c.Close()
		var ae *AuthError
		if errors.As(err, &ae) {
			ae.Addr = nc.RemoteAddr()
		}
		return nil, err
	}
	return c, nil
}
