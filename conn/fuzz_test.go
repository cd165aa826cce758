package conn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipebridge/pipebridge/internal/pymatrix"
)

// The fuzz targets of package conn. A plain `go test` runs every seed in
// testdata/fuzz/<target> (recorded from CPython by testdata/fuzz_seeds.py,
// plus every crasher ever found, kept as a named regression) and the f.Add
// seeds below. To fuzz, one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzFrameReader$' -fuzztime 10m ./conn
//	go test -run '^$' -fuzz '^FuzzHandshake$' -fuzztime 10m ./conn
//
// or testdata/fuzz.sh, which runs each for a while and reports executions.

// The seeds recorded from CPython are what CPython still writes: the
// deterministic ones (Connection.send of objects, send_bytes) come out of
// every interpreter byte for byte as they were checked in.
func TestFuzzSeedsMatchPython(t *testing.T) {
	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		dir := t.TempDir()
		cmd := p.Command("testdata/fuzz_seeds.py", dir)
		cmd.Env = append(cmd.Env, "PYTHONHASHSEED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		name := filepath.Join("FuzzFrameReader", "python-"+p.Short()+"-send")
		want, err := os.ReadFile(filepath.Join("testdata", "fuzz", name))
		require.NoError(t, err, "no seed recorded for Python %s: run testdata/fuzz.sh seeds", p.Short())
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "Python %s writes other bytes than those recorded", p.Version)
	})
}

// fuzzWatchdog crashes the fuzzing worker, and with it reports the input,
// when one input takes longer than any honest run could: the fuzzing engine
// has no hang detection of its own.
func fuzzWatchdog(what string) (stop func() bool) {
	return time.AfterFunc(10*time.Second, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("%s: one input ran for 10s: hang\n%s", what, buf))
	}).Stop
}

// fuzzTimeout is the error a read returns when its deadline passes.
type fuzzTimeout struct{}

func (fuzzTimeout) Error() string   { return "fuzz: i/o timeout" }
func (fuzzTimeout) Timeout() bool   { return true }
func (fuzzTimeout) Temporary() bool { return true }

// fuzzStream is a scripted stream: it hands out stream in chunks whose sizes
// cuts gives, one per Read. A cut of 0 is a read that times out instead (as
// a read deadline would); after the cuts, the rest comes in 4 KiB reads.
// With eofWithData, the read that returns the last bytes returns io.EOF
// too, as io.Reader allows.
type fuzzStream struct {
	stream      []byte
	cuts        []byte
	eofWithData bool
	deadline    time.Time
	timeouts    int // reads that timed out
}

func (s *fuzzStream) Read(p []byte) (int, error) {
	if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
		s.timeouts++
		return 0, fuzzTimeout{}
	}
	n := 4096
	if len(s.cuts) > 0 {
		n = int(s.cuts[0])
		s.cuts = s.cuts[1:]
		if n == 0 {
			s.timeouts++
			return 0, fuzzTimeout{}
		}
	}
	if len(s.stream) == 0 {
		return 0, io.EOF
	}
	n = min(n, len(p), len(s.stream))
	copy(p, s.stream[:n])
	s.stream = s.stream[n:]
	if len(s.stream) == 0 && s.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

func (s *fuzzStream) Write(p []byte) (int, error)        { return 0, errors.New("fuzz: read-only") }
func (s *fuzzStream) Close() error                       { return nil }
func (s *fuzzStream) SetReadDeadline(t time.Time) error  { s.deadline = t; return nil }
func (s *fuzzStream) SetWriteDeadline(t time.Time) error { return nil }

// fuzzFrame is what the model expects of one frame of a stream.
type fuzzFrame struct {
	declared uint64 // the length the header states; 0 until the header is whole
	body     []byte // the whole body, when the stream holds it
	end      error  // instead of a body: the error that ends the stream here
}

