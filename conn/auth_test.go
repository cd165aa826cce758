package conn

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testKey = []byte("pipebridge")

// authConns returns two connected Conns over TCP loopback, which every
// platform has.
func authConns(t *testing.T) (a, b *Conn) {
	t.Helper()
	x, y := tcpStreams(t)
	a, b = New(x, nil), New(y, nil)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// tcpStreams returns the two ends of a TCP loopback connection.
func tcpStreams(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	x, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	y := <-accepted
	require.NotNil(t, y)
	t.Cleanup(func() { x.Close(); y.Close() })
	return x, y
}

// noGoroutineLeak fails t if, when t ends, more goroutines run than when it
// started (after giving them a moment to finish).
func noGoroutineLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
		}
	})
}

// handshake runs both roles at once and returns each side's error.
func handshake(t *testing.T, server, client *Auth) (serverErr, clientErr error) {
	t.Helper()
	a, b := authConns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Authenticate(ctx, b, RoleClient, client) }()
	serverErr = Authenticate(ctx, a, RoleServer, server)
	if serverErr != nil {
		a.Close() // as Listener does: the client must not wait for more
	}
	clientErr = <-done
	if serverErr == nil && clientErr == nil {
		// The Conns are usable afterwards, deadlines cleared.
		require.NoError(t, a.SendBytes([]byte("after")))
		got, err := b.RecvBytes()
		require.NoError(t, err)
		assert.Equal(t, "after", string(got))
	}
	return serverErr, clientErr
}

func TestHandshakeEveryDigest(t *testing.T) {
	noGoroutineLeak(t)
	for _, server := range AllDigests() {
		for _, client := range AllDigests() {
			t.Run(string(server)+"/"+string(client), func(t *testing.T) {
				serr, cerr := handshake(t,
					&Auth{Key: testKey, Digest: server},
					&Auth{Key: testKey, Digest: client})
				assert.NoError(t, serr)
				assert.NoError(t, cerr)
			})
		}
	}
}

func TestHandshakeWrongKey(t *testing.T) {
	noGoroutineLeak(t)
	for _, d := range AllDigests() {
		t.Run(string(d), func(t *testing.T) {
			serr, cerr := handshake(t,
				&Auth{Key: testKey, Digest: d},
				&Auth{Key: []byte("wrong"), Digest: d})
			require.ErrorIs(t, serr, ErrAuthentication)
			require.ErrorIs(t, cerr, ErrAuthentication)
			var se, ce *AuthError
			require.ErrorAs(t, serr, &se)
			require.ErrorAs(t, cerr, &ce)
			assert.Equal(t, "deliver challenge", se.Op)
			assert.Equal(t, "digest received was wrong", se.Reason)
			assert.Equal(t, "answer challenge", ce.Op)
			assert.Equal(t, "digest sent was rejected", ce.Reason)
			assert.False(t, se.Timeout())
			assert.Contains(t, serr.Error(), "conn: authentication failed")
		})
	}
}

func TestHandshakeEmptyKey(t *testing.T) {
	noGoroutineLeak(t)
	t.Run("skipped by default", func(t *testing.T) {
		a, b := authConns(t)
		// Nothing is exchanged: no peer is even needed.
		require.NoError(t, Authenticate(context.Background(), a, RoleServer, &Auth{Key: []byte{}}))
		require.NoError(t, Authenticate(context.Background(), b, RoleClient, nil))
	})
	t.Run("authenticated when asked", func(t *testing.T) {
		serr, cerr := handshake(t, &Auth{AuthenticateEmptyKey: true}, &Auth{Key: []byte{}, AuthenticateEmptyKey: true})
		assert.NoError(t, serr)
		assert.NoError(t, cerr)
	})
	t.Run("the primitives run with a nil Auth", func(t *testing.T) {
		a, b := authConns(t)
		done := make(chan error, 1)
		go func() { done <- AnswerChallenge(context.Background(), b, nil) }()
		require.NoError(t, DeliverChallenge(context.Background(), a, nil))
		require.NoError(t, <-done)
	})
	t.Run("empty key is not any key", func(t *testing.T) {
		serr, cerr := handshake(t, &Auth{AuthenticateEmptyKey: true}, &Auth{Key: testKey})
		assert.ErrorIs(t, serr, ErrAuthentication)
		assert.ErrorIs(t, cerr, ErrAuthentication)
	})
}

