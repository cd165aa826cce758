package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/pickle"
)

const sessionUsage = `
Each line of standard input is one value, sent as one object (Python's
conn.send). Each object that arrives (conn.recv) is printed on standard
output on one line, as Python's repr writes it, or as JSON with --json.
Sending and printing run at the same time, so messages the peer sends of
its own accord are printed as they come.

Input lines. Blank lines and lines that start with # are skipped. A line
that is valid JSON is read as JSON (true, false, null; objects are dicts,
arrays are lists; "\/" and surrogate pairs as JSON has them). Any other line
is a Python literal, as ast.literal_eval reads it:
    None True False  42 -7 0x1f 0o17 0b101 1_000 (ints of any size)
    1.5 -2e-3 inf -inf nan float('inf') float('nan')  1j 1+2j (1-2j)
    'str' "str" '''str''' r'raw' u'str' with \n \t \x41 \u00e9 \U0001f600
    b'bytes' rb'\d' bytearray(b'...')  [1, 2]  (1,) ()  {'k': 'v'} {1, 2}
    set() set([1, 2]) frozenset() frozenset({1, 2}) bytes([0, 255]) complex(1, 2)
Adjacent strings are joined ('a' 'b'), a trailing # comment is ignored, and
null/true/false are read as None/True/False in Python lines too. A line
that is neither is reported on standard error with its line and column,
and skipped; the exit status is then 1.

Printed values. Python's repr, one line each: a str never spans lines.
A Python 2 str prints as Python 2 writes it ('abc', non-ASCII bytes as
\xNN). A class or function prints as module.name. An object of any other
class prints as the call that rebuilds it when that is all there is,
datetime.date(b'\x07\xe8\x01\x02'), else in angle brackets with what
Python then gives it: <module.Class.__new__() state={'x': 1}>; a
container inside itself as [...] or {...}.

With --json, each value is one line of JSON:
    None, bool, int (any size), float, str   null, true/false, number, number, string
    list, tuple                              array
    dict                                     object; a key that is not a str
                                             becomes its repr: 1 -> "1"
    bytes / bytearray                        {"$bytes": BASE64} / {"$bytearray": BASE64}
    Python 2 str                             string if UTF-8, else {"$bytes": BASE64}
    set / frozenset                          {"$set": [...]} / {"$frozenset": [...]}
    inf, -inf, nan                           {"$float": "inf"}, "-inf", "nan"
    complex                                  {"$complex": [real, imag]}
    class or function                        {"$global": "module.name"}
    other objects                            {"$object": "module.Class", "args": [...],
                                              "new", "kwargs", "state", "listitems",
                                              "dictitems" when present}
    a container inside itself                {"$repr": "..."}
Floats always have a "." or an exponent, so they stay floats.

End. When standard input ends, nothing more is sent; printing goes on
until the peer closes the connection or --wait passes with nothing
arriving (a duration such as 500ms or 2s, or seconds: default 1; 0 closes
at once, -1 waits for the peer however long it takes). If the peer closes first, the command ends then, exit status 0.
SIGINT or SIGTERM closes the connection and exits 0. A message that is
not a pickle is reported on standard error and skipped (exit status 1).

Objects are sent as pickle protocol 4, unless --protocol says otherwise:
Python 2.7 reads protocols 0 to 2, so use --protocol 2 with it.

ADDRESS is host:port for TCP, a path for a Unix socket, or @name for a
Linux abstract socket. The key, Python's authkey, is the value of the
environment variable named by --authkey-env (set and non-empty); without
--authkey-env there is no handshake.
`

const dialUsage = `
usage: pipebridge dial ADDRESS [--authkey-env VAR] [--json] [--protocol N] [--wait D]

Dial connects to a Python multiprocessing Listener at ADDRESS, as Python's
multiprocessing.connection.Client(address, authkey=...) does.
` + sessionUsage

const listenUsage = `
usage: pipebridge listen ADDRESS [--authkey-env VAR] [--insecure] [--json] [--protocol N] [--wait D]

Listen listens at ADDRESS as Python's multiprocessing.connection.Listener
does and prints one line on standard output when ready,
    listening ADDRESS
with the address actually bound (the port chosen for port 0). It accepts
one connection, stops listening, and talks on that connection. A
connection that fails the handshake (a wrong key) is reported on standard
error, and listen waits for another. Handshakes still under way when one
passes are cut short, and not reported: the peer sees the connection
closed. Without a key, a TCP address other than loopback is refused unless --insecure is given. An empty ADDRESS ("")
is a Unix socket in a new temporary directory, as Python's Listener()
without an address.
` + sessionUsage

