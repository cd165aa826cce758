# -*- coding: utf-8 -*-
"""Python side of pickle/'s differential tests (Python 2.7 and 3.6+).

Usage:
  pyhelper.py roundtrip PROTO...   Python -> Go -> Python
      Writes the corpus pickled at each PROTO to stdout as records, then the
      END record; reads back Go's re-encoding of each record from stdin;
      loads each and compares it with the original value; prints a report.
  pyhelper.py badpickles TEST...   the malformed pickles of CPython's tests
      Runs the named unpickling-error tests of test.pickletester, collecting
      each pickle they expect to fail (and checking that Python rejects
      it), and writes them as records named "TEST#n".
  pyhelper.py selftest             checks that the comparison tells apart
      what it must; prints a report.
  pyhelper.py check                Go -> Python
      Reads records (name, proto, pickle, expected expression) from stdin,
      loads each pickle and compares it with the expression's value; prints
      a report.

Records are 4 fields, each a 4-byte big-endian length and bytes: name,
protocol, pickle, extra. A record with an empty name ends a stream.
Report lines: "OK name proto" or "FAIL name proto: reason".
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

from recordio import read_record, stdin, stdout, write_record

PY2 = sys.version_info[0] == 2
if PY2:
    INTS = (int, long)  # noqa: F821
    TEXT = unicode  # noqa: F821
else:
    INTS = (int,)
    TEXT = str


# ---- classes that pickles of the corpus refer to (as __main__.X) ----

class Plain(object):
    def __init__(self, a=1, b=None):
        self.a = a
        self.b = b


class Slots(object):
    __slots__ = ('x', 'y')

    def __init__(self, x=1, y=2):
        self.x = x
        self.y = y

    def __getstate__(self):
        return (None, {'x': self.x, 'y': self.y})

    def __setstate__(self, state):
        for k, v in state[1].items():
            setattr(self, k, v)

    def __eq__(self, other):
        return type(self) is type(other) and (self.x, self.y) == (other.x, other.y)


class MyList(list):
    pass


class MyDict(dict):
    pass


class Reduced(object):
    """__reduce__ with all five parts."""

    def __init__(self, tag):
        self.tag = tag
        self.items = []
        self.mapping = {}

    def __reduce__(self):
        return (Reduced, (self.tag,), {'extra': 1}, iter(['li1', 'li2']), iter([('dk', 'dv')]))

    def append(self, x):
        self.items.append(x)

    def extend(self, xs):
        self.items.extend(xs)

    def __setitem__(self, k, v):
        self.mapping[k] = v

    def __setstate__(self, state):
        self.__dict__.update(state)


class Outer(object):
    class Inner(object):
        def __init__(self, v=0):
            self.v = v


Point = collections.namedtuple('Point', 'x y')

if PY2:
    class Classic:  # old-style class: INST/OBJ
        def __init__(self, v=0):
            self.v = v
else:
    exec('''
class KwOnly(object):
    def __new__(cls, *, a):
        o = object.__new__(cls)
        o.a = a
        return o
    def __getnewargs_ex__(self):
        return ((), {'a': self.a})
''')
    import enum
    exec('''
class Color(enum.Enum):
    RED = 1
    GREEN = 2
''')
    try:
        import dataclasses
        exec('''
@dataclasses.dataclass
class DC:
    x: int
    y: str
''')
    except ImportError:
        pass


def cyclic_list():
    l = []
    l.append(l)
    return l


def cyclic_dict():
    d = {}
    d['self'] = d
    return d


def cyclic_tuple():
    t = ([],)
    t[0].append(t)
    return t


def shared():
    a = [1, 2]
    d = {'k': 'v'}
    return [a, a, d, {'d': d, 'a': a}]


def cyclic_obj():
    p = Plain()
    p.b = p
    return p


def u(s):
    """A text string from a \\u-escaped literal (py2 and py3)."""
    return s.encode('ascii').decode('unicode_escape') if PY2 else s.encode('ascii').decode('unicode_escape')


def corpus():
    """(name, value) pairs; every value must pickle at every protocol."""
    c = []
    add = lambda name, v: c.append((name, v))
    for v in [None, True, False]:
        add('atom_%r' % (v,), v)
    for i in [0, 1, -1, 255, 256, 65535, 65536, -65536, 2**31 - 1, -2**31, 2**31, -2**31 - 1,
              2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, 10**30, -10**30, 2**2100, -(2**2100)]:
        add('int_%d' % i if abs(i) < 2**70 else 'int_big_%s%d' % ('m' if i < 0 else '', i.bit_length()), i)
    for f in [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, 1e16, 1e15, 1e-5, 1e-4, 0.1, float('inf'), float('-inf'), float('nan')]:
        add('float_%r' % f, f)
    add('complex', 1 + 2j)
    add('complex_neg0', complex(-0.0, float('inf')))
    add('str_empty', u(''))
    add('str_ascii', u('abc'))
    add('str_escapes', u('a\\\\b\\nc\\rd\\x00e\\x1af'))
    add('str_unicode', u('caf\\u00e9 \\u20ac \\u4e2d'))
    add('str_bmp_latin1', u('\\u00ff\\u0080'))
    if not PY2 or sys.maxunicode > 0xffff:
        add('str_astral', u('\\U0001f600x'))
    add('str_surrogate_lone_hi', u('a\\ud800b'))
    add('str_surrogate_lone_lo', u('\\udfff'))
    add('str_surrogate_pair_chars', u('\\ud83d\\ude00'))
    add('str_backslash_u', u('\\\\u0041 \\\\\\\\u0041'))
    add('str_300', u('x') * 300)
    add('str_70000', u('y') * 70000)
    add('bytes_empty', b'')
    add('bytes_bin', b'\x00\xff\x80abc')
    add('bytes_300', b'z' * 300)
    add('bytes_70000', b'\x01' * 70000)
    add('bytearray', bytearray(b'ab\xff'))
    add('bytearray_empty', bytearray())
    add('list_empty', [])
    add('list_small', [1, 'a', None])
    add('list_1', [7])
    add('list_1000', list(range(1000)))
    add('list_1001', list(range(1001)))
    add('list_2000_str', [str(i) for i in range(2000)])
    add('list_nested', [[[]], [[1], [2, [3]]]])
    add('list_deep', nest(200))
    for n in range(6):
        add('tuple_%d' % n, tuple(range(n)))
    add('tuple_nested', ((1, (2, (3,))), ()))
    add('tuple_shared', (lambda t: (t, t, [t]))((1, 2)))
    add('dict_empty', {})
    add('dict_one', {'a': 1})
    add('dict_record', {'id': 1, 'name': u'user_000001', 'email': u'u@x', 'score': 0.75, 'active': True,
                        'tags': [u'alpha'], 'vals': [1.5, 2.5, 3.5], 'count': 7919})
    add('dict_order', collections.OrderedDict([('z', 1), ('a', 2), ('m', 3)]) if False else dict_in_order())
    add('dict_1000', dict((i, i) for i in range(1000)))
    add('dict_1001', dict((str(i), i) for i in range(1001)))
    add('dict_mixed_keys', {1: 'int', 2.5: 'float', (1, 2): 'tuple', None: 'none', frozenset([1]): 'fs',
                            b'bk': 'bytes', u'sk': 'str', -2**70: 'big'})
    add('set_empty', set())
    add('set_small', set([1, 2, 3]))
    add('set_1000', set(range(1000)))
    add('set_1500', set(range(1500)))
    add('set_mixed', set([1, 'a', (1, 2), None, 2.5]))
    add('frozenset_empty', frozenset())
    add('frozenset_small', frozenset(['a', 'b']))
    add('frozenset_1200', frozenset(range(1200)))
    add('shared', shared())
    add('cyclic_list', cyclic_list())
    add('cyclic_dict', cyclic_dict())
    add('cyclic_tuple', cyclic_tuple())
    add('cyclic_obj', cyclic_obj())
    add('obj_plain', Plain(1, [1, 2]))
    add('obj_slots', Slots(3, 'four'))
    l = MyList([1, 2])
    l.attr = 3
    add('obj_list_subclass', l)
    add('obj_dict_subclass', MyDict(a=1, b=[2]))
    add('obj_reduced', Reduced('t'))
    if not PY2:  # Python 2 cannot find Outer.Inner as __main__.Inner
        add('obj_nested_class', Outer.Inner(5))
    add('obj_namedtuple', Point(1, 2))
    add('obj_date', datetime.date(2020, 1, 2))
    add('obj_datetime', datetime.datetime(2021, 2, 3, 4, 5, 6, 789))
    add('obj_timedelta', datetime.timedelta(days=1, seconds=2))
    add('obj_decimal', decimal.Decimal('3.14159'))
    add('obj_fraction', fractions.Fraction(3, 7))
    add('obj_ordereddict', collections.OrderedDict([('b', 1), ('a', 2)]))
    add('obj_deque', collections.deque([1, 2, 3]))
    add('obj_counter', collections.Counter('abracadabra'))
    add('obj_defaultdict', collections.defaultdict(list, {'k': [1]}))
    add('obj_uuid', uuid.UUID('12345678123456781234567812345678'))
    add('global_class', Plain)
    if not PY2:
        add('global_nested_class', Outer.Inner)
    add('global_builtin', len)
    add('global_set_type', set)
    if PY2:
        add('py2_str', 'byte string')
        add('py2_str_bin', '\x00\xff\x80')
        add('py2_str_quote', 'it\'s "q"\n\\')
        add('py2_unicode', u'uni')
        add('py2_classic', Classic(3))
        add('py2_long_small', long(5))  # noqa: F821
    else:
        add('obj_kwonly', KwOnly(a=5))
        add('obj_enum', Color.GREEN)
        if 'DC' in globals():
            add('obj_dataclass', DC(1, 'y'))
    # Every interpreter of the matrix has test.pickletester; a missing one
    # is an error, not a shorter corpus.
    from test import pickletester
    add('pickletester_create_data', pickletester.create_data())
    return c


def dict_in_order_zam():
    d = {}
    for k in [u'z', u'a', u'm']:
        d[k] = len(d) + 1
    return d


def copy_reg_reconstructor():
    if PY2:
        import copy_reg
        return copy_reg._reconstructor
    import copyreg
    return copyreg._reconstructor


def mylist(items, **attrs):
    l = MyList(items)
    l.__dict__.update(attrs)
    return l


def dict_in_order():
    d = {}
    for k in ['z', 'a', 'm', 'b']:
        d[k] = len(d)
    return d


def nest(n):
    v = []
    for _ in range(n):
        v = [v]
    return v


def raw_pickles():
    """(name, protocol, pickle) of pickles made elsewhere: CPython's test data."""
    out = []
    from test import pickletester as pt
    for i in range(5):
        data = getattr(pt, 'DATA%d' % i, None)
        if data is not None:
            out.append(('pickletester_DATA%d' % i, min(i, 4), data))
    for name in ['DATA_SET', 'DATA_SET2', 'DATA_XRANGE', 'DATA_COOKIE', 'DATA_UEERR']:
        data = getattr(pt, name, None)
        if data is not None:
            out.append(('pickletester_' + name, 2, data))
    return out


