"""Python side of conn's test of large payloads sent without copying
(conn/buffers_python_test.go). Standard library only; Python 2.7 and 3.x.

usage: segment_peer.py FD SIZES...

For each size n, in order, receives one object with Connection.recv() and
checks it element by element against

  (pattern(n), text(n), <the first element again, the same object>,
   bytearray(pattern(n)), pattern(n), bytearray(pattern(n)))

or a prefix of it (at least two elements), then answers with
send_bytes(b"ok") or send_bytes(b"bad: ..."). Prints "EOF" at the end of
the stream and exits 0 if every object was right.
"""
import struct
import sys

try:
    from multiprocessing.connection import Connection
except ImportError:  # Python 2.7
    from _multiprocessing import Connection

PY2 = sys.version_info[0] == 2


def pattern(n):
    """The size as 8 big-endian bytes, then 0..250 repeated, cut to n."""
    block = bytes(struct.pack(">Q", n) + bytearray(range(251)))
    return (block * (n // len(block) + 1))[:n]


def text(n):
    """ASCII: "<n>" then the alphabet, repeated, cut to n characters."""
    block = u"<%d>" % n + u"abcdefghijklmnopqrstuvwxyz" * 4
    return (block * (n // len(block) + 1))[:n]


def check(n, obj):
    if not isinstance(obj, tuple) or len(obj) < 2:
        return "not a tuple of 2 or more: %r" % type(obj)
    b, t = pattern(n), text(n)
    want = [b, t, None, bytearray(b), b, bytearray(b)]
    types = [bytes, type(t), None, bytearray, bytes, bytearray]
    for i, got in enumerate(obj):
        if i == 2:
            if got is not obj[0]:
                return "element 2 is not element 0"
            continue
        if type(got) is not types[i]:
            return "element %d: %r, want %r" % (i, type(got), types[i])
        if got != want[i]:
            return "element %d: %d bytes differ" % (i, len(got))
    return None


def main(argv):
    c = Connection(int(argv[1]))
    ok = True
    for n in argv[2:]:
        n = int(n)
        err = check(n, c.recv())
        if err:
            ok = False
            c.send_bytes(("bad: size %d: %s" % (n, err)).encode("ascii"))
        else:
            c.send_bytes(b"ok")
    try:
        c.recv_bytes()
        sys.stdout.write("EXTRA\n")
        ok = False
    except EOFError:
        sys.stdout.write("EOF\n")
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
