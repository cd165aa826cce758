package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAddress(t *testing.T) {
	cases := []struct {
		in     string
		want   Address
		python string
	}{
		{"127.0.0.1:5000", Address{Family: FamilyTCP, Host: "127.0.0.1", Port: 5000}, "('127.0.0.1', 5000)"},
		{"localhost:0", Address{Family: FamilyTCP, Host: "localhost"}, "('localhost', 0)"},
		{"[::1]:80", Address{Family: FamilyTCP, Host: "::1", Port: 80}, "('::1', 80)"},
		{":8080", Address{Family: FamilyTCP, Port: 8080}, "('', 8080)"},
		{"/tmp/x.sock", Address{Family: FamilyUnix, Path: "/tmp/x.sock"}, "'/tmp/x.sock'"},
		{"rel/x.sock", Address{Family: FamilyUnix, Path: "rel/x.sock"}, "'rel/x.sock'"},
		{"localhost", Address{Family: FamilyUnix, Path: "localhost"}, "'localhost'"},
		{"host:port", Address{Family: FamilyUnix, Path: "host:port"}, "'host:port'"},
		{"host:65536", Address{Family: FamilyUnix, Path: "host:65536"}, "'host:65536'"},
		{"/tmp/a:1", Address{Family: FamilyUnix, Path: "/tmp/a:1"}, "'/tmp/a:1'"},
		{"it's", Address{Family: FamilyUnix, Path: "it's"}, `'it\'s'`},
		{"@name", Address{Family: FamilyAbstract, Path: "name"}, `'\x00name'`},
		{"\x00name", Address{Family: FamilyAbstract, Path: "name"}, `'\x00name'`},
		{`\\.\pipe\x`, Address{Family: FamilyPipe, Path: `\\.\pipe\x`}, `'\\\\.\\pipe\\x'`},
		{"", Address{}, "None"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAddress(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.python, got.Python())
			again, err := ParseAddress(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String %q must parse back", got.String())
		})
	}
}

// listenerTransports are the address families every Listener test runs
// over, with how to listen on a fresh address of each.
func listenerTransports(t *testing.T) map[string]string {
	m := map[string]string{
		"tcp":     "127.0.0.1:0",
		"unix":    filepath.Join(t.TempDir(), "l.sock"),
		"default": "",
	}
	if runtime.GOOS == "linux" {
		m["abstract"] = "@"
	}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		m["tcp6"] = "[::1]:0"
	}
	return m
}

func listenT(t *testing.T, address string, opts *ListenOptions) *Listener {
	t.Helper()
	l, err := Listen(address, opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestListenDial(t *testing.T) {
	noGoroutineLeak(t)
	for name, address := range listenerTransports(t) {
		for _, keyed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/key=%v", name, keyed), func(t *testing.T) {
				var auth Auth
				if keyed {
					auth = Auth{Key: testKey}
				}
				l := listenT(t, address, &ListenOptions{Auth: auth})
				if name != "default" {
					assert.Equal(t, mustParse(t, address).Family, l.Addr().Family)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				go func() {
					c, err := DialContext(ctx, l.Addr().String(), &DialOptions{Auth: auth})
					if !assert.NoError(t, err) {
						return
					}
					defer c.Close()
					assert.NoError(t, c.Send("ping"))
					var v any
					assert.NoError(t, c.Recv(&v))
					assert.Equal(t, "pong", v)
				}()
				c, err := l.AcceptContext(ctx)
				require.NoError(t, err)
				defer c.Close()
				var v any
				require.NoError(t, c.Recv(&v))
				assert.Equal(t, "ping", v)
				require.NoError(t, c.Send("pong"))
				_, err = c.RecvBytes()
				assert.ErrorIs(t, err, io.EOF)
			})
		}
	}
}

func TestParseAddressRefusesNUL(t *testing.T) {
	_, err := ParseAddress("/tmp/a\x00b")
	assert.ErrorContains(t, err, "cannot contain NUL")
	_, err = Listen("/tmp/a\x00b", nil)
	assert.Error(t, err)
	_, err = Dial("/tmp/a\x00b", nil)
	assert.Error(t, err)
}

func mustParse(t *testing.T, s string) Address {
	a, err := ParseAddress(s)
	require.NoError(t, err)
	return a
}

