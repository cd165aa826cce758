"""Python calls Go through multiprocessing.managers. Standard library only;
Python 2.7 and 3.x.

usage: python3 python_calls_go_manager.py PIPEBRIDGE_BINARY

Build the Go side first:  go build -o /tmp/pipebridge ./cmd/pipebridge
This starts `pipebridge serve-manager 127.0.0.1:0` (a manager server written
in Go, with a key taken from the environment), reads the "listening ADDRESS"
line it prints, and uses it exactly as a Python BaseManager server: register
the typeids, connect, create shared objects, call their methods.
"""
import os
import signal
import subprocess
import sys
import threading
from multiprocessing.managers import BaseManager


class GoManager(BaseManager):
    pass


# Only the names: the objects live in the Go process.
GoManager.register("calc")
GoManager.register("counter")


def start_go_server(exe, key):
    env = dict(os.environ, PIPEBRIDGE_AUTHKEY=key)
    server = subprocess.Popen(
        [exe, "serve-manager", "127.0.0.1:0", "--authkey-env", "PIPEBRIDGE_AUTHKEY"],
        stdout=subprocess.PIPE, env=env)
    line = server.stdout.readline().decode("ascii").strip()  # "listening 127.0.0.1:PORT"
    if not line.startswith("listening "):
        raise RuntimeError("unexpected first line from the Go server: %r" % line)
    host, port = line.split(" ", 1)[1].rsplit(":", 1)
    return server, (host, int(port))


def main(exe):
    key = "not-a-real-secret"
    server, address = start_go_server(exe, key)
    try:
        m = GoManager(address=address, authkey=key.encode("ascii"))
        m.connect()

        calc = m.calc()
        print("calc.add(1, 2) = %r" % calc.add(1, 2))
        print("calc.add('go', 'py') = %r" % calc.add("go", "py"))
        print("calc.upper('shout') = %r" % calc.upper("shout"))
        print("calc.echo(...) = %r" % (calc.echo({"job": 7, "args": [1.5, None]}),))
        try:
            calc.divide(1, 0)
        except ZeroDivisionError as e:
            print("calc.divide(1, 0) raised ZeroDivisionError: %s" % e)

        # Each create makes a new Go object; calls from many threads run
        # concurrently, each thread on its own connection.
        counter = m.counter(100)
        threads = [threading.Thread(target=lambda: [counter.incr() for _ in range(25)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("counter after 4 threads x 25 increments: %r" % counter.get())

    finally:
        server.send_signal(signal.SIGTERM)
        print("Go server exited with status %d" % server.wait())


if __name__ == "__main__":
    main(sys.argv[1])