// Responses computed by CPython 3.13's _create_response(b"pipebridge",
// message) for message = "{digest}" + bytes 1..40, and for the 20-byte
// legacy message bytes 1..20.
var cpythonResponses = map[Digest]string{
	DigestMD5:       "7b6d64357d87416c1012a096babd7bc203fbdffcf6",
	DigestSHA256:    "7b7368613235367d3723a75624d8039bc152c22a67b07a31d5b4882ac865d175371a9dde093a2600",
	DigestSHA384:    "7b7368613338347d1e212fcbf2ae19dd06efdc9b4f9e07f36b698692472bd903aa86637e46e8f73c5734c8b1547ac04d152cba80fa237682",
	DigestSHA3_256:  "7b736861335f3235367dcaccbca37bff588706b89e83793c0aaf6e3289df56c3444f760242fd21c352a0",
	DigestSHA3_384:  "7b736861335f3338347d8af4a8a1de8f2d0b79aa83a80ca0bffe910ecd6a1746be2f628dc6b6528843e01f2d420b32c65eefb587bce3bc95b3b9",
	DigestLegacyMD5: "e6d673c4efdb30ce1d581cb4614633b2",
}

// What Python 3.11 and older answer to "{sha256}" + bytes 1..40: the raw
// HMAC-MD5 of all of it.
const cpythonLegacyOverModern = "af39e5d23fe75a9a90247972581deefb"

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

func cpythonChallenge(d Digest) []byte {
	if d == DigestLegacyMD5 {
		return seq(20)
	}
	return append([]byte("{"+string(d)+"}"), seq(40)...)
}

func TestAnswerMatchesCPython(t *testing.T) {
	noGoroutineLeak(t)
	for d, want := range cpythonResponses {
		t.Run(string(d), func(t *testing.T) {
			a, peer := authConns(t)
			done := make(chan error, 1)
			go func() { done <- AnswerChallenge(context.Background(), a, &Auth{Key: testKey}) }()
			require.NoError(t, peer.SendBytes(append([]byte("#CHALLENGE#"), cpythonChallenge(d)...)))
			got, err := peer.RecvBytes()
			require.NoError(t, err)
			assert.Equal(t, want, hex.EncodeToString(got))
			require.NoError(t, peer.SendBytes([]byte("#WELCOME#")))
			require.NoError(t, <-done)
		})
	}
}

// deliverTo runs DeliverChallenge on one end and lets respond compute the
// peer's answer to the challenge it receives; it returns Deliver's error and
// the verdict the peer got.
func deliverTo(t *testing.T, a *Auth, respond func(challenge []byte) []byte) (error, string) {
	t.Helper()
	c, peer := authConns(t)
	done := make(chan error, 1)
	go func() { done <- DeliverChallenge(context.Background(), c, a) }()
	m, err := peer.RecvBytes()
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(m, []byte("#CHALLENGE#")), "%q", m)
	require.NoError(t, peer.SendBytes(respond(m[len("#CHALLENGE#"):])))
	err = <-done
	verdict, rerr := peer.RecvBytes()
	if rerr != nil {
		return err, "error: " + rerr.Error()
	}
	return err, string(verdict)
}

func TestDeliverChallengeForm(t *testing.T) {
	for _, d := range AllDigests() {
		t.Run(string(d), func(t *testing.T) {
			_, verdict := deliverTo(t, &Auth{Key: testKey, Digest: d}, func(m []byte) []byte {
				if d == DigestLegacyMD5 {
					assert.Len(t, m, 20)
				} else {
					prefix := "{" + string(d) + "}"
					assert.True(t, bytes.HasPrefix(m, []byte(prefix)))
					assert.Len(t, m, len(prefix)+40)
				}
				return macOf(d, testKey, m) // right digest, but no prefix: refused unless legacy
			})
			if d == DigestLegacyMD5 {
				assert.Equal(t, "#WELCOME#", verdict)
			} else {
				assert.Equal(t, "#FAILURE#", verdict)
			}
		})
	}
}

