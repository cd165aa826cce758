"""Times CPython's C pickle on the payloads of pickle/'s benchmarks.

    python3.11 testdata/bench.py [--digests] [names...]
    python3.11 testdata/bench.py --serve

It times pickle.loads with the garbage collector on and off, and
pickle.dumps, at protocol 4, in CPU time (time.process_time, which a busy
machine does not inflate as it does wall time).

By default it prints one JSON object per payload: its pickle's size and
sha256 (the Go benchmarks build the same payloads and check the digest),
and the CPU time in nanoseconds per run of each operation, over about two
seconds (seven runs at least) each: a mean, so that runs a collection
overlaps count as they do in a program. With --digests it prints only the size and digest, without
timing: TestBenchPayloadsMatchPython runs it so, on every Python 3.

With --serve it times one operation at a time, on request, for
TestCompareCPython and TestCompareCPythonTyped: they pair its figures with
Go's in rounds, Python and Go taking turns, so that both sides of a ratio
are measured within seconds of each other on a machine whose speed drifts
over tens of seconds. It is idle between requests, while Go times. It
reads one JSON command per line on stdin and answers each with one JSON
line on stdout:

    {"name": "strdict", "op": "build"}
        -> {"name": "strdict", "size": ..., "sha256": ..., "python": ...}
    {"name": "strdict", "op": "loads_gc" | "loads_nogc" | "dumps", "seconds": 0.3, "least": 3}
        -> {"ns": ...}

build builds the payload and pickles it, and warms each operation up with
one run. It keeps only that payload alive: with the collector on, a full
collection during loads walks every live object, and other payloads would
make loads pay for theirs. A timing op must name the payload last built;
it answers the CPU time per run, in nanoseconds, over runs repeated until
the given CPU seconds have passed and at least least runs are done (one
if it is not given). bench.py exits at the
end of its input; an error kills it, with its traceback on stderr.
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


def cpu_per_run(f, seconds, least):
    """The CPU time per run of f, over runs repeated until seconds of CPU
    time have passed and least runs are done."""
    runs = 0
    start = time.process_time_ns()
    while runs < least or time.process_time_ns() - start < seconds * 1e9:
        f()
        runs += 1
    return (time.process_time_ns() - start) // runs


def describe(name, data):
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "python": sys.version.split()[0]}


OPS = ["loads_gc", "loads_nogc", "dumps"]


def measure_op(op, value, data, measure):
    """Returns measure(run), where run does op (one of OPS) once on the
    payload value or its pickle data. loads_nogc is measured with the
    garbage collector disabled."""
    if op == "loads_gc":
        return measure(lambda: pickle.loads(data))
    if op == "loads_nogc":
        gc.disable()
        try:
            return measure(lambda: pickle.loads(data))
        finally:
            gc.enable()
    if op == "dumps":
        return measure(lambda: pickle.dumps(value, 4))
    raise ValueError("unknown op %r" % op)


def serve():
    name = value = data = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "build":
            name = value = data = None  # free the last payload before building the next
            value = PAYLOADS[cmd["name"]]()
            data = pickle.dumps(value, 4)
            for op in OPS:
                measure_op(op, value, data, lambda f: f())  # warm up
            name = cmd["name"]
            out = describe(name, data)
        elif cmd["name"] == name:
            seconds, least = cmd["seconds"], cmd.get("least", 1)
            out = {"ns": measure_op(cmd["op"], value, data, lambda f: cpu_per_run(f, seconds, least))}
        else:
            raise ValueError("%r is not the payload last built, %r" % (cmd["name"], name))
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def main():
    args = sys.argv[1:]
    if args == ["--serve"]:
        serve()
        return
    digests = "--digests" in args
    names = [a for a in args if a != "--digests"] or list(PAYLOADS)
    for name in names:
        value = PAYLOADS[name]()
        data = pickle.dumps(value, 4)
        out = describe(name, data)
        if digests:
            print(json.dumps(out))
            continue
        for op in OPS:
            measure_op(op, value, data, lambda f: f())  # warm up
            out[op + "_ns"] = measure_op(op, value, data, lambda f: cpu_per_run(f, 2.0, 7))
        print(json.dumps(out))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