// sessionFlags are the flags dial and listen share.
type sessionFlags struct {
	keyEnv *string
	json   *bool
	proto  *int
	wait   *waitFlag
}

func addSessionFlags(fs *flag.FlagSet) sessionFlags {
	wait := &waitFlag{time.Second}
	fs.Var(wait, "wait", "after standard input ends, print what arrives until `D` passes with nothing: a duration or seconds (0: close at once; -1: until the peer closes)")
	return sessionFlags{
		keyEnv: authFlag(fs),
		json:   fs.Bool("json", false, "print each object as JSON instead of Python's repr"),
		proto:  fs.Int("protocol", pickle.DefaultProtocol, "pickle protocol `N` of the objects sent (use 2 for Python 2.7)"),
		wait:   wait,
	}
}

// waitFlag is --wait: a duration ("500ms", "2s") or a number of seconds
// ("1.5", "0", "-1"); negative means for ever.
type waitFlag struct{ d time.Duration }

func (w *waitFlag) String() string { return w.d.String() }

func (w *waitFlag) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		w.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (such as 500ms, 2s) or a number of seconds")
	}
	w.d = d
	return nil
}

// parseSession parses the arguments of dial or listen: one ADDRESS and
// the flags, in any order.
func parseSession(e *env, fs *flag.FlagSet, sf sessionFlags, args []string) (string, conn.Auth, error) {
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return "", conn.Auth{}, err
	}
	switch {
	case len(positional) == 0:
		return "", conn.Auth{}, usagef("ADDRESS is required")
	case len(positional) > 1:
		return "", conn.Auth{}, usagef("unexpected argument %q after ADDRESS", positional[1])
	}
	if err := checkProtocol(*sf.proto); err != nil {
		return "", conn.Auth{}, err
	}
	auth, err := authFromEnv(e, *sf.keyEnv)
	return positional[0], auth, err
}

func runDial(e *env, args []string) error {
	fs := newFlags("dial", e.stderr)
	sf := addSessionFlags(fs)
	setUsage(fs, dialUsage)
	address, auth, err := parseSession(e, fs, sf, args)
	if err != nil {
		return err
	}
	ctx, stop := e.interruptible(context.Background())
	defer stop()
	c, err := conn.DialContext(ctx, address, &conn.DialOptions{Auth: auth})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return newSession(e, sf, "dial").run(ctx, c)
}

func runListen(e *env, args []string) error {
	fs := newFlags("listen", e.stderr)
	sf := addSessionFlags(fs)
	insecure := fs.Bool("insecure", false, "allow a TCP address other than loopback without a key")
	setUsage(fs, listenUsage)
	address, auth, err := parseSession(e, fs, sf, args)
	if err != nil {
		return err
	}
	// Signals are ours before the socket exists, so that a Unix socket
	// file is always removed.
	ctx, stop := e.interruptible(context.Background())
	defer stop()
	l, err := conn.Listen(address, &conn.ListenOptions{Auth: auth, InsecureNoKey: *insecure})
	if err != nil {
		return err
	}
	defer l.Close()
	if _, err := fmt.Fprintf(e.stdout, "listening %s\n", l.Addr()); err != nil {
		return err
	}
	s := newSession(e, sf, "listen")
	for {
		c, err := l.AcceptContext(ctx)
		switch {
		case ctx.Err() != nil:
			if c != nil {
				c.Close()
			}
			return nil
		case err != nil && errors.Is(err, net.ErrClosed):
			return err
		case err != nil:
			s.log.printf("%v", err) // one failed peer; wait for the next
			continue
		}
		l.Close() // one connection: nobody else may connect
		return s.run(ctx, c)
	}
}

// session is the conversation of dial and listen on one connection.
type session struct {
	in     io.Reader
	out    io.Writer
	log    *lineLogger
	format format
	enc    pickle.EncodeOptions
	wait   time.Duration
	failed atomic.Int64 // input lines and messages that were skipped
}

func newSession(e *env, sf sessionFlags, name string) *session {
	s := &session{
		in:     e.stdin,
		out:    e.stdout,
		log:    &lineLogger{w: e.stderr, prefix: "pipebridge " + name + ": "},
		format: appendRepr,
		enc:    encodeOptions(*sf.proto),
		wait:   sf.wait.d,
	}
	if *sf.json {
		s.format = appendJSON
	}
	return s
}

// run sends what standard input says and prints what arrives, until the end
// described in sessionUsage; it closes c.
func (s *session) run(ctx context.Context, c *conn.Conn) error {
	r := s.startReceiving(c)
	defer r.stop()
	if done, err := s.sendInput(ctx, c, r); done {
		return err
	}
	return s.drain(ctx, r)
}

