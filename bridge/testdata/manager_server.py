"""A multiprocessing.managers server for the tests of package bridge.

Usage: python manager_server.py ADDRESS   (authkey in $MANAGER_AUTHKEY)

ADDRESS is host:port (port 0 picks one) or a Unix socket path. Once the
server listens it prints "listening ADDRESS" with the address bound. Runs
on Python 2.7 and 3.6+ with the standard library only.
"""
import os
import sys
import time
from multiprocessing.managers import BaseManager


class Calc(object):
    def __init__(self, start=0, step=1):
        self.total = start
        self.step = step

    def add(self, a, b):
        return a + b

    def accumulate(self, n=None):
        self.total += self.step if n is None else n
        return self.total

    def echo(self, *args, **kwds):
        return [list(args), kwds]

    def types(self, *args):
        return [type(a).__name__ for a in args]

    def fail(self, kind, msg):
        if kind == "value":
            raise ValueError(msg)
        if kind == "key":
            raise KeyError(msg)
        if kind == "custom":
            raise CalcError(msg, 42)
        raise RuntimeError(msg)

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def pid(self):
        return os.getpid()

    def child(self, start):
        return Calc(start)

    def __getstate__(self):
        return {"total": self.total, "step": self.step}


class CalcError(Exception):
    pass


def make_list(*items):
    return list(items)


class Manager(BaseManager):
    pass


Manager.register("calc", callable=Calc, method_to_typeid={"child": "calcobj"})
# Objects a method returns as proxies: create() takes them as they are.
Manager.register("calcobj", method_to_typeid={"child": "calcobj"})
Manager.register("list", callable=make_list)
Manager.register("ident", callable=lambda x: x)


def main():
    addr = sys.argv[1]
    host, sep, port = addr.rpartition(":")
    address = (host, int(port)) if sep and port.isdigit() else addr
    key = os.environ["MANAGER_AUTHKEY"].encode("ascii")
    server = Manager(address=address, authkey=key).get_server()
    a = server.address
    if isinstance(a, tuple):
        a = "%s:%d" % a
    sys.stdout.write("listening %s\n" % a)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
