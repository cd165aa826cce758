package conn_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/pipebridge/pipebridge/conn"
)

// A Go Listener that Python clients reach with
//
//	from multiprocessing.connection import Client
//	c = Client(('127.0.0.1', PORT), authkey=b'secret')
//	c.send('hello from Python'); print(c.recv())
//
// l.Addr().Python() prints the address in that form. Here a Go client plays
// the Python part.
func ExampleListen() {
	key := []byte("secret")
	l, err := conn.Listen("127.0.0.1:0", &conn.ListenOptions{
		Auth: conn.Auth{
			Key: key,
			// Python 3.11 and older answer our sha256 challenge with legacy
			// HMAC-MD5: accept it if they may connect.
			AcceptDigests: []conn.Digest{conn.DigestLegacyMD5},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	done := make(chan struct{})
	go func() { // the client
		defer close(done)
		c, err := conn.Dial(l.Addr().String(), &conn.DialOptions{Auth: conn.Auth{Key: key}})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		c.Send("hello from the client")
		var reply any
		if err := c.Recv(&reply); err != nil {
			log.Fatal(err)
		}
		fmt.Println("client got:", reply)
	}()

	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			log.Print(err) // one peer failed, e.g. a wrong key; keep serving
			continue
		}
		var v any
		if err := c.Recv(&v); err != nil {
			log.Fatal(err)
		}
		fmt.Println("listener got:", v)
		c.Send([]any{"welcome", int64(1)})
		<-done
		c.Close()
		break
	}
	// Output:
	// listener got: hello from the client
	// client got: [welcome 1]
}

// A Go client of a Python Listener started with
//
//	from multiprocessing.connection import Listener
//	with Listener('/tmp/py.sock', authkey=b'secret') as l:
//	    with l.accept() as c:
//	        print(c.recv()); c.send_bytes(b'raw bytes')
//
// Here a Go Listener stands in for the Python one.
func ExampleDial() {
	key := []byte("secret")
	l, err := conn.Listen("", &conn.ListenOptions{Auth: conn.Auth{Key: key}}) // a fresh Unix socket
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() { // the listener's side
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		var v any
		c.Recv(&v)
		c.SendBytes([]byte("raw bytes"))
	}()

	ctx, cancel := context.WithTimeout(context.Background(), conn.DefaultHandshakeTimeout)
	defer cancel()
	c, err := conn.DialContext(ctx, l.Addr().String(), &conn.DialOptions{
		Auth: conn.Auth{Key: key},
		// For a Python 2.7 Listener: Conn: &conn.Options{Codec: conn.PickleCodec{Encode: pickle.EncodeOptions{Protocol: 2}}},
	})
	if errors.Is(err, conn.ErrAuthentication) {
		log.Fatal("wrong key: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Send(map[string]any{"op": "ping"})
	b, err := c.RecvBytes()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", b)
	// Output:
	// raw bytes
}

// The handshake on streams opened some other way, here the two ends of a
// net.Pipe: one plays Python's Listener, the other Python's Client.
func ExampleAuthenticate() {
	x, y := net.Pipe()
	a, b := conn.New(x, nil), conn.New(y, nil)
	defer a.Close()
	defer b.Close()
	auth := &conn.Auth{Key: []byte("secret"), Digest: conn.DigestSHA3_384}
	errc := make(chan error, 1)
	go func() { errc <- conn.Authenticate(context.Background(), b, conn.RoleClient, auth) }()
	fmt.Println("server:", conn.Authenticate(context.Background(), a, conn.RoleServer, auth))
	fmt.Println("client:", <-errc)
	// Output:
	// server: <nil>
	// client: <nil>
}
