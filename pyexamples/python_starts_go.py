"""Python starts Go: a Python parent hands one end of a Pipe() to a Go
program and talks to it. Standard library only; Python 2.7 and 3.x.

usage: python3 python_starts_go.py PIPEBRIDGE_BINARY

Build the Go side first:  go build -o /tmp/pipebridge ./cmd/pipebridge
The child is `pipebridge echo --fd N`, which sends every message back.
"""
import os
import subprocess
import sys
from multiprocessing import Pipe


def start_go_child(exe):
    mine, theirs = Pipe()  # duplex: a socketpair
    fd = theirs.fileno()
    args = [exe, "echo", "--fd", str(fd)]
    if sys.version_info[0] >= 3:
        child = subprocess.Popen(args, pass_fds=[fd])
    else:
        # Python 2.7 has no pass_fds: every descriptor is inherited unless
        # marked close-on-exec, and the child must not keep our own end,
        # or it would never see end of stream when we close it.
        import fcntl
        fcntl.fcntl(mine.fileno(), fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        child = subprocess.Popen(args, close_fds=False)
    theirs.close()  # the child has its copy; close ours to avoid a leak
    return mine, child


def main(exe):
    conn, child = start_go_child(exe)
    try:
        messages = [
            "hello, Go",
            {"numbers": [1, 2.5, 2 ** 70], "ok": True, "nothing": None},
            (u"a tuple", b"some bytes"),
        ]
        for msg in messages:
            conn.send(msg)
            # recv() blocks; poll() first where blocking would be wrong.
            if not conn.poll(10):
                raise RuntimeError("no answer from the Go child in 10 s")
            back = conn.recv()
            print("sent %r, got back %r, equal: %s" % (msg, back, back == msg))
    finally:
        conn.close()  # the Go child sees end of stream and exits 0
    status = child.wait()
    print("Go child exited with status %d" % status)
    return status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
