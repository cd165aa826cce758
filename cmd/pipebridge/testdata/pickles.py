"""Pickles for the repickle and dis tests. Standard library only; Python
2.7 and 3.x. Records on stdout and stdin are: 4-byte big-endian length,
then the bytes.

  make      for every protocol this Python writes and every value of
            CORPUS, write a record "PROTO NAME", then the pickle, then its
            pickletools.dis listing
  check     read records "PROTO NAME" + pickle until EOF; load each and
            compare with CORPUS[NAME] (identity where it matters); print
            one line per failure and "checked N"
"""
import io
import pickle
import pickletools
import struct
import sys

PY2 = sys.version_info[0] == 2
out = sys.stdout if PY2 else sys.stdout.buffer
inp = sys.stdin if PY2 else sys.stdin.buffer


def corpus():
    shared = [1, 2]
    cyclic = []
    cyclic.append(cyclic)
    c = {
        "none": None, "bools": [True, False], "ints": [0, -1, 255, 2 ** 31, -(2 ** 63), 2 ** 100],
        "floats": [1.5, -0.0, float("inf"), 1e300], "complex": complex(1, -2),
        "text": u"h\xe9llo \u2603 \U0001f600", "tuple": (1, (2, u"x")),
        "dict": {u"a": 1, 2: [3], (1, 2): u"t"}, "set": set([1, 2, 3]), "frozenset": frozenset([u"f"]),
        "shared": [shared, shared], "cyclic": cyclic,
        "bytearray": bytearray(b"\x00\xff"),
    }
    if PY2:
        c["py2str"] = "\xff\x00 binary str"
    else:
        c["bytes"] = b"\x00\xff raw"
    return c


def same(name, a, b):
    if name == "shared":
        return a == b and a[0] is a[1]
    if name == "cyclic":
        return isinstance(a, list) and len(a) == 1 and a[0] is a
    if name == "floats":
        return repr(a) == repr(b)
    return a == b and type(a) is type(b)


def write(b):
    out.write(struct.pack(">I", len(b)))
    out.write(b)


def read():
    n = inp.read(4)
    if len(n) < 4:
        return None
    return inp.read(struct.unpack(">I", n)[0])


def main(cmd):
    c = corpus()
    if cmd == "make":
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            for name in sorted(c):
                data = pickle.dumps(c[name], proto)
                listing = io.StringIO() if not PY2 else io.BytesIO()
                pickletools.dis(data, listing)
                write(("%d %s" % (proto, name)).encode("ascii"))
                write(data)
                write(listing.getvalue().encode("utf-8") if not PY2 else listing.getvalue())
        out.flush()
        return 0
    n, bad = 0, 0
    while True:
        head = read()
        if head is None:
            break
        proto, name = head.decode("ascii").split(" ", 1)
        data = read()
        n += 1
        try:
            got = pickle.loads(data)
        except Exception as e:
            print("FAIL %s %s: %r" % (proto, name, e))
            bad += 1
            continue
        if not same(name, got, c[name]):
            print("FAIL %s %s: %r != %r" % (proto, name, got, c[name]))
            bad += 1
    print("checked %d" % n)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
