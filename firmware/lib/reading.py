"""A reading as the gateway's log stores it: the payload of one log record.

msgpack array [code, time in ms, value, exponent, flags, unit]; the code is the
12-digit data-item code as an integer (leading zeros restored on the way out),
value an integer mantissa, a float or nil (docs/protocol.md §4).  The sequence
number is the log's.  Portable.
"""

from shared.codec import mp
from shared.codec.frame import Record

CODE_DIGITS = 12


def pack(code, ts_ms, value, exp, flags, unit):
    return mp.packb_list([int(code), ts_ms, value, exp, flags, unit])


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
