"""Values out of Modbus registers: type, word and byte order, scale and offset.  Portable.

A point's registers arrive as unsigned 16-bit words.  Integer types are assembled
by word order (which register holds the most significant word) and byte order
(within a register), then scaled exactly: scale and offset are decimal text, so
a u32 energy register with scale "0.01" becomes mantissa × 10^-2 with no float in
between.  f32/f64 stay floats (scale and offset applied as floats).
"""

import struct

from shared.codec import decimals

TYPES = {   # name: (registers, struct format, is float)
    'u16': (1, 'H', False), 's16': (1, 'h', False),
    'u32': (2, 'I', False), 's32': (2, 'i', False),
    'u64': (4, 'Q', False), 's64': (4, 'q', False),
    'f32': (2, 'f', True), 'f64': (4, 'd', True),
}
ORDERS = ('big', 'little')


class RegisterError(ValueError):
    pass


def width(kind):
    try:
        return TYPES[kind][0]
    except KeyError:
        raise RegisterError('register type %r: use one of %s' % (kind, ', '.join(sorted(TYPES))))


def raw_value(words, kind, word_order='big', byte_order='big'):
    """The int or float held by the registers `words` (unsigned 16-bit each)."""
    n, fmt, _ = TYPES[kind]
    if len(words) != n:
        raise RegisterError('%s needs %d registers, got %d' % (kind, n, len(words)))
    ordered = words if word_order == 'big' else list(reversed(words))
    raw = bytearray()
    for w in ordered:
        hi, lo = w >> 8 & 0xFF, w & 0xFF
        raw += bytes((hi, lo) if byte_order == 'big' else (lo, hi))
    return struct.unpack('>' + fmt, bytes(raw))[0]


def to_words(value, kind, word_order='big', byte_order='big'):
    """Inverse of raw_value (simulators, tests)."""
    n, fmt, _ = TYPES[kind]
    raw = struct.pack('>' + fmt, value)
    words = []
    for i in range(n):
        hi, lo = raw[2 * i], raw[2 * i + 1]
        words.append(hi << 8 | lo if byte_order == 'big' else lo << 8 | hi)
    return words if word_order == 'big' else list(reversed(words))


class Scaling:
    """value = raw × scale + offset, exact for integer registers."""

    def __init__(self, scale='1', offset='0'):
        try:
            self.scale = decimals.parse(str(scale))
            self.offset = decimals.parse(str(offset))
        except decimals.DecimalError as e:
            raise RegisterError('scale/offset: %s' % e)
        if self.scale[0] == 0:
            raise RegisterError('scale must not be 0')
        self.exp = min(self.scale[1], self.offset[1])
        self._om = self.offset[0] * 10 ** (self.offset[1] - self.exp)

    def apply(self, raw):
        """(value, exponent): an int mantissa for int raw values, a float for float raw values."""
        if isinstance(raw, float):
            s = self.scale[0] * 10.0 ** self.scale[1]
            o = self.offset[0] * 10.0 ** self.offset[1]
            return raw * s + o, 0
        # raw*scale is exact at exponent scale[1]; bring both terms to self.exp
        return raw * self.scale[0] * 10 ** (self.scale[1] - self.exp) + self._om, self.exp
