"""Processing of activity data (seed 001 §8, §12.4).  Portable, exact.

- validity: instrument range (§8.1.1) and "no single reading above twice the
  source's historical valid monthly total" (§8.1.2);
- increments of cumulative registers: rollover at 10^digits (§8.2.2), CT × PT
  multiplier, meter reset/replacement and implausible jumps flagged, never booked
  (reference/accounting.md §2.8);
- daily settlement (increment, max, min per day, §8.2.1) and roll-ups to month,
  quarter and year; hour/minute/second real-time series;
- aggregation rules (§8.3.2): add, subtract, multiply, apportion, integrate;
- gap filling by linear or nearest-neighbour interpolation from the two days
  either side (§12.4), every filled value flagged and logged.
"""

from shared import civil
from shared.accounting.exact import ONE, Q, ZERO
from shared.codec.flags import FLAG_CLOCK, FLAG_INVALID, FLAG_MISSING, FLAG_RESET, FLAG_ROLLOVER, FLAG_SUSPECT

NOT_MEASURED = FLAG_MISSING | FLAG_INVALID


def increment(prev, new, modulus, max_increment=None):
    """(increment or None, flag) between two readings of one register.  modulus: the value
    at which the register wraps (0 or None: unknown).  Works on ints and Q alike."""
    if new >= prev:
        if max_increment is not None and new - prev > max_increment:
            return None, FLAG_SUSPECT          # more than the line can deliver: a jump, not consumption
        return new - prev, 0
    if modulus:
        wrapped = new + modulus - prev
        plausible = wrapped <= max_increment if max_increment is not None else wrapped * 10 < modulus
        if plausible:
            return wrapped, FLAG_ROLLOVER
    return None, FLAG_RESET


class Step:
    __slots__ = ('t0', 't1', 'value', 'flag', 'reason')

    def __init__(self, t0, t1, value, flag, reason=None):
        self.t0 = t0
        self.t1 = t1
        self.value = value
        self.flag = flag
        self.reason = reason


def increments(readings, digits=None, multiplier=ONE, max_per_hour=None):
    """Steps between consecutive usable readings [(t_ms, value Q, flags)] of a cumulative
    register: value = increment × multiplier, or None with the reason (reset, jump).  A
    step ending at a reading stamped by a clock that jumped carries FLAG_CLOCK: its
    register difference is booked, but its interval is not the time that passed, so no
    rate check applies to it."""
    modulus = Q(10 ** digits) if digits else None
    out = []
    prev = None
    for r in readings:
        t, v = r[0], r[1]
        flags = r[2] if len(r) > 2 else 0
        if v is None or flags & NOT_MEASURED:
            continue
        if prev is not None:
            max_inc = None
            if max_per_hour is not None and not flags & FLAG_CLOCK:
                max_inc = max_per_hour * Q(t - prev[0], 3600000) / multiplier
            if flags & FLAG_RESET:
                out.append(Step(prev[0], t, None, FLAG_RESET, 'the meter was reset or replaced (flagged at the gateway)'))
            else:
                inc, flag = increment(prev[1], v, modulus, max_inc)
                if inc is None:
                    reason = ('register fell from %s to %s: meter reset or replaced' if flag == FLAG_RESET
                              else 'register jumped from %s to %s: more than the line can deliver')
                    out.append(Step(prev[0], t, None, flag, reason % (prev[1].text(), v.text())))
                else:
                    out.append(Step(prev[0], t, inc * multiplier, flag | (flags & FLAG_CLOCK)))
        prev = (t, v)
    return out


