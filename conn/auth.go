package conn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"net"
	"time"
)

// The authentication handshake of multiprocessing.connection
// (Lib/multiprocessing/connection.py, deliver_challenge and
// answer_challenge). Every step is an ordinary message:
//
//	deliverer                                   answerer
//	"#CHALLENGE#" + message          ->
//	                                 <-         response = MAC(key, message)
//	"#WELCOME#" or "#FAILURE#"       ->
//
// Legacy (Python 2.7–3.11): message is 20 random bytes and the response the
// raw 16-byte HMAC-MD5. Modern (Python 3.12+): message is "{name}" + 40
// random bytes and the response "{name}" + HMAC-name over the whole message,
// prefix included, so that a changed prefix breaks the MAC. Which is which is
// told by length alone: a 20-byte challenge is legacy, and so is a 16- or
// 20-byte response.
const (
	challengePrefix = "#CHALLENGE#"
	welcome         = "#WELCOME#"
	failure         = "#FAILURE#"

	// maxHandshakeMessage is what CPython's recv_bytes(256) lets through.
	maxHandshakeMessage = 256
	legacyChallengeLen  = 20 // _MD5ONLY_MESSAGE_LENGTH
	legacyResponseLen   = 16 // _MD5_DIGEST_LEN
	modernRandomLen     = 40 // MESSAGE_LENGTH of Python 3.12+
	maxDigestNameLen    = 8  // len("sha3_256"), _MAX_DIGEST_LEN
)

// DefaultHandshakeTimeout bounds the authentication handshake when
// Auth.Timeout is zero. CPython has no such bound: a Python peer that stalls
// blocks its Listener.accept for ever; a Go peer gives up after this long.
const DefaultHandshakeTimeout = 10 * time.Second

// Digest names a MAC of the handshake. The modern digests carry the name
// CPython 3.12+ writes between braces ("{sha256}"), so Digest("sha256") is
// DigestSHA256.
type Digest string

const (
	// DigestLegacyMD5 is the protocol of Python 2.7 to 3.11: a 20-byte
	// challenge without a prefix, answered by the raw 16-byte HMAC-MD5.
	// Every Python version answers such a challenge.
	DigestLegacyMD5 Digest = "legacy-md5"
	// The digests that Python 3.12+ accepts between braces.
	DigestMD5      Digest = "md5"
	DigestSHA256   Digest = "sha256" // the default, as in CPython
	DigestSHA384   Digest = "sha384"
	DigestSHA3_256 Digest = "sha3_256"
	DigestSHA3_384 Digest = "sha3_384"
)

var digestHashes = map[Digest]func() hash.Hash{
	DigestLegacyMD5: md5.New,
	DigestMD5:       md5.New,
	DigestSHA256:    sha256.New,
	DigestSHA384:    sha512.New384,
	DigestSHA3_256:  func() hash.Hash { return sha3.New256() },
	DigestSHA3_384:  func() hash.Hash { return sha3.New384() },
}

// digestBits gives each Digest a bit for the set of accepted responses.
var digestBits = map[Digest]uint8{
	DigestLegacyMD5: 1 << 0,
	DigestMD5:       1 << 1,
	DigestSHA256:    1 << 2,
	DigestSHA384:    1 << 3,
	DigestSHA3_256:  1 << 4,
	DigestSHA3_384:  1 << 5,
}

// AllDigests returns every Digest, legacy included: as Auth.AcceptDigests it
// accepts every response that CPython 3.12's deliver_challenge accepts.
func AllDigests() []Digest {
	return []Digest{DigestLegacyMD5, DigestMD5, DigestSHA256, DigestSHA384, DigestSHA3_256, DigestSHA3_384}
}

// Role says which half of the mutual handshake a side plays first.
type Role int

const (
	// RoleServer delivers a challenge, then answers one, as Python's
	// Listener.accept does.
	RoleServer Role = iota + 1
	// RoleClient answers a challenge, then delivers one, as Python's
	// Client does.
	RoleClient
)