func TestDeliverLegacyResponseToModernChallenge(t *testing.T) {
	// Python 2.7–3.11 answer a "{sha256}..." challenge with HMAC-MD5 over
	// all of it, 16 raw bytes; CPython 3.12 accepts that.
	legacy := func(m []byte) []byte { return macOf(DigestMD5, testKey, m) }

	err, verdict := deliverTo(t, &Auth{Key: testKey}, legacy)
	require.ErrorIs(t, err, ErrAuthentication)
	assert.Contains(t, err.Error(), "AcceptDigests")
	assert.Equal(t, "#FAILURE#", verdict)

	err, verdict = deliverTo(t, &Auth{Key: testKey, AcceptDigests: []Digest{DigestLegacyMD5}}, legacy)
	require.NoError(t, err)
	assert.Equal(t, "#WELCOME#", verdict)

	// The vector itself, from CPython's hmac.
	assert.Equal(t, cpythonLegacyOverModern, hex.EncodeToString(legacy(cpythonChallenge(DigestSHA256))))
}

func TestDeliverOtherDigestResponse(t *testing.T) {
	// CPython 3.12 accepts any allowed "{name}" response to its challenge;
	// we accept only the one asked for unless AcceptDigests says more.
	md5Response := func(m []byte) []byte { return append([]byte("{md5}"), macOf(DigestMD5, testKey, m)...) }

	err, verdict := deliverTo(t, &Auth{Key: testKey, Digest: DigestSHA3_384}, md5Response)
	require.ErrorIs(t, err, ErrAuthentication)
	assert.Equal(t, "#FAILURE#", verdict)

	err, verdict = deliverTo(t, &Auth{Key: testKey, Digest: DigestSHA3_384, AcceptDigests: AllDigests()}, md5Response)
	require.NoError(t, err)
	assert.Equal(t, "#WELCOME#", verdict)
}

func TestDeliverBadResponses(t *testing.T) {
	noGoroutineLeak(t)
	all := &Auth{Key: testKey, AcceptDigests: AllDigests()}
	cases := []struct {
		name     string
		response func(m []byte) []byte
		reason   string
	}{
		{"empty", func([]byte) []byte { return nil }, "unsupported response"},
		{"15 bytes", func([]byte) []byte { return make([]byte, 15) }, "unsupported response"},
		{"20 bytes is legacy of the wrong length", func([]byte) []byte { return make([]byte, 20) }, "expected legacy-md5 of length 16, got 20"},
		{"16 wrong bytes", func([]byte) []byte { return make([]byte, 16) }, "digest received was wrong"},
		{"no prefix", func([]byte) []byte { return make([]byte, 32) }, "unsupported response"},
		{"unknown digest", func(m []byte) []byte { return append([]byte("{sha1}"), make([]byte, 20)...) }, "unsupported response"},
		{"brace too far", func(m []byte) []byte { return []byte("{sha256xxxx}" + strings.Repeat("x", 32)) }, "unsupported response"},
		{"empty name", func(m []byte) []byte { return []byte("{}" + strings.Repeat("x", 32)) }, "unsupported response"},
		{"short mac", func(m []byte) []byte { return append([]byte("{sha256}"), macOf(DigestSHA256, testKey, m)[:31]...) }, "expected sha256 of length 32, got 31"},
		{"long mac", func(m []byte) []byte {
			return append(append([]byte("{sha256}"), macOf(DigestSHA256, testKey, m)...), 0)
		}, "expected sha256 of length 32, got 33"},
		{"flipped bit", func(m []byte) []byte {
			r := append([]byte("{sha256}"), macOf(DigestSHA256, testKey, m)...)
			r[len(r)-1] ^= 1
			return r
		}, "digest received was wrong"},
		{"mac of the payload only", func(m []byte) []byte {
			return append([]byte("{sha256}"), macOf(DigestSHA256, testKey, m[len("{sha256}"):])...)
		}, "digest received was wrong"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, verdict := deliverTo(t, all, tc.response)
			require.ErrorIs(t, err, ErrAuthentication)
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.Contains(t, ae.Reason, tc.reason)
			assert.Equal(t, "#FAILURE#", verdict)
		})
	}
}

