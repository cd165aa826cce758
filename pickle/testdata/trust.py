# Prints, one JSON line each, pickles for the KnownClasses tests: "safe"
# values that need only built-in, structural or modelled globals, and
# "unknown" ones that name classes defined here (or an os.system call).
# Standard library only; runs on Python 2.7 and 3.6+.
import binascii
import collections
import datetime
import decimal
import fractions
import json
import pickle
import sys
import uuid


class Plain(object):
    def __init__(self):
        self.a = 1


Point = collections.namedtuple("Point", "x y")

safe = [
    ("set", set([1, 2])),
    ("frozenset", frozenset([3])),
    ("bytes", b"ab"),
    ("bytearray", bytearray(b"ab")),
    ("complex", complex(1, 2)),
    ("datetime", datetime.datetime(2024, 1, 2, 3, 4, 5, 6)),
    ("date", datetime.date(2024, 1, 2)),
    ("timedelta", datetime.timedelta(days=1, seconds=2)),
    ("decimal", decimal.Decimal("1.5")),
    ("fraction", fractions.Fraction(1, 3)),
    ("uuid", uuid.UUID(int=5)),
    ("ordereddict", collections.OrderedDict([("a", 1), ("b", 2)])),
    ("deque", collections.deque([1, 2])),
    ("mixed", [1, "x", u"y", {"k": (1, 2.5, None, True)}, [[]]]),
]
if sys.version_info[0] >= 3:
    safe.append(("timezone", datetime.timezone.utc))

unknown = [
    ("plain", "__main__.Plain", Plain()),
    ("namedtuple", "__main__.Point", Point(1, 2)),
    ("nested", "__main__.Plain", {"ok": [1, 2], "bad": [Plain()]}),
]

out = sys.stdout
for proto in range(pickle.HIGHEST_PROTOCOL + 1):
    for name, v in safe:
        rec = {"group": "safe", "name": name, "proto": proto,
               "pickle": binascii.hexlify(pickle.dumps(v, proto)).decode("ascii")}
        out.write(json.dumps(rec) + "\n")
    for name, cls, v in unknown:
        rec = {"group": "unknown", "name": name, "proto": proto, "class": cls,
               "pickle": binascii.hexlify(pickle.dumps(v, proto)).decode("ascii")}
        out.write(json.dumps(rec) + "\n")
