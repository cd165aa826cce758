package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/pipebridge/pipebridge/conn"
)

const echoUsage = `
usage: pipebridge echo --fd N [--mode objects|bytes] [--protocol N]
       pipebridge echo --listen ADDRESS [--authkey-env VAR] [--insecure] [--mode objects|bytes] [--protocol N]
       pipebridge echo --dial ADDRESS [--authkey-env VAR] [--mode objects|bytes] [--protocol N]

Echo sends every message it receives back to its sender.

  --fd N            Inherited file descriptor N is the connection (the end
                    of a Python parent's Pipe()). Exits 0 at its end.
  --listen ADDRESS  Listens as Python's multiprocessing.connection.Listener.
                    Once ready it prints one line on standard output,
                        listening ADDRESS
                    with the address actually bound (the port chosen for
                    port 0, the name chosen for "@"), then echoes on every
                    connection, concurrently, until SIGINT or SIGTERM, when
                    it closes the listener and exits 0. A failed handshake
                    (such as a wrong key) or a broken connection costs that
                    connection only: one line on standard error, and it
                    keeps serving.
  --dial ADDRESS    Connects as Python's multiprocessing.connection.Client
                    and echoes until the Listener closes the connection,
                    then exits 0.

ADDRESS is host:port for TCP, a path for a Unix socket, or @name for a
Linux abstract socket. --listen "" listens on a Unix socket in a new
temporary directory, as Python's Listener() does without an address.

In objects mode (the default) each message is decoded as a pickle and
encoded again by pipebridge's codec, at the protocol it arrived in unless
--protocol says otherwise; in bytes mode its body is sent back unchanged.

The key, Python's authkey, is the value of the environment variable named
by --authkey-env (it must be set and non-empty); it never appears on the
command line. Without --authkey-env there is no handshake, and listening
on a TCP address other than loopback is refused unless --insecure is
given: a Python peer unpickles what it receives, so an unauthenticated
port is usually a way to run code on whatever connects to it, and any
process that can reach the port can connect.
`

func runEcho(e *env, args []string) error {
	fs := newFlags("echo", e.stderr)
	fdFlag := optionalIntFlag(fs, "fd", "echo on inherited file descriptor `N`")
	listen := fs.String("listen", "", "listen on `ADDRESS` and echo on every connection")
	dial := fs.String("dial", "", "connect to `ADDRESS` and echo on that connection")
	mode := fs.String("mode", "objects", "what to echo, `MODE`: objects (decode and re-encode each pickle) or bytes (bodies unchanged)")
	protoFlag := optionalIntFlag(fs, "protocol", "pickle protocol `N` for objects mode (default: the protocol each message arrived in)")
	keyEnv := authFlag(fs)
	insecure := fs.Bool("insecure", false, "with --listen: allow a TCP address other than loopback without a key")
	setUsage(fs, echoUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fd, proto := fdFlag.value(), protoFlag.value()
	if fdFlag.set && fd < 0 {
		return usagef("--fd must be 0 or more, not %d", fd)
	}
	if protoFlag.set {
		if err := checkProtocol(proto); err != nil {
			return err
		}
	}
	// An empty --listen "" is a Unix socket in a new temporary directory,
	// as Python's Listener() without an address.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	transports := 0
	for _, name := range []string{"fd", "listen", "dial"} {
		if given[name] {
			transports++
		}
	}
	if transports != 1 {
		return usagef("exactly one of --fd, --listen and --dial is required")
	}
	if *mode != "objects" && *mode != "bytes" {
		return usagef("--mode must be objects or bytes, not %q", *mode)
	}
	if fdFlag.set && *keyEnv != "" {
		return usagef("--authkey-env applies to --listen and --dial, not --fd")
	}
	if *insecure && !given["listen"] {
		return usagef("--insecure applies to --listen only")
	}
	auth, err := authFromEnv(e, *keyEnv)
	if err != nil {
		return err
	}
	ec := echoer{objects: *mode == "objects", proto: proto}

	switch {
	case fdFlag.set:
		// An echo child accepts whatever its Python parent sends, as a
		// Python echo child would: no size limit.
		c, err := conn.FromFD(fd, &conn.Options{MaxMessageSize: -1})
		if err != nil {
			return err
		}
		defer c.Close()
		return ec.echo(c)
	case given["dial"]:
		ctx, stop := e.interruptible(context.Background())
		defer stop()
		return ec.dial(ctx, *dial, auth)
	default:
		// Signals are ours before the socket exists, so that a Unix
		// socket file is always removed.
		ctx, stop := e.interruptible(context.Background())
		defer stop()
		l, err := conn.Listen(*listen, &conn.ListenOptions{Auth: auth, InsecureNoKey: *insecure})
		if err != nil {
			return err
		}
		// Ready: a client may connect from now on. Stdout is written
		// directly, so nothing is left in a buffer.
		if _, err := fmt.Fprintf(e.stdout, "listening %s\n", l.Addr()); err != nil {
			l.Close()
			return err
		}
		return ec.serve(ctx, l, &lineLogger{w: e.stderr, prefix: "pipebridge echo: "})
	}
}

// echoer sends messages back as they came, or re-pickled.
type echoer struct {
	objects bool
	proto   int // -1: the protocol each message arrived in
}

// echo sends every message received on c back, until a clean end of stream.
func (ec echoer) echo(c *conn.Conn) error {
	for n := 1; ; n++ {
		body, err := c.RecvBytes()
		if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receiving message %d: %w", n, err)
		}
		if ec.objects {
			if body, err = repickle(body, ec.proto); err != nil {
				return fmt.Errorf("message %d: %w", n, err)
			}
		}
		if err := c.SendBytes(body); err != nil {
			return fmt.Errorf("sending message %d back: %w", n, err)
		}
	}
}