# ---- comparison: equality, types, dict order, sharing and cycles ----

ATOMS = INTS + (float, complex, bool, type(None), TEXT, bytes)


def same(a, b, memo=None, path='v'):
    """Returns None if a and b are the same value with the same sharing,
    else a description of the first difference. Types must match exactly,
    dict keys and set items included (1, 1.0 and True are equal in Python
    but not the same value)."""
    if memo is None:
        memo = ({}, {})
    ta, tb = type(a), type(b)
    if isinstance(a, bool) or isinstance(b, bool):
        if ta is not tb or a != b:
            return '%s: %r != %r' % (path, a, b)
        return None
    if isinstance(a, INTS) and isinstance(b, INTS):
        return None if a == b else '%s: %r != %r' % (path, a, b)
    if ta is not tb:
        return '%s: type %s != %s (%r vs %r)' % (path, ta.__name__, tb.__name__, a, b)
    if ta is float:
        return None if float_same(a, b) else '%s: %r != %r' % (path, a, b)
    if ta is complex:
        ok = float_same(a.real, b.real) and float_same(a.imag, b.imag)
        return None if ok else '%s: %r != %r' % (path, a, b)
    if ta in ATOMS:
        return None if a == b else '%s: %r != %r' % (path, a, b)
    if ta is not tuple or a:
        # Sharing must match both ways, for tuples too: pickle memoizes
        # them, so a tuple referenced twice loads as one object. (The
        # empty tuple is a singleton in CPython.)
        fa, fb = memo
        if id(a) in fa or id(b) in fb:
            if fa.get(id(a)) is b and fb.get(id(b)) is a:
                return None
            return '%s: sharing differs' % path
        fa[id(a)] = b
        fb[id(b)] = a
    if isinstance(a, (list, tuple)) and ta in (list, tuple) or ta is bytearray:
        if len(a) != len(b):
            return '%s: len %d != %d' % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            r = same(x, y, memo, '%s[%d]' % (path, i))
            if r:
                return r
        return None
    if ta is dict:
        ka, kb = list(a.keys()), list(b.keys())
        if len(ka) != len(kb):
            return '%s: %d keys != %d' % (path, len(ka), len(kb))
        # Python 3 dicts keep insertion order, which must survive.
        pairs = pair_up(ka, kb) if PY2 else list(zip(ka, kb))
        if pairs is None:
            return '%s: keys differ' % path
        for x, y in pairs:
            r = same(x, y, memo, '%s key %r' % (path, x))
            if r:
                return r
            r = same(a[x], b[y], memo, '%s[%r]' % (path, x))
            if r:
                return r
        return None
    if ta in (set, frozenset):
        pairs = pair_up(list(a), list(b)) if len(a) == len(b) else None
        if pairs is None:
            return '%s: %r != %r' % (path, a, b)
        for x, y in pairs:
            r = same(x, y, memo, '%s item %r' % (path, x))
            if r:
                return r
        return None
    # Objects: their class, state, and list or dict contents for subclasses.
    cls = getattr(a, '__class__', ta)
    if cls is not getattr(b, '__class__', tb):
        return '%s: class %r != %r' % (path, cls, getattr(b, '__class__', tb))
    if isinstance(a, collections.defaultdict):
        r = same(a.default_factory, b.default_factory, memo, path + '.default_factory')
        if r:
            return r
    if isinstance(a, collections.deque):
        if a.maxlen != b.maxlen:
            return '%s: maxlen %r != %r' % (path, a.maxlen, b.maxlen)
        r = same(list(a), list(b), memo, path + '.items')
        if r:
            return r
    if isinstance(a, dict):
        r = same(dict(a), dict(b), memo, path + '.items')
        if r:
            return r
    elif isinstance(a, (list, tuple)):
        r = same(list(a), list(b), memo, path + '.items')
        if r:
            return r
    if hasattr(a, '__dict__') and not isinstance(a, type):
        r = same(attrs(a), attrs(b), memo, path + '.__dict__')
        if r:
            return r
        if not defines_eq(cls):
            return None
    return None if a == b else '%s: %r != %r' % (path, a, b)


