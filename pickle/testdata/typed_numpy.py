"""Python side of pickle/'s numpy tests (Python 3 with numpy 1.x or 2.x).

Usage:
  typed_numpy.py py2go    numpy -> Go -> numpy
      Writes, for every dtype, shape, memory order and byte order of the
      corpus and every protocol, a record: name, protocol, the array's
      pickle, and the pickle of [dtype.str, shape, is_fortran, items in C
      order as a list]. At protocol 5 a second record of each array sends
      it with out-of-band buffers: name + "/oob", the pickle, then one
      record per buffer named "buffer". Then END; reads back Go's
      re-encoding of each array (and its buffers), loads it and compares it
      with what numpy's own pickle at that protocol loads as; prints a
      report.
  typed_numpy.py go2py    Go -> numpy -> Go
      Reads records (name, proto, pickle, expression) up to END, loads each
      and compares it with the expression's value (numpy as np), writes back
      the loaded array pickled again at proto, then END, then the report.

Records are 4 fields, each a 4-byte big-endian length and bytes: name,
protocol, pickle, extra. A record with an empty name ends a stream.
"""
import pickle
import sys

import numpy as np

from recordio import read_all, report, stdin, stdout, write_record

DTYPES = ['?', 'i1', 'u1', 'i2', 'u2', 'i4', 'u4', 'i8', 'u8', 'f4', 'f8', 'c8', 'c16']
SHAPES = [(), (0,), (5,), (2, 3), (2, 0, 3), (2, 3, 4)]


def corpus():
    out = []
    for dt in DTYPES:
        for shape in SHAPES:
            n = int(np.prod(shape))
            base = np.arange(n, dtype='f8') * 1.5 - 3
            if dt == '?':
                a = (np.arange(n) % 3 == 0).reshape(shape)
            elif dt.startswith('c'):
                a = (base + 1j * base[::-1]).astype(dt).reshape(shape)
            else:
                a = base.astype(dt).reshape(shape)
            for order in 'CF':
                if order == 'F' and len(shape) < 2:
                    continue
                b = np.asfortranarray(a) if order == 'F' else np.ascontiguousarray(a)
                for endian in '<>':
                    if b.dtype.itemsize == 1 and endian == '>':
                        continue
                    c = b.astype(b.dtype.newbyteorder(endian), order='K')
                    out.append(('%s%s%s_%s' % (endian, dt, 'x'.join(map(str, shape)) or 'scalar', order), c))
    return out


def same(a, b):
    if type(a) is not type(b):
        return 'type %s != %s' % (type(a), type(b))
    if a.dtype != b.dtype or a.dtype.str != b.dtype.str:
        return 'dtype %s != %s' % (a.dtype.str, b.dtype.str)
    if a.shape != b.shape:
        return 'shape %s != %s' % (a.shape, b.shape)
    if a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous and not b.flags.f_contiguous:
        return 'order lost'
    if not np.array_equal(a, b):
        return 'values %r != %r' % (a, b)
    return None


def py2go():
    arrays = {}
    for name, a in corpus():
        expect = pickle.dumps([a.dtype.str, list(a.shape), bool(a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous),
                               a.flatten(order='C').tolist()], 4)
        for p in range(pickle.HIGHEST_PROTOCOL + 1):
            # Go's pickle must load as numpy's own does: at protocols 0
            # to 4, numpy itself gives back big-endian arrays in the
            # machine's byte order.
            arrays[(name, str(p))] = pickle.loads(pickle.dumps(a, p))
            write_record(stdout, name, str(p), pickle.dumps(a, p), expect)
            if p == 5:
                bufs = []
                data = pickle.dumps(a, 5, buffer_callback=bufs.append)
                write_record(stdout, name + '/oob', '5', data, expect)
                for b in bufs:
                    write_record(stdout, 'buffer', '5', bytes(b.raw()))
    write_record(stdout, b'', b'', b'')
    stdout.flush()
    lines = []
    recs = read_all(stdin)
    i = 0
    while i < len(recs):
        name, p, data, _ = recs[i]
        i += 1
        bufs = []
        while i < len(recs) and recs[i][0] == b'buffer':
            bufs.append(recs[i][2])
            i += 1
        name = name.decode()
        label = '%s %s' % (name, p.decode())
        try:
            got = pickle.loads(data, buffers=bufs)
            r = same(arrays[(name.split('/')[0], p.decode())], got)
        except Exception as e:
            r = 'load failed: %s: %s' % (type(e).__name__, e)
        lines.append(('FAIL %s: %s' % (label, r[:300])) if r else 'OK ' + label)
    report(lines)


def go2py():
    lines = []
    for name, p, data, expr in read_all(stdin):
        label = '%s %s' % (name.decode(), p.decode())
        back = b''
        try:
            got = pickle.loads(data)
            want = pickle.loads(pickle.dumps(eval(expr.decode(), {'np': np}), int(p)))
            r = same(want, got)
            if not r:
                back = pickle.dumps(got, int(p))
        except Exception as e:
            r = 'failed: %s: %s' % (type(e).__name__, e)
        lines.append(('FAIL %s: %s' % (label, r[:300])) if r else 'OK ' + label)
        write_record(stdout, name, p, back)
    write_record(stdout, b'', b'', b'')
    report(lines)


if __name__ == '__main__':
    {'py2go': py2go, 'go2py': go2py}[sys.argv[1]]()
