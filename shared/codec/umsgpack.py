"""Pure-Python MessagePack, the subset Tanji frames use.

Runs on CPython and MicroPython.  The encoder emits the same bytes as the
msgpack C extension with ``use_bin_type=True`` (smallest integer form, floats
as float64, str and bin kept apart) except that map keys are always written
in sorted order, so signed bytes do not depend on dict ordering (MicroPython
does not preserve insertion order).  The decoder rejects ext types, trailing
bytes, non-str map keys and anything truncated with ``ValueError``.
"""

import struct

_MAX_DEPTH = 32


def packb(obj):
    out = []
    _pack(obj, out, 0)
    return b''.join(out)


def _pack_int(n, out):
    if 0 <= n:
        if n < 0x80:
            out.append(bytes((n,)))
        elif n < 0x100:
            out.append(b'\xcc' + bytes((n,)))
        elif n < 0x10000:
            out.append(b'\xcd' + n.to_bytes(2, 'big'))
        elif n < 0x100000000:
            out.append(b'\xce' + n.to_bytes(4, 'big'))
        elif n < 0x10000000000000000:
            out.append(b'\xcf' + n.to_bytes(8, 'big'))
        else:
            raise ValueError('integer out of msgpack range')
    else:
        if n >= -32:
            out.append(bytes((n & 0xFF,)))
        elif n >= -0x80:
            out.append(b'\xd0' + (n & 0xFF).to_bytes(1, 'big'))
        elif n >= -0x8000:
            out.append(b'\xd1' + (n & 0xFFFF).to_bytes(2, 'big'))
        elif n >= -0x80000000:
            out.append(b'\xd2' + (n & 0xFFFFFFFF).to_bytes(4, 'big'))
        elif n >= -0x8000000000000000:
            out.append(b'\xd3' + (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, 'big'))
        else:
            raise ValueError('integer out of msgpack range')


def _pack_len(n, fix_base, fix_max, codes, out):
    if fix_base is not None and n <= fix_max:
        out.append(bytes((fix_base | n,)))
    elif codes[0] is not None and n < 0x100:
        out.append(codes[0] + bytes((n,)))
    elif n < 0x10000:
        out.append(codes[1] + n.to_bytes(2, 'big'))
    elif n < 0x100000000:
        out.append(codes[2] + n.to_bytes(4, 'big'))
    else:
        raise ValueError('object too large for msgpack')


def _pack(obj, out, depth):
    if depth > _MAX_DEPTH:
        raise ValueError('nesting too deep')
    if obj is None:
        out.append(b'\xc0')
    elif obj is True:
        out.append(b'\xc3')
    elif obj is False:
        out.append(b'\xc2')
    elif isinstance(obj, int):
        _pack_int(obj, out)
    elif isinstance(obj, float):
        out.append(b'\xcb' + struct.pack('>d', obj))
    elif isinstance(obj, str):
        b = obj.encode('utf-8')
        _pack_len(len(b), 0xA0, 31, (b'\xd9', b'\xda', b'\xdb'), out)
        out.append(b)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        _pack_len(len(b), None, 0, (b'\xc4', b'\xc5', b'\xc6'), out)
        out.append(b)
    elif isinstance(obj, (list, tuple)):
        _pack_len(len(obj), 0x90, 15, (None, b'\xdc', b'\xdd'), out)
        for item in obj:
            _pack(item, out, depth + 1)
    elif isinstance(obj, dict):
        keys = sorted(obj.keys())
        _pack_len(len(keys), 0x80, 15, (None, b'\xde', b'\xdf'), out)
        for k in keys:
            _pack(k, out, depth + 1)
            _pack(obj[k], out, depth + 1)
    else:
        raise TypeError('cannot encode %s in msgpack' % type(obj).__name__)


class _Reader:
    __slots__ = ('buf', 'pos')

    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        p = self.pos
        if n < 0 or p + n > len(self.buf):
            raise ValueError('msgpack data truncated')
        self.pos = p + n
        return self.buf[p:p + n]

    def uint(self, n):
        return int.from_bytes(self.take(n), 'big')

    def sint(self, n):
        v = self.uint(n)
        if v >= 1 << (8 * n - 1):
            v -= 1 << (8 * n)
        return v


def unpackb(data):
    r = _Reader(bytes(data))
    obj = _unpack(r, 0)
    if r.pos != len(r.buf):
        raise ValueError('extra bytes after msgpack object')
    return obj


def _unpack(r, depth):
    if depth > _MAX_DEPTH:
        raise ValueError('nesting too deep')
    t = r.take(1)[0]
    if t < 0x80:
        return t
    if t >= 0xE0:
        return t - 0x100
    if 0x80 <= t <= 0x8F:
        return _unpack_map(r, t & 0x0F, depth)
    if 0x90 <= t <= 0x9F:
        return _unpack_array(r, t & 0x0F, depth)
    if 0xA0 <= t <= 0xBF:
        return _str(r.take(t & 0x1F))
    if t == 0xC0:
        return None
    if t == 0xC2:
        return False
    if t == 0xC3:
        return True
    if t == 0xC4:
        return r.take(r.uint(1))
    if t == 0xC5:
        return r.take(r.uint(2))
    if t == 0xC6:
        return r.take(r.uint(4))
    if t == 0xCA:
        return struct.unpack('>f', r.take(4))[0]
    if t == 0xCB:
        return struct.unpack('>d', r.take(8))[0]
    if t == 0xCC:
        return r.uint(1)
    if t == 0xCD:
        return r.uint(2)
    if t == 0xCE:
        return r.uint(4)
    if t == 0xCF:
        return r.uint(8)
    if t == 0xD0:
        return r.sint(1)
    if t == 0xD1:
        return r.sint(2)
    if t == 0xD2:
        return r.sint(4)
    if t == 0xD3:
        return r.sint(8)
    if t == 0xD9:
        return _str(r.take(r.uint(1)))
    if t == 0xDA:
        return _str(r.take(r.uint(2)))
    if t == 0xDB:
        return _str(r.take(r.uint(4)))
    if t == 0xDC:
        return _unpack_array(r, r.uint(2), depth)
    if t == 0xDD:
        return _unpack_array(r, r.uint(4), depth)
    if t == 0xDE:
        return _unpack_map(r, r.uint(2), depth)
    if t == 0xDF:
        return _unpack_map(r, r.uint(4), depth)
    raise ValueError('unsupported msgpack type 0x%02x' % t)


def _str(b):
    try:
        return b.decode('utf-8')
    except Exception:
        raise ValueError('invalid UTF-8 in msgpack str')


def _unpack_array(r, n, depth):
    if n > len(r.buf) - r.pos:
        raise ValueError('msgpack array longer than data')
    out = []
    for _ in range(n):
        out.append(_unpack(r, depth + 1))
    return out


def _unpack_map(r, n, depth):
    if 2 * n > len(r.buf) - r.pos:
        raise ValueError('msgpack map longer than data')
    out = {}
    for _ in range(n):
        k = _unpack(r, depth + 1)
        if not isinstance(k, str):
            raise ValueError('msgpack map key is not a str')
        if k in out:
            raise ValueError('duplicate msgpack map key %r' % k)
        out[k] = _unpack(r, depth + 1)
    return out
