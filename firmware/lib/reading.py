"""A reading on its way from a driver to the ring log, and as the log stores it.

Reading(code, ts_ms, value, exp, flags, unit): the 12-digit data-item code as an
integer (leading zeros restored on the way out), the time in ms (None until the
intake stamps it), an integer mantissa x 10**exp, a float or None (then the
flags say why), the quality flags (shared/codec/flags.py) and the unit.  It is a
tuple, so it compares equal to (code, ts_ms, value, exp, flags, unit).

In the log a reading is the msgpack array [code, time in ms, value, exponent,
flags, unit]; the sequence number is the log's (docs/protocol.md §4).  Portable.
"""

try:
    from collections import namedtuple
except ImportError:  # pragma: no cover - older MicroPython ports
    from ucollections import namedtuple

from shared.codec import mp
from shared.codec.frame import Record

CODE_DIGITS = 12


class Reading(namedtuple('Reading', ('code', 'ts_ms', 'value', 'exp', 'flags', 'unit'))):
    __slots__ = ()

    def pack(self):
        """The log payload of this reading."""
        return mp.packb_list([int(self.code), self.ts_ms, self.value, self.exp, self.flags, self.unit])


def unpack(seq, payload):
    """(Record, unit) from a log payload; ValueError when it is not a reading."""
    item = mp.unpackb(payload)
    if not isinstance(item, list) or len(item) != 6:
        raise ValueError('log payload is not a reading')
    code, ts_ms, value, exp, flags, unit = item
    return Record(seq, '%012d' % code, ts_ms, value, exp, flags), unit


def parameter(code_int):
    """The 2-digit parameter part of a code given as an integer (layout 2-2-3-2-3)."""
    return (code_int // 1000) % 100