def attrs(o):
    """o's attributes. Python 2 names them by str, and an ASCII unicode name
    (what BUILD sets from a Go pickle's state) works alike, so it counts
    as the str."""
    d = o.__dict__
    if PY2:
        d = dict((k.encode('ascii') if isinstance(k, TEXT) and all(ord(c) < 128 for c in k) else k, v)
                 for k, v in d.items())
    return d


def pair_up(xs, ys):
    """Pairs each item of xs with the equal item of ys (as a dict or set
    finds it), or returns None if some item has no partner."""
    by = dict((y, y) for y in ys)
    pairs = []
    for x in xs:
        if x not in by:
            return None
        pairs.append((x, by.pop(x)))
    return pairs if not by else None


def defines_eq(cls):
    for k in getattr(cls, '__mro__', None) or (cls,) + getattr(cls, '__bases__', ()):
        if k is not object and '__eq__' in vars(k):
            return True
    return False


def float_same(a, b):
    if a != a:
        return b != b
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def roundtrip(protos):
    # Go's pickle must load as Python's own pickle of the value loads.
    originals = {}
    for name, value in corpus():
        for p in protos:
            try:
                data = pickle.dumps(value, p)
            except Exception as e:
                sys.exit('cannot pickle corpus value %s at protocol %d: %s: %s' % (name, p, type(e).__name__, e))
            originals[(name, str(p))] = data
            write_record(stdout, name, str(p), data)
    for name, p, data in raw_pickles():
        originals[(name, str(p))] = data
        write_record(stdout, name, str(p), data)
    write_record(stdout, '', '', b'')
    stdout.flush()
    report = []
    while True:
        name, p, data, extra = read_record(stdin)
        if not name:
            break
        name = name.decode('utf-8')
        try:
            want = pickle.loads(originals[(name, p.decode())])
            got = pickle.loads(data)
            r = same(want, got)
        except Exception as e:
            r = 'load failed: %s: %s' % (type(e).__name__, e)
        report.append(('FAIL %s %s: %s' % (name, p.decode(), r[:300])) if r else ('OK %s %s' % (name, p.decode())))
    out = '\n'.join(report) + '\n'
    stdout.write(out.encode('utf-8', 'backslashreplace'))
    stdout.flush()


