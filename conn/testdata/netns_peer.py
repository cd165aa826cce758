"""Python side of conn's test across network namespaces (netns_test.go):
a Client or a Listener over TCP with an authkey, on another "host". Standard
library only; Python 2.7 and 3.6+.

  python netns_peer.py client HOST:PORT KEYHEX
      Client((HOST, PORT), authkey); sends every message of MESSAGES (objects
      with send, bytes with send_bytes), expects each back unchanged (the Go
      side echoes the raw bodies), then closes. Prints how many went and
      came back and the address it connected from, {"ok": true, "n": N,
      "local": IP}, or {"ok": false, "error": S}.
  python netns_peer.py listen HOST KEYHEX
      Listener((HOST, 0), authkey); prints {"addr": "HOST:PORT"}; accepts one
      connection and echoes every body until the peer closes; prints
      {"ok": true, "n": N} or {"ok": false, "error": S}.
"""
import binascii
import json
import socket
import sys

from multiprocessing import connection as mpc

MESSAGES = [
    ('obj', {u'n': [1, 2, 3], u's': u'h\xe9llo', u'big': 2 ** 70, u't': (1.5, None, True)}),
    ('bytes', b''),
    ('bytes', b'\x00\xff' * 50000),  # many segments over the veth link
    ('obj', [u'x' * 70000, b'y' * 5]),
    ('bytes', bytes(bytearray(range(256))) * 16),
]


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def main():
    mode, addr, key = sys.argv[1], sys.argv[2], binascii.unhexlify(sys.argv[3].encode('ascii'))
    try:
        if mode == 'client':
            host, port = addr.rsplit(':', 1)
            c = mpc.Client((host, int(port)), authkey=key)
            s = socket.fromfd(c.fileno(), socket.AF_INET, socket.SOCK_STREAM)
            local = s.getsockname()[0]
            s.close()
            for kind, m in MESSAGES:
                if kind == 'obj':
                    c.send(m)
                    got = c.recv()
                else:
                    c.send_bytes(m)
                    got = c.recv_bytes()
                if got != m:
                    raise AssertionError('echo of %s differs' % kind)
            c.close()
            out({'ok': True, 'n': len(MESSAGES), 'local': local})
        else:
            l = mpc.Listener((addr, 0), authkey=key)
            out({'addr': '%s:%d' % l.address})
            c = l.accept()
            n = 0
            while True:
                try:
                    b = c.recv_bytes()
                except EOFError:
                    break
                c.send_bytes(b)
                n += 1
            c.close()
            l.close()
            out({'ok': True, 'n': n})
    except Exception as e:
        out({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)})


if __name__ == '__main__':
    main()
