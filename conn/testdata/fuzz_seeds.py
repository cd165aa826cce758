"""Record what CPython writes on a multiprocessing connection, as seed corpora
for conn's fuzz targets. Standard library only; Python 2.7 and 3.6+.

    python fuzz_seeds.py OUTDIR [--large]     (OUTDIR is conn/testdata/fuzz)

writes, for the interpreter that runs it (X.Y below):

  FuzzFrameReader/python-X.Y-send
      the bytes Connection.send writes for a list of objects of every kind,
      then send_bytes of small bodies; and with --large, -send-bytes-large
      with bodies around the 16 KiB at which CPython splits header and body
      into two writes (the same bytes from every version: record it once).
  FuzzFrameReader/python-X.Y-handshake-{client,listener}
      what Client and Listener write during the authentication handshake.
  FuzzHandshake/python-X.Y-{client,listener}
      the same handshake bytes as a fuzzPeer script (see fuzz_test.go): the
      recorded frames written raw (op 0), with a wait for Go (op 2) wherever
      CPython waited for the other side.

The send seeds are deterministic (TestFuzzSeedsMatchPython checks them
against every interpreter); the handshake ones carry fresh random challenges
each time. testdata/fuzz.sh seeds runs this for every interpreter.
"""
import collections
import os
import socket
import struct
import sys
import threading

PY2 = sys.version_info[0] == 2

from multiprocessing import connection as mpc

if PY2:
    from _multiprocessing import Connection
else:
    Connection = mpc.Connection

VERSION = '%d.%d' % sys.version_info[:2]
KEY = b'pipebridge fuzz seed key'

Point = collections.namedtuple('Point', 'x y')


def objects():
    return [
        None, True, False, 0, 1, -1, 255, 65535, 2 ** 31, -2 ** 31 - 1, 2 ** 64, 2 ** 70,
        1.5, float('inf'), -0.0,
        u'', u'h\xe9llo \u20ac', b'', b'\x00\xff',
        [], [1, [2, [3]]], (), (1, u'two', 3.0), {}, {u'a': 1, u'b': [b'x', None]},
        set([1, 2]), frozenset([3]), bytearray(b'ba'), Point(1, 2),
    ]


def go_literal(b):
    """b as a Go interpreted string literal."""
    if not isinstance(b, (bytes, bytearray)):
        raise TypeError(b)
    out = []
    for c in bytearray(b):
        if 32 <= c < 127 and c not in (ord('"'), ord('\\')):
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return '"' + ''.join(out) + '"'