func TestListenWrongKey(t *testing.T) {
	noGoroutineLeak(t)
	for name, address := range listenerTransports(t) {
		t.Run(name, func(t *testing.T) {
			l := listenT(t, address, &ListenOptions{Auth: Auth{Key: testKey}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			dialErr := make(chan error, 1)
			go func() {
				c, err := DialContext(ctx, l.Addr().String(), &DialOptions{Auth: Auth{Key: []byte("wrong")}})
				assert.Nil(t, c)
				dialErr <- err
			}()
			c, err := l.AcceptContext(ctx)
			assert.Nil(t, c)
			require.ErrorIs(t, err, ErrAuthentication)
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.NotNil(t, ae.Addr)
			require.ErrorIs(t, <-dialErr, ErrAuthentication)

			// The Listener keeps serving.
			go func() {
				c, err := DialContext(ctx, l.Addr().String(), &DialOptions{Auth: Auth{Key: testKey}})
				if err == nil {
					c.Close()
				}
				dialErr <- err
			}()
			c, err = l.AcceptContext(ctx)
			require.NoError(t, err)
			c.Close()
			require.NoError(t, <-dialErr)
		})
	}
}

func TestListenUnixRemovesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.sock")
	l, err := Listen(path, nil)
	require.NoError(t, err)
	assert.Equal(t, Address{Family: FamilyUnix, Path: path}, l.Addr())
	_, err = os.Stat(path)
	require.NoError(t, err)

	_, err = Listen(path, nil)
	assert.Error(t, err, "an existing socket file is in use, as in Python")

	require.NoError(t, l.Close())
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NoError(t, l.Close(), "Close again returns the first result")
}

func TestListenDefaultAddress(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the default on Windows is TCP loopback")
	}
	l, err := Listen("", nil)
	require.NoError(t, err)
	a := l.Addr()
	require.Equal(t, FamilyUnix, a.Family)
	assert.Equal(t, "listener.sock", filepath.Base(a.Path))
	c, err := Dial(a.String(), nil)
	require.NoError(t, err)
	c.Close()
	require.NoError(t, l.Close())
	_, err = os.Stat(filepath.Dir(a.Path))
	assert.ErrorIs(t, err, os.ErrNotExist, "the private directory goes with the Listener")
}

func TestListenPicksFreeAddresses(t *testing.T) {
	l1 := listenT(t, "127.0.0.1:0", nil)
	l2 := listenT(t, "localhost:0", nil)
	assert.NotZero(t, l1.Addr().Port)
	assert.Equal(t, "127.0.0.1", l2.Addr().Host, "Addr reports the IP bound")
	assert.NotEqual(t, l1.Addr(), l2.Addr())
	if runtime.GOOS == "linux" {
		a1 := listenT(t, "@", nil)
		a2 := listenT(t, "@", nil)
		assert.Equal(t, FamilyAbstract, a1.Addr().Family)
		assert.NotEmpty(t, a1.Addr().Path)
		assert.NotEqual(t, a1.Addr(), a2.Addr())
		named := listenT(t, "@"+a1.Addr().Path+"-x", nil)
		assert.Equal(t, a1.Addr().Path+"-x", named.Addr().Path)
	}
}

func TestListenRefusesInsecureTCP(t *testing.T) {
	for _, address := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		t.Run(address, func(t *testing.T) {
			_, err := Listen(address, nil)
			require.ErrorIs(t, err, ErrInsecureListen)
			_, err = Listen(address, &ListenOptions{Auth: Auth{AuthenticateEmptyKey: true}})
			require.ErrorIs(t, err, ErrInsecureListen, "an empty key protects nothing")

			l, err := Listen(address, &ListenOptions{Auth: Auth{Key: testKey}})
			require.NoError(t, err)
			l.Close()
			l, err = Listen(address, &ListenOptions{InsecureNoKey: true})
			require.NoError(t, err)
			l.Close()
		})
	}
	// Loopback and Unix sockets need no key.
	listenT(t, "127.0.0.1:0", nil)
	listenT(t, filepath.Join(t.TempDir(), "s"), nil)
}

func TestUnsupportedAddresses(t *testing.T) {
	_, err := Listen(`\\.\pipe\pipebridge`, nil)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorContains(t, err, "named pipes are not implemented")
	_, err = Dial(`\\.\pipe\pipebridge`, nil)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = Dial("", nil)
	assert.ErrorContains(t, err, "empty address")
	_, err = Listen("127.0.0.1:0", &ListenOptions{MaxPending: -1})
	assert.ErrorContains(t, err, "MaxPending")
	_, err = Listen("127.0.0.1:0", &ListenOptions{Auth: Auth{Digest: "sha1"}})
	assert.ErrorContains(t, err, "unknown challenge digest")
	_, err = Dial("127.0.0.1:1", &DialOptions{Auth: Auth{Digest: "sha1"}})
	assert.ErrorContains(t, err, "unknown challenge digest")
}