def day_of(t_ms, utc_offset_s):
    y, m, d = civil.civil_from_days((t_ms // 1000 + utc_offset_s) // 86400)
    return '%04d-%02d-%02d' % (y, m, d)


class Settlement:
    """One day (or month, quarter, year) of one activity: increment, max, min."""
    __slots__ = ('increment', 'max', 'min', 'readings', 'rejected', 'estimated')

    def __init__(self):
        self.increment = ZERO
        self.max = None
        self.min = None
        self.readings = 0
        self.rejected = 0
        self.estimated = False

    def see(self, v):
        self.readings += 1
        if self.max is None or v > self.max:
            self.max = v
        if self.min is None or v < self.min:
            self.min = v

    def to_json(self):
        return {'increment': self.increment.text(), 'max': self.max.text() if self.max is not None else None,
                'min': self.min.text() if self.min is not None else None, 'readings': self.readings,
                'rejected': self.rejected, 'estimated': self.estimated}


def settle_daily(readings, utc_offset_s=8 * 3600, digits=None, multiplier=ONE, max_per_hour=None):
    """{day: Settlement} of a cumulative register: each step's increment goes to the day
    its later reading falls in (so a day's increment is its last reading minus the
    previous day's last, the meter's own day settlement); max and min of the readings."""
    days = {}
    for r in readings:
        if r[1] is None or (len(r) > 2 and r[2] & NOT_MEASURED):
            continue
        key = day_of(r[0], utc_offset_s)
        s = days.get(key)
        if s is None:
            s = days[key] = Settlement()
        s.see(r[1])
    for step in increments(readings, digits, multiplier, max_per_hour):
        s = days[day_of(step.t1, utc_offset_s)]
        if step.value is None:
            s.rejected += 1
        else:
            s.increment = s.increment + step.value
    return days


def _period_key(day, level):
    if level == 'month':
        return day[:7]
    if level == 'quarter':
        return '%s-Q%d' % (day[:4], (int(day[5:7]) - 1) // 3 + 1)
    if level == 'year':
        return day[:4]
    raise ValueError('level must be month, quarter or year')


def roll_up(settlements, level):
    """Daily (or finer-level) settlements summed into month, quarter or year periods."""
    out = {}
    for key in sorted(settlements):
        s = settlements[key]
        p = out.get(_period_key(key, level))
        if p is None:
            p = out[_period_key(key, level)] = Settlement()
        p.increment = p.increment + s.increment
        for v in (s.max, s.min):
            if v is not None:
                if p.max is None or v > p.max:
                    p.max = v
                if p.min is None or v < p.min:
                    p.min = v
        p.readings += s.readings
        p.rejected += s.rejected
        p.estimated = p.estimated or s.estimated
    return out


def series(readings, seconds, digits=None, multiplier=ONE):
    """Real-time series: increments per bucket of `seconds` (hour 3600, minute 60, second 1),
    keyed by the bucket's start in ms."""
    out = {}
    for step in increments(readings, digits, multiplier):
        if step.value is not None:
            key = step.t1 // (seconds * 1000) * seconds * 1000
            out[key] = out.get(key, ZERO) + step.value
    return out


# -- validity (seed 001 §8.1) ---------------------------------------------------------------

def plausible_against_history(value, monthly_totals):
    """seed 001 §8.1.2: a single reading must not exceed twice the source's historical
    valid monthly total (the largest of the months given).  True without history."""
    if not monthly_totals:
        return True
    return value <= 2 * max(monthly_totals)


# -- aggregation rules (seed 001 §8.3.2) --------------------------------------------------------

def add(*values):
    out = ZERO
    for v in values:
        out = out + v
    return out


def subtract(value, *others):
    return value - add(*others)


def multiply(value, k):
    return value * Q.of(k)


def apportion(total, ratios):
    """Split total by ratios {name: weight} exactly (weights need not sum to 1)."""
    weight = add(*[Q.of(w) for w in ratios.values()])
    if not weight:
        raise ValueError('apportioning by weights that sum to zero')
    return {k: total * Q.of(w) / weight for k, w in ratios.items()}


def integrate(samples):
    """Energy from power samples [(t_ms, kW)] by the trapezoid rule, in kWh."""
    out = ZERO
    for (t0, p0), (t1, p1) in zip(samples, samples[1:]):
        out = out + (p0 + p1) / 2 * Q(t1 - t0, 3600000)
    return out


# -- gap filling (seed 001 §12.4) -----------------------------------------------------------------

def fill_gaps(daily, method='linear', window_days=2):
    """Fill missing days (value None) of {day: Q or None} from valid days at most
    `window_days` before and after the gap.  Returns (values, log): filled values are
    estimates, listed in the log with method and the days used; a gap with no valid day
    within the window stays None and is logged as unfilled."""
    if method not in ('linear', 'nearest'):
        raise ValueError('method must be linear or nearest')
    days = sorted(daily)
    index = {d: _day_number(d) for d in days}
    out = dict(daily)
    log = []
    valid = [d for d in days if daily[d] is not None]
    for d in days:
        if daily[d] is not None:
            continue
        n = index[d]
        before = [v for v in valid if n - window_days <= index[v] < n]
        after = [v for v in valid if n < index[v] <= n + window_days]
        b = before[-1] if before else None
        a = after[0] if after else None
        if b is None and a is None:
            log.append({'day': d, 'filled': False, 'reason': 'no valid day within %d days' % window_days})
            continue
        if method == 'nearest' or b is None or a is None:
            if b is not None and (a is None or n - index[b] <= index[a] - n):
                src = [b]
            else:
                src = [a]
            value = daily[src[0]]
            used = 'nearest'
        else:
            nb, na = index[b], index[a]
            value = daily[b] + (daily[a] - daily[b]) * Q(n - nb, na - nb)
            src = [b, a]
            used = 'linear'
        out[d] = value
        log.append({'day': d, 'filled': True, 'method': used, 'from': src, 'value': value.text(),
                    'flag': 'estimated'})
    return out, log


def _day_number(day):
    return civil.days_from_civil(int(day[:4]), int(day[5:7]), int(day[8:10]))


def settle_daily_mantissas(rows, exp, digits=None, multiplier=ONE, utc_offset_s=8 * 3600):
    """settle_daily for the common case of one register stored as integer mantissas at one
    exponent: rows [(t_ms, mantissa, flags)] in time order.  The same rules (rollover,
    reset, missing and invalid readings skipped) in integer arithmetic, so a year of minute
    data stays fast; increments come back as exact values (mantissa × 10^exp × multiplier)."""
    modulus = 10 ** (digits - exp) if digits else 0
    day_ms = 86400000
    offset_ms = utc_offset_s * 1000
    inc = {}
    hi = {}
    lo = {}
    count = {}
    rejected = {}
    prev = None
    for t, m, flags in rows:
        if m is None or flags & NOT_MEASURED:
            continue
        day = (t + offset_ms) // day_ms
        c = count.get(day)
        if c is None:
            count[day] = 1
            hi[day] = lo[day] = m
            inc[day] = 0
            rejected[day] = 0
        else:
            count[day] = c + 1
            if m > hi[day]:
                hi[day] = m
            elif m < lo[day]:
                lo[day] = m
        if prev is not None:
            if m >= prev and not flags & FLAG_RESET:
                inc[day] += m - prev
            else:
                step, _ = (None, FLAG_RESET) if flags & FLAG_RESET else increment(prev, m, modulus)
                if step is None:
                    rejected[day] += 1
                else:
                    inc[day] += step
        prev = m
    scale = Q.from_decimal(1, exp) * multiplier
    out = {}
    for day in count:
        s = Settlement()
        y, mo, d = civil.civil_from_days(day)
        s.increment = scale * inc[day]
        s.max = Q.from_decimal(hi[day], exp)
        s.min = Q.from_decimal(lo[day], exp)
        s.readings = count[day]
        s.rejected = rejected[day]
        out['%04d-%02d-%02d' % (y, mo, d)] = s
    return out