// fuzzModel reads stream as the multiprocessing wire format says, written
// without looking at frame.go: the frames, and how the stream ends.
func fuzzModel(stream []byte, limit uint64) []fuzzFrame {
	var out []fuzzFrame
	for {
		if len(stream) == 0 {
			return append(out, fuzzFrame{end: io.EOF})
		}
		if len(stream) < 4 {
			return append(out, fuzzFrame{end: io.ErrUnexpectedEOF})
		}
		short := int32(binary.BigEndian.Uint32(stream))
		stream = stream[4:]
		var n uint64
		switch {
		case short == -1:
			if len(stream) < 8 {
				return append(out, fuzzFrame{end: io.ErrUnexpectedEOF})
			}
			n = binary.BigEndian.Uint64(stream)
			stream = stream[8:]
		case short < 0:
			return append(out, fuzzFrame{end: &FrameError{}})
		default:
			n = uint64(short)
		}
		if n > limit {
			return append(out, fuzzFrame{declared: n, end: &MessageTooLargeError{Size: n}})
		}
		if uint64(len(stream)) < n {
			return append(out, fuzzFrame{declared: n, end: io.ErrUnexpectedEOF})
		}
		out = append(out, fuzzFrame{declared: n, body: stream[:n]})
		stream = stream[n:]
	}
}

// fuzzLimits are the MaxMessageSize values the frame target picks from.
var fuzzLimits = []int64{0, -1, 1, 16, 255, 4096, 65536, 1 << 20}

// fuzzLimit is the limit that MaxMessageSize o stands for, as Options
// documents it.
func fuzzLimit(o int64) uint64 {
	switch {
	case o == 0:
		return DefaultMaxMessageSize
	case o < 0:
		return math.MaxInt
	}
	return uint64(o)
}

// fuzzHeaderAlloc is the most a header alone may make a Conn allocate, as
// the package documentation promises.
const fuzzHeaderAlloc = 1 << 20

// FuzzFrameReader feeds a Conn an arbitrary byte stream in arbitrary pieces,
// with reads that time out at arbitrary points, and receives with a mix of
// RecvBytes, RecvBytesInto, RecvBytesAppend and RecvBytesContext. It checks:
//   - every complete frame comes out whole and in order, and the stream
//     ends with the error the format calls for (io.EOF between frames,
//     io.ErrUnexpectedEOF inside one, *FrameError, *MessageTooLargeError
//     with the declared size), which then sticks;
//   - a timeout loses nothing: the next call carries on;
//   - the Conn keeps no hold on the caller's buffer after a call returns:
//     the harness scribbles over it after every timeout;
//   - allocation stays within the documented rule: per call, at most
//     min(declared length, 1 MiB) plus a few times the bytes that arrived;
//   - nothing panics or hangs.
//
// mode picks the limit (bits 0-2: fuzzLimits), the receive calls (bits 3-5:
// see fuzzRecv) and whether the last data comes with io.EOF (bit 6).
func FuzzFrameReader(f *testing.F) {
	hdr := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	long := func(n uint64) []byte {
		return binary.BigEndian.AppendUint64([]byte{0xff, 0xff, 0xff, 0xff}, n)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	f.Add([]byte{}, []byte{}, byte(0))
	f.Add(cat(hdr(5), []byte("hello"), hdr(0), hdr(3), []byte("abc")), []byte{1, 0, 2, 0, 3, 0, 9}, byte(0x08))
	f.Add(cat(hdr(5), []byte("hel")), []byte{2, 0, 5}, byte(0x10))
	f.Add(cat(long(3), []byte("abc")), []byte{3, 0, 3}, byte(0x18))
	f.Add(long(1<<62), []byte{}, byte(1))          // a header claiming 2^62 bytes, unlimited
	f.Add(long(math.MaxUint64), []byte{}, byte(1)) // more than any slice can hold
	f.Add(hdr(math.MaxInt32), []byte{}, byte(0))   // 2 GiB against the default limit
	f.Add(cat(hdr(100<<20), []byte("xyz")), []byte{1, 0, 1, 0}, byte(0x21))
	f.Add([]byte{0x80, 0, 0, 0}, []byte{1, 1, 1, 1}, byte(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe}, []byte{}, byte(0x40))
	f.Add(cat(hdr(20), bytes.Repeat([]byte{7}, 20), hdr(20), bytes.Repeat([]byte{8}, 20)), []byte{10, 0, 10, 0, 4, 0, 3, 0}, byte(0x13))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, mode byte) {
		defer fuzzWatchdog("FuzzFrameReader")()
		fuzzFrames(t, stream, cuts, mode)
	})
}

