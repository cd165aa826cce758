"""Python side of cmd/pipebridge's tests: standard library only, runs on
Python 2.7 and 3.6+.

usage: pypeer.py MODE, with a JSON configuration on the first line of stdin.
Addresses travel in pipebridge's form ("host:port", "/path", "@abstract");
keys as hex, or null for no key. Each result is one JSON line on stdout,
{"ok": true} or {"ok": false, "errors": [...]}.

  clients    {"cases": [{"addr", "key", "expect": "ok"|"auth", "threads": N,
                         "mode": "objects"|"bytes"|"proto2", "sweep": bool}]}
             For each case in turn: N clients connect at once to a
             `pipebridge echo --listen` and check its echoes; "auth" expects
             AuthenticationError. One result line for all cases.
  listeners  {"cases": [{"family": "tcp"|"unix"|"abstract", "key", "mode"}]}
             For each case: listen, print {"addr": A}, accept one
             `pipebridge echo --dial A`, check its echoes, close; print the
             case's result.
  service    {"family", "key", "greeting", "expected": [EXPR...]}
             Listen, print {"addr": A}, accept one connection, send the
             greeting, then for each EXPR receive an object, check it equals
             eval(EXPR) (types too), and send it back; close.
  client     {"addr", "key", "wrongkey": bool, "send": [EXPR...],
              "expected": [EXPR...]}
             If wrongkey, first connect with a wrong key and expect
             AuthenticationError. Connect; send eval(EXPR) for each of send;
             receive one object per expected EXPR and check it; close.
"""
import binascii
import collections
import datetime
import fractions
import json
import math
import os
import pickle
import pickletools
import sys
import threading
import time
import traceback

from multiprocessing import AuthenticationError
from multiprocessing import connection as mpc

PY2 = sys.version_info[0] == 2
if PY2:
    integer_types = (int, long)  # noqa: F821
else:
    integer_types = (int,)


