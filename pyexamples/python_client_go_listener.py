"""A Python Client talks to a Go Listener. Standard library only; Python
2.7 and 3.x.

usage: python3 python_client_go_listener.py PIPEBRIDGE_BINARY

Build the Go side first:  go build -o /tmp/pipebridge ./cmd/pipebridge
This starts `pipebridge echo --listen 127.0.0.1:0` with a key taken from the
environment, reads the "listening ADDRESS" line it prints, and connects with
multiprocessing.connection.Client, exactly as to a Python Listener.
"""
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Client


def start_go_listener(exe, key):
    env = dict(os.environ, PIPEBRIDGE_AUTHKEY=key)
    server = subprocess.Popen(
        [exe, "echo", "--listen", "127.0.0.1:0", "--authkey-env", "PIPEBRIDGE_AUTHKEY"],
        stdout=subprocess.PIPE, env=env)
    line = server.stdout.readline().decode("ascii").strip()  # "listening 127.0.0.1:PORT"
    if not line.startswith("listening "):
        raise RuntimeError("unexpected first line from the Go listener: %r" % line)
    host, port = line.split(" ", 1)[1].rsplit(":", 1)
    return server, (host, int(port))


def main(exe):
    key = "not-a-real-secret"
    server, address = start_go_listener(exe, key)
    try:
        # The right key: the handshake succeeds and messages echo back.
        conn = Client(address, authkey=key.encode("ascii"))
        for msg in ["hello, Go listener", {"job": 7, "args": [1.5, None]}, (b"raw", u"text")]:
            conn.send(msg)
            back = conn.recv()
            print("sent %r, got back %r, equal: %s" % (msg, back, back == msg))
        conn.close()

        # A wrong key: Python's own AuthenticationError, and the Go listener
        # keeps serving the next client.
        try:
            Client(address, authkey=b"wrong key")
            print("wrong key was accepted!")
        except Exception as e:  # multiprocessing.AuthenticationError
            print("wrong key refused: %s" % type(e).__name__)
        conn = Client(address, authkey=key.encode("ascii"))
        conn.send("still there?")
        print("after the bad client: %r" % (conn.recv(),))
        conn.close()
    finally:
        server.send_signal(signal.SIGTERM)
        status = server.wait()
    print("Go listener exited with status %d" % status)
    return status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
