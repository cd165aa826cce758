# -*- coding: utf-8 -*-
"""Python side of pickle/'s typed round-trip tests (Python 2.7 and 3.6+).

Usage:
  typed_helper.py py2go    Python -> Go -> Python
      Reads records (name, proto, -, expression) from stdin up to END,
      evaluates each expression and writes its pickle at proto as a record,
      then END; reads back Go's re-encoding of each record, loads it and
      compares it with the value; prints a report.
  typed_helper.py go2py    Go -> Python -> Go
      Reads records (name, proto, pickle, expression) up to END; loads each
      pickle and compares it with the expression's value; writes back the
      loaded value pickled again at proto (empty when the comparison
      failed), then END, then the report.

Records are 4 fields, each a 4-byte big-endian length and bytes: name,
protocol, pickle, extra. A record with an empty name ends a stream.
Report lines: "OK name proto" or "FAIL name proto: reason".

The classes below are the Python side of the registered Go types; they
live in __main__, as the Go registry names them.
"""
from __future__ import print_function

import collections
import datetime
import decimal
import fractions
import math
import pickle
import sys
import uuid

from recordio import read_all, report, stdin, stdout, write_record

PY2 = sys.version_info[0] == 2


class Plain(object):
    def __init__(self, a=0, b=None):
        self.a = a
        self.b = b

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'Plain(%r)' % (self.__dict__,)


class Slotted(object):
    __slots__ = ('x', 'y')

    def __init__(self, x=0, y=0):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return type(self) is type(other) and (self.x, self.y) == (other.x, other.y)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'Slotted(%r, %r)' % (self.x, self.y)

    if PY2:
        # Python 2 pickles slotted objects only with these.
        def __getstate__(self):
            return (None, {'x': self.x, 'y': self.y})

        def __setstate__(self, state):
            for k, v in state[1].items():
                setattr(self, k, v)


Point = collections.namedtuple('Point', 'x y')

if not PY2:
    import enum
    import pathlib
    import typing
    exec('''
class Color(enum.Enum):
    RED = 1
    GREEN = 2

class Mood(enum.Enum):
    HAPPY = 'happy'
    SAD = 'sad'

class Vec(typing.NamedTuple):
    x: float
    y: float
''')
    try:
        import dataclasses
        exec('''
@dataclasses.dataclass
class Item:
    sku: str
    qty: int
    price: decimal.Decimal

@dataclasses.dataclass
class Order:
    id: int
    customer: str
    items: list
    created: datetime.datetime
    ship_to: Point = None
    color: Color = Color.RED
    notes: dict = dataclasses.field(default_factory=dict)

@dataclasses.dataclass(frozen=True)
class Frozen:
    a: int
    b: str
''')
        if sys.version_info >= (3, 10):
            exec('''
@dataclasses.dataclass(slots=True)
class SlotsDC:
    a: int
    b: str
''')
    except ImportError:
        pass
try:
    import zoneinfo
except ImportError:
    zoneinfo = None


# ---- comparison ----

