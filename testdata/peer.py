"""Python side of pipebridge's integration tests. Standard library only;
runs on Python 2.7 and 3.x.

usage: peer.py COMMAND FD [ARGS...]

  echo-bytes FD            recv_bytes/send_bytes back until EOF (duplex)
  echo-objects FD [PROTO]  recv/send back until EOF (duplex); PROTO re-pickles
                           at that protocol instead of the default
  read-bytes FD            read-only end: print "LEN SHA256" per message
  write-bytes FD SIZES...  write-only end: send pattern(n) for each size, close
  objects FD               duplex: check each received object against
                           EXPECTED[i], send it back, check what comes back
  parent-echo EXE MODE SIZES...
                           start EXE ("pipebridge echo --fd N --mode MODE")
                           as a child with one end of Pipe(), send pattern(n)
                           for each size, check each echo, close, and expect
                           the child to exit 0

Every command prints "EOF" when it sees the end of stream, and exits 0 only
when everything it checked was right.
"""
import hashlib
import os
import pickle
import struct
import subprocess
import sys

try:
    from multiprocessing.connection import Connection, Pipe
except ImportError:  # Python 2.7
    from _multiprocessing import Connection
    from multiprocessing import Pipe

PY2 = sys.version_info[0] == 2


def pattern(n):
    """The same bytes as pattern() in integration_test.go: the size as 8
    big-endian bytes then 0..250 repeated, cut to n bytes."""
    block = struct.pack(">Q", n) + bytearray(range(251))
    block = bytes(block)
    reps = n // len(block) + 1
    return (block * reps)[:n]


def out(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def echo_bytes(fd):
    c = Connection(fd)
    while True:
        try:
            b = c.recv_bytes()
        except EOFError:
            out("EOF")
            return 0
        c.send_bytes(b)


def echo_objects(fd, proto=None):
    c = Connection(fd)
    while True:
        try:
            if proto is None:
                o = c.recv()
            else:
                o = pickle.loads(c.recv_bytes())
        except EOFError:
            out("EOF")
            return 0
        if proto is None:
            c.send(o)
        else:
            c.send_bytes(pickle.dumps(o, int(proto)))


def read_bytes(fd):
    c = Connection(fd, writable=False)
    while True:
        try:
            b = c.recv_bytes()
        except EOFError:
            out("EOF")
            return 0
        out(len(b), hashlib.sha256(b).hexdigest())


def write_bytes(fd, sizes):
    c = Connection(fd, readable=False)
    for n in sizes:
        c.send_bytes(pattern(int(n)))
    c.close()
    return 0


if PY2:
    text = unicode  # noqa: F821
    integer_types = (int, long)  # noqa: F821
    big = long  # noqa: F821
else:
    text = str
    integer_types = (int,)
    big = int

# What the Go side sends, in order (see objectCorpus in integration_test.go).
EXPECTED = [
    None,
    True,
    False,
    0,
    -1,
    2 ** 31,
    -(2 ** 63),
    2 ** 100,
    -(2 ** 100),
    1.5,
    -0.0,
    float("inf"),
    u"",
    u"hello",
    u"h\xe9llo w\xf6rld \u2603 \U0001f600",
    [],
    [1, u"two", 3.0, [None, True]],
    {u"a": 1, u"b": [1, 2]},
]


def same(a, b):
    """Whether a, which arrived, is b, types included: == alone takes True
    for 1, 1 for 1.0 and [1] for (1,), and would hide a wrong type."""
    if isinstance(b, float) and b == 0.0:
        return isinstance(a, float) and a == 0.0 and str(a) == str(b)
    if PY2 and isinstance(b, text) and isinstance(a, str):
        return a.decode("utf-8") == b  # og-rek writes py2 str at protocol 2
    if isinstance(b, bool) or isinstance(a, bool):
        return type(a) is type(b) and a == b
    if isinstance(b, integer_types):
        return isinstance(a, integer_types) and a == b  # 2.7: int or long
    if type(a) is not type(b):
        return False
    if isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return sorted(a.keys()) == sorted(b.keys()) and all(same(a[k], b[k]) for k in b)
    return a == b


def objects(fd):
    c = Connection(fd)
    ok = True
    for i, want in enumerate(EXPECTED):
        got = c.recv()
        if not same(got, want):
            out("MISMATCH", i, repr(got), repr(want))
            ok = False
        c.send(got)
        again = c.recv()
        if not same(again, want):
            out("MISMATCH-AFTER-GO", i, repr(again), repr(want))
            ok = False
    try:
        c.recv()
        out("EXTRA")
        ok = False
    except EOFError:
        out("EOF")
    out("OK" if ok else "FAILED")
    return 0 if ok else 1


def parent_echo(exe, mode, sizes):
    a, b = Pipe()
    fd = b.fileno()
    args = [exe, "echo", "--fd", str(fd), "--mode", mode]
    if PY2:
        # Python 2.7 has no pass_fds: every fd is inherited unless marked
        # close-on-exec, and a child holding our end would never see EOF.
        import fcntl
        fcntl.fcntl(a.fileno(), fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        child = subprocess.Popen(args, close_fds=False)
    else:
        child = subprocess.Popen(args, pass_fds=[fd])
    b.close()
    ok = True
    for n in sizes:
        n = int(n)
        body = pattern(n)
        a.send_bytes(body)
        back = a.recv_bytes()
        if back != body:
            out("MISMATCH", n, len(back))
            ok = False
    a.close()
    status = child.wait()
    out("child exit", status)
    out("OK" if ok and status == 0 else "FAILED")
    return 0 if ok and status == 0 else 1


def main(argv):
    cmd = argv[1]
    if cmd == "parent-echo":
        return parent_echo(argv[2], argv[3], argv[4:])
    fd = int(argv[2])
    if cmd == "echo-bytes":
        return echo_bytes(fd)
    if cmd == "echo-objects":
        return echo_objects(fd, *argv[3:4])
    if cmd == "read-bytes":
        return read_bytes(fd)
    if cmd == "write-bytes":
        return write_bytes(fd, argv[3:])
    if cmd == "objects":
        return objects(fd)
    out("unknown command", cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
