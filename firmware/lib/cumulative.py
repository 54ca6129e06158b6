"""Cumulative registers: rollover and meter reset/replacement between two readings.

A register with `digits` integer digits (and `decimals` after the point) wraps
at 10^digits (seed 001 §8.2.2: 9999 -> 0000).  When a new reading is below the
previous one, either the register wrapped — plausible when the wrapped increment
is small compared with what the meter can deliver in the elapsed time — or the
meter was reset or replaced, which is flagged and never counted as consumption.
Portable; used by the acquisition loop to flag readings and by processing to
compute increments.
"""

from shared.accounting.processing import increment
from shared.codec.flags import FLAG_RESET


class Tracker:
    """Remembers each register's last good reading and flags the next one."""

    def __init__(self):
        self.last = {}        # key -> (mantissa, exponent, time ms)

    def check(self, key, mantissa, exp, ts_ms, modulus_digits=None, max_rate_per_s=None):
        """Flags (ROLLOVER, RESET, SUSPECT or 0) for a new reading of register `key`."""
        prev = self.last.get(key)
        self.last[key] = (mantissa, exp, ts_ms)
        if prev is None or prev[1] != exp or not isinstance(mantissa, int):
            return 0
        modulus = 10 ** (modulus_digits - exp) if modulus_digits else 0
        max_inc = None
        if max_rate_per_s is not None:
            elapsed = max(0, ts_ms - prev[2]) / 1000.0
            max_inc = int(max_rate_per_s * elapsed * 10 ** (-exp)) + 1
        if mantissa < prev[0] and not modulus:
            return FLAG_RESET
        return increment(prev[0], mantissa, modulus, max_inc)[1]