func (r Role) String() string {
	switch r {
	case RoleServer:
		return "server"
	case RoleClient:
		return "client"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Auth configures the authentication handshake of Listen, Dial and
// Authenticate. The zero value means no handshake. Auth is copied when used;
// changing it afterwards has no effect.
type Auth struct {
	// Key is the shared secret, Python's authkey. An empty Key means no
	// handshake, as Python 2.7–3.12 Listeners treat authkey=b'' (see
	// AuthenticateEmptyKey).
	Key []byte

	// AuthenticateEmptyKey makes an empty Key run the handshake with the
	// empty key instead of skipping it. Python differs here: every Client
	// given authkey=b'' runs the handshake, as does a Python 3.13 Listener;
	// Listeners of Python 2.7 to 3.12 (3.12.1 at least) skip it, so their own
	// Clients with b'' wait for ever (CPython gh-88118). Set it to talk to a
	// Python Client with authkey=b'' or a Python 3.13 Listener with
	// authkey=b''; leave it unset for an older Listener with authkey=b''.
	// Either way an empty key authenticates nothing.
	AuthenticateEmptyKey bool

	// Digest is the MAC that the challenges we deliver ask for. Empty means
	// DigestSHA256, as CPython 3.12+ sends. DigestLegacyMD5 sends the
	// 20-byte challenge of Python 2.7–3.11. Answering is not affected: we
	// answer whatever the peer's challenge asks for, legacy or modern.
	Digest Digest

	// AcceptDigests lists the responses accepted to our challenges besides
	// the one Digest asks for (Python 3.12+ answers with exactly that one).
	//
	// Python 2.7–3.11 answer any challenge with a raw 16-byte HMAC-MD5 over
	// all of it, prefix included; CPython 3.12 accepts that response even to
	// a modern challenge. We accept it only to a DigestLegacyMD5 challenge,
	// when AcceptDigests contains DigestLegacyMD5, or as a client (Dial)
	// whose Listener itself challenged the legacy way, which only Python
	// 3.11 and older do. A Listener that must admit Python 3.11 and older
	// clients while sending modern challenges adds DigestLegacyMD5 here. AllDigests() accepts
	// every response that CPython 3.12 accepts. A modern challenge is never
	// downgraded by a man in the middle: whatever digest answers it, the MAC
	// covers the "{name}" prefix we chose.
	AcceptDigests []Digest

	// Timeout bounds the whole handshake. Zero means
	// DefaultHandshakeTimeout; negative means no bound beyond the context.
	Timeout time.Duration
}

// auth is an Auth validated once: the immutable form a Listener keeps.
type auth struct {
	key      []byte
	enabled  bool
	digest   Digest
	accepted uint8 // digestBits
	timeout  time.Duration
}

func (a *Auth) validate() (auth, error) {
	var v auth
	if a == nil {
		a = &Auth{}
	}
	v.key = bytes.Clone(a.Key)
	if v.key == nil {
		v.key = []byte{}
	}
	v.enabled = len(a.Key) > 0 || a.AuthenticateEmptyKey
	v.digest = a.Digest
	if v.digest == "" {
		v.digest = DigestSHA256
	}
	bit, ok := digestBits[v.digest]
	if !ok {
		return v, fmt.Errorf("conn: unknown challenge digest %q", a.Digest)
	}
	v.accepted = bit
	for _, d := range a.AcceptDigests {
		bit, ok := digestBits[d]
		if !ok {
			return v, fmt.Errorf("conn: unknown digest %q in AcceptDigests", d)
		}
		v.accepted |= bit
	}
	switch {
	case a.Timeout == 0:
		v.timeout = DefaultHandshakeTimeout
	case a.Timeout > 0:
		v.timeout = a.Timeout
	}
	return v, nil
}

// ErrAuthentication matches every failed authentication check, on either
// side: a wrong key, a response or challenge that breaks the protocol, a
// digest not accepted. It is what Python raises as AuthenticationError.
var ErrAuthentication = errors.New("conn: authentication failed")

// AuthError reports a failed handshake. When the peer failed a check, Reason
// says why and the error matches ErrAuthentication. When I/O failed (the
// peer hung up, a timeout, a cancelled context), Err holds the cause and
// Timeout reports whether it was one. A handshake message too long for the
// 256 bytes CPython allows sets both. The Conn is unusable afterwards;
// Listen and Dial close it.
type AuthError struct {
	Op     string   // "deliver challenge" or "answer challenge"
	Reason string   // why the peer failed a check; empty for an I/O failure
	Err    error    // the I/O failure or refusal behind it, if any
	Addr   net.Addr // the peer, when known (set by Listener and Dial)
}

func (e *AuthError) Error() string {
	var b bytes.Buffer
	if e.Reason != "" {
		b.WriteString("conn: authentication failed")
	} else {
		b.WriteString("conn: handshake failed")
	}
	if e.Addr != nil && e.Addr.String() != "" && e.Addr.String() != "@" { // unnamed Unix peers
		fmt.Fprintf(&b, " with %s", e.Addr)
	}
	fmt.Fprintf(&b, ": %s", e.Op)
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns ErrAuthentication when a check failed, and Err.
func (e *AuthError) Unwrap() []error {
	var errs []error
	if e.Reason != "" {
		errs = append(errs, ErrAuthentication)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Timeout reports whether the handshake failed for lack of time.
func (e *AuthError) Timeout() bool { return e.Reason == "" && isTimeout(e.Err) }

const (
	opDeliver = "deliver challenge"
	opAnswer  = "answer challenge"
)

// Authenticate runs the mutual handshake of multiprocessing.connection on c,
// an already-open stream: role RoleServer delivers a challenge then answers
// one, as Python's Listener.accept; RoleClient answers then delivers, as
// Python's Client. It does nothing when a has no Key (and
// AuthenticateEmptyKey is unset), as Python skips it without an authkey.
//
// The handshake ends when ctx is done or after a.Timeout, whichever comes
// first; Authenticate then sets a deadline in the past to interrupt it (or
// closes c if its stream has no deadlines) and returns an *AuthError whose
// Err is ctx.Err(). It clears c's deadlines when it returns. Do not use c
// from another goroutine meanwhile. After an error, close c.
func Authenticate(ctx context.Context, c *Conn, role Role, a *Auth) error {
	v, err := a.validate()
	if err != nil {
		return err
	}
	return v.run(ctx, c, role)
}

// DeliverChallenge sends a challenge on c and checks the peer's response,
// as Python's multiprocessing.connection.deliver_challenge; it runs even
// with an empty Key. See Authenticate for ctx and the timeout.
func DeliverChallenge(ctx context.Context, c *Conn, a *Auth) error {
	v, err := a.validate()
	if err != nil {
		return err
	}
	return v.withDeadline(ctx, c, func() error { return v.deliver(c) })
}

// AnswerChallenge answers the peer's challenge on c, as Python's
// multiprocessing.connection.answer_challenge: legacy or modern, with the
// digest the challenge names. It runs even with an empty Key. See
// Authenticate for ctx and the timeout.
func AnswerChallenge(ctx context.Context, c *Conn, a *Auth) error {
	v, err := a.validate()
	if err != nil {
		return err
	}
	return v.withDeadline(ctx, c, func() error {
		_, err := v.answer(c)
		return err
	})
}

func (v *auth) run(ctx context.Context, c *Conn, role Role) error {
	if role != RoleServer && role != RoleClient {
		return fmt.Errorf("conn: invalid handshake role %v", role)
	}
	if !v.enabled {
		return nil
	}
	return v.withDeadline(ctx, c, func() error {
		if role == RoleServer {
			if err := v.deliver(c); err != nil {
				return err
			}
			_, err := v.answer(c)
			return err
		}
		d, err := v.answer(c)
		if err != nil {
			return err
		}
		if d == DigestLegacyMD5 && v.accepted&digestBits[DigestLegacyMD5] == 0 {
			// A Listener that challenged with legacy HMAC-MD5 is Python
			// 3.11 or older, which can answer ours only that way, as
			// CPython 3.12's Client accepts. It costs nothing: the
			// connection already rests on that peer's legacy exchange.
			w := *v
			w.accepted |= digestBits[DigestLegacyMD5]
			return w.deliver(c)
		}
		return v.deliver(c)
	})
}

// withDeadline runs steps under ctx and the handshake timeout. When either
// ends first, blocked I/O on c is interrupted and the error reports the
// context's error instead of the I/O timeout it caused.
func (v *auth) withDeadline(ctx context.Context, c *Conn, steps func() error) error {
	if v.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return &AuthError{Op: "start handshake", Err: err}
	}
	fired := make(chan struct{})
	closed := false
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		if c.SetDeadline(pastDeadline) != nil {
			c.Close() // no deadlines on this stream: only closing unblocks it
			closed = true
		}
	})
	err := steps()
	if !stop() {
		<-fired
		var ae *AuthError
		switch {
		case errors.As(err, &ae) && ae.Reason == "":
			ae.Err = ctx.Err()
		case err == nil && closed:
			// It was done, but the Conn is gone.
			err = &AuthError{Op: "finish handshake", Err: ctx.Err()}
		}
	}
	c.SetDeadline(time.Time{}) // ErrNoDeadline is fine: nothing was set
	return err
}

// deliver is CPython 3.12's deliver_challenge, with our choice of accepted
// responses.
func (v *auth) deliver(c *Conn) error {
	msg, err := v.newChallenge()
	if err != nil {
		return &AuthError{Op: opDeliver, Err: err}
	}
	if err := c.SendBytes(append([]byte(challengePrefix), msg...)); err != nil {
		return &AuthError{Op: opDeliver, Err: fmt.Errorf("send challenge: %w", err)}
	}
	resp, err := c.RecvBytesMax(maxHandshakeMessage)
	if err != nil {
		return recvError(opDeliver, "response", err)
	}
	if reason := v.verify(msg, resp); reason != "" {
		// Best effort, as CPython: the peer learns why it is cut off.
		c.SendBytes([]byte(failure))
		return &AuthError{Op: opDeliver, Reason: reason}
	}
	if err := c.SendBytes([]byte(welcome)); err != nil {
		return &AuthError{Op: opDeliver, Err: fmt.Errorf("send welcome: %w", err)}
	}
	return nil
}

func (v *auth) newChallenge() ([]byte, error) {
	if v.digest == DigestLegacyMD5 {
		msg := make([]byte, legacyChallengeLen)
		_, err := rand.Read(msg)
		return msg, err
	}
	prefix := "{" + string(v.digest) + "}"
	msg := make([]byte, len(prefix)+modernRandomLen)
	copy(msg, prefix)
	_, err := rand.Read(msg[len(prefix):])
	return msg, err
}

// verify checks resp against the challenge msg and returns why it fails, or
// "" when it passes.
func (v *auth) verify(msg, resp []byte) string {
	d, mac, ok := parseDigest(resp)
	if !ok {
		return fmt.Sprintf("unsupported response length, missing digest prefix, or unsupported digest: %d bytes %.24q", len(resp), resp)
	}
	if v.accepted&digestBits[d] == 0 {
		if d == DigestLegacyMD5 {
			return "the peer answered with a legacy HMAC-MD5 response (Python 3.11 or older), not accepted to a modern challenge; add DigestLegacyMD5 to Auth.AcceptDigests to allow it"
		}
		return fmt.Sprintf("the peer answered with digest %s, not accepted (challenge asked for %s)", d, v.digest)
	}
	expected := macOf(d, v.key, msg)
	if len(expected) != len(mac) {
		return fmt.Sprintf("expected %s of length %d, got %d", d, len(expected), len(mac))
	}
	if !hmac.Equal(expected, mac) {
		return "digest received was wrong"
	}
	return ""
}

// answer is CPython 3.12's answer_challenge.
// answer is CPython's answer_challenge; it returns the digest the
// challenge asked for.
func (v *auth) answer(c *Conn) (Digest, error) {
	m, err := c.RecvBytesMax(maxHandshakeMessage)
	if err != nil {
		return "", recvError(opAnswer, "challenge", err)
	}
	if !bytes.HasPrefix(m, []byte(challengePrefix)) {
		return "", &AuthError{Op: opAnswer, Reason: fmt.Sprintf("protocol error, expected challenge: got %d bytes %.24q", len(m), m)}
	}
	msg := m[len(challengePrefix):]
	if len(msg) < legacyChallengeLen {
		return "", &AuthError{Op: opAnswer, Reason: fmt.Sprintf("challenge too short: %d bytes", len(msg))}
	}
	d, _, ok := parseDigest(msg)
	if !ok {
		return "", &AuthError{Op: opAnswer, Reason: fmt.Sprintf("unsupported challenge: missing digest prefix or unsupported digest: %.24q", msg)}
	}
	resp := macOf(d, v.key, msg)
	if d != DigestLegacyMD5 {
		resp = append([]byte("{"+string(d)+"}"), resp...)
	}
	if err := c.SendBytes(resp); err != nil {
		return "", &AuthError{Op: opAnswer, Err: fmt.Errorf("send response: %w", err)}
	}
	verdict, err := c.RecvBytesMax(maxHandshakeMessage)
	if err != nil {
		return "", recvError(opAnswer, "verdict", err)
	}
	if !bytes.Equal(verdict, []byte(welcome)) {
		return "", &AuthError{Op: opAnswer, Reason: "digest sent was rejected"}
	}
	return d, nil
}

func recvError(op, what string, err error) error {
	var tooLarge *MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return &AuthError{Op: op, Reason: what + " too long", Err: err}
	}
	return &AuthError{Op: op, Err: fmt.Errorf("read %s: %w", what, err)}
}

// parseDigest tells which digest a challenge or response uses, as CPython's
// _get_digest_name_and_payload: a message of 16 or 20 bytes is legacy
// whatever it contains; any other must start with "{name}" naming an allowed
// digest. It returns the payload after the prefix.
func parseDigest(m []byte) (d Digest, payload []byte, ok bool) {
	if len(m) == legacyChallengeLen || len(m) == legacyResponseLen {
		return DigestLegacyMD5, m, true
	}
	if len(m) == 0 || m[0] != '{' {
		return "", nil, false
	}
	end := bytes.IndexByte(m[1:min(len(m), maxDigestNameLen+2)], '}')
	if end < 0 {
		return "", nil, false
	}
	d = Digest(m[1 : 1+end])
	if _, known := digestBits[d]; !known || d == DigestLegacyMD5 {
		return "", nil, false
	}
	return d, m[2+end:], true
}

func macOf(d Digest, key, msg []byte) []byte {
	h := hmac.New(digestHashes[d], key)
	h.Write(msg)
	return h.Sum(nil)
}
