"""SM3 hash (GB/T 32905-2016).

Uses OpenSSL's SM3 through hashlib where the interpreter has it (CPython with
OpenSSL 3), otherwise a pure-Python implementation that also runs on
MicroPython.  Both give identical digests; tests pin the GB/T 32905 Appendix A
vectors on each.
"""

_IV = (0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600,
       0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E)
_M = 0xFFFFFFFF


def _rotl(x, n):
    n &= 31
    return ((x << n) | (x >> (32 - n))) & _M


_T = [_rotl(0x79CC4519 if j < 16 else 0x7A879D8A, j) for j in range(64)]


def _compress(v, block):
    w = [int.from_bytes(block[i:i + 4], 'big') for i in range(0, 64, 4)]
    for j in range(16, 68):
        x = w[j - 16] ^ w[j - 9] ^ _rotl(w[j - 3], 15)
        x = x ^ _rotl(x, 15) ^ _rotl(x, 23)
        w.append(x ^ _rotl(w[j - 13], 7) ^ w[j - 6])
    a, b, c, d, e, f, g, h = v
    for j in range(64):
        a12 = _rotl(a, 12)
        ss1 = _rotl((a12 + e + _T[j]) & _M, 7)
        ss2 = ss1 ^ a12
        if j < 16:
            ff = a ^ b ^ c
            gg = e ^ f ^ g
        else:
            ff = (a & b) | (a & c) | (b & c)
            gg = (e & f) | ((~e) & g)
        tt1 = (ff + d + ss2 + (w[j] ^ w[j + 4])) & _M
        tt2 = (gg + h + ss1 + w[j]) & _M
        d = c
        c = _rotl(b, 9)
        b = a
        a = tt1
        h = g
        g = _rotl(f, 19)
        f = e
        e = tt2 ^ _rotl(tt2, 9) ^ _rotl(tt2, 17)
    return [a ^ v[0], b ^ v[1], c ^ v[2], d ^ v[3],
            e ^ v[4], f ^ v[5], g ^ v[6], h ^ v[7]]


class PureSM3:
    """Incremental pure-Python SM3 with the hashlib interface subset we use."""

    digest_size = 32

    def __init__(self, data=b''):
        self._v = list(_IV)
        self._buf = b''
        self._len = 0
        if data:
            self.update(data)

    def update(self, data):
        data = bytes(data)
        self._len += len(data)
        buf = self._buf + data
        n = len(buf) - len(buf) % 64
        for i in range(0, n, 64):
            self._v = _compress(self._v, buf[i:i + 64])
        self._buf = buf[n:]

    def digest(self):
        bits = self._len * 8
        pad = b'\x80' + b'\x00' * ((55 - self._len) % 64) + bits.to_bytes(8, 'big')
        v = self._v
        buf = self._buf + pad
        for i in range(0, len(buf), 64):
            v = _compress(v, buf[i:i + 64])
        out = b''
        for x in v:
            out += x.to_bytes(4, 'big')
        return out


def _openssl_sm3():
    try:
        import hashlib
        h = hashlib.new('sm3')
        h.update(b'abc')
        if h.hexdigest() != '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0':
            return None
        prototype = hashlib.new('sm3')

        def fresh(data=b''):
            h = prototype.copy()  # copying skips hashlib's lookup by name: twice as fast on short inputs
            h.update(data)
            return h
        return fresh
    except Exception:
        return None


_fast = _openssl_sm3()
BACKEND = 'openssl' if _fast else 'pure'


def new(data=b''):
    """A new SM3 hash object (hashlib-like: update(), digest())."""
    if _fast is not None:
        return _fast(data)
    return PureSM3(data)


def sm3(data):
    """SM3 digest (32 bytes) of data."""
    if _fast is not None:
        return _fast(data).digest()
    return PureSM3(data).digest()
