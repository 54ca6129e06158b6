"""When to read which meter on one bus.  Sans-IO and portable: the caller passes
the time in, performs the transactions and reports back.

Each point is read at its own period (seed 001 §11.2: minute or hour), on slot
boundaries (a point every 60 s is read just after each full minute).  A meter's
due points are read in one visit.  A meter whose visits fail `degrade_after`
times in a row is degraded: its slots are reported as skipped (the caller logs
them as missing readings) and it is probed once per `probe_s`, growing to
`probe_max_s`; one good answer brings it back to its normal schedule.  Slots a
late bus could not serve are reported too, so every gap is a flagged reading.
"""

WAIT = 'wait'
POLL = 'poll'
SKIP = 'skip'


class _Meter:
    def __init__(self, name, points):
        self.name = name
        self.points = points                  # {key: interval_s}
        self.due = {}                         # key -> next slot time
        self.failures = 0
        self.degraded = False
        self.probe_at = None
        self.probe_s = None


class BusScheduler:
    def __init__(self, meters, now, degrade_after=3, probe_s=60.0, probe_max_s=600.0):
        """meters: {meter name: {point key: period in seconds}}."""
        self.meters = {}
        self.degrade_after = degrade_after
        self.probe_min_s = probe_s
        self.probe_max_s = probe_max_s
        for name, points in meters.items():
            m = _Meter(name, dict(points))
            for key, period in points.items():
                if period <= 0:
                    raise ValueError('point %s: period must be positive' % key)
                m.due[key] = self._slot_after(now, period, inclusive=True)
            self.meters[name] = m

    @staticmethod
    def _slot_after(t, period, inclusive=False):
        k = t // period
        slot = k * period
        if slot < t or (slot == t and not inclusive):
            slot += period
        return slot

    def next(self, now):
        """(WAIT, time) | (POLL, meter, [keys]) | (SKIP, meter, [(key, slot)])."""
        best = None
        for m in self.meters.values():
            if m.degraded:
                skipped = [(k, d) for k, d in m.due.items() if d <= now]
                if skipped and now < m.probe_at:
                    for k, d in skipped:
                        m.due[k] = self._slot_after(d, m.points[k])
                    return SKIP, m.name, skipped
                t = max(m.probe_at, min(m.due.values()))
            else:
                t = min(m.due.values())
            if best is None or t < best[0]:
                best = (t, m)
        if best is None:
            return WAIT, None
        t, m = best
        if t > now:
            return WAIT, t
        return POLL, m.name, sorted(k for k, d in m.due.items() if d <= now)

    def done(self, meter, keys, ok, now):
        """Report a visit; returns the slots of `keys` that passed unread while the bus was
        busy (the caller logs them as missing), as [(key, slot time)]."""
        m = self.meters[meter]
        missed = []
        for k in keys:
            period = m.points[k]
            slot = m.due[k]
            nxt = self._slot_after(now, period)
            s = slot + period
            while s < nxt and s <= now:
                missed.append((k, s))
                s += period
            m.due[k] = nxt
        if ok:
            m.failures = 0
            m.degraded = False
            m.probe_s = None
        else:
            m.failures += 1
            if m.failures >= self.degrade_after:
                m.degraded = True
                m.probe_s = self.probe_min_s if m.probe_s is None else min(m.probe_s * 2, self.probe_max_s)
                m.probe_at = now + m.probe_s
        return missed

    def rebase(self, now):
        """The wall clock jumped to now: every point's next slot is the first from now on
        (no slot is reported missed for the time the clock skipped or repeated)."""
        for m in self.meters.values():
            for key, period in m.points.items():
                m.due[key] = self._slot_after(now, period, inclusive=True)
            if m.degraded:
                m.probe_at = now + m.probe_s

    def status(self):
        return {name: {'failures': m.failures, 'degraded': m.degraded, 'probe_at': m.probe_at}
                for name, m in self.meters.items()}
