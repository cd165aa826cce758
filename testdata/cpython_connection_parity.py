"""What CPython's own connection tests check of an echo child
(Lib/test/_test_multiprocessing.py, _TestConnection: test_connection,
test_sendbytes, test_spawn_close), run with the child being a Go program:
`pipebridge echo --fd N --mode MODE`. Standard library only; Python 2.7
and 3.x.

usage: cpython_connection_parity.py PIPEBRIDGE_BINARY MODE

Prints one line per check and "ALL OK" at the end; exits 1 on any failure.
"""
import array
import os
import socket
import subprocess
import sys
import time

import multiprocessing
from multiprocessing import Pipe

PY2 = sys.version_info[0] == 2
failures = []


def check(cond, what):
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    sys.stdout.flush()
    if not cond:
        failures.append(what)


def start_echo(exe, mode):
    conn, child_conn = Pipe()
    fd = child_conn.fileno()
    args = [exe, "echo", "--fd", str(fd), "--mode", mode]
    if PY2:
        import fcntl
        fcntl.fcntl(conn.fileno(), fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        p = subprocess.Popen(args, close_fds=False)
    else:
        p = subprocess.Popen(args, pass_fds=[fd])
    # test_spawn_close: closing our copy of the child's end right after
    # the spawn must not matter.
    child_conn.close()
    return conn, p


def timed(f, *args):
    t = time.time()
    r = f(*args)
    return r, time.time() - t


def shut_write(conn):
    """Half-close our end: the echo child sees end of stream and exits,
    the way CPython's _echo leaves on its SENTINEL."""
    s = socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    s.shutdown(socket.SHUT_WR)
    s.close()  # closes only the duplicate made by fromfd


def test_connection(exe, mode):
    conn, p = start_echo(exe, mode)
    seq = [1, 2.25, None]
    msg = b"hello world"
    longmsg = msg * 10
    arr = array.array("i", list(range(4)))

    check(conn.send(seq) is None, "send(seq) returns None")
    check(conn.recv() == seq, "recv() == seq")

    if mode == "bytes":
        check(conn.send_bytes(msg) is None, "send_bytes(msg) returns None")
        check(conn.recv_bytes() == msg, "recv_bytes() == msg")

        buffer = array.array("i", [0] * 10)
        expected = list(arr) + [0] * (10 - len(arr))
        conn.send_bytes(arr)
        n = conn.recv_bytes_into(buffer)
        check(n == len(arr) * buffer.itemsize, "recv_bytes_into(buffer) length")
        check(list(buffer) == expected, "recv_bytes_into(buffer) contents")

        buffer = array.array("i", [0] * 10)
        expected = [0] * 3 + list(arr) + [0] * (10 - 3 - len(arr))
        conn.send_bytes(arr)
        n = conn.recv_bytes_into(buffer, 3 * buffer.itemsize)
        check(n == len(arr) * buffer.itemsize, "recv_bytes_into(buffer, offset) length")
        check(list(buffer) == expected, "recv_bytes_into(buffer, offset) contents")

        buffer = bytearray(b" " * 40)
        conn.send_bytes(longmsg)
        try:
            res = conn.recv_bytes_into(buffer)
            check(False, "BufferTooShort expected, got %r" % (res,))
        except multiprocessing.BufferTooShort as e:
            check(e.args == (longmsg,), "BufferTooShort carries the whole message")

        # test_sendbytes, through the Go echo
        alphabet = b"abcdefghijklmnopqrstuvwxyz"
        for args, want in [((), alphabet), ((5,), alphabet[5:]), ((7, 8), alphabet[7:15]),
                           ((26,), b""), ((26, 0), b"")]:
            conn.send_bytes(alphabet, *args)
            check(conn.recv_bytes() == want, "send_bytes(msg, *%r) echoed" % (args,))

    r, elapsed = timed(conn.poll)
    check(r is False and elapsed < 0.5, "poll() is False at once")
    r, elapsed = timed(conn.poll, -1)
    check(r is False and elapsed < 0.5, "poll(-1) is False at once")
    r, elapsed = timed(conn.poll, 0.1)
    check(r is False and 0.09 < elapsed < 2.0, "poll(0.1) waits and is False")

    conn.send(None)
    # CPython sleeps 0.1 s and expects the echo by then; a loaded machine
    # can take longer, so wait for it, then check that poll answers at once.
    check(conn.poll(10) is True, "poll(10) is True once the echo is back")
    r, elapsed = timed(conn.poll, 0.1)
    check(r is True and elapsed < 0.05, "poll(0.1) is True at once while a message waits")
    check(conn.recv() is None, "recv() is None")

    really_big_msg = b"X" * (1024 * 1024 * 16)
    if mode == "bytes":
        conn.send_bytes(really_big_msg)
        check(conn.recv_bytes() == really_big_msg, "16 MiB echoed")
    else:
        # The objects echo needs pickles: the same 16 MiB as a bytes object.
        conn.send(really_big_msg)
        check(conn.recv() == really_big_msg, "16 MiB bytes object echoed")

    shut_write(conn)
    check(conn.readable and conn.writable, "conn readable and writable")
    try:
        conn.recv()
        check(False, "recv() after the child left raises EOFError")
    except EOFError:
        check(True, "recv() after the child left raises EOFError")
    try:
        conn.recv_bytes()
        check(False, "recv_bytes() after the child left raises EOFError")
    except EOFError:
        check(True, "recv_bytes() after the child left raises EOFError")
    status = p.wait()
    check(status == 0, "echo child exits 0 at end of stream (got %r)" % (status,))
    conn.close()


def test_objects_at_every_protocol(exe):
    """In objects mode the Go child decodes and re-encodes each pickle; it
    must answer at the protocol it was sent."""
    import pickle
    conn, p = start_echo(exe, "objects")
    value = {"k": [1, 2.5, None, True, u"\u2603"], "t": (1, 2)}
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        conn.send_bytes(pickle.dumps(value, proto))
        back = conn.recv_bytes()
        check(pickle.loads(back) == value, "protocol %d: value survives" % proto)
        if proto >= 2:
            check(back[:2] == pickle.dumps(None, proto)[:2], "protocol %d: answered at protocol %d" % (proto, proto))
    conn.close()
    check(p.wait() == 0, "objects echo exits 0")


def main(exe, mode):
    test_connection(exe, mode)
    if mode == "objects":
        test_objects_at_every_protocol(exe)
    if failures:
        print("FAILED: %d checks" % len(failures))
        return 1
    print("ALL OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
