"""4-20 mA loops read through Modbus analog-input modules.  Portable.

The module's register, scaled to milliamperes (registers.Scaling), maps linearly
onto the instrument's range: 4 mA = low, 20 mA = high.  Loop states follow NAMUR
NE 43, which most transmitters implement:

    I < 3.6 mA            open loop / transmitter failure      -> missing, no value
    3.6 <= I < 3.8 mA     under range                           -> value kept, flagged invalid
    3.8 <= I <= 20.5 mA   measurement (slightly outside 4-20 is normal drift)
    20.5 < I <= 21 mA     over range                            -> value kept, flagged invalid
    I > 21 mA             short circuit / transmitter failure   -> missing, no value

The arithmetic stays exact: 1/16 mA is 0.0625, so low + (I - 4) × (high - low) / 16
is a decimal computed in integers.
"""

from shared.codec import decimals
from shared.codec.flags import FLAG_INVALID, FLAG_MISSING

OPEN_LOOP_MA = (36, -1)        # 3.6 mA
UNDER_RANGE_MA = (38, -1)
OVER_RANGE_MA = (205, -1)
FAULT_HIGH_MA = (21, 0)


class AnalogError(ValueError):
    pass


def _cmp(a, b):
    e = min(a[1], b[1])
    x, y = a[0] * 10 ** (a[1] - e), b[0] * 10 ** (b[1] - e)
    return (x > y) - (x < y)


class Loop:
    def __init__(self, low, high):
        try:
            self.low = decimals.parse(str(low))
            self.high = decimals.parse(str(high))
        except decimals.DecimalError as e:
            raise AnalogError('analog range: %s' % e)
        if _cmp(self.low, self.high) >= 0:
            raise AnalogError('analog range: low %s must be below high %s' % (low, high))

    def convert(self, ma, ma_exp):
        """(value mantissa or None, exponent, flags, reason or None) for a loop current of ma × 10^ma_exp mA."""
        current = (ma, ma_exp)
        if _cmp(current, OPEN_LOOP_MA) < 0:
            return None, 0, FLAG_MISSING, 'open loop (%s mA)' % decimals.format(ma, ma_exp)
        if _cmp(current, FAULT_HIGH_MA) > 0:
            return None, 0, FLAG_MISSING, 'loop fault high (%s mA)' % decimals.format(ma, ma_exp)
        flags = 0
        reason = None
        if _cmp(current, UNDER_RANGE_MA) < 0:
            flags, reason = FLAG_INVALID, 'under range (%s mA)' % decimals.format(ma, ma_exp)
        elif _cmp(current, OVER_RANGE_MA) > 0:
            flags, reason = FLAG_INVALID, 'over range (%s mA)' % decimals.format(ma, ma_exp)
        # value = low + (I - 4) * span * 625e-4, all at one exponent
        e_span = min(self.low[1], self.high[1])
        span = self.high[0] * 10 ** (self.high[1] - e_span) - self.low[0] * 10 ** (self.low[1] - e_span)
        e_i = min(ma_exp, 0)
        above = ma * 10 ** (ma_exp - e_i) - 4 * 10 ** (0 - e_i)
        e = e_span + e_i - 4
        value = above * span * 625 + self.low[0] * 10 ** (self.low[1] - e)
        while value and value % 10 == 0 and e < 0:
            value //= 10
            e += 1
        if value == 0:
            e = 0
        return value, e, flags, reason