func TestDeliverOversizedResponse(t *testing.T) {
	noGoroutineLeak(t)
	c, peer := authConns(t)
	done := make(chan error, 1)
	go func() { done <- DeliverChallenge(context.Background(), c, &Auth{Key: testKey}) }()
	_, err := peer.RecvBytes()
	require.NoError(t, err)
	require.NoError(t, peer.SendBytes(make([]byte, 257)))
	err = <-done
	require.ErrorIs(t, err, ErrAuthentication)
	var tooLarge *MessageTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	assert.Equal(t, uint64(257), tooLarge.Size)
	assert.Equal(t, int64(256), tooLarge.Max)
	// As CPython's recv_bytes(256), the connection is closed.
	_, err = peer.RecvBytes()
	assert.ErrorIs(t, err, io.EOF)
}

// answerTo runs AnswerChallenge against a scripted challenger that sends
// challenge (a whole message body) and then, if it gets a response,
// verdict. It returns Answer's error.
func answerTo(t *testing.T, challenge []byte, verdict string) error {
	t.Helper()
	c, peer := authConns(t)
	done := make(chan error, 1)
	go func() {
		done <- AnswerChallenge(context.Background(), c, &Auth{Key: testKey, Timeout: 2 * time.Second})
	}()
	require.NoError(t, peer.SendBytes(challenge))
	go func() {
		if _, err := peer.RecvBytes(); err == nil {
			peer.SendBytes([]byte(verdict))
		}
	}()
	return <-done
}

func TestAnswerBadChallenges(t *testing.T) {
	noGoroutineLeak(t)
	ch := func(s string) []byte { return []byte("#CHALLENGE#" + s) }
	cases := []struct {
		name      string
		challenge []byte
		reason    string
	}{
		{"no marker", []byte("#CHALLENGX#" + strings.Repeat("x", 20)), "expected challenge"},
		{"empty", nil, "expected challenge"},
		{"19 bytes", ch(strings.Repeat("x", 19)), "challenge too short: 19 bytes"},
		{"marker alone", ch(""), "challenge too short: 0 bytes"},
		{"no prefix", ch(strings.Repeat("x", 40)), "unsupported challenge"},
		{"unknown digest", ch("{sha1}" + strings.Repeat("x", 40)), "unsupported challenge"},
		{"legacy name", ch("{legacy-md5}" + strings.Repeat("x", 40)), "unsupported challenge"},
		{"unclosed", ch("{sha256" + strings.Repeat("x", 40)), "unsupported challenge"},
		{"garbage", ch("\x00\xff\x7b\x7d" + strings.Repeat("\xfe", 30)), "unsupported challenge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := answerTo(t, tc.challenge, "#WELCOME#")
			require.ErrorIs(t, err, ErrAuthentication)
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "answer challenge", ae.Op)
			assert.Contains(t, ae.Reason, tc.reason)
		})
	}
}

func TestAnswerEdgeChallenges(t *testing.T) {
	noGoroutineLeak(t)
	// 20 bytes are legacy whatever they look like, as in CPython.
	require.NoError(t, answerTo(t, []byte("#CHALLENGE#{sha256}123456789012"), "#WELCOME#"))
	// The largest challenge CPython lets through.
	require.NoError(t, answerTo(t, append([]byte("#CHALLENGE#{sha256}"), make([]byte, 256-19)...), "#WELCOME#"))
	// Any verdict but #WELCOME# is a rejection.
	for _, v := range []string{"#FAILURE#", "", "#WELCOME", "#WELCOME#\x00"} {
		err := answerTo(t, []byte("#CHALLENGE#"+strings.Repeat("x", 20)), v)
		require.ErrorIs(t, err, ErrAuthentication, "verdict %q", v)
		assert.Contains(t, err.Error(), "digest sent was rejected")
	}
}

func TestAnswerOversizedChallenge(t *testing.T) {
	err := answerTo(t, append([]byte("#CHALLENGE#{sha256}"), make([]byte, 257-19)...), "")
	require.ErrorIs(t, err, ErrAuthentication)
	var tooLarge *MessageTooLargeError
	require.ErrorAs(t, err, &tooLarge)
}

