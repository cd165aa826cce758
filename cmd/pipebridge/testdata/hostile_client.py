"""Python side of cmd/pipebridge's hostile tests (hostile_test.go): standard
library only, runs on Python 2.7 and 3.6+.

usage: hostile_client.py MODE JSON

Addresses travel in pipebridge's form ("host:port", "/path", "@abstract");
keys as hex, or null for no key.

  honest  {"addr", "key", "mode": "objects"|"bytes", "seconds", "per_conn",
           "seed", "out"}
          Until the time is up: connect, do per_conn round trips (send,
          receive, compare), close; again. Objects mode sends objects with
          send() (dicts, lists, strs, big ints, floats, bytes up to 100 kB),
          bytes mode raw bodies with send_bytes(). A reply must arrive
          within 60 s. At the end writes to the file named by out (a long
          run's latencies make too long a line for stdout)
            {"ok": round trips that came back equal,
             "errors": ["..."],
             "rtt": [milliseconds of each round trip],
             "connect": [milliseconds of each connect, handshake included]}
          and then prints {"done": true}.
  cut     {"addr", "key", "mode", "size"}
          Connect, do one round trip, then write the header of a size-byte
          message and half of its body straight to the socket, print
          {"cut": true} and wait to be killed (SIGKILL, mid-frame).
"""
import binascii
import json
import os
import random
import struct
import sys
import time

from multiprocessing import connection as mpc

PY2 = sys.version_info[0] == 2


def address(s):
    s = str(s)  # Python 2: a unicode path is no address
    if s.startswith("/"):
        return s
    if s.startswith("@"):
        return "\0" + s[1:]
    host, port = s.rsplit(":", 1)
    return (host, int(port))


def key(cfg):
    if cfg.get("key") is None:
        return None
    return binascii.unhexlify(cfg["key"].encode("ascii"))


def text(rng, n):
    alphabet = u"abc xyz \u00e9\u4e2d\U0001f600"
    return u"".join(rng.choice(alphabet) for _ in range(n))


def blob(rng, n):
    return bytes(bytearray(rng.getrandbits(8) for _ in range(min(n, 256)))) * (n // 256 + 1)


def value(rng, i):
    """The i-th object an honest client sends: a mix of shapes and sizes,
    including bodies over 16 KiB, which Python writes in two writes."""
    size = rng.choice([0, 10, 1000, 20000, 100000])
    kind = i % 5
    if kind == 0:
        return {u"i": i, u"name": text(rng, 20), u"score": rng.random(),
                u"tags": [text(rng, 3) for _ in range(rng.randint(0, 5))],
                u"nested": {u"t": (i, -i, None, True), u"big": 2 ** 70 + i}}
    if kind == 1:
        return blob(rng, size)
    if kind == 2:
        return [text(rng, 8) for _ in range(size // 100)]
    if kind == 3:
        return (i, rng.random(), text(rng, size // 10), [1.5, -0.0, 1e300])
    return {u"k%d" % j: j * 3 for j in range(size // 200)}


def honest(cfg):
    rng = random.Random(cfg["seed"])
    addr, authkey = address(cfg["addr"]), key(cfg)
    deadline = time.time() + cfg["seconds"]
    res = {"ok": 0, "errors": [], "rtt": [], "connect": []}
    i = 0
    while time.time() < deadline:
        t0 = time.time()
        try:
            c = mpc.Client(addr, authkey=authkey)
        except Exception as e:
            res["errors"].append("connect: %r" % (e,))
            time.sleep(0.05)
            continue
        res["connect"].append(round((time.time() - t0) * 1000, 3))
        try:
            for _ in range(cfg["per_conn"]):
                i += 1
                if cfg["mode"] == "bytes":
                    out = blob(rng, rng.choice([0, 10, 1000, 20000, 100000]))
                else:
                    out = value(rng, i)
                t1 = time.time()
                if cfg["mode"] == "bytes":
                    c.send_bytes(out)
                else:
                    c.send(out)
                if not c.poll(60):
                    raise Exception("no reply within 60 s")
                back = c.recv_bytes() if cfg["mode"] == "bytes" else c.recv()
                res["rtt"].append(round((time.time() - t1) * 1000, 3))
                if back != out or type(back) is not type(out):
                    res["errors"].append("round trip %d: sent %r..., got %r..." % (i, repr(out)[:60], repr(back)[:60]))
                else:
                    res["ok"] += 1
        except Exception as e:
            res["errors"].append("round trip %d: %r" % (i, e))
        finally:
            c.close()
    with open(cfg["out"], "w") as f:
        json.dump(res, f)
    sys.stdout.write(json.dumps({"done": True}) + "\n")
    sys.stdout.flush()


def cut(cfg):
    c = mpc.Client(address(cfg["addr"]), authkey=key(cfg))
    if cfg["mode"] == "bytes":
        c.send_bytes(b"before the cut")
        assert c.recv_bytes() == b"before the cut"
    else:
        c.send([u"before the cut", 1])
        assert c.recv() == [u"before the cut", 1]
    size = cfg["size"]
    data = struct.pack("!i", size) + b"\x80" * (size // 2)
    while data:
        n = os.write(c.fileno(), data)
        data = data[n:]
    sys.stdout.write(json.dumps({"cut": True}) + "\n")
    sys.stdout.flush()
    time.sleep(600)


if __name__ == "__main__":
    {"honest": honest, "cut": cut}[sys.argv[1]](json.loads(sys.argv[2]))
