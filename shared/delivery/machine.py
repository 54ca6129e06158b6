"""Store-and-forward to one data centre, sans I/O (seed 001 §7.3, §7.5, §7.6).
The gateway drives one per centre over its ring log; the platform's fan-out
drives one per further centre over its stored frames.

Each centre has its own Delivery: its cursor, its schedule, its backoff, its
frame-size and bandwidth caps.  The owner asks step(now, durable_seq) what to
do: send a frame, or wait until a time; it performs the send and hands the
centre's answer to on_outcome().  The cursor moves only when the centre has
taken the data, so delivery is at least once, and the centre's idempotency
makes it exactly once.  Two cursor rules:

    advance='ack'    the cursor is the centre's gap-free ack (the gateway's
                     sequence numbers); a refused range is retried later
    advance='frame'  the cursor is the last item of the frame taken (the
                     platform's frame ids); a refused frame is skipped (it is
                     signed, so it cannot be split or changed), and the owner
                     records the refusal

Upload modes (seed 001 §7.5): automatic on a schedule (every N seconds, or at
given times of day) and manual (send_now()).  Once an upload starts it drains
everything durable, frame after frame at full speed, however long the backlog,
before it waits for the next scheduled time.  Portable.
"""

from shared.delivery import exchange
from shared.delivery.backoff import Backoff

DAY_S = 86400


class Built:
    """What a build() hands the machine: one frame's bytes covering up to last_seq."""
    __slots__ = ('data', 'first_seq', 'last_seq', 'records', 'unframeable')

    def __init__(self, data, first_seq, last_seq, records, unframeable=0):
        self.data = data
        self.first_seq = first_seq
        self.last_seq = last_seq
        self.records = records
        self.unframeable = unframeable   # readings in the range that could not be framed (declared lost)


class Schedule:
    """When automatic uploads start: every `every_s` seconds (0: as soon as data are
    durable), or at `times` (seconds after local midnight, UTC offset utc_offset_s)."""

    def __init__(self, every_s=60, times=None, utc_offset_s=8 * 3600):
        if times:
            times = sorted(times)
            for t in times:
                if not 0 <= t < DAY_S:
                    raise ValueError('upload times must lie within a day')
        elif every_s < 0:
            raise ValueError('upload interval cannot be negative')
        self.every_s = every_s
        self.times = times or None
        self.utc_offset_s = utc_offset_s

    def next_due(self, now, wall=None):
        """The first scheduled start strictly after now.  Times of day and the alignment
        of intervals are the wall clock's (wall, Unix seconds; default now); the result is
        on now's clock, so the owner may wait on a monotonic one."""
        if wall is None:
            wall = now
        if self.times:
            local = wall + self.utc_offset_s
            day = local - local % DAY_S
            due = None
            for t in self.times:
                if day + t > local:
                    due = day + t - self.utc_offset_s
                    break
            if due is None:
                due = day + DAY_S + self.times[0] - self.utc_offset_s
            return now + (due - wall)
        if self.every_s == 0:
            return now
        return now + (self.every_s - wall % self.every_s)


