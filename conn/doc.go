// Package conn implements the Connection of Python's multiprocessing
// package: a stream of length-prefixed messages carrying pickled objects or
// raw bytes, over socketpairs, pipes, inherited file descriptors, and Unix
// and TCP sockets, with Listener and Client authentication.
//
// A [Conn] at one end and Python's multiprocessing.connection.Connection at
// the other understand each other: Python's send/recv are [Conn.Send] and
// [Conn.Recv], send_bytes/recv_bytes are [Conn.SendBytes] and
// [Conn.RecvBytes], recv_bytes(maxlength) is [Conn.RecvBytesMax].
//
// # Getting a Conn
//
//   - [Pipe] and [OneWayPipe]: a connected pair in one process, like
//     multiprocessing.Pipe(duplex=True) and Pipe(duplex=False).
//   - [SocketPair] with [FromFile]: one end for this process, the other as
//     an *os.File to hand to a child in exec.Cmd.ExtraFiles (package bridge
//     does this for you).
//   - [FromFD]: a descriptor inherited from a parent, like Python's
//     Connection(fd).
//   - [New]: any io.ReadWriteCloser, such as a net.Conn.
//   - [Listen] and [Dial]: multiprocessing.connection.Listener and Client,
//     over TCP ("host:port"), Unix socket paths and Linux abstract sockets
//     ("@name", a leading NUL in Python), with the HMAC challenge of every
//     Python version when an authentication key is set ([Auth]).
//
// # Protocol
//
// Each message is a 4-byte big-endian signed length followed by the body. A
// body longer than 0x7fffffff bytes is sent as the length -1 followed by an
// 8-byte big-endian length; Python 3.8 and later read that form, Python 2.7,
// 3.6 and 3.7 do not (set [Options].NoLongHeaders when talking to them).
// Nothing else is on the wire. Objects are pickles: the default [Codec],
// [Pickle], writes protocol 4, which Python 3.8 to 3.13 send by default;
// Python 2.7 reads up to protocol 2 (use a [PickleCodec] whose Encode.Protocol
// is 2).
//
// # Authentication
//
// With a key ([Auth].Key), Listener and Client prove to each other that they
// hold it, exactly as CPython does: the accepting side delivers a challenge
// and then answers one, the connecting side answers and then delivers. Each
// challenge is answered with an HMAC of it under the key; a wrong key fails
// on both sides with an error matching [ErrAuthentication].
//
// Python 2.7 to 3.11 use 20-byte challenges answered with a raw 16-byte
// HMAC-MD5; Python 3.12 and later send "{sha256}" and 40 random bytes and
// answer "{digest}" plus the HMAC, and the digest name is covered by the MAC,
// so a modern challenge cannot be downgraded. Which one a peer speaks is told
// by lengths, as CPython tells it. Go answers whatever it is sent. The
// challenges Go sends use [Auth].Digest, sha256 by default. Dial accepts
// the legacy answer of a Python 3.11 or older Listener, which shows itself
// by challenging the legacy way; a Listener, which challenges first, must
// be told: to accept the legacy answer of a Python 3.11 or older Client,
// set Digest to DigestLegacyMD5 or list it in AcceptDigests. Every
// handshake read is capped
// at 256 bytes, digests are compared in constant time, and a handshake is
// bounded by [DefaultHandshakeTimeout] (10 s) unless Auth.Timeout or a
// context says otherwise.
//
// An empty key differs between versions: Listeners of Python 3.12.1 and
// older skip authentication for authkey=b"", 3.13 authenticates with it, and
// every Client authenticates whenever the Listener challenges. Go skips the
// handshake for an empty key unless Auth.AuthenticateEmptyKey is set.
//
// [Authenticate], [DeliverChallenge] and [AnswerChallenge] run the handshake
// over any Conn, for transports this package does not dial itself.
//
// # Concurrency
//
// A Conn is safe for concurrent use. Any number of goroutines may send at
// once: each frame is written whole, header and body together, never
// interleaved with another. Any number may receive at once: each receives
// whole messages, in arrival order. Close may be called at any time; it
// unblocks every pending call, which then returns an error matching
// net.ErrClosed.
//
// # Errors
//
// A clean end of stream between messages is io.EOF; a stream that ends
// inside a message is io.ErrUnexpectedEOF. After a failure in the middle of a
// frame, the read side stays failed with the same error: the stream cannot
// be resynchronised. A value that cannot be encoded is an [*EncodeError] and
// nothing is written; a body that cannot be decoded is a [*DecodeError] and
// the next message can still be read. A body longer than the limit is a
// [*MessageTooLargeError] and closes the Conn, as Python does.
//
// # Limits
//
// A received body is limited to [DefaultMaxMessageSize] (1 GiB) unless
// [Options].MaxMessageSize says otherwise. A header alone never makes a Conn
// allocate more than 1 MiB: larger bodies grow as their bytes arrive, so a
// peer that lies about a length costs a few times what it actually sends.
//
// # Security
//
// Decoding a pickle with this package never imports or runs anything: Python
// classes arrive as data. (Python's recv() does the opposite: a pickle can
// make a Python receiver run any code, so a Python peer must only ever
// receive from ends it trusts.)
//
// The Listener/Client authentication proves that both ends know the key; it
// does not encrypt the messages or protect them from being changed in
// transit. Across networks you do not trust, run the connection inside TLS
// (wrap a tls.Conn with [New] and run [Authenticate] over it) or through an
// SSH tunnel, and set MaxMessageSize to what your messages need.
//
// Listen refuses to serve TCP on anything but a loopback address without a
// non-empty key ([ErrInsecureListen]) unless ListenOptions.InsecureNoKey says
// so. Abstract Unix sockets have no file permissions: any local user can
// connect to one, so give them a key too. The Unix socket that Listen("")
// creates lives in a new private (0700) directory.
//
// For peers you do not trust, in short:
//
//   - always set a key, and prefer a modern digest (the default, sha256);
//     accept DigestLegacyMD5 only while Python 3.11 or older must connect;
//   - set Options.MaxMessageSize to the largest message you expect, and keep
//     the pickle codec's DecodeOptions limits (package pickle) at or below
//     their defaults;
//   - decode with DecodeOptions.Classes set to pickle.KnownClasses (through
//     PickleCodec.Decode), so that only the classes you registered or
//     allowed, and Python's standard types, reach your code;
//   - bound every receive with a deadline or a context, so that a peer that
//     stops sending costs a timeout, not a goroutine forever;
//   - know that a Listener authenticates at most ListenOptions.MaxPending
//     connections at a time (64): a peer that opens that many connections
//     and stalls in the handshake makes honest clients wait in the kernel's
//     backlog for up to Auth.Timeout (10 s). On an exposed port, shorten
//     Auth.Timeout and limit connections per source in front of the
//     Listener (a firewall rule or proxy); one bad peer can never cost more
//     than its own connections, memory included.
//
// # Platforms
//
// Pipes, socketpairs, inherited descriptors and Unix sockets work on Linux
// and other Unix systems; abstract sockets on Linux. On Windows, Python's
// Pipe() and AF_PIPE Listeners use message-mode named pipes without length
// headers: that transport is not implemented, and those constructors return
// an error matching errors.ErrUnsupported. TCP works everywhere. Listen("")
// makes a Unix socket on Unix systems and listens on 127.0.0.1:0 on
// Windows. Python's Client reaches IPv4 addresses only (a tuple address
// always means AF_INET there); a Python Listener can serve IPv6 with
// family="AF_INET6".
package conn