class Point(object):
    """A class of this module: echo re-encodes its instances as *Object."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    def __ne__(self, other):
        return not self == other


def corpus():
    """What the clients send through echo, every type of the model."""
    return [
        None, True, False, 0, -1, 2 ** 31, -2 ** 63, 2 ** 100, -(2 ** 70),
        1.5, -0.0, float('inf'), float('nan'), 1e300, complex(1, -2),
        u'', u'h\u00e9llo \u2603 \U0001f600', b'', b'\x00\xff bytes',
        bytearray(b'\x01\x02'), [], [1, [2, [3]]], (), (1,), (1, u'two', 3.0),
        {}, {u'a': 1, u'b': [1, 2]}, {1: u'one', (1, 2): None},
        set(), set([1, 2, 3]), frozenset(), frozenset([u'x']),
        collections.OrderedDict([(u'z', 1), (u'a', 2)]),
        datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
        fractions.Fraction(1, 3), Point(1, u'y'),
        [u'shared', u'shared'], {u'nested': {u'deeper': [(), set([1])]}},
    ]


def same(a, b):
    """Equality that also checks types, treats NaN as equal to NaN and -0.0
    as different from 0.0."""
    if isinstance(a, integer_types) and isinstance(b, integer_types) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b  # Python 2: int and long are one type for us
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not same(v, b[k]):
                return False
        return list(a.keys()) == list(b.keys()) if isinstance(a, collections.OrderedDict) else True
    return a == b


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def to_python(addr):
    if PY2:
        addr = addr.encode('utf-8')  # 2.7's address_type wants str
    if addr.startswith('@'):
        return '\0' + addr[1:]
    if addr.startswith('/'):
        return addr
    host, port = addr.rsplit(':', 1)
    return (host.strip('[]'), int(port))


def to_go(addr):
    if isinstance(addr, tuple):
        return '%s:%d' % (addr[0], addr[1])
    if not isinstance(addr, str):  # Python 3 reports abstract names as bytes
        addr = addr.decode('latin-1')
    if addr.startswith('\0'):
        return '@' + addr[1:]
    return addr


def key_of(hexkey):
    if hexkey is None:
        return None
    return binascii.unhexlify(hexkey.encode('ascii'))


def recv(c, what):
    if not c.poll(15):
        raise RuntimeError('nothing within 15 s: %s' % what)
    return c.recv()


def recv_bytes(c, what):
    if not c.poll(15):
        raise RuntimeError('nothing within 15 s: %s' % what)
    return c.recv_bytes()


def min_protocol(body):
    """The highest protocol among the opcodes of a pickle."""
    return max(op.proto for op, _, _ in pickletools.genops(body))


def check_echo_objects(c, tag, errors, sweep=True):
    """Send the corpus with send(), then (if sweep) as pickles of every
    protocol with send_bytes(): each echo must be equal, and in the protocol
    it went out."""
    for i, v in enumerate(corpus()):
        c.send(v)
        back = recv(c, '%s: echo of %r' % (tag, v))
        if not same(v, back):
            errors.append('%s: sent %r, echo %r' % (tag, v, back))
    for proto in range(pickle.HIGHEST_PROTOCOL + 1 if sweep else 0):
        for v in corpus():
            c.send_bytes(pickle.dumps(v, proto))
            body = recv_bytes(c, '%s: protocol %d echo of %r' % (tag, proto, v))
            back = pickle.loads(body)
            if not same(v, back):
                errors.append('%s: protocol %d: sent %r, echo %r' % (tag, proto, v, back))
            if proto >= 2 and body[:2] != b'\x80' + bytearray([proto]):
                errors.append('%s: sent protocol %d, echo starts %r' % (tag, proto, body[:2]))
            elif proto < 2 and min_protocol(body) > proto:
                errors.append('%s: sent protocol %d, echo uses protocol %d' % (tag, proto, min_protocol(body)))


def check_echo_bytes(c, tag, errors, sweep=False):
    for n in (0, 1, 5, 1000, 70000):
        body = bytes(bytearray((i * 7 + n) % 256 for i in range(n)))
        c.send_bytes(body)
        if recv_bytes(c, tag) != body:
            errors.append('%s: %d bytes came back different' % (tag, n))


def check_echo_proto2(c, tag, errors, sweep=False):
    for v in corpus():
        c.send_bytes(pickle.dumps(v, pickle.HIGHEST_PROTOCOL))
        body = recv_bytes(c, tag)
        if body[:2] != b'\x80\x02':
            errors.append('%s: echo not at protocol 2: %r' % (tag, body[:2]))
        elif not same(v, pickle.loads(body)):
            errors.append('%s: sent %r, echo %r' % (tag, v, pickle.loads(body)))


CHECKS = {'objects': check_echo_objects, 'bytes': check_echo_bytes, 'proto2': check_echo_proto2}


class Gate(object):
    """threading.Barrier for Python 2.7: wait until n threads arrive."""

    def __init__(self, n):
        self.n, self.cond = n, threading.Condition()

    def wait(self, timeout):
        with self.cond:
            self.n -= 1
            self.cond.notify_all()
            end = time.time() + timeout
            while self.n > 0:
                left = end - time.time()
                if left <= 0:
                    raise RuntimeError('not every client got its first echo: served one at a time?')
                self.cond.wait(left)


def run_case(case, errors):
    addr, key = to_python(case['addr']), key_of(case['key'])
    tag = '%s %s' % (case['addr'], case['expect'])
    if case['expect'] == 'auth':
        try:
            c = mpc.Client(addr, authkey=key + b'-wrong')
        except AuthenticationError:
            return
        except Exception as e:
            errors.append('%s: expected AuthenticationError, got %r' % (tag, e))
            return
        c.close()
        errors.append('%s: a wrong key was accepted' % tag)
        return
    n = case['threads']
    gate = Gate(n)
    lock = threading.Lock()

    def client(i):
        mine = []
        try:
            c = mpc.Client(addr, authkey=key)
            try:
                # Everyone holds a connection and has had an echo before
                # anyone goes on: the server serves them at once.
                c.send(i)
                if recv(c, 'first echo') != i:
                    mine.append('%s: bad first echo' % tag)
                gate.wait(15)
                # One client sweeps the protocols; that is about the codec,
                # not the transport.
                CHECKS[case['mode']](c, '%s client %d' % (tag, i), mine, case.get('sweep') and i == 0)
            finally:
                c.close()
        except Exception:
            mine.append('%s client %d: %s' % (tag, i, traceback.format_exc()))
        with lock:
            errors.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def do_clients(cfg):
    errors = []
    for case in cfg['cases']:
        run_case(case, errors)
    out({'ok': not errors, 'errors': errors})


_counter = [0]


def listener(family, key):
    if family == 'tcp':
        return mpc.Listener(('127.0.0.1', 0), authkey=key)
    if family == 'unix':
        return mpc.Listener(None, 'AF_UNIX', authkey=key)
    _counter[0] += 1
    return mpc.Listener('\0pipebridge-cmd-test-%d-%d' % (os.getpid(), _counter[0]), authkey=key)


def close_listener(l):
    try:
        l.close()
    except Exception:
        pass  # 2.7-3.7 try to unlink an abstract name


def do_listeners(cfg):
    for case in cfg['cases']:
        errors = []
        l = listener(case['family'], key_of(case['key']))
        try:
            out({'addr': to_go(l.address)})
            c = l.accept()
            try:
                CHECKS[case['mode']](c, case['family'], errors)
            except Exception:
                errors.append(traceback.format_exc())
            finally:
                c.close()
        finally:
            close_listener(l)
        out({'ok': not errors, 'errors': errors})


def evaluate(expr):
    # True and False are names in Python 2.
    return eval(expr, {'__builtins__': {}, 'True': True, 'False': False, 'float': float,
                       'set': set, 'frozenset': frozenset, 'bytearray': bytearray,
                       'complex': complex})


def do_service(cfg):
    errors = []
    l = listener(cfg['family'], key_of(cfg['key']))
    try:
        out({'addr': to_go(l.address)})
        c = l.accept()
        try:
            c.send(cfg['greeting'])
            for expr in cfg['expected']:
                want = evaluate(expr)
                got = recv(c, expr)
                if not same(want, got):
                    errors.append('expected %s, got %r' % (expr, got))
                c.send(got)
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            c.close()
    finally:
        close_listener(l)
    out({'ok': not errors, 'errors': errors})


def do_client(cfg):
    errors = []
    addr, key = to_python(cfg['addr']), key_of(cfg['key'])
    if cfg.get('wrongkey'):
        try:
            mpc.Client(addr, authkey=key + b'-wrong').close()
            errors.append('a wrong key was accepted')
        except AuthenticationError:
            pass
    try:
        c = mpc.Client(addr, authkey=key)
        try:
            for expr in cfg['send']:
                c.send(evaluate(expr))
            for expr in cfg['expected']:
                want = evaluate(expr)
                got = recv(c, expr)
                if not same(want, got):
                    errors.append('expected %s, got %r' % (expr, got))
        finally:
            c.close()
    except Exception:
        errors.append(traceback.format_exc())
    out({'ok': not errors, 'errors': errors})


def main():
    cfg = json.loads(sys.stdin.readline())
    {'clients': do_clients, 'listeners': do_listeners,
     'service': do_service, 'client': do_client}[sys.argv[1]](cfg)


if __name__ == '__main__':
    main()
