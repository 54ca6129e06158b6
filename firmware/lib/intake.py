"""From a driver's value to a reading for the log: unit conversion, instrument range,
register rollover and reset flags, missing readings.  Portable.

A reading is (code, time ms, value, exponent, flags, unit) as Gateway.add takes it.
Nothing here invents a value: a failed read becomes value None with FLAG_MISSING
stamped at the time it was attempted (or the slot it should have been read in),
never the last good value with a new time.

The clock flag marks measured values whose time cannot be trusted: a point's
value stamped no later than its previous one, and each point's first value
stamped by the gateway's clock after that clock jumped (clock_jumped()), since
the interval it closes is not the time that really passed.
"""

from shared import units
from shared.codec.flags import FLAG_CLOCK, FLAG_INVALID, FLAG_MISSING, FLAG_OUTAGE
from firmware.lib import cumulative
from firmware.lib.reading import Reading


def _below(value, exp, bound):
    if isinstance(value, float):
        return value < bound[0] * 10.0 ** bound[1]
    e = min(exp, bound[1])
    return value * 10 ** (exp - e) < bound[0] * 10 ** (bound[1] - e)


def _above(value, exp, bound):
    if isinstance(value, float):
        return value > bound[0] * 10.0 ** bound[1]
    e = min(exp, bound[1])
    return value * 10 ** (exp - e) > bound[0] * 10 ** (bound[1] - e)


class Intake:
    """Turns driver results into readings and keeps per-point counters for status."""

    def __init__(self, log_reason=None):
        self.tracker = cumulative.Tracker()
        self.counts = {}                       # point key -> [good, missing, invalid, flagged]
        self.last_reason = {}
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
        raw, raw_exp = value, exp               # register digits count in the meter's own unit
        try:
            value, exp = units.convert(value, exp, unit, point.unit)
        except units.UnitError as e:
            return self.missing(point, ts_ms, 'unit: meter reports %s, point is in %s (%s)' % (unit, point.unit, e))
        if point.low is not None and _below(value, exp, point.low) or \
                point.high is not None and _above(value, exp, point.high):
            flags |= FLAG_INVALID
            reason = reason or 'outside the instrument range'
        if not flags & FLAG_INVALID and (point.register_digits or point.max_rate_per_s is not None):
            rate = point.max_rate_per_s
            if rate is not None:
                rate = rate * 10.0 ** -units.shift(unit, point.unit)    # max_rate is given in the point's unit
            flags |= self.tracker.check(point.key, raw, raw_exp, ts_ms, point.register_digits, rate)
        if flags & FLAG_INVALID:
            self._count(point.key, 2)
        elif flags:
            self._count(point.key, 3)
        else:
            self._count(point.key, 0)
        if reason:
            self.last_reason[point.key] = reason
            if self.log_reason is not None:
                self.log_reason(point, ts_ms, reason)
        elif not flags and self.last_reason.pop(point.key, None) is not None and self.log_reason is not None:
            self.log_reason(point, ts_ms, None)            # good again: the trouble is over
        return Reading(point.code, ts_ms, value, exp, flags, point.unit)
