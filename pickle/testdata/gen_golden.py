"""Writes testdata/golden.json: CPython's pickles, protocols 0-5, of the
values named in golden_test.go's table. Run with Python 3.13 (the C
pickler's output is the reference; other versions differ in details):

    python3.13 testdata/gen_golden.py > testdata/golden.json

TestGoldenFresh reruns it against the live interpreter.
"""
import collections
import datetime
import decimal
import hashlib
import json
import pickle
import sys


class Plain:
    pass


class Outer:
    class Inner:
        pass


def plain(**kw):
    p = Plain()
    p.__dict__.update(kw)
    return p


def shared():
    a = [1]
    return [a, a]


def cyclic_list():
    l = []
    l.append(l)
    return l


def cyclic_dict():
    d = {}
    d['me'] = d
    return d


def cyclic_tuple():
    t = ([],)
    t[0].append(t)
    return t


CASES = {
    'none': None,
    'true': True,
    'false': False,
    'int_0': 0,
    'int_1': 1,
    'int_255': 255,
    'int_256': 256,
    'int_65535': 65535,
    'int_65536': 65536,
    'int_m1': -1,
    'int_max32': 2**31 - 1,
    'int_min32': -2**31,
    'int_max32p1': 2**31,
    'int_min32m1': -2**31 - 1,
    'int_max64': 2**63 - 1,
    'int_min64': -2**63,
    'int_max64p1': 2**63,
    'int_2e64': 2**64,
    'int_2e100': 2**100,
    'int_m2e100': -2**100,
    'int_2e2100': 2**2100,
    'float_0': 0.0,
    'float_m0': -0.0,
    'float_1_5': 1.5,
    'float_0_1': 0.1,
    'float_1e16': 1e16,
    'float_1e15': 1e15,
    'float_1em5': 1e-5,
    'float_1e300': 1e300,
    'float_inf': float('inf'),
    'float_minf': float('-inf'),
    'float_nan': float('nan'),
    'complex': 1 + 2j,
    'str_empty': '',
    'str_abc': 'abc',
    'str_escapes': 'a\\b\nc\r\x00\x1a\u20ac\U0001F600\udc80',
    'str_300': 'x' * 300,
    'str_70000': 's' * 70000,
    'bytes_empty': b'',
    'bytes_abc': b'abc\xff',
    'bytes_300': b'y' * 300,
    'bytes_70000': b'b' * 70000,
    'bytearray_ab': bytearray(b'ab'),
    'bytearray_empty': bytearray(),
    'tuple_0': (),
    'tuple_1': (1,),
    'tuple_2': (1, 2),
    'tuple_3': (1, 2, 3),
    'tuple_4': (1, 2, 3, 4),
    'tuple_str_shared': ('x', 'x'),
    'list_0': [],
    'list_1': [1],
    'list_2': [1, 2],
    'list_nested': [[1], [2, [3]]],
    'list_1001': list(range(1001)),
    'list_20000': [[i, str(i)] for i in range(20000)],
    'dict_0': {},
    'dict_1': {'a': 1},
    'dict_2': {'a': 1, 'b': 2},
    'dict_1000': {i: None for i in range(1000)},
    'set_0': set(),
    'set_2': {1, 2},
    'set_1000': set(range(1000)),
    'frozenset_0': frozenset(),
    'frozenset_1': frozenset({1}),
    'shared_list': shared(),
    'cyclic_list': cyclic_list(),
    'cyclic_dict': cyclic_dict(),
    'cyclic_tuple': cyclic_tuple(),
    'global': collections.OrderedDict,
    'global_nested': Outer.Inner,
    'obj_decimal': decimal.Decimal('1.5'),
    'obj_date': datetime.date(2020, 1, 2),
    'obj_plain': plain(a=1, b=[2]),
    'obj_plain_empty': Plain(),
}


def encode(data):
    # Large pickles are kept as a digest to keep this file small.
    if len(data) > 2048:
        return 'sha256:%s:%d' % (hashlib.sha256(data).hexdigest(), len(data))
    return data.hex()


out = {}
for name, value in CASES.items():
    out[name] = {str(p): encode(pickle.dumps(value, p)) for p in range(6)}
json.dump({'python': sys.version.split()[0], 'cases': out}, sys.stdout, indent=1, sort_keys=True)
print()