def check():
    env = dict(globals())
    report = []
    while True:
        name, p, data, extra = read_record(stdin)
        if not name:
            break
        name, p = name.decode('utf-8'), p.decode()
        try:
            got = pickle.loads(data)
            want = eval(extra.decode('utf-8'), env)
            r = same(want, got)
        except Exception as e:
            r = 'failed: %s: %s' % (type(e).__name__, e)
        report.append(('FAIL %s %s: %s' % (name, p, r[:300])) if r else ('OK %s %s' % (name, p)))
    stdout.write(('\n'.join(report) + '\n').encode('utf-8', 'backslashreplace'))
    stdout.flush()


def selftest():
    """Checks that same() tells apart what it must: prints one line per
    case, "OK name" or "FAIL name: reason"."""
    t = (1, 2)
    l = [1]
    dd = collections.defaultdict(list, {'k': [1]})
    differ = [
        ('int_bool', 1, True),
        ('int_float', 1, 1.0),
        ('float_negzero', 0.0, -0.0),
        ('text_bytes', u('a'), b'a'),
        ('list_len', [1, 2], [1]),
        ('list_tuple', [1], (1,)),
        ('dict_key_type', {1: 'a'}, {1.0: 'a'}),
        ('dict_key_bool', {1: 'a'}, {True: 'a'}),
        ('dict_value', {'k': 1}, {'k': 2}),
        ('set_item_type', set([1]), set([1.0])),
        ('frozenset_set', frozenset([1]), set([1])),
        ('shared_list', [l, l], [[1], [1]]),
        ('unshared_list', [[1], [1]], [l, l]),
        ('shared_tuple', [t, t], [(1, 2), tuple([1, 2])]),
        ('cycle', cyclic_list(), [[]]),
        ('object_state', Plain(1, 2), Plain(1, 3)),
        ('object_class', Plain(), Slots()),
        ('list_subclass_attr', mylist([1], attr=1), mylist([1], attr=2)),
        ('defaultdict_factory', dd, collections.defaultdict(None, {'k': [1]})),
        ('deque_maxlen', collections.deque([1], 3), collections.deque([1])),
        ('deque_items', collections.deque([1]), collections.deque([2])),
        ('nan_number', float('nan'), 1.0),
    ]
    if not PY2:
        differ.append(('dict_order', {'a': 1, 'b': 2}, {'b': 2, 'a': 1}))
    match = [
        ('nan', float('nan'), float('nan')),
        ('shared', shared(), shared()),
        ('cycles', [cyclic_list(), cyclic_dict(), cyclic_tuple(), cyclic_obj()],
         [cyclic_list(), cyclic_dict(), cyclic_tuple(), cyclic_obj()]),
        ('defaultdict', dd, collections.defaultdict(list, {'k': [1]})),
        ('corpus', corpus(), corpus()),
    ]
    lines = []
    for name, a, b in differ:
        r = same(a, b)
        lines.append(('OK differ_%s' % name) if r else ('FAIL differ_%s: same() found no difference' % name))
    for name, a, b in match:
        r = same(a, b)
        lines.append(('FAIL match_%s: %s' % (name, r[:300])) if r else ('OK match_%s' % name))
    stdout.write(('\n'.join(lines) + '\n').encode('utf-8', 'backslashreplace'))
    stdout.flush()


