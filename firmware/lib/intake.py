"""From a driver's value to a reading for the log: unit conversion, instrument range,
physical range, register rollover, reset and implausible jumps (firmware/lib/cumulative.py),
missing readings.  Portable.

A reading is (code, time ms, value, exponent, flags, unit) as Gateway.add takes it.
Nothing here invents a value: a failed read becomes value None with FLAG_MISSING
stamped at the time it was attempted (or the slot it should have been read in),
never the last good value with a new time.

Plausibility (seed 001 §8.1): a value outside the instrument's low/high, or outside
what its quantity can physically be (below 0 for a consumption, a calorific value or a
concentration; above 100 %), is flagged invalid; a cumulative register (parameter 01,
or any point with register_digits) and an amount per period (parameters 02, 10, 11)
are judged against the point's previous value and recent history and flagged
rollover, reset or suspect.  The raw value is always kept; each flag comes with a
reason, logged when a point's trouble starts or changes.

The clock flag marks measured values whose time cannot be trusted: a point's
value stamped no later than its previous one, and each point's first value
stamped by the gateway's clock after that clock jumped (clock_jumped()), since
the interval it closes is not the time that really passed.
"""

from shared import units
from shared.codec import codes
from shared.codec.decimals import format as decimal_text
from shared.codec.flags import FLAG_CLOCK, FLAG_INVALID, FLAG_MISSING, FLAG_OUTAGE
from firmware.lib import cumulative
from firmware.lib.reading import Reading


def _below(value, exp, bound):
    if isinstance(value, float):
        return value < bound[0] * 10.0 ** bound[1]
    e = min(exp, bound[1])
    return value * 10 ** (exp - e) < bound[0] * 10 ** (bound[1] - e)


def _text(value, exp):
    return '%.6g' % (value * 10.0 ** exp) if isinstance(value, float) else decimal_text(value, exp)


def _above(value, exp, bound):
    if isinstance(value, float):
        return value > bound[0] * 10.0 ** bound[1]
    e = min(exp, bound[1])
    return value * 10 ** (exp - e) > bound[0] * 10 ** (bound[1] - e)


