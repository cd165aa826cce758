"""Python side of conn's load tests (load_test.go). Standard library only;
Python 2.7 and 3.6+.

Every client runs the same exchange, message after message, over one
connection:

  even message i:  send((cid, i, text, crc32(text as UTF-8), MIXED))
                   and expect back [cid, i, crc]; the receiver checks MIXED
                   (Go's clients send it without 't')
  odd message i:   send_bytes(pack('!III', cid, i, crc32(payload)) + payload)
                   and expect back the same bytes

text is random ASCII with some non-ASCII letters, payload random bytes; both
vary in size. A peer that finds a checksum or an answer wrong counts an error.

  python load_peer.py clients ADDR KEYHEX FIRST_CID N SECONDS
      N threads, client ids FIRST_CID.., each a Client(ADDR, authkey) running
      the exchange for SECONDS; prints one JSON line:
      {"clients": N, "messages": M, "bytes": B, "errors": E, "first_error": S,
       "per_client": {cid: messages}, "maxrss_kb": K}
  python load_peer.py listen KEYHEX
      Listener(('127.0.0.1', 0), authkey, backlog=256); prints {"addr": A};
      answers every connection as above, one thread each; at the end of
      stdin, which holds the number of clients the test ran, waits for that
      many connections to end and prints {"connections": C, "messages": M, "bytes": B, "errors": E,
      "first_error": S, "per_client": {cid: messages}, "maxrss_kb": K}.
"""
import binascii
import json
import os
import random
import resource
import struct
import sys
import threading
import time
import zlib

from multiprocessing import connection as mpc

LETTERS = u'abcdefghijklmnopqrstuvwxyz0123456789 ' + u'\xe9\u20ac\u4e2d'
MIXED = {u's': u'h\xe9llo', u'f': 1.5, u'l': [1, None, True, False], u'big': 2 ** 70, u't': (7, u'x')}
# What load_test.go's Go clients send in MIXED's place: the same less 't'.
GO_MIXED = dict((k, v) for k, v in MIXED.items() if k != u't')


def crc(b):
    return zlib.crc32(b) & 0xffffffff


def sizes(rng):
    # Mostly small, sometimes large: as a real mix of messages would be.
    r = rng.random()
    if r < 0.8:
        return rng.randint(0, 512)
    if r < 0.98:
        return rng.randint(512, 16 << 10)
    return rng.randint(16 << 10, 256 << 10)


def random_text(rng, n):
    return u''.join(rng.choice(LETTERS) for _ in range(n // 8 + 1)) * 8


def maxrss_kb():
    # VmHWM is this process image's own peak; ru_maxrss would also count the
    # parent's memory from before exec.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except (IOError, OSError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Tally(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = 0
        self.bytes = 0
        self.errors = 0
        self.first_error = u''
        self.per_client = {}

    def add(self, cid, nbytes):
        with self.lock:
            self.messages += 1
            self.bytes += nbytes
            self.per_client[cid] = self.per_client.get(cid, 0) + 1

    def error(self, msg):
        with self.lock:
            self.errors += 1
            if not self.first_error:
                self.first_error = msg

    def summary(self, **extra):
        d = {'messages': self.messages, 'bytes': self.bytes, 'errors': self.errors,
             'first_error': self.first_error,
             'per_client': dict((str(k), v) for k, v in self.per_client.items()),
             'maxrss_kb': maxrss_kb()}
        d.update(extra)
        return d


def client(addr, key, cid, deadline, tally):
    rng = random.Random(cid)
    try:
        c = mpc.Client(addr, authkey=key)
    except Exception as e:
        tally.error('connect %d: %r' % (cid, e))
        return
    i = 0
    try:
        while time.time() < deadline:
            n = sizes(rng)
            if i % 2 == 0:
                text = random_text(rng, n)
                sum_ = crc(text.encode('utf-8'))
                c.send((cid, i, text, sum_, MIXED))
                got = c.recv()
                if list(got) != [cid, i, sum_]:
                    tally.error('client %d message %d: answer %r' % (cid, i, got))
                    return
                tally.add(cid, len(text))
            else:
                payload = os.urandom(n)
                msg = struct.pack('!III', cid, i, crc(payload)) + payload
                c.send_bytes(msg)
                if c.recv_bytes() != msg:
                    tally.error('client %d message %d: echo differs' % (cid, i))
                    return
                tally.add(cid, len(msg))
            i += 1
    except Exception as e:
        tally.error('client %d message %d: %r' % (cid, i, e))
    finally:
        c.close()


def serve(c, tally):
    i = 0
    try:
        while True:
            if i % 2 == 0:
                try:
                    obj = c.recv()
                except EOFError:
                    return
                cid, seq, text, sum_ = obj[0], obj[1], obj[2], obj[3]
                if seq != i or crc(text.encode('utf-8')) != sum_:
                    tally.error('server: client %d message %d (expected %d): bad checksum or order' % (cid, seq, i))
                    return
                if obj[4] != GO_MIXED or [type(x) for x in obj[4][u'l']] != [int, type(None), bool, bool]:
                    tally.error('server: client %d message %d: MIXED is %r' % (cid, seq, obj[4]))
                    return
                c.send([cid, seq, sum_])
                tally.add(cid, len(text))
            else:
                try:
                    msg = c.recv_bytes()
                except EOFError:
                    return  # a client may stop after any message
                cid, seq, sum_ = struct.unpack('!III', msg[:12])
                if seq != i or crc(msg[12:]) != sum_:
                    tally.error('server: client %d message %d (expected %d): bad checksum or order' % (cid, seq, i))
                    return
                c.send_bytes(msg)
                tally.add(cid, len(msg))
            i += 1
    except Exception as e:
        tally.error('server: message %d: %r' % (i, e))
    finally:
        c.close()


def main():
    mode = sys.argv[1]
    if mode == 'clients':
        host, port = sys.argv[2].rsplit(':', 1)
        addr = (host, int(port))
        key = binascii.unhexlify(sys.argv[3].encode('ascii'))
        first, n, seconds = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        tally = Tally()
        deadline = time.time() + seconds  # one for all: late connections send less
        threads = [threading.Thread(target=client, args=(addr, key, first + k, deadline, tally)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sys.stdout.write(json.dumps(tally.summary(clients=n)) + '\n')
    elif mode == 'listen':
        key = binascii.unhexlify(sys.argv[2].encode('ascii'))
        listener = mpc.Listener(('127.0.0.1', 0), authkey=key, backlog=256)
        sys.stdout.write(json.dumps({'addr': '%s:%d' % listener.address}) + '\n')
        sys.stdout.flush()
        tally = Tally()
        conns = []
        lock = threading.Lock()

        def accept_loop():
            while True:
                try:
                    c = listener.accept()
                except Exception:
                    return  # closed
                t = threading.Thread(target=serve, args=(c, tally))
                t.daemon = True
                t.start()
                with lock:
                    conns.append(t)

        acceptor = threading.Thread(target=accept_loop)
        acceptor.daemon = True
        acceptor.start()
        # The test writes how many clients it ran, then closes stdin. The
        # last handshakes may still be under way here: wait for them.
        expected = int(sys.stdin.read().strip() or 0)
        give_up = time.time() + 30
        while time.time() < give_up:
            with lock:
                if len(conns) >= expected:
                    break
            time.sleep(0.01)
        with lock:
            threads = list(conns)
        for t in threads:
            t.join(10)
        sys.stdout.write(json.dumps(tally.summary(connections=len(threads))) + '\n')
        sys.stdout.flush()
        os._exit(0)  # the acceptor may still block in accept
    sys.stdout.flush()


if __name__ == '__main__':
    main()