// sendInput sends each line of standard input until it ends (done ==
// false), or until the session ends first (done == true, and its result).
func (s *session) sendInput(ctx context.Context, c *conn.Conn, r *receiver) (done bool, err error) {
	stopReading := make(chan struct{})
	defer close(stopReading)
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { readErr <- readLines(s.in, lines, stopReading) }()
	for lineNo := 1; ; lineNo++ {
		select {
		case <-ctx.Done():
			return true, nil
		case <-r.done:
			return true, s.result(r.err)
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					return true, fmt.Errorf("reading standard input: %w", err)
				}
				return false, nil
			}
			if err := s.send(c, line, lineNo); err != nil {
				return true, err
			}
		}
	}
}

// drain prints what arrives after standard input has ended, until the peer
// closes or s.wait passes with nothing arriving.
func (s *session) drain(ctx context.Context, r *receiver) error {
	if s.wait == 0 {
		return s.result(nil)
	}
	var timer *time.Timer
	var timeout <-chan time.Time
	if s.wait > 0 {
		timer = time.NewTimer(s.wait)
		defer timer.Stop()
		timeout = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.done:
			return s.result(r.err)
		case <-r.arrived:
			if timer != nil {
				timer.Reset(s.wait)
			}
		case <-timeout:
			return s.result(nil)
		}
	}
}

// receiver is the goroutine that prints what arrives.
type receiver struct {
	c       *conn.Conn
	closing atomic.Bool   // set before we close c ourselves
	arrived chan struct{} // a message arrived (coalesced)
	done    chan struct{} // closed when receiving has ended, with err
	err     error         // nil for the end of the stream or our own close
}

func (s *session) startReceiving(c *conn.Conn) *receiver {
	r := &receiver{c: c, arrived: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer recovered(&r.err)
		r.err = s.receive(c, &r.closing, r.arrived)
	}()
	return r
}

// stop closes the Conn and waits for the receiving goroutine, so that
// nothing is printed once the session is over.
func (r *receiver) stop() {
	r.closing.Store(true)
	r.c.Close()
	<-r.done
}

// send parses one input line and sends it. A line that is not a literal,
// or a value that cannot be pickled, is reported and skipped; a failure to
// send ends the session.
func (s *session) send(c *conn.Conn, line string, lineNo int) error {
	v, ok, err := parseLiteral(line)
	if !ok && err == nil {
		return nil
	}
	var body []byte
	if err == nil {
		body, err = s.enc.Marshal(v)
	}
	if err != nil {
		s.log.printf("line %d: %v; not sent", lineNo, err)
		s.failed.Add(1)
		return nil
	}
	if err := c.SendBytes(body); err != nil {
		return fmt.Errorf("sending line %d: %w", lineNo, err)
	}
	return nil
}

// receive prints every object that arrives on c, until the end of the
// stream (nil) or a failure. Once closing is set, the failure that closing
// the Conn causes is the end too.
func (s *session) receive(c *conn.Conn, closing *atomic.Bool, arrived chan<- struct{}) error {
	var line []byte
	for n := 1; ; n++ {
		body, err := c.RecvBytes()
		if err != nil {
			if closing.Load() || errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("receiving message %d: %w", n, err)
		}
		var v any
		if err := decodeOptions.Unmarshal(body, &v); err != nil {
			s.log.printf("message %d: not a pickle (%d bytes): %v", n, len(body), err)
			s.failed.Add(1)
		} else {
			line = append(s.format(line[:0], v), '\n')
			if _, err := s.out.Write(line); err != nil {
				return fmt.Errorf("writing message %d: %w", n, err)
			}
		}
		select {
		case arrived <- struct{}{}:
		default:
		}
	}
}

// result is the outcome of a session that ended with err (nil: cleanly).
func (s *session) result(err error) error {
	if err != nil {
		return err
	}
	if n := s.failed.Load(); n > 0 {
		return fmt.Errorf("%d input line(s) or message(s) skipped (see above)", n)
	}
	return nil
}

// readLines sends each line of r, without its line ending, until the end
// of r or done; it closes lines and returns a read error, if any.
func readLines(r io.Reader, lines chan<- string, done <-chan struct{}) error {
	defer close(lines)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = trimLineEnd(line)
			select {
			case lines <- line:
			case <-done:
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func trimLineEnd(s string) string {
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
		if n := len(s); n > 0 && s[n-1] == '\r' {
			s = s[:n-1]
		}
	}
	return s
}
