"""A multiprocessing.managers client for the tests of package bridge: it
calls the objects a Go ManagerServer shares, with nothing but the standard
library, and prints what it saw as one JSON object.

Usage: python manager_client.py ADDRESS MODE   (authkey in $MANAGER_AUTHKEY)

MODE is "all" (run every check), "bench=N" (time N calls), "sleep" (print
"calling", then call a Go method that sleeps, to be killed meanwhile),
"hammer" (print "calling", then call incr from 4 threads until the server
goes away, and print how many calls returned), "idle" (print "idle" with a
proxy connection open, then wait for stdin to close) or "wrongkey" (connect
with a wrong key). Runs on Python 2.7 and 3.6+.
"""
import json
import os
import sys
import threading
from multiprocessing import AuthenticationError
from multiprocessing.managers import BaseManager, RemoteError


class M(BaseManager):
    pass


M.register("calc")
M.register("counter")
M.register("funcs")


def address_of(arg):
    if arg.startswith("@"):
        return "\0" + arg[1:]  # a Linux abstract socket
    host, sep, port = arg.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() else arg


def raised(f, *args, **kwds):
    try:
        f(*args, **kwds)
    except RemoteError as e:
        return ["RemoteError", str(e)]
    except Exception as e:
        return [type(e).__name__, str(e)]
    return None


def run_all(m):
    out = {}
    c = m.calc()
    out["exposed"] = sorted(c._exposed_)
    out["add"] = c.add(1, 2)
    out["concat"] = c.concat("go", "-", "py")
    out["scale"] = c.scale(2.5, factor=4)
    out["scale_default"] = c.scale(2.5)
    out["echo"] = c.echo([1, "two", {"three": 3.0}, None, True])
    b = c.bytes(3)
    out["bytes"] = [type(b).__name__, list(bytearray(b))]  # a list of ints would pass bytearray() too
    t = c.echo((1, 2))
    out["tuple"] = [type(t).__name__, list(t)]  # JSON would make a list of it either way
    out["big"] = str(c.echo(2 ** 100))
    out["zero_division"] = raised(c.divide, 1, 0)
    out["go_error"] = raised(c.fail, "it broke")
    out["panic"] = raised(c.panic)
    out["bad_arg"] = raised(c.add, "x", 1)
    out["bad_count"] = raised(c.add, 1)
    out["bad_kw"] = raised(c.add, 1, 2, nope=3)
    out["after_errors"] = c.add(40, 2)
    out["value"] = c._getvalue()

    results = []
    lock = threading.Lock()

    def worker(n):
        for i in range(20):
            r = c.incr()
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["incr_count"] = len(results)
    out["incr_distinct"] = len(set(results))
    out["incr_max"] = max(results)

    k1 = m.counter(10)
    k2 = m.counter(100, step=5)
    k1.incr()
    out["counters"] = [k1.incr(), k2.incr(), k1.get(), k2.get()]
    del k1, k2

    f = m.funcs()
    out["upper"] = f.upper("shout")
    out["join"] = f.join(["a", "b"], "+")
    out["unpicklable"] = raised(f.unpicklable)
    out["bad_error"] = raised(f.bad_error)
    out["after_panics"] = f.upper("still")

    n0 = m._number_of_objects()
    k = f.counter(7)  # a Go method returning bridge.Shared
    out["proxied"] = [type(k).__name__, k.incr(), k.incr(), k.get()]
    n1 = m._number_of_objects()
    del k
    out["proxied_objects"] = [n1 - n0, m._number_of_objects() - n0]
    return out


def main():
    address = address_of(sys.argv[1])
    mode = sys.argv[2]
    key = os.environ["MANAGER_AUTHKEY"].encode("ascii")
    if mode == "wrongkey":
        m = M(address=address, authkey=b"not-the-key")
        try:
            m.connect()
        except AuthenticationError as e:
            print(json.dumps({"auth_error": str(e)}))
            return
        print(json.dumps({"auth_error": None}))
        return
    m = M(address=address, authkey=key)
    m.connect()
    if mode.startswith("bench="):
        import time
        c = m.calc()
        c.add(0, 0)  # connect first
        n = int(mode[len("bench="):])
        start = time.time()
        for i in range(n):
            c.add(i, 1)
        print(json.dumps({"seconds": time.time() - start}))
        return
    if mode == "hammer":
        c = m.calc()
        c.add(0, 0)
        counts = []
        lock = threading.Lock()

        def hammer():
            n = 0
            try:
                while True:
                    c.incr()
                    n += 1
            except Exception:
                pass
            with lock:
                counts.append(n)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        sys.stdout.write("calling\n")
        sys.stdout.flush()
        for t in threads:
            t.join()
        print(json.dumps({"returned": sum(counts)}))
        sys.stdout.flush()
        os._exit(0)  # no decref of a server that is gone
    if mode == "idle":
        c = m.calc()
        c.add(0, 0)
        sys.stdout.write("idle\n")
        sys.stdout.flush()
        sys.stdin.read()
        return
    if mode == "sleep":
        c = m.calc()
        sys.stdout.write("calling\n")
        sys.stdout.flush()
        c.sleep(60)
        return
    print(json.dumps(run_all(m), sort_keys=True))


if __name__ == "__main__":
    main()