// dial connects to address and echoes until the Listener closes, or ctx is
// done (a signal), which is not an error either.
func (ec echoer) dial(ctx context.Context, address string, auth conn.Auth) error {
	c, err := conn.DialContext(ctx, address, &conn.DialOptions{Auth: auth})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer context.AfterFunc(ctx, func() { c.Close() })()
	defer c.Close()
	if err := ec.echo(c); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// serve echoes on every connection l accepts, each in its own goroutine,
// until ctx is done; it then closes l and the open connections and waits
// for their goroutines. Failures of one connection are logged, not
// returned.
func (ec echoer) serve(ctx context.Context, l *conn.Listener, log *lineLogger) error {
	var (
		mu     sync.Mutex
		open   = map[*conn.Conn]bool{}
		wg     sync.WaitGroup
		closed bool
	)
	shutdown := func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	}
	stop := context.AfterFunc(ctx, shutdown)
	defer func() {
		stop()
		shutdown()
		wg.Wait()
	}()

	for n := 1; ; n++ {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err != nil {
			log.printf("%v", err)
			n--
			continue
		}
		mu.Lock()
		if closed {
			mu.Unlock()
			c.Close()
			return nil
		}
		open[c] = true
		wg.Add(1)
		mu.Unlock()
		go func() {
			defer wg.Done()
			err := func() (err error) {
				defer recovered(&err)
				return ec.echo(c)
			}()
			// Shutdown marks itself before it closes connections, so an
			// error seen before that mark is the peer's, and is logged.
			// It is logged before the connection closes, so a peer that
			// sees the close can find the line already written.
			mu.Lock()
			delete(open, c)
			shuttingDown := closed
			mu.Unlock()
			if err != nil && !shuttingDown {
				log.printf("connection %d: %v", n, err)
			}
			c.Close()
		}()
	}
}

// lineLogger writes whole lines from any number of goroutines.
type lineLogger struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (l *lineLogger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s%s\n", l.prefix, oneLine(fmt.Sprintf(format, args...)))
}