func TestHandshakeTruncated(t *testing.T) {
	noGoroutineLeak(t)
	cases := []struct {
		name string
		raw  []byte // written to the stream, which then ends
		want error
	}{
		{"nothing", nil, io.EOF},
		{"half a header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"half a challenge", append([]byte{0, 0, 0, 31}, "#CHALLENGE#1234"...), io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, y := tcpStreams(t)
			c := New(x, nil)
			_, err := y.Write(tc.raw)
			require.NoError(t, err)
			y.Close()
			err = Authenticate(context.Background(), c, RoleClient, &Auth{Key: testKey})
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, ErrAuthentication, "a cut stream is not a wrong key")
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.False(t, ae.Timeout())
		})
	}
}

func TestHandshakeStalledPeer(t *testing.T) {
	noGoroutineLeak(t)
	for _, role := range []Role{RoleServer, RoleClient} {
		t.Run(role.String()+"/timeout", func(t *testing.T) {
			a, _ := authConns(t) // the peer never says a word
			start := time.Now()
			err := Authenticate(context.Background(), a, role, &Auth{Key: testKey, Timeout: 100 * time.Millisecond})
			assert.Less(t, time.Since(start), 2*time.Second)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, ErrAuthentication)
			var ne interface{ Timeout() bool }
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout())
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.True(t, ae.Timeout())
		})
		t.Run(role.String()+"/context", func(t *testing.T) {
			a, _ := authConns(t)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			err := Authenticate(ctx, a, role, &Auth{Key: testKey, Timeout: -1})
			require.ErrorIs(t, err, context.Canceled)
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.False(t, ae.Timeout())
		})
	}
	t.Run("already cancelled", func(t *testing.T) {
		a, _ := authConns(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, Authenticate(ctx, a, RoleServer, &Auth{Key: testKey}), context.Canceled)
	})
	t.Run("stalls after the challenge", func(t *testing.T) {
		a, peer := authConns(t)
		go peer.RecvBytes() // reads the challenge, never answers
		err := Authenticate(context.Background(), a, RoleServer, &Auth{Key: testKey, Timeout: 100 * time.Millisecond})
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// plainStream hides the deadline methods of an *os.File.
type plainStream struct{ r, w *os.File }

func (s plainStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s plainStream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s plainStream) Close() error                { s.r.Close(); return s.w.Close() }

func TestHandshakeStalledPeerWithoutDeadlines(t *testing.T) {
	noGoroutineLeak(t)
	r1, w1, err := os.Pipe()
	require.NoError(t, err)
	r2, w2, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r2.Close(); w1.Close() })
	c := New(plainStream{r: r1, w: w2}, nil)
	err = Authenticate(context.Background(), c, RoleClient, &Auth{Key: testKey, Timeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// Without deadlines the only way out was closing the Conn.
	assert.ErrorIs(t, c.SendBytes([]byte("x")), net.ErrClosed)
}

func TestAuthValidation(t *testing.T) {
	a, b := authConns(t)
	ctx := context.Background()
	assert.ErrorContains(t, Authenticate(ctx, a, RoleServer, &Auth{Key: testKey, Digest: "sha1"}), `unknown challenge digest "sha1"`)
	assert.ErrorContains(t, Authenticate(ctx, a, RoleServer, &Auth{Key: testKey, AcceptDigests: []Digest{"SHA256"}}), `unknown digest "SHA256"`)
	assert.ErrorContains(t, Authenticate(ctx, a, Role(0), &Auth{Key: testKey}), "invalid handshake role")
	assert.ErrorContains(t, DeliverChallenge(ctx, b, &Auth{Digest: "x"}), "unknown challenge digest")
	assert.ErrorContains(t, AnswerChallenge(ctx, b, &Auth{Digest: "x"}), "unknown challenge digest")
}

func TestAuthCopiesKey(t *testing.T) {
	key := []byte("pipebridge")
	v, err := (&Auth{Key: key}).validate()
	require.NoError(t, err)
	key[0] = 'X'
	assert.Equal(t, "pipebridge", string(v.key))
}

func TestAuthErrorMessages(t *testing.T) {
	e := &AuthError{Op: "deliver challenge", Reason: "digest received was wrong"}
	assert.Equal(t, "conn: authentication failed: deliver challenge: digest received was wrong", e.Error())
	e = &AuthError{Op: "answer challenge", Err: io.EOF}
	assert.Equal(t, "conn: handshake failed: answer challenge: EOF", e.Error())
	assert.True(t, errors.Is(e, io.EOF))
	assert.False(t, errors.Is(e, ErrAuthentication))
}
