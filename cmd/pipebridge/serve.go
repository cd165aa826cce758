package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/conn"
)

const serveManagerUsage = `
usage: pipebridge serve-manager ADDRESS [--authkey-env VAR] [--insecure]

Serve-manager is a multiprocessing.managers server written in Go: a Python
program calls its objects with the standard library alone,

    from multiprocessing.managers import BaseManager
    class M(BaseManager): pass
    M.register('calc'); M.register('counter')
    m = M(address=('127.0.0.1', 6000), authkey=b'secret')
    m.connect()
    m.calc().add(1, 2)          # 3, computed in Go

Once ready it prints one line on standard output,
    listening ADDRESS
with the address actually bound, then serves every client concurrently
until SIGINT or SIGTERM, or a client's shutdown request, and exits 0.

Shared objects:
  calc              one object shared by every client:
                      add(a, b), mul(a, b), upper(s), echo(v) (v comes back
                      as it went), divide(a, b) (ZeroDivisionError for b == 0),
                      sleep(seconds)
  counter(start=0)  a new counter per create, with incr(by=1) and get()

ADDRESS is "host:port" for TCP, a path for a Unix socket, or "@name" for a
Linux abstract socket. The key, Python's authkey, is the value of the
environment variable named by --authkey-env; Python 2.7 to 3.13 clients are
all admitted. Without a key, a TCP address other than loopback is refused
unless --insecure is given.
`

func runServeManager(e *env, args []string) error {
	fs := newFlags("serve-manager", e.stderr)
	keyEnv := authFlag(fs)
	insecure := fs.Bool("insecure", false, "allow a TCP address other than loopback without a key")
	setUsage(fs, serveManagerUsage)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("serve-manager takes one ADDRESS")
	}
	auth, err := authFromEnv(e, *keyEnv)
	if err != nil {
		return err
	}
	srv := bridge.NewManagerServer()
	log := &lineLogger{w: e.stderr, prefix: "pipebridge serve-manager: "}
	srv.ErrorHandler = func(err error) { log.printf("%v", err) }
	if err := registerDemo(srv); err != nil {
		return err
	}
	ctx, stop := e.interruptible(context.Background())
	defer stop()
	l, err := conn.Listen(positional[0], &conn.ListenOptions{Auth: auth, InsecureNoKey: *insecure})
	if err != nil {
		return err
	}
	if _, err := e.stdout.Write([]byte("listening " + l.Addr().String() + "\n")); err != nil {
		l.Close()
		return err
	}
	defer context.AfterFunc(ctx, func() { srv.Close() })()
	if err := srv.Serve(l); !errors.Is(err, bridge.ErrServerClosed) {
		srv.Close()
		return err
	}
	srv.Close()
	return nil
}

// demoCalc is the object shared as "calc".
type demoCalc struct{}

func (demoCalc) Add(a, b any) (any, error) {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return x + y, nil
		}
	case float64:
		if y, ok := b.(float64); ok {
			return x + y, nil
		}
	case string:
		if y, ok := b.(string); ok {
			return x + y, nil
		}
	}
	return nil, bridge.NewPythonError("TypeError", "add() takes two ints, two floats or two strs")
}

func (demoCalc) Mul(a, b float64) float64 { return a * b }
func (demoCalc) Upper(s string) string    { return strings.ToUpper(s) }
func (demoCalc) Echo(v any) any           { return v }

func (demoCalc) Divide(a, b float64) (float64, error) {
	if b == 0 {
		return 0, bridge.NewPythonError("ZeroDivisionError", "division by zero")
	}
	return a / b, nil
}

func (demoCalc) Sleep(ctx context.Context, seconds float64) error {
	select {
	case <-time.After(time.Duration(seconds * float64(time.Second))):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// demoCounter is what each create of "counter" makes.
type demoCounter struct {
	mu sync.Mutex
	n  int
}

func (c *demoCounter) Incr(by ...int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(by) == 0 {
		c.n++
	}
	for _, b := range by {
		c.n += b
	}
	return c.n
}

func (c *demoCounter) Get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func registerDemo(srv *bridge.ManagerServer) error {
	if err := srv.Register("calc", demoCalc{}); err != nil {
		return err
	}
	return srv.RegisterFactory("counter", func(start ...int) *demoCounter {
		c := &demoCounter{}
		for _, s := range start {
			c.n += s
		}
		return c
	})
}
