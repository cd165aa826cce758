"""A Python manager server that Go calls. Standard library only; Python
2.7 and 3.x.

usage: python3 go_calls_python_manager.py ADDRESS   (authkey in $PIPEBRIDGE_AUTHKEY)

ADDRESS is host:port (port 0 picks a free port) or a Unix socket path. The
server prints "listening ADDRESS" once it can be reached, then serves until
a client asks it to shut down. A Go program calls it with package bridge:

    m, err := bridge.DialManager(ctx, address, key, nil)
    inv, err := m.Create(ctx, "inventory", bridge.Kwargs{"owner": "go"})
    n, err := inv.Call(ctx, "add", "apples", 3)       // 3
    err = inv.CallInto(ctx, &stock, "stock")           // map[string]int
    _, err = inv.Call(ctx, "take", "pears", 1)         // *bridge.PythonError: KeyError
    inv.Close()
    m.Shutdown(ctx)
"""
import os
import sys
from multiprocessing.managers import BaseManager


class Inventory(object):
    """A shared object: Go calls its public methods."""

    def __init__(self, owner="nobody"):
        self.owner = owner
        self.items = {}

    def add(self, name, count=1):
        self.items[name] = self.items.get(name, 0) + count
        return self.items[name]

    def take(self, name, count=1):
        if self.items.get(name, 0) < count:
            raise KeyError("not enough %s" % name)
        self.items[name] -= count
        return self.items[name]

    def stock(self):
        return dict(self.items)

    def describe(self):
        return "%s's inventory: %d kinds" % (self.owner, len(self.items))


class InventoryManager(BaseManager):
    pass


InventoryManager.register("inventory", callable=Inventory)
InventoryManager.register("pid", callable=os.getpid)


def main():
    arg = sys.argv[1]
    host, sep, port = arg.rpartition(":")
    address = (host, int(port)) if sep and port.isdigit() else arg
    key = os.environ["PIPEBRIDGE_AUTHKEY"].encode("ascii")
    server = InventoryManager(address=address, authkey=key).get_server()
    bound = server.address
    if isinstance(bound, tuple):
        bound = "%s:%d" % bound
    sys.stdout.write("listening %s\n" % bound)
    sys.stdout.flush()
    server.serve_forever()  # until a client's shutdown request


if __name__ == "__main__":
    main()