def write_corpus(outdir, target, name, values):
    """values: a list of ('bytes', b) or ('byte', n), in the fuzz function's
    argument order."""
    d = os.path.join(outdir, target)
    if not os.path.isdir(d):
        os.makedirs(d)
    lines = ['go test fuzz v1']
    for kind, v in values:
        if kind == 'bytes':
            lines.append('[]byte(%s)' % go_literal(v))
        else:
            lines.append("byte('\\x%02x')" % v)
    with open(os.path.join(d, name), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def drain(sock, out):
    while True:
        b = sock.recv(65536)
        if not b:
            return
        out.append(b)


def record_send():
    a, b = socket.socketpair()
    c = Connection(os.dup(a.fileno()))
    a.close()
    got = []
    t = threading.Thread(target=drain, args=(b, got))
    t.start()
    for obj in objects():
        c.send(obj)
    for body in (b'', b'x', b'\x00' * 4, bytes(bytearray(range(256)))):
        c.send_bytes(body)
    c.close()
    t.join()
    b.close()
    return b''.join(got)


def record_send_large():
    a, b = socket.socketpair()
    c = Connection(os.dup(a.fileno()))
    a.close()
    got = []
    t = threading.Thread(target=drain, args=(b, got))
    t.start()
    block = bytes(bytearray(range(256)))
    for n in (16384, 16385):
        c.send_bytes((block * (n // 256 + 1))[:n])
    c.close()
    t.join()
    b.close()
    return b''.join(got)


class Relay(object):
    """A TCP relay between a Client and a Listener that records each
    direction, split into the frames each side wrote."""

    def __init__(self, target):
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1)
        self.address = self.sock.getsockname()
        self.to_listener = []
        self.to_client = []
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        client, _ = self.sock.accept()
        listener = socket.create_connection(self.target)
        ts = [threading.Thread(target=self.pump, args=(client, listener, self.to_listener)),
              threading.Thread(target=self.pump, args=(listener, client, self.to_client))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        client.close()
        listener.close()
        self.sock.close()

    def pump(self, src, dst, out):
        while True:
            b = src.recv(65536)
            if not b:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except socket.error:
                    pass
                return
            out.append(b)
            dst.sendall(b)


def frames(data):
    """Split a recorded stream into its frames, header included."""
    out = []
    while data:
        n, = struct.unpack('!i', data[:4])
        out.append(data[:4 + n])
        data = data[4 + n:]
    return out


def record_handshake():
    listener = mpc.Listener(('127.0.0.1', 0), authkey=KEY)
    result = {}

    def accept():
        c = listener.accept()
        c.send_bytes(b'after')  # one message after the handshake, then done
        c.close()

    t = threading.Thread(target=accept)
    t.start()
    relay = Relay(listener.address)
    c = mpc.Client(relay.address, authkey=KEY)
    assert c.recv_bytes() == b'after'
    c.close()
    t.join()
    relay.thread.join()
    listener.close()
    result['client'] = frames(b''.join(relay.to_listener))
    result['listener'] = frames(b''.join(relay.to_client))
    return result


def script(recorded, waits_before):
    """A fuzzPeer script: each recorded frame raw (op 0, at most 255 bytes a
    piece), after the number of waits for Go (op 2) that waits_before gives
    for it."""
    out = bytearray()
    for i, fr in enumerate(recorded):
        out += bytearray([2]) * waits_before[i]
        fr = bytearray(fr)
        while fr:
            piece, fr = fr[:255], fr[255:]
            out += bytearray([0, len(piece)]) + piece
    return bytes(out)


def main():
    outdir = sys.argv[1]
    name = 'python-' + VERSION
    write_corpus(outdir, 'FuzzFrameReader', name + '-send',
                 [('bytes', record_send()), ('bytes', b''), ('byte', 0)])
    if '--large' in sys.argv[2:]:
        write_corpus(outdir, 'FuzzFrameReader', name + '-send-bytes-large',
                     [('bytes', record_send_large()), ('bytes', b''), ('byte', 0)])
    hs = record_handshake()
    # What the Client writes: its response, its own challenge, the welcome;
    # the last frame ('after') is the Listener's, so it is not in here.
    client, listener = hs['client'], hs['listener']
    assert len(client) == 3 and len(listener) == 4, (len(client), len(listener))
    legacy = len(client[0]) == 4 + 16  # a raw HMAC-MD5 response
    write_corpus(outdir, 'FuzzFrameReader', name + '-handshake-client',
                 [('bytes', b''.join(client)), ('bytes', b''), ('byte', 0)])
    write_corpus(outdir, 'FuzzFrameReader', name + '-handshake-listener',
                 [('bytes', b''.join(listener)), ('bytes', b''), ('byte', 0)])
    # Go as the Listener (role 0; 4 accepts the legacy response too): the
    # Client waits for the challenge, for the welcome, and for Go's response.
    write_corpus(outdir, 'FuzzHandshake', name + '-client',
                 [('byte', 4 if legacy else 0), ('bytes', script(client, [1, 1, 1]))])
    # Go as the Client (role 1): the Listener's challenge first, then a wait
    # for Go's response, the verdict, a wait for Go's challenge, its
    # response, a wait for the verdict; then its first message.
    write_corpus(outdir, 'FuzzHandshake', name + '-listener',
                 [('byte', 1), ('bytes', script(listener, [0, 1, 1, 1]))])


if __name__ == '__main__':
    main()