class Intake:
    """Turns driver results into readings and keeps per-point counters for status."""

    def __init__(self, log_reason=None, tables=None):
        self.tracker = cumulative.Tracker()
        self.tables = tables or codes.tables()
        self._rules = {}                       # point key -> (reading kind, physical low, physical high)
        self.counts = {}                       # point key -> [good, missing, invalid, flagged]
        self.last_reason = {}                  # point key -> its trouble now (cleared by a good reading)
        self.last_flagged = {}                 # point key -> (time ms, flags, reason) of its latest flagged reading
        self.last_reading = {}                 # point key -> (time ms, value text or None, unit, flags), for the page
        self.log_reason = log_reason
        self._last_ts = {}                     # point key -> time of its previous reading
        self._jumps = 0                        # wall-clock jumps seen so far
        self._jumps_seen = {}                  # point key -> jumps already reflected in its readings

    def clock_jumped(self):
        """The gateway's wall clock jumped: flag each point's next reading it stamps."""
        self._jumps += 1

    def _clock_flag(self, key, ts_ms, own_clock):
        """FLAG_CLOCK when this measured value's time cannot be trusted, else 0."""
        last = self._last_ts.get(key)
        self._last_ts[key] = ts_ms
        flag = FLAG_CLOCK if last is not None and ts_ms <= last else 0
        if own_clock and self._jumps_seen.get(key, 0) != self._jumps:
            self._jumps_seen[key] = self._jumps
            if last is not None:
                flag = FLAG_CLOCK
        return flag

    def reconfigured(self, keys):
        """The points were reconfigured: their rules are worked out again from their new settings,
        and points no longer configured leave the status (their history stays in the log)."""
        self._rules = {}
        for table in (self.counts, self.last_reason, self.last_flagged, self.last_reading):
            for key in [k for k in table if k not in keys]:
                del table[key]

    def _rules_of(self, point):
        rules = self._rules.get(point.key)
        if rules is None:
            code = ('%0' + str(self.tables.length) + 'd') % int(point.code)
            try:
                kind = self.tables.reading_kind(code)
                low, high = self.tables.physical_range(code, point.unit)
            except codes.CodeError:
                kind, low, high = None, None, None
            if point.register_digits:
                kind = 'register'
            rules = self._rules[point.key] = (kind, low, high)
        return rules

    def _judge(self, point, value, exp, ts_ms, flags, shift):
        """(flags, reason) of the plausibility rules for a measured value in the point's unit;
        shift: the exponent from the meter's unit to the point's (its register digits count
        in the meter's unit)."""
        kind, low, high = self._rules_of(point)
        if low is not None and _below(value, exp, (low, 0)) or high is not None and _above(value, exp, (high, 0)):
            bound = 'below %d' % low if low is not None and _below(value, exp, (low, 0)) else 'above %d' % high
            return FLAG_INVALID, '%s %s is %s: physically impossible for %s (wrong register type, scale or sign?)' % (
                _text(value, exp), point.unit, bound, self.tables.describe(
                    ('%0' + str(self.tables.length) + 'd') % int(point.code), 'en'))
        known = not flags & FLAG_CLOCK
        if kind == 'register':
            digits = point.register_digits + shift if point.register_digits else None
            return self.tracker.check(point.key, value, exp, ts_ms, digits, point.max_rate_per_s, known, point.unit)
        if kind == 'amount':
            return self.tracker.check_amount(point.key, value, exp, ts_ms, known, point.unit)
        return 0, None

    def seed(self, point, first, last, amount=0.0):
        """What the log already holds for a point (after a restart), so its next value is
        judged against the last one and its history: first and last are (time ms, value,
        exponent) of its good readings since its latest break (a flagged reading), amount
        the sum of the values after first (for an amount per period).  Nothing is counted
        or logged."""
        kind = self._rules_of(point)[0]
        if kind == 'register':
            learned = last[1] * 10.0 ** last[2] - first[1] * 10.0 ** first[2]
        elif kind == 'amount':
            learned = amount
        else:
            return
        span = last[0] - first[0]
        self.tracker.seed(point.key, last[1], last[2], last[0], learned, span if learned >= 0 else 0)

    def _count(self, key, column):
        c = self.counts.get(key)
        if c is None:
            c = self.counts[key] = [0, 0, 0, 0]
        c[column] += 1

    def missing(self, point, ts_ms, reason):
        self._count(point.key, 1)
        self.last_reason[point.key] = reason
        if self.log_reason is not None:
            self.log_reason(point, ts_ms, reason)
        self.last_reading[point.key] = (ts_ms, None, point.unit, FLAG_MISSING)
        return Reading(point.code, ts_ms, None, 0, FLAG_MISSING, point.unit)

    def outage(self, point, ts_ms):
        """The reading of a slot that passed while the gateway was not running."""
        self._count(point.key, 1)
        return Reading(point.code, ts_ms, None, 0, FLAG_MISSING | FLAG_OUTAGE, point.unit)

    def measured(self, point, value, exp, meter_unit, ts_ms, flags=0, reason=None, own_clock=True):
        """own_clock: the time was the gateway's (False: the source stamped it)."""
        if value is None:
            return self.missing(point, ts_ms, reason or 'no value')
        flags |= self._clock_flag(point.key, ts_ms, own_clock)
        unit = point.meter_unit or meter_unit or point.unit
        try:
            shift = units.shift(unit, point.unit)
            value, exp = units.convert(value, exp, unit, point.unit)
        except units.UnitError as e:
            return self.missing(point, ts_ms, 'unit: meter reports %s, point is in %s (%s)' % (unit, point.unit, e))
        if point.low is not None and _below(value, exp, point.low) or \
                point.high is not None and _above(value, exp, point.high):
            flags |= FLAG_INVALID
            reason = reason or '%s %s is outside the instrument range' % (_text(value, exp), point.unit)
        if not flags & FLAG_INVALID:
            judged, why = self._judge(point, value, exp, ts_ms, flags, shift)
            flags |= judged
            reason = reason or why
        if flags & FLAG_INVALID:
            self._count(point.key, 2)
        elif flags:
            self._count(point.key, 3)
        else:
            self._count(point.key, 0)
        if flags:
            self.last_flagged[point.key] = (ts_ms, flags, reason)
        if reason:
            self.last_reason[point.key] = reason
            if self.log_reason is not None:
                self.log_reason(point, ts_ms, reason)
        elif not flags and self.last_reason.pop(point.key, None) is not None and self.log_reason is not None:
            self.log_reason(point, ts_ms, None)            # good again: the trouble is over
        self.last_reading[point.key] = (ts_ms, _text(value, exp), point.unit, flags)
        return Reading(point.code, ts_ms, value, exp, flags, point.unit)
