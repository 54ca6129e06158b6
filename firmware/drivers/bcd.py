"""Packed BCD as meters use it: addresses and values low byte first (DL/T 645, CJ/T 188).
Portable."""

from shared.codec.text import ascii_digits


class BCDError(ValueError):
    pass


def byte(value):
    """0..99 -> one packed BCD byte."""
    return ((value // 10) << 4) | (value % 10)


def address(text, size):
    """A 2*size-digit address -> wire bytes, low byte first.  'AA' in place of a pair of digits
    is a wildcard byte: all 'A's address every meter (read address), and 'AA' in the high
    pairs every meter whose low digits match (DL/T 645-2007 shortened addressing)."""
    if len(text) != 2 * size:
        raise ValueError('the address has %d digits' % (2 * size))
    out = bytearray(size)
    for i in range(size):
        pair = text[2 * size - 2 - 2 * i:2 * size - 2 * i]
        if pair.upper() == 'AA':
            out[i] = 0xAA
            continue
        if not ascii_digits(pair):
            raise ValueError('address %r must be digits' % text)
        out[i] = (ord(pair[0]) - 48) << 4 | (ord(pair[1]) - 48)
    return bytes(out)


def address_text(wire):
    return ''.join('%02X' % b for b in reversed(wire))


def value(raw, signed=False):
    """Packed BCD, low byte first -> int; with signed, the top bit of the top byte is the sign.
    BCDError when a nibble is not a decimal digit (a garbled reply)."""
    raw = bytearray(raw)
    negative = False
    if signed and raw[-1] & 0x80:
        negative = True
        raw[-1] &= 0x7F
    result = 0
    for b in reversed(raw):
        hi, lo = b >> 4, b & 0x0F
        if hi > 9 or lo > 9:
            raise BCDError('not BCD: %02X' % b)
        result = result * 100 + hi * 10 + lo
    return -result if negative else result


def encode(n, size, signed=False):
    """int -> packed BCD of `size` bytes, low byte first (the inverse of value(); simulators)."""
    negative = n < 0
    n = -n if negative else n
    if n >= 100 ** size or (signed and n >= 100 ** size // 2):
        raise ValueError('%d does not fit %d BCD bytes' % (n, size))
    out = bytearray(size)
    for i in range(size):
        out[i] = byte(n % 100)
        n //= 100
    if negative:
        out[-1] |= 0x80
    return bytes(out)
