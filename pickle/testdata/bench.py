"""Times CPython's C pickle on the payloads of pickle/'s benchmarks.

    python3.11 testdata/bench.py [--digests] [names...]

Prints one JSON object per payload: its pickle's size and sha256 (the Go
benchmarks build the same payloads and check the digest), and the median
CPU time in nanoseconds (time.process_time, which a busy machine does not
inflate as it does wall time) of pickle.loads with the garbage collector on
and off, and of pickle.dumps, at protocol 4. TestCompareCPython runs it.
With --digests it prints only the size and digest, without timing:
TestBenchPayloadsMatchPython runs it so.
"""
import gc
import hashlib
import json
import pickle
import sys
import time


def records():
    tags = ["alpha", "beta", "gamma", "delta"]
    return [{"id": i, "name": "user_%06d" % i, "email": "user%d@example.com" % i,
             "score": i * 0.5 + 0.25, "active": i % 3 != 0, "tags": tags[:i % 4 + 1],
             "vals": [i * 1.5, i * 2.5, i * 3.5], "count": (i * 7919) % 1000003}
            for i in range(200000)]


PAYLOADS = {
    "records": records,
    "floats": lambda: [i * 1.1 for i in range(1000000)],
    "ints": lambda: list(range(1000000)),
    "bytes": lambda: bytes(range(256)) * 40960,
    "strdict": lambda: {"key%d" % i: "value%d" % i for i in range(100000)},
}


def best(f, seconds=2.0, least=7):
    f()  # warm up
    times = []
    start = time.process_time()
    while len(times) < least or time.process_time() - start < seconds:
        t = time.process_time_ns()
        f()
        times.append(time.process_time_ns() - t)
        if len(times) >= 51:
            break
    times.sort()
    return times[len(times) // 2]


def main():
    args = sys.argv[1:]
    digests = "--digests" in args
    names = [a for a in args if a != "--digests"] or list(PAYLOADS)
    for name in names:
        value = PAYLOADS[name]()
        data = pickle.dumps(value, 4)
        out = {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
               "python": sys.version.split()[0]}
        if digests:
            print(json.dumps(out))
            continue
        out["loads_gc_ns"] = best(lambda: pickle.loads(data))
        gc.disable()
        try:
            out["loads_nogc_ns"] = best(lambda: pickle.loads(data))
        finally:
            gc.enable()
        out["dumps_ns"] = best(lambda: pickle.dumps(value, 4))
        print(json.dumps(out))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
