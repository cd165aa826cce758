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
// Python 2.7 reads up to protocol 2 (use PickleCodec{Protocol: 2}).
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
// allocate more than 64 MiB: larger bodies grow as their bytes arrive, so a
// peer that lies about a length costs what it actually sends.
//
// # Security
//
// Decoding a pickle with this package never imports or runs anything: Python
// classes arrive as data. The Listener/Client authentication proves that
// both ends know the key; it does not encrypt or protect the integrity of
// later messages. Across untrusted networks, run the connection inside TLS
// or an SSH tunnel, and set MaxMessageSize to what your messages need.
//
// # Platforms
//
// Pipes, socketpairs, inherited descriptors and Unix sockets work on Linux
// and other Unix systems; abstract sockets on Linux. On Windows, Python's
// Pipe() and AF_PIPE Listeners use message-mode named pipes without length
// headers: that transport is not implemented, and those constructors return
// an error matching errors.ErrUnsupported. TCP works everywhere.
package conn
