"""Python side of pipebridge's cross-language benchmarks. Standard library
only.

  send-bulk FD COUNT SIZE   send COUNT bodies of SIZE bytes, then close
  recv-bulk FD COUNT        receive COUNT bodies; print seconds from the
                            first recv_bytes call to the last body
  echo FD                   recv()/send() back until EOF
  pingpong FD N             send a small object and wait for it back, N
                            times; print seconds
"""
import sys
import time

from multiprocessing.connection import Connection


def main(argv):
    cmd, fd = argv[1], int(argv[2])
    c = Connection(fd)
    if cmd == "send-bulk":
        count, size = int(argv[3]), int(argv[4])
        body = b"x" * size
        for _ in range(count):
            c.send_bytes(body)
        c.close()
    elif cmd == "recv-bulk":
        count = int(argv[3])
        start = time.perf_counter()
        for _ in range(count):
            c.recv_bytes()
        print("%.6f" % (time.perf_counter() - start))
    elif cmd == "echo":
        while True:
            try:
                c.send(c.recv())
            except EOFError:
                return 0
    elif cmd == "pingpong":
        n = int(argv[3])
        msg = ["ping", 1, 2.5]
        c.send(msg)  # warm up
        c.recv()
        start = time.perf_counter()
        for _ in range(n):
            c.send(msg)
            c.recv()
        print("%.6f" % (time.perf_counter() - start))
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