// fuzzRecv receives one message the way the mode and the call number pick.
// It returns the body, the buffer the caller lent (to scribble over after a
// timeout), and the error.
func fuzzRecv(c *Conn, mode byte, call int, size int) (body, lent []byte, err error) {
	how := int(mode>>3) & 7
	switch {
	case how >= 4:
		how = (call + how) % 4 // vary the call from one receive to the next
	case how == 3 && call%2 == 1:
		how = 0 // a cancelled context every other call, so that it ends
	}
	switch how {
	case 0:
		body, err = c.RecvBytes()
	case 1:
		lent = make([]byte, size)
		var n int
		n, err = c.RecvBytesInto(lent)
		var short *BufferTooShortError
		switch {
		case err == nil:
			body = lent[:n]
		case errors.As(err, &short):
			body, err = short.Message, nil
		}
	case 2:
		lent = make([]byte, 1, 1+size)
		lent[0] = '>'
		var got []byte
		got, err = c.RecvBytesAppend(lent)
		if err == nil {
			if len(got) == 0 || got[0] != '>' {
				return nil, lent, fmt.Errorf("RecvBytesAppend lost the prefix: %q", got)
			}
			body = got[1:]
		}
		lent = lent[:cap(lent)]
	case 3:
		// A context cancelled already: data already buffered may still
		// complete the message; otherwise the call gives up, keeping its
		// place.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		body, err = c.RecvBytesContext(ctx)
		if errors.Is(err, context.Canceled) {
			err = fuzzTimeout{}
		}
	}
	return body, lent, err
}

func fuzzFrames(t *testing.T, stream, cuts []byte, mode byte) {
	limitOpt := fuzzLimits[mode&7]
	limit := fuzzLimit(limitOpt)
	model := fuzzModel(stream, limit)
	zeroCuts := bytes.Count(cuts, []byte{0})
	rs := &fuzzStream{stream: stream, cuts: cuts, eofWithData: mode&0x40 != 0}
	c := New(rs, &Options{MaxMessageSize: limitOpt})

	allocBefore := fuzzAllocated()
	// The Conn, its read buffer, the harness, and what else the process
	// allocates meanwhile (the fuzzing engine runs in it too; the heap
	// counter advances a span at a time): a header that really made us
	// allocate what it claims would cost far more.
	var allowed uint64 = 4 << 20
	k := 0 // the frame expected next
	timeouts := 0
	for call := 0; ; call++ {
		want := model[k]
		if want.declared <= limit {
			allowed += min(want.declared, fuzzHeaderAlloc) + 6*uint64(len(stream)) + 512
		}
		size := 0
		if len(cuts) > 0 {
			size = int(cuts[call%len(cuts)])
		}
		body, lent, err := fuzzRecv(c, mode, call, size)
		if isTimeout(err) {
			// Another caller now owns that memory: the Conn must not read
			// or write it any more.
			for i := range lent {
				lent[i] = 0xAA
			}
			// Every call that is not given a cancelled context either
			// returns a message or an end, or used up a read that timed
			// out; at least every other call is such a call.
			if call > 4*(len(model)+zeroCuts+2) {
				t.Fatalf("call %d: %d timeouts from %d timed-out reads: receiving makes no progress", call, timeouts+1, zeroCuts)
			}
			timeouts++
			continue
		}
		if err == nil {
			if want.end != nil {
				t.Fatalf("call %d: got a %d-byte message, want %v", call, len(body), want.end)
			}
			if !bytes.Equal(body, want.body) {
				t.Fatalf("call %d: frame %d: got % x, want % x", call, k, fuzzShort(body), fuzzShort(want.body))
			}
			k++
			continue
		}
		fuzzCheckEnd(t, err, want)
		// The end sticks.
		_, err2 := c.RecvBytes()
		if err2 == nil || (!errors.Is(err2, err) && !errors.Is(err2, net.ErrClosed) && err2.Error() != err.Error()) {
			t.Fatalf("after %v the next receive returned %v", err, err2)
		}
		break
	}
	if got := fuzzAllocated() - allocBefore; got > allowed {
		t.Fatalf("allocated %d bytes for a %d-byte stream in %d frames; the rule allows %d", got, len(stream), k, allowed)
	}
}