func TestListenerClose(t *testing.T) {
	noGoroutineLeak(t)
	l, err := Listen("127.0.0.1:0", &ListenOptions{Auth: Auth{Key: testKey}})
	require.NoError(t, err)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := l.Accept()
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, l.Close())
	assert.ErrorIs(t, <-errs, net.ErrClosed)
	assert.ErrorIs(t, <-errs, net.ErrClosed)
	_, err = l.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorContains(t, err, "accept tcp 127.0.0.1:")
	_, err = Dial(l.Addr().String(), nil)
	assert.Error(t, err)
	assert.NoError(t, l.Close())
}

func TestListenerCloseDropsUnaccepted(t *testing.T) {
	noGoroutineLeak(t)
	l, err := Listen("127.0.0.1:0", &ListenOptions{Auth: Auth{Key: testKey}})
	require.NoError(t, err)
	c, err := Dial(l.Addr().String(), &DialOptions{Auth: Auth{Key: testKey}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, l.Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.RecvBytes()
	require.Error(t, err, "Close ends connections no Accept took")
	assert.False(t, isTimeout(err), "%v", err) // EOF, or a reset if Close came mid-handshake
}

func TestAcceptContext(t *testing.T) {
	noGoroutineLeak(t)
	l := listenT(t, "127.0.0.1:0", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := l.AcceptContext(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, l.Close())
}

func TestStalledClientDelaysNobody(t *testing.T) {
	noGoroutineLeak(t)
	l := listenT(t, "127.0.0.1:0", &ListenOptions{Auth: Auth{Key: testKey, Timeout: time.Second}})
	// A client that connects and says nothing.
	stalled, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer stalled.Close()

	start := time.Now()
	dialErr := make(chan error, 1)
	go func() {
		c, err := Dial(l.Addr().String(), &DialOptions{Auth: Auth{Key: testKey}})
		if err == nil {
			c.Close()
		}
		dialErr <- err
	}()
	c, err := l.Accept()
	require.NoError(t, err)
	c.Close()
	require.NoError(t, <-dialErr)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "the good client waited for the stalled one")

	_, err = l.Accept()
	require.Error(t, err)
	var ae *AuthError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Timeout(), "%v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDialStalledListener(t *testing.T) {
	noGoroutineLeak(t)
	// A listener that accepts and says nothing, like a Python Listener
	// without authkey facing a client with one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = DialContext(ctx, ln.Addr().String(), &DialOptions{Auth: Auth{Key: testKey}})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var ne interface{ Timeout() bool }
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	_, err = Dial(ln.Addr().String(), &DialOptions{Auth: Auth{Key: testKey, Timeout: 100 * time.Millisecond}})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestListenerConcurrentAccept(t *testing.T) {
	noGoroutineLeak(t)
	const clients, acceptors, rounds = 40, 4, 20
	l := listenT(t, filepath.Join(t.TempDir(), "s"), &ListenOptions{Auth: Auth{Key: testKey}, MaxPending: 8})
	var wg sync.WaitGroup
	var mu sync.Mutex
	served := 0
	for range acceptors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if !assert.NoError(t, err) {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					for {
						b, err := c.RecvBytes()
						if err != nil {
							return
						}
						c.SendBytes(b)
					}
				}()
				mu.Lock()
				served++
				mu.Unlock()
			}
		}()
	}
	var cwg sync.WaitGroup
	for i := range clients {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			c, err := Dial(l.Addr().String(), &DialOptions{Auth: Auth{Key: testKey, Digest: AllDigests()[i%6]}})
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			for j := range rounds {
				msg := fmt.Sprintf("%d/%d", i, j)
				assert.NoError(t, c.SendBytes([]byte(msg)))
				b, err := c.RecvBytes()
				assert.NoError(t, err)
				assert.Equal(t, msg, string(b))
			}
		}()
	}
	cwg.Wait()
	require.NoError(t, l.Close())
	wg.Wait()
	assert.Equal(t, clients, served)
}
