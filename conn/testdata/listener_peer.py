"""Python side of conn's Listener/Client tests: standard library only, runs on
Python 2.7 and 3.6+.

One process serves many cases. Each line on stdin is a JSON command; each
answer is one JSON line on stdout. Addresses travel in pipebridge's Go form
("host:port", "[::1]:port", "/path", "@abstract").

  {"op": "connect", "addr": A, "key": HEX|null}
      Client(A, authkey=key), then the exchange; prints the result.
  {"op": "listen", "family": "tcp"|"tcp6"|"unix"|"abstract", "key": HEX|null,
   "digest": NAME|null}
      Listener(...); prints {"addr": A}; accepts one connection and runs the
      exchange; prints the result. With a digest (Python 3.12+ only), the
      handshake is run by hand with deliver_challenge(c, key, digest) and
      answer_challenge(c, key), to make Go answer that digest.
  {"op": "swarm", "addr": A, "key": HEX|null, "clients": N, "count": M}
      N threads each connect, send M tuples (i, j), then receive M echoes
      and check them; prints {"ok": true, "sent": N*M, "received": N*M}.

A result is {"ok": true} or {"ok": false, "error": CLASS, "msg": REPR}.
"""
import binascii
import json
import os
import sys
import threading
import traceback

from multiprocessing import AuthenticationError
from multiprocessing import connection as mpc

PY2 = sys.version_info[0] == 2

# What Go sends first: ["h\u00e9llo", 42, {"k": [1, 2]}, Bytes("\x00\x01")].
# Go encodes pickle protocol 2 for Python 2.7, where a Go string arrives as a
# UTF-8 str and bytes as str.
if PY2:
    FROM_GO = [u'h\xe9llo', 42, {'k': [1, 2]}, '\x00\x01']
else:
    FROM_GO = ['h\u00e9llo', 42, {'k': [1, 2]}, b'\x00\x01']

# What Python sends last; the Go test knows it too.
FROM_PY = [u'py', sys.version_info[0], {u'n': [1, 2, 3]}, b'\xff\x00', u'w\u00f6rld']


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def to_python(addr):
    if PY2:
        addr = addr.encode('utf-8')  # 2.7's address_type wants str, not unicode
    if addr.startswith('@'):
        return '\0' + addr[1:]
    if addr.startswith('/'):
        return addr
    host, port = addr.rsplit(':', 1)
    if host.startswith('['):
        host = host[1:-1]
    return (host, int(port))


def to_go(addr):
    if isinstance(addr, tuple):
        host, port = addr[0], addr[1]
        if ':' in host:
            return '[%s]:%d' % (host, port)
        return '%s:%d' % (host, port)
    if not isinstance(addr, str):  # Python 3 reports abstract names as bytes
        addr = addr.decode('latin-1')
    if addr.startswith('\0'):
        return '@' + addr[1:]
    return addr


def key_of(cmd):
    if cmd.get('key') is None:
        return None
    return binascii.unhexlify(cmd['key'].encode('ascii'))


def failure(e):
    return {'ok': False, 'error': type(e).__name__, 'msg': repr(e)}


def same(a, b):
    """a == b, types included: == alone takes True or 1.0 for 1, and in
    Python 2 a unicode for an ASCII str, so a wrong type from Go would pass."""
    if type(a) is not type(b):
        return False
    if isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return sorted(a.keys()) == sorted(b.keys()) and all(same(a[k], b[k]) for k in b)
    return a == b


def exchange(c):
    """The conversation after the handshake; Go plays the other half."""
    if not c.poll(10):
        raise RuntimeError('nothing from Go within 10 s')
    got = c.recv()
    if not same(got, FROM_GO):
        c.send(['mismatch', repr(got)])
        raise RuntimeError('unexpected object from Go: %r' % (got,))
    c.send([u'ok', got[1]])
    if not c.poll(10):
        raise RuntimeError('no bytes from Go within 10 s')
    b = c.recv_bytes()
    c.send_bytes(b[::-1])
    c.send(FROM_PY)
    if not c.poll(10):
        raise RuntimeError('no goodbye from Go within 10 s')
    if c.recv() != 'bye':
        raise RuntimeError('bad goodbye')


def do_connect(cmd):
    try:
        c = mpc.Client(to_python(cmd['addr']), authkey=key_of(cmd))
    except Exception as e:
        return failure(e)
    try:
        exchange(c)
        return {'ok': True}
    except Exception as e:
        return failure(e)
    finally:
        c.close()


_abstract_counter = [0]


def do_listen(cmd):
    family = cmd['family']
    key = key_of(cmd)
    digest = cmd.get('digest')
    authkey = None if digest else key
    if family == 'tcp':
        l = mpc.Listener(('127.0.0.1', 0), authkey=authkey)
    elif family == 'tcp6':
        l = mpc.Listener(('::1', 0), family='AF_INET6', authkey=authkey)
    elif family == 'unix':
        l = mpc.Listener(None, 'AF_UNIX', authkey=authkey)
    else:
        _abstract_counter[0] += 1
        l = mpc.Listener('\0pipebridge-py-%d-%d' % (os.getpid(), _abstract_counter[0]),
                         authkey=authkey)
    try:
        out({'addr': to_go(l.address)})
        try:
            c = l.accept()
            if digest:
                mpc.deliver_challenge(c, key, digest)
                mpc.answer_challenge(c, key)
        except Exception as e:
            return failure(e)
        try:
            exchange(c)
            return {'ok': True}
        except Exception as e:
            return failure(e)
        finally:
            c.close()
    finally:
        try:
            l.close()
        except Exception:
            pass  # 2.7-3.7 try to unlink an abstract name


def do_swarm(cmd):
    addr = to_python(cmd['addr'])
    key = key_of(cmd)
    count = cmd['count']
    errors = []
    totals = {'sent': 0, 'received': 0}
    lock = threading.Lock()

    def client(i):
        try:
            c = mpc.Client(addr, authkey=key)
            try:
                for j in range(count):
                    c.send((i, j))
                for j in range(count):
                    if not c.poll(20):
                        raise RuntimeError('client %d: no echo %d within 20 s' % (i, j))
                    got = c.recv()
                    if got != (i, j):
                        raise RuntimeError('client %d: echo %d is %r' % (i, j, got))
                with lock:
                    totals['sent'] += count
                    totals['received'] += count
            finally:
                c.close()
        except Exception as e:
            with lock:
                errors.append(traceback.format_exc())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(cmd['clients'])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        return {'ok': False, 'error': 'swarm', 'msg': errors[0], 'failed': len(errors)}
    return {'ok': True, 'sent': totals['sent'], 'received': totals['received']}


def main():
    ops = {'connect': do_connect, 'listen': do_listen, 'swarm': do_swarm}
    out({'ready': True, 'version': list(sys.version_info[:3])})
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = json.loads(line)
        try:
            res = ops[cmd['op']](cmd)
        except Exception as e:
            res = failure(e)
        res['id'] = cmd.get('id')
        out(res)


if __name__ == '__main__':
    main()
