"""Record I/O shared by pickle/'s Python helpers (Python 2.7 and 3.6+).

A record is 4 fields, each a 4-byte big-endian length and bytes: name,
protocol, pickle, extra. A record with an empty name ends a stream.

The helpers are run as testdata/<name>.py, so this directory is sys.path[0]
and "import recordio" finds this file; standard library only.
"""
import struct
import sys

if sys.version_info[0] == 2:
    stdin, stdout = sys.stdin, sys.stdout
else:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer


def read_exact(f, n):
    buf = b''
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError('short read')
        buf += chunk
    return buf


def read_record(f):
    fields = []
    for _ in range(4):
        n = struct.unpack('>I', read_exact(f, 4))[0]
        fields.append(read_exact(f, n))
    return fields


def read_all(f):
    """Reads records up to the one with an empty name."""
    out = []
    while True:
        r = read_record(f)
        if not r[0]:
            return out
        out.append(r)


def write_record(f, name, proto, data, extra=b''):
    for field in (name, proto, data, extra):
        if not isinstance(field, bytes):
            field = field.encode('utf-8')
        f.write(struct.pack('>I', len(field)))
        f.write(field)


def report(lines):
    """Prints the report lines ("OK ..." or "FAIL ...") that follow the records."""
    stdout.write(('\n'.join(lines) + '\n').encode('utf-8', 'backslashreplace'))
    stdout.flush()
