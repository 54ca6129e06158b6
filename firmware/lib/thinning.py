"""Which readings the ring keeps when it must thin unsent data (firmware/lib/ring.py).

Kept, so that every daily, monthly and yearly total can still be computed
exactly (seed 001 §8.2, §12.4):
- cumulative register readings (parameter 01) that bound a day: the first and
  the last reading of each code on each local day (UTC+8 by default);
- every reading of a quantity that is summed rather than read off a register
  (consumption in period 02, output 10, recovered quantity 11) and every
  laboratory or factor value (04-09);
- every reading entered by hand or flagged as a register rollover or a meter
  reset, since increments across them cannot be rebuilt otherwise.
Instantaneous values (rates 03, concentrations 12, flows 13, power 14) keep
only the first reading of each code in each hour.

rule(utc_offset_s) gives the ring its thin_rule: called with the readings
about to be thinned, it returns the predicate keep(seq, payload).
"""

from firmware.lib import reading
from shared.codec import mp
from shared.codec.flags import FLAG_MANUAL, FLAG_RESET, FLAG_ROLLOVER

REGISTER = 1
INSTANT = (3, 12, 13, 14)
ALWAYS_FLAGS = FLAG_MANUAL | FLAG_ROLLOVER | FLAG_RESET
DAY_MS = 86400000
HOUR_MS = 3600000


class Thinner:
    def __init__(self, records, utc_offset_s=8 * 3600):
        """records: an iterable of the (seq, payload) pairs about to be thinned, in sequence order."""
        self.offset_ms = utc_offset_s * 1000
        self._keep = {}
        self._plan(records)

    def _plan(self, records):
        first_of = {}
        last_of = {}
        for seq, payload in records:
            try:
                code, ts_ms, value, exp, flags, unit = mp.unpackb(payload)
            except (ValueError, TypeError):
                self._keep[seq] = True          # never thin away what we cannot read
                continue
            param = reading.parameter(code)
            if flags & ALWAYS_FLAGS:
                self._keep[seq] = True
            elif param == REGISTER:
                day = (ts_ms + self.offset_ms) // DAY_MS
                key = (code, day)
                if key not in first_of:
                    first_of[key] = seq
                last_of[key] = seq
            elif param in INSTANT:
                key = (code, (ts_ms + self.offset_ms) // HOUR_MS)
                if key not in first_of:
                    first_of[key] = seq
            else:
                self._keep[seq] = True
        for seq in first_of.values():
            self._keep[seq] = True
        for seq in last_of.values():
            self._keep[seq] = True

    def keep(self, seq, payload):
        return seq in self._keep


def rule(utc_offset_s=8 * 3600):
    def plan(records):
        return Thinner(records, utc_offset_s).keep
    return plan