def same(a, b):
    """None if a and b are the same value, of the same types, else why not."""
    ta, tb = type(a), type(b)
    if ta is not tb:
        if not (PY2 and {ta, tb} <= {int, long}):  # noqa: F821
            return 'type %s != %s (%r vs %r)' % (ta.__name__, tb.__name__, a, b)
    if isinstance(a, float):
        if a != a and b != b:
            return None
        same_sign = math.copysign(1, a) == math.copysign(1, b)
        return None if a == b and same_sign else '%r != %r' % (a, b)
    if isinstance(a, decimal.Decimal):
        return None if str(a) == str(b) else '%s != %s' % (a, b)
    if isinstance(a, datetime.datetime) or isinstance(a, datetime.time):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return 'tzinfo %r != %r' % (a.tzinfo, b.tzinfo)
        if a.tzinfo is not None:
            if type(a.tzinfo) is not type(b.tzinfo):
                return 'tzinfo %r != %r' % (a.tzinfo, b.tzinfo)
            if str(a.tzinfo) != str(b.tzinfo):
                return 'tzinfo %s != %s' % (a.tzinfo, b.tzinfo)
        if getattr(a, 'fold', 0) != getattr(b, 'fold', 0):
            return 'fold %r != %r' % (a, b)
        if isinstance(a, datetime.datetime) and a.tzinfo is not None and a.utcoffset() != b.utcoffset():
            return 'offset %r != %r' % (a, b)
        return None if a == b and a.replace(tzinfo=None) == b.replace(tzinfo=None) else '%r != %r' % (a, b)
    if isinstance(a, collections.deque):
        if a.maxlen != b.maxlen:
            return 'maxlen %r != %r' % (a.maxlen, b.maxlen)
        return same(list(a), list(b))
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return 'len %d != %d' % (len(a), len(b))
        for x, y in zip(a, b):
            r = same(x, y)
            if r:
                return r
        if hasattr(a, '_fields') or type(a) not in (list, tuple):
            return None if a == b else '%r != %r' % (a, b)
        return None
    if isinstance(a, dict):
        if not PY2 and list(a.keys()) != list(b.keys()) and isinstance(a, collections.OrderedDict):
            return 'order %r != %r' % (list(a), list(b))
        if set(a.keys()) != set(b.keys()):
            return 'keys %r != %r' % (sorted(a.keys()), sorted(b.keys()))
        bkeys = dict((k, k) for k in b)
        for k in a:
            # Equal keys of other types (1 and 1.0, str and unicode) differ.
            r = same(k, bkeys[k])
            if r:
                return 'key %r: %s' % (k, r)
            r = same(a[k], b[k])
            if r:
                return '[%r]: %s' % (k, r)
        return None
    if hasattr(a, '__dict__') and not isinstance(a, type) and type(a).__module__ == '__main__' and hasattr(a, '__dataclass_fields__'):
        for k in a.__dataclass_fields__:
            r = same(getattr(a, k), getattr(b, k))
            if r:
                return '.%s: %s' % (k, r)
        return None
    return None if a == b else '%r != %r' % (a, b)


def py2go():
    env = dict(globals())
    values = {}
    for name, proto, _, expr in read_all(stdin):
        key = (name, proto)
        try:
            values[key] = eval(expr.decode('utf-8'), env)
            data = pickle.dumps(values[key], int(proto))
        except Exception as e:
            data = b''
            values[key] = e
        write_record(stdout, name, proto, data)
    write_record(stdout, b'', b'', b'')
    stdout.flush()
    lines = []
    for name, proto, data, _ in read_all(stdin):
        label = '%s %s' % (name.decode('utf-8'), proto.decode())
        want = values[(name, proto)]
        if isinstance(want, Exception):
            lines.append('FAIL %s: Python could not pickle: %r' % (label, want))
            continue
        try:
            r = same(want, pickle.loads(data))
        except Exception as e:
            r = 'load failed: %s: %s' % (type(e).__name__, e)
        lines.append(('FAIL %s: %s' % (label, r[:400])) if r else 'OK ' + label)
    report(lines)


def go2py():
    env = dict(globals())
    lines = []
    for name, proto, data, expr in read_all(stdin):
        label = '%s %s' % (name.decode('utf-8'), proto.decode())
        back = b''
        try:
            got = pickle.loads(data)
            r = same(eval(expr.decode('utf-8'), env), got)
            if not r:
                back = pickle.dumps(got, int(proto))
        except Exception as e:
            r = 'failed: %s: %s' % (type(e).__name__, e)
        lines.append(('FAIL %s: %s' % (label, r[:400])) if r else 'OK ' + label)
        write_record(stdout, name, proto, back)
    write_record(stdout, b'', b'', b'')
    report(lines)


if __name__ == '__main__':
    {'py2go': py2go, 'go2py': go2py}[sys.argv[1]]()
