"""Python side of conn's fault tests (fault_test.go): peers that die, stall,
half-close or stop reading. Standard library only; Python 2.7 and 3.6+.

One process per interpreter serves every case: each line on stdin is a JSON
command, and for each the process forks a child that plays the peer, so the
test can SIGKILL that child at the moment the command names without paying
for a new interpreter. Only the child opens the connection, so killing it
closes the connection as a crash would. Every line a child prints is a JSON
object carrying its "pid".

Commands (addresses in pipebridge's Go form, "host:port" or "/path"; keys
hex or null):

  {"op": "frame", "addr": A, "cut": C, "key": K, "echo": BOOL}
      Client(A, authkey=K); send_bytes(b'first') (and with echo, receive
      the peer's answer); then write the start of a second
      frame by hand and stop: C is "between" (nothing more), "header" (2 of
      its 4 header bytes) or "body" (its header, claiming 100000 bytes, and
      1000 of them). Prints {"ready": true} and sleeps until killed.
  {"op": "client", "addr": A, "key": K, "stage": S}
      Client(A, authkey=K), stopping inside the handshake at stage S (see
      STAGES); prints {"ready": true} there and sleeps until killed.
  {"op": "listen", "addr": A, "key": K, "stage": S}
      Listener(A, authkey=K); prints {"addr": A}; accepts one connection,
      stopping inside its handshake at stage S; prints {"ready": true} and
      sleeps until killed.
  {"op": "recv", "addr": A}
      Client(A); prints {"ready": true}; blocks in recv() and prints
      {"result": CLASS, "msg": STR, "elapsed": SECONDS} when it returns or
      raises, then exits.
  {"op": "halfclose", "addr": A, "count": N}
      Client(A); sends the strings "m0".."m(N-1)"; shuts down its write side
      (SHUT_WR); then receives one object and prints {"result": "ok",
      "got": OBJ}; then exits.
  {"op": "readhalf", "addr": A}
      Client(A); receives until the peer's write side ends (EOFError), then
      sends "after-eof" and prints {"result": CLASS, "received": N}; exits.
  {"op": "stall", "addr": A}
      Client(A); prints {"ready": true}; never reads; sleeps until killed.

EOF on stdin makes the process kill what children remain and exit.
"""
import binascii
import json
import os
import signal
import socket
import struct
import sys
import time

from multiprocessing import connection as mpc

PY2 = sys.version_info[0] == 2

CHALLENGE = b'#CHALLENGE#'


def out(obj):
    obj['pid'] = os.getpid()
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def to_python(addr):
    if PY2:
        addr = addr.encode('utf-8')
    if addr.startswith('/'):
        return addr
    host, port = addr.rsplit(':', 1)
    return (host, int(port))


def to_go(addr):
    if isinstance(addr, tuple):
        return '%s:%d' % (addr[0], addr[1])
    return addr


def key_of(cmd):
    if cmd.get('key') is None:
        return None
    return binascii.unhexlify(cmd['key'].encode('ascii'))


def stop_here():
    out({'ready': True})
    while True:
        time.sleep(3600)


# The stages at which a handshake stops. Python's Listener.accept runs
# deliver_challenge then answer_challenge; its Client runs them the other
# way round. A stage replaces one of the two with a version that stops part
# way; the other runs as this interpreter's own.
def answer_before(c, key, *args, **kwargs):
    stop_here()


def answer_after_recv(c, key, *args, **kwargs):
    c.recv_bytes(256)
    stop_here()


def answer_mid_response(c, key, *args, **kwargs):
    c.recv_bytes(256)
    os.write(c.fileno(), b'\x00\x00')  # half a header
    stop_here()


def deliver_before(c, key, *args, **kwargs):
    stop_here()


def deliver_after_send(c, key, *args, **kwargs):
    c.send_bytes(CHALLENGE + os.urandom(20))  # a legacy challenge: any peer answers it
    c.recv_bytes(256)
    stop_here()


STAGES = {
    'answer:before': ('answer_challenge', answer_before),
    'answer:after-recv': ('answer_challenge', answer_after_recv),
    'answer:mid-response': ('answer_challenge', answer_mid_response),
    'deliver:before': ('deliver_challenge', deliver_before),
    'deliver:after-send': ('deliver_challenge', deliver_after_send),
}


def patch(stage):
    name, fn = STAGES[stage]
    setattr(mpc, name, fn)


def run(cmd):
    op = cmd['op']
    if op == 'frame':
        c = mpc.Client(to_python(cmd['addr']), authkey=key_of(cmd))
        c.send_bytes(b'first')
        if cmd.get('echo'):
            c.recv_bytes()  # read it, so that nothing is left unread at the kill
        cut = cmd['cut']
        if cut == 'header':
            os.write(c.fileno(), b'\x00\x01')
        elif cut == 'body':
            os.write(c.fileno(), struct.pack('!i', 100000) + b'x' * 1000)
        stop_here()
    elif op == 'client':
        patch(cmd['stage'])
        mpc.Client(to_python(cmd['addr']), authkey=key_of(cmd))
        out({'error': 'the handshake ended without stopping'})
    elif op == 'listen':
        patch(cmd['stage'])
        addr = to_python(cmd['addr'])
        family = 'AF_UNIX' if isinstance(addr, str) else 'AF_INET'
        l = mpc.Listener(addr, family=family, authkey=key_of(cmd))
        out({'addr': to_go(l.address)})
        l.accept()
        out({'error': 'the handshake ended without stopping'})
    elif op == 'recv':
        c = mpc.Client(to_python(cmd['addr']))
        out({'ready': True})
        start = time.time()
        try:
            got = c.recv()
            result, msg = 'ok', repr(got)
        except Exception as e:
            result, msg = type(e).__name__, str(e)
        out({'result': result, 'msg': msg, 'elapsed': time.time() - start})
    elif op == 'halfclose':
        c = mpc.Client(to_python(cmd['addr']))
        for i in range(cmd['count']):
            c.send(u'm%d' % i)
        family = socket.AF_UNIX if cmd['addr'].startswith('/') else socket.AF_INET
        s = socket.fromfd(c.fileno(), family, socket.SOCK_STREAM)
        s.shutdown(socket.SHUT_WR)
        s.close()  # a dup: the connection stays open
        got = c.recv()
        out({'result': 'ok', 'got': got})
    elif op == 'readhalf':
        c = mpc.Client(to_python(cmd['addr']))
        n = 0
        try:
            while True:
                c.recv_bytes()
                n += 1
        except Exception as e:
            result = type(e).__name__
        c.send(u'after-eof')
        out({'result': result, 'received': n})
    elif op == 'stall':
        c = mpc.Client(to_python(cmd['addr']))  # kept open while it sleeps
        stop_here()
    else:
        out({'error': 'unknown op %r' % op})


def main():
    children = set()
    out({'ready': True, 'version': '%d.%d' % sys.version_info[:2]})
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(cmd)
            except Exception as e:
                out({'error': '%s: %s' % (type(e).__name__, e)})
                code = 1
            sys.stdout.flush()
            os._exit(code)
        children.add(pid)
        # Reap those that ended, so that none lingers as a zombie.
        for p in list(children):
            try:
                done, _ = os.waitpid(p, os.WNOHANG)
            except OSError:
                done = p
            if done:
                children.discard(p)
    for p in children:
        try:
            os.kill(p, signal.SIGKILL)
            os.waitpid(p, 0)
        except OSError:
            pass


if __name__ == '__main__':
    main()
