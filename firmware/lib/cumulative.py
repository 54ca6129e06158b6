"""Plausibility of a point's successive values at intake (seed 001 §8.1, §8.2.2).  Portable.

A cumulative register with `digits` integer digits wraps at 10^digits (seed 001
§8.2.2: 9999 -> 0000).  Between two readings of one register:

- it fell and wraps at a known modulus: `rollover` when the wrapped increment is
  plausible, `reset` otherwise (the meter was reset or replaced);
- it fell and no modulus is configured: `suspect` — a wrong register type or
  scale, or a meter replaced; either way no consumption can be derived;
- it rose by more than `max_per_hour` allows over the elapsed time: `suspect`;
- it rose by more than twice the point's recent monthly total: `suspect` (seed 001
  §8.1.2: no single reading above twice the source's historical valid monthly
  total).  The monthly total is the point's mean rate over its recent valid
  increments (up to 30 days of them) times 30 days; the rule judges once a day of
  history exists.

A value reported per period (a consumption in period, not a register) is judged by
the same monthly rule.  Each flag comes with a reason naming both values.  Values
are in the point's unit: (mantissa, exponent) with an integer mantissa, or a float.
"""

from shared.accounting.processing import increment
from shared.codec.decimals import format as decimal_text
from shared.codec.flags import FLAG_RESET, FLAG_SUSPECT

MONTH_MS = 30 * 86400000
HISTORY_MIN_MS = 86400000


def _text(m, e):
    if isinstance(m, float):
        return '%.6g' % (m * 10.0 ** e)
    return decimal_text(m, e)


def _aligned(a, ae, b, be):
    """Two values at one exponent: (a, b, e); integers stay exact, floats stay floats."""
    if isinstance(a, float) or isinstance(b, float):
        return a * 10.0 ** ae, b * 10.0 ** be, 0
    e = min(ae, be)
    return a * 10 ** (ae - e), b * 10 ** (be - e), e


class Tracker:
    """Each point's last value and recent consumption; check() judges the next value."""

    def __init__(self):
        self.last = {}          # key -> (mantissa, exponent, time ms)
        self.history = {}       # key -> [amount in the point's unit (float), span ms]

    def seed(self, key, mantissa, exp, ts_ms, amount=0.0, span_ms=0):
        """Start from a last value and what was consumed over span_ms before it (a restart)."""
        self.last[key] = (mantissa, exp, ts_ms)
        if span_ms > 0 and amount >= 0:
            self._learn(key, amount, span_ms)

    def monthly(self, key):
        """The point's recent monthly total (float, its unit), or None without a day of history."""
        h = self.history.get(key)
        if h is None or h[1] < HISTORY_MIN_MS or h[0] <= 0:
            return None
        return h[0] * MONTH_MS / h[1]

    def _learn(self, key, amount, span_ms):
        h = self.history.get(key)
        if h is None:
            h = self.history[key] = [0.0, 0]
        h[0] += amount
        h[1] += span_ms
        if h[1] > MONTH_MS:
            h[0] = h[0] * MONTH_MS / h[1]
            h[1] = MONTH_MS

    def _above_monthly(self, key, amount, unit_text):
        monthly = self.monthly(key)
        if monthly is not None and amount > 2 * monthly:
            return 'more than twice its recent monthly total (about %.6g%s; seed 001 §8.1.2)' % (monthly, unit_text)
        return None

    def check(self, key, mantissa, exp, ts_ms, modulus_digits=None, max_rate_per_s=None, elapsed_known=True,
              unit=''):
        """(flags, reason) for a new reading of register `key`: ROLLOVER, RESET or SUSPECT with
        the reason, or (0, None).  elapsed_known: False when the reading's time cannot be
        trusted (no rate rule applies, and the step teaches nothing)."""
        prev = self.last.get(key)
        self.last[key] = (mantissa, exp, ts_ms)
        if prev is None:
            return 0, None
        unit_text = ' ' + unit if unit else ''
        old, new, e = _aligned(prev[0], prev[1], mantissa, exp)
        elapsed_ms = max(0, ts_ms - prev[2])
        modulus = 0
        if modulus_digits:
            modulus = 10 ** (modulus_digits - e) if isinstance(new, int) and modulus_digits >= e \
                else 10.0 ** modulus_digits
        max_inc = None
        if max_rate_per_s is not None and elapsed_known:
            max_inc = max_rate_per_s * elapsed_ms / 1000.0 * 10.0 ** -e
            max_inc = int(max_inc) + 1 if isinstance(new, int) else max_inc
        inc, flag = increment(old, new, modulus, max_inc)
        change = 'from %s to %s%s' % (_text(prev[0], prev[1]), _text(mantissa, exp), unit_text)
        if flag == FLAG_RESET:
            if not modulus:
                return FLAG_SUSPECT, ('register fell %s and no rollover is configured (register_digits): a wrong '
                                      'register type or scale, or the meter was reset or replaced' % change)
            return FLAG_RESET, 'register fell %s: the meter was reset or replaced' % change
        if flag == FLAG_SUSPECT:
            return FLAG_SUSPECT, 'register rose %s in %.0f s: more than max_per_hour allows' % (change,
                                                                                                elapsed_ms / 1000.0)
        amount = inc * 10.0 ** e
        why = self._above_monthly(key, amount, unit_text)
        if why is not None:
            return FLAG_SUSPECT, 'register rose %s: %s' % (change, why)
        if elapsed_known:
            self._learn(key, amount, elapsed_ms)
        return flag, None

    def check_amount(self, key, mantissa, exp, ts_ms, elapsed_known=True, unit=''):
        """(flags, reason) for a value that is itself the consumption of its period."""
        prev = self.last.get(key)
        self.last[key] = (mantissa, exp, ts_ms)
        amount = mantissa * 10.0 ** exp
        why = self._above_monthly(key, amount, ' ' + unit if unit else '')
        if why is not None:
            return FLAG_SUSPECT, '%s%s in one reading: %s' % (_text(mantissa, exp), ' ' + unit if unit else '', why)
        if prev is not None and elapsed_known:
            self._learn(key, amount, max(0, ts_ms - prev[2]))
        return 0, None