// fuzzAllocated returns the bytes allocated on the heap so far, without
// stopping the world as runtime.ReadMemStats does.
func fuzzAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func fuzzCheckEnd(t *testing.T, err error, want fuzzFrame) {
	t.Helper()
	switch want.end {
	case nil:
		t.Fatalf("got %v, want a %d-byte message", err, len(want.body))
	case io.EOF, io.ErrUnexpectedEOF:
		if err != want.end {
			t.Fatalf("got %v, want exactly %v", err, want.end)
		}
	default:
		var fe *FrameError
		var tl *MessageTooLargeError
		switch want.end.(type) {
		case *FrameError:
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FrameError", err)
			}
		case *MessageTooLargeError:
			if !errors.As(err, &tl) || tl.Size != want.declared || tl.Sending {
				t.Fatalf("got %v, want a *MessageTooLargeError for %d bytes", err, want.declared)
			}
		}
	}
	if !strings.HasPrefix(err.Error(), "conn: ") && err != io.EOF && err != io.ErrUnexpectedEOF {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func fuzzShort(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// fuzzKey is the key the fuzzed handshakes use; the scripted peer knows it
// only for the ops that say so.
var fuzzKey = []byte("pipebridge fuzz key")

// fuzzDigests are the responses a scripted peer can give, by index.
var fuzzDigests = []Digest{DigestLegacyMD5, DigestMD5, DigestSHA256, DigestSHA384, DigestSHA3_256, DigestSHA3_384}

// fuzzPeer plays the other side of a handshake from a script. Everything it
// writes, Go reads from a queue; everything Go writes, it parses into frames.
// When Go reads while the script waits for a frame from Go, both sides wait:
// the read times out, as the handshake deadline would make it.
//
// The script is a list of ops:
//
//	0 L b[L]    write L raw bytes (any framing, or none)
//	1 L b[L]    write one frame with body b
//	2           wait for Go's next frame
//	3 D K       respond to Go's last challenge with digest fuzzDigests[D%6]
//	            (D ≥ 6: the one the challenge asks for), keyed with the real
//	            key when K is 0, else with a wrong one
//	4           write the frame "#WELCOME#"
//	5 D L b[L]  write a challenge: legacy (D%7 == 6) or "{digest}", with
//	            b as the random part (cut or padded to its length)
//	6           close: Go reads EOF, and its writes fail
//	7 N         Go's reads return at most N+1 bytes from now on
//	8           write the frame "#FAILURE#"
//
// Any other byte is skipped.
type fuzzPeer struct {
	script   []byte
	out      []byte   // written by the peer, not yet read by Go
	chunk    int      // most bytes one Read returns; 0 means no bound
	fromGo   []byte   // written by Go, not yet parsed into frames
	goFrames [][]byte // frames Go wrote, not yet waited for
	lastGo   []byte   // the last frame the peer waited for
	closed   bool

	challenges [][]byte // every challenge Go sent (after "#CHALLENGE#")
	sent       [][]byte // every frame body the peer wrote with op 1, 3, 4, 5, 8
}

func (p *fuzzPeer) frame(body []byte) {
	p.out = binary.BigEndian.AppendUint32(p.out, uint32(len(body)))
	p.out = append(p.out, body...)
	p.sent = append(p.sent, body)
}

// take returns the n bytes after the op, or fewer at the end of the script.
func (p *fuzzPeer) take(n int) []byte {
	n = min(n, len(p.script))
	b := p.script[:n]
	p.script = p.script[n:]
	return b
}

func (p *fuzzPeer) takeByte() int {
	if b := p.take(1); len(b) == 1 {
		return int(b[0])
	}
	return 0
}

// step runs one op; it returns false when the peer must wait for Go.
func (p *fuzzPeer) step() bool {
	op := p.script[0]
	if op == 2 {
		if len(p.goFrames) == 0 {
			return false
		}
		p.lastGo, p.goFrames = p.goFrames[0], p.goFrames[1:]
		p.script = p.script[1:]
		return true
	}
	p.script = p.script[1:]
	switch op {
	case 0:
		p.out = append(p.out, p.take(p.takeByte())...)
	case 1:
		p.frame(bytes.Clone(p.take(p.takeByte())))
	case 3:
		d, k := p.takeByte(), p.takeByte()
		p.frame(fuzzResponse(p.lastGo, d, k))
	case 4:
		p.frame([]byte("#WELCOME#"))
	case 5:
		d := p.takeByte() % 7
		random := p.take(p.takeByte())
		var msg []byte
		if d == 6 {
			msg = fuzzPad(random, 20)
		} else {
			msg = append([]byte("{"+string(fuzzDigests[d])+"}"), fuzzPad(random, 40)...)
		}
		p.frame(append([]byte(fuzzChallenge), msg...))
	case 6:
		p.closed = true
		p.script = nil
	case 7:
		p.chunk = p.takeByte() + 1
	case 8:
		p.frame([]byte("#FAILURE#"))
	}
	return true
}

// fuzzPad returns b cut or padded with zeros to n bytes.
func fuzzPad(b []byte, n int) []byte {
	return append(bytes.Clone(b[:min(n, len(b))]), make([]byte, n-min(n, len(b)))...)
}

// fuzzChallenge starts every challenge message.
const fuzzChallenge = "#CHALLENGE#"

// fuzzMAC is HMAC-digest(key, msg), computed here rather than by the code
// under test, so that the oracle does not share its bugs.
func fuzzMAC(d Digest, key, msg []byte) []byte {
	h := map[Digest]func() hash.Hash{
		DigestLegacyMD5: md5.New,
		DigestMD5:       md5.New,
		DigestSHA256:    sha256.New,
		DigestSHA384:    sha512.New384,
		DigestSHA3_256:  func() hash.Hash { return sha3.New256() },
		DigestSHA3_384:  func() hash.Hash { return sha3.New384() },
	}[d]
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// fuzzAskedDigest is the digest a challenge message asks for, as CPython
// 3.12's _get_digest_name_and_payload tells it: 20 bytes are legacy, else
// a known "{name}" prefix; anything else is answered as legacy here.
func fuzzAskedDigest(msg []byte) Digest {
	if len(msg) != 20 && len(msg) > 0 && msg[0] == '{' {
		if end := bytes.IndexByte(msg, '}'); end > 0 {
			name := Digest(msg[1:end])
			for _, d := range fuzzDigests[1:] {
				if d == name {
					return d
				}
			}
		}
	}
	return DigestLegacyMD5
}

// fuzzResponse is what a peer holding the real key (k == 0) or a wrong one
// answers to challenge frame m, with digest index d (the one m asks for when
// d is out of range).
func fuzzResponse(m []byte, d, k int) []byte {
	key := fuzzKey
	if k != 0 {
		key = append(bytes.Clone(fuzzKey), byte(k))
	}
	msg, ok := bytes.CutPrefix(m, []byte(fuzzChallenge))
	if !ok {
		msg = m
	}
	dig := fuzzAskedDigest(msg)
	if d < len(fuzzDigests) {
		dig = fuzzDigests[d]
	}
	mac := fuzzMAC(dig, key, msg)
	if dig == DigestLegacyMD5 {
		return mac
	}
	return append([]byte("{"+string(dig)+"}"), mac...)
}

func (p *fuzzPeer) Read(b []byte) (int, error) {
	for len(p.out) == 0 && len(p.script) > 0 {
		if !p.step() {
			return 0, fuzzTimeout{} // both sides wait: the deadline ends it
		}
	}
	if len(p.out) == 0 {
		return 0, io.EOF
	}
	n := len(b)
	if p.chunk > 0 {
		n = min(n, p.chunk)
	}
	n = copy(b[:n], p.out)
	p.out = p.out[n:]
	return n, nil
}

func (p *fuzzPeer) Write(b []byte) (int, error) {
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	p.fromGo = append(p.fromGo, b...)
	for len(p.fromGo) >= 4 {
		n := int(binary.BigEndian.Uint32(p.fromGo))
		if n < 0 || len(p.fromGo) < 4+n {
			break
		}
		body := bytes.Clone(p.fromGo[4 : 4+n])
		p.fromGo = p.fromGo[4+n:]
		p.goFrames = append(p.goFrames, body)
		if msg, ok := bytes.CutPrefix(body, []byte(fuzzChallenge)); ok {
			p.challenges = append(p.challenges, msg)
		}
	}
	return len(b), nil
}

func (p *fuzzPeer) Close() error                       { return nil }
func (p *fuzzPeer) SetReadDeadline(t time.Time) error  { return nil }
func (p *fuzzPeer) SetWriteDeadline(t time.Time) error { return nil }

// knewKey reports whether the peer wrote a response that the real key makes
// for one of Go's challenges: without one, no handshake may succeed.
func (p *fuzzPeer) knewKey() bool {
	for _, m := range p.challenges {
		for d := range fuzzDigests {
			want := fuzzResponse(m, d, 0)
			for _, s := range p.sent {
				if hmac.Equal(s, want) {
					return true
				}
			}
		}
	}
	return false
}

// FuzzHandshake runs Authenticate in either role against a scripted peer
// (see fuzzPeer) and checks that it never succeeds unless the peer
// answered one of Go's challenges with the real key, that every failure is
// an *AuthError (matching ErrAuthentication exactly when a check failed),
// and that nothing panics or hangs. role: even for RoleServer, odd for
// RoleClient; bit 1 makes Go deliver legacy challenges, bit 2 accept every
// digest.
func FuzzHandshake(f *testing.F) {
	for _, sc := range fuzzHandshakeSeeds {
		f.Add(sc.role, sc.script)
	}
	f.Fuzz(func(t *testing.T, role byte, script []byte) {
		defer fuzzWatchdog("FuzzHandshake")()
		fuzzHandshake(t, role, script)
	})
}

// fuzzHandshakeSeeds are scripted peers, honest and not, so that the fuzzer
// starts from handshakes that pass; TestFuzzHandshakeHarness checks that
// they do what they say.
var fuzzHandshakeSeeds = []struct {
	name   string
	role   byte
	script []byte
	ok     bool
}{
	{"client like Python 3.12+", 0, []byte{2, 3, 6, 0, 2, 5, 2, 0, 2, 4}, true},
	{"listener like Python 3.12+", 1, []byte{5, 2, 0, 2, 4, 2, 3, 6, 0, 2}, true},
	{"listener like Python 3.11, Go legacy", 3, []byte{5, 6, 0, 2, 4, 2, 3, 6, 0, 2}, true},
	{"client like Python 3.11, every digest accepted", 4, []byte{2, 3, 0, 0, 2, 5, 6, 0, 2, 4}, true},
	{"sha3_384 both ways", 5, []byte{5, 5, 3, 1, 2, 3, 2, 4, 2, 3, 5, 0, 2}, true},
	{"one byte per read", 0, []byte{7, 0, 2, 3, 6, 0, 2, 5, 2, 0, 2, 4}, true},
	{"legacy response to a modern challenge", 0, []byte{2, 3, 0, 0, 2, 5, 2, 0, 2, 4}, false},
	{"wrong key", 0, []byte{2, 3, 6, 1, 2, 5, 2, 0, 2, 4}, false},
	{"wrong key, answering", 1, []byte{5, 2, 0, 2, 4, 2, 3, 6, 1, 2}, false},
	{"welcome without a response", 1, []byte{5, 2, 0, 2, 4, 2, 4}, false},
	{"failure", 1, []byte{5, 2, 0, 2, 8}, false},
	{"garbage, then gone", 0, []byte{1, 4, '#', 'W', 'E', 'L', 2, 6}, false},
	{"bad long header", 1, []byte{0, 8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9}, false},
	{"2 GiB response", 0, []byte{0, 4, 0x7f, 0xff, 0xff, 0xff}, false},
	{"silent", 0, []byte{2, 2}, false},
}

func TestFuzzHandshakeHarness(t *testing.T) {
	for _, sc := range fuzzHandshakeSeeds {
		t.Run(sc.name, func(t *testing.T) {
			a := &Auth{Key: fuzzKey, Timeout: -1}
			if sc.role&2 != 0 {
				a.Digest = DigestLegacyMD5
			}
			if sc.role&4 != 0 {
				a.AcceptDigests = AllDigests()
			}
			r := RoleServer
			if sc.role&1 != 0 {
				r = RoleClient
			}
			p := &fuzzPeer{script: sc.script}
			err := Authenticate(context.Background(), New(p, nil), r, a)
			if sc.ok {
				require.NoError(t, err)
				assert.True(t, p.knewKey())
			} else {
				require.Error(t, err)
			}
			fuzzHandshake(t, sc.role, sc.script) // the properties hold
		})
	}
}

func fuzzHandshake(t *testing.T, role byte, script []byte) {
	a := &Auth{Key: fuzzKey, Timeout: -1}
	if role&2 != 0 {
		a.Digest = DigestLegacyMD5
	}
	if role&4 != 0 {
		a.AcceptDigests = AllDigests()
	}
	r := RoleServer
	if role&1 != 0 {
		r = RoleClient
	}
	p := &fuzzPeer{script: script}
	c := New(p, nil)
	err := Authenticate(context.Background(), c, r, a)
	if err == nil {
		if !p.knewKey() {
			t.Fatalf("%v: the handshake succeeded, but the peer never answered a challenge with the key (sent %q)", r, p.sent)
		}
		return
	}
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("%v: %T %v, want an *AuthError", r, err, err)
	}
	if ae.Reason == "" && ae.Err == nil {
		t.Fatalf("%v: an *AuthError with neither Reason nor Err: %v", r, err)
	}
	if got := errors.Is(err, ErrAuthentication); got != (ae.Reason != "") {
		t.Fatalf("%v: errors.Is(ErrAuthentication) = %v for %v", r, got, err)
	}
	if !strings.HasPrefix(err.Error(), "conn: ") {
		t.Fatalf("%v: error %q lacks the package prefix", r, err)
	}
}

// A receive into the caller's buffer that times out part-way through a body
// must not keep using that buffer: the caller may hand it to someone else
// at once. Found by FuzzFrameReader (testdata/fuzz/FuzzFrameReader/
// borrowed-buffer-after-timeout).
func TestTimedOutReceiveReleasesCallerBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		recv func(c *Conn, buf []byte) error
	}{
		{"RecvBytesInto", func(c *Conn, buf []byte) error { _, err := c.RecvBytesInto(buf); return err }},
		{"RecvBytesAppend", func(c *Conn, buf []byte) error { _, err := c.RecvBytesAppend(buf[:0]); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			c := New(a, nil)
			defer c.Close()
			defer b.Close()
			go b.Write([]byte{0, 0, 0, 6, 'a', 'b', 'c'})
			buf := make([]byte, 8)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
			err := tc.recv(c, buf)
			require.True(t, isTimeout(err), "got %v", err)
			for i := range buf {
				buf[i] = 'X' // the caller's memory, used for something else
			}
			require.NoError(t, c.SetReadDeadline(time.Time{}))
			go b.Write([]byte("def"))
			got, err := c.RecvBytes()
			require.NoError(t, err)
			assert.Equal(t, "abcdef", string(got))
		})
	}
}
