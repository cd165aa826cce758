"""The Python half of `pipebridge demo`, standard library only.

Go starts this program with one end of a pipe as an inherited file
descriptor and plays the other part of Python's two classic Pipe examples:

  receiver FD   Sender and receiver: receive one message on a one-way pipe
                (Pipe(duplex=False)), print it, close.
  exchange      Two-way exchange: over a duplex pipe (Pipe()), receive a
                message, print it, answer on the same end, close. The
                descriptor is named by the PIPEBRIDGE_FD environment variable.

Runs on Python 2.7 and 3.x.
"""
import os
import platform
import sys

try:
    from multiprocessing.connection import Connection
except ImportError:  # Python 2.7 keeps Connection in its C module
    from _multiprocessing import Connection


def receiver(fd):
    conn = Connection(fd, writable=False)
    try:
        msg = conn.recv()
        print("python received: %r" % (msg,))
    finally:
        conn.close()


def exchange(fd):
    conn = Connection(fd)
    try:
        msg = conn.recv()
        print("python received: %r" % (msg,))
        answer = {
            "reply": "hello Go, this is Python %s" % platform.python_version(),
            "you sent": msg,
            "numbers": [1, 2.5, 2 ** 70],
        }
        print("python sends:    %r" % (answer,))
        sys.stdout.flush()
        conn.send(answer)
    finally:
        conn.close()


if __name__ == "__main__":
    if sys.argv[1] == "receiver":
        receiver(int(sys.argv[2]))
    else:
        exchange(int(os.environ["PIPEBRIDGE_FD"]))