def badpickles(names):
    """Runs the named tests of test.pickletester's AbstractUnpickleTests,
    collecting each pickle that they expect to fail to load (and checking
    that Python rejects it). The tests that run only on 32-bit builds are
    run here too, by their undecorated bodies: their pickles are malformed
    everywhere. Fails if a test is missing, skipped, fails, or collects
    nothing."""
    import unittest
    from test import pickletester as pt
    collected = []

    class Collect(pt.AbstractUnpickleTests, unittest.TestCase):
        bad_stack_errors = (Exception,)
        truncated_errors = (Exception,)
        size_overflow_errors = (Exception,)

        def loads(self, data, **kw):
            return pickle.loads(data, **kw)

        def check_unpickling_error(self, errors, data):
            collected.append((self._testMethodName, data))
            try:
                pickle.loads(data)
            except Exception:
                return
            raise AssertionError('Python accepted %r' % (data,))

    suite = unittest.TestSuite()
    for name in names:
        method = getattr(Collect, name, None)
        if method is None:
            sys.exit('test.pickletester has no %s' % name)
        if getattr(method, '__unittest_skip__', False):
            body = getattr(method, '__wrapped__', None)
            if body is None:
                sys.exit('%s is skipped here: %s' % (name, getattr(method, '__unittest_skip_why__', '')))
            body(Collect(name))
            continue
        suite.addTest(Collect(name))
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
    if not result.wasSuccessful() or result.skipped:
        sys.exit('pickletester tests failed or were skipped: %r' % (result.skipped,))
    got = set(name for name, _ in collected)
    for name in names:
        if name not in got:
            sys.exit('%s collected no pickles' % name)
    for i, (name, data) in enumerate(collected):
        write_record(stdout, '%s#%d' % (name, i), '', data)
    write_record(stdout, '', '', b'')
    stdout.flush()


if __name__ == '__main__':
    sys.setrecursionlimit(10000)
    if sys.argv[1] == 'roundtrip':
        roundtrip([int(p) for p in sys.argv[2:]])
    elif sys.argv[1] == 'check':
        check()
    elif sys.argv[1] == 'selftest':
        selftest()
    elif sys.argv[1] == 'badpickles':
        badpickles(sys.argv[2:])
    else:
        sys.exit('unknown command %r' % sys.argv[1])