class TokenBucket:
    """A bandwidth cap in bytes per second (0: none), with a burst of one second or one frame."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.at = None

    def wait_for(self, size, now):
        """Seconds to wait before size bytes may go (0 when they may go now)."""
        if not self.rate:
            return 0.0
        if self.at is None:
            self.at = now
            self.tokens = max(self.rate, size)
        self.tokens = min(max(self.rate, size), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= size:
            return 0.0
        return (size - self.tokens) / self.rate

    def spend(self, size):
        if self.rate:
            self.tokens -= size


class Delivery:
    def __init__(self, name, cursor, build, schedule=None, max_records=5000, max_bytes=256 * 1024,
                 rate_bytes_s=0, backoff=None, refused_retry_s=3600.0, on_alarm=None, advance='ack'):
        """build(first_seq, max_records, max_bytes) -> Built, or None when nothing is ready."""
        if advance not in ('ack', 'frame'):
            raise ValueError("advance must be 'ack' or 'frame'")
        self.advance = advance
        self.name = name
        self.cursor = cursor
        self.build = build
        self.schedule = schedule or Schedule()
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.bucket = TokenBucket(rate_bytes_s)
        self.backoff = backoff or Backoff(base=1.0, cap=300.0)
        self.refused_retry_s = refused_retry_s
        self.on_alarm = on_alarm
        self.due_at = None
        self.draining = False
        self.inflight = None
        self.retry_at = None
        self.frames_sent = 0
        self.refused = 0
        self.last_error = ''

    def send_now(self):
        """Manual upload: start draining at once (and retry at once after a failure)."""
        self.draining = True
        self.retry_at = None

    def _alarm(self, kind, detail):
        if self.on_alarm is not None:
            self.on_alarm(self.name, kind, detail)

    def clock_jumped(self):
        """The wall clock stepped: the next scheduled start is worked out again."""
        if not self.draining:
            self.due_at = None

    def step(self, now, durable_seq, wall=None):
        """('send', Built) or ('wait', until): until is a time on now's clock, or None to wait
        for new data.  now: the clock waits are measured on (monotonic on a gateway); wall:
        the wall clock for the schedule's times of day (default now)."""
        if self.retry_at is not None:
            if now < self.retry_at:
                return ('wait', self.retry_at)
            self.retry_at = None
        if self.inflight is None:
            if not self.draining:
                if self.due_at is None:
                    self.due_at = self.schedule.next_due(now, wall) if self.schedule.every_s or self.schedule.times else now
                if now < self.due_at:
                    return ('wait', self.due_at)
                if durable_seq <= self.cursor:
                    self.due_at = self.schedule.next_due(now, wall)
                    return ('wait', self.due_at if self.due_at > now else None)
                self.draining = True
            if durable_seq <= self.cursor:
                self.draining = False
                self.due_at = self.schedule.next_due(now, wall)
                return ('wait', self.due_at if self.due_at > now else None)
            built = self.build(self.cursor + 1, self.max_records, self.max_bytes)
            if built is None:
                self.draining = False
                self.due_at = self.schedule.next_due(now, wall)
                return ('wait', self.due_at if self.due_at > now else None)
            if built.unframeable:
                self._alarm('unframeable', '%d readings up to seq %d could not be framed; declared lost'
                            % (built.unframeable, built.last_seq))
            self.inflight = built
        wait = self.bucket.wait_for(len(self.inflight.data), now)
        if wait > 0:
            return ('wait', now + wait)
        self.bucket.spend(len(self.inflight.data))
        return ('send', self.inflight)

    def on_outcome(self, outcome, now):
        """Apply the centre's answer; returns the new cursor when it moved, else None."""
        kind = outcome.kind
        if kind == exchange.ACKED:
            if self.backoff.failures:
                self._alarm('recovered', 'frames are taken again after %d failed attempts' % self.backoff.failures)
            self.backoff.success()
            self.frames_sent += 1
            self.last_error = ''
            return self._taken(outcome.ack if self.advance == 'ack' else self.inflight.last_seq)
        self.last_error = '%s %s %s' % (outcome.status or '', outcome.error, outcome.detail)
        if self.advance == 'frame' and kind in (exchange.REFUSED, exchange.SPLIT, exchange.CLOCK):
            self.refused += 1
            return self._taken(self.inflight.last_seq)
        if kind == exchange.SPLIT:
            self.max_records = max(1, self.inflight.records // 2)
            self.max_bytes = max(1024, len(self.inflight.data) // 2)
            self.inflight = None
            return None
        if kind == exchange.CLOCK:
            if not self.backoff.failures:
                self._alarm('clock', 'the centre refused the readings\' times (%s): check the gateway\'s clock '
                                     'against the centre\'s; retrying with backoff' % outcome.detail)
            self.retry_at = now + self.backoff.failure()
            return None
        if kind == exchange.REFUSED:
            self.refused += 1
            self._alarm('refused', self.last_error.strip())
            self.inflight = None
            self.retry_at = now + self.refused_retry_s
            return None
        if not self.backoff.failures:
            self._alarm('down', '%s; retrying with backoff' % self.last_error.strip())
        self.retry_at = now + self.backoff.failure(outcome.retry_after if kind == exchange.BUSY else None)
        return None

    def _taken(self, cursor):
        self.inflight = None
        if cursor != self.cursor:
            self.cursor = cursor
            return cursor
        return None

    def state(self):
        if self.retry_at is not None:
            return 'backoff'
        if self.inflight is not None:
            return 'sending'
        return 'draining' if self.draining else 'idle'

    def status(self, now):
        return {'centre': self.name, 'state': self.state(), 'cursor': self.cursor, 'draining': self.draining,
                'next_attempt_in_s': None if self.retry_at is None else max(0.0, self.retry_at - now),
                'consecutive_failures': self.backoff.failures, 'frames_sent': self.frames_sent,
                'refused': self.refused, 'last_error': self.last_error or None}
