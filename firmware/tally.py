"""What the gateway keeps of its own readings to account for them live (the page's
emissions): for a register, the first and last reading of each local day and every
reading that breaks its history (rollover, reset, suspect) with the one before; for a
code whose values are amounts, every value.  This month and the last, a few entries
per register per day, so 500 points cost well under a megabyte.  Saved beside the log
(DATA_DIR/tally.json) now and then and at a clean stop, so a restart keeps the month;
readings while the gateway was down are outage gaps in the log as everywhere else."""

from __future__ import annotations

import json
import logging

from firmware.lib.durable import replace_file
from shared import civil
from shared.accounting.binding import reading_kind
from shared.codec import decimals
from shared.codec.flags import FLAG_MISSING, FLAG_RESET, FLAG_ROLLOVER, FLAG_SUSPECT

log = logging.getLogger('tanji.accounting')

BREAKS = FLAG_ROLLOVER | FLAG_RESET | FLAG_SUSPECT
KINDS = ('register', 'amount')


def month_start_ms(ms: int, utc_offset_s: int) -> int:
    y, m, _d, _h, _mi, _s = civil.local_fields(ms, utc_offset_s)
    return (civil.days_from_civil(y, m, 1) * 86400 - utc_offset_s) * 1000


def day_start_ms(ms: int, utc_offset_s: int) -> int:
    return ((ms // 1000 + utc_offset_s) // 86400 * 86400 - utc_offset_s) * 1000


class Tally:
    def __init__(self, utc_offset_s: int, path: str | None = None) -> None:
        self.utc_offset_s = utc_offset_s
        self.path = path
        self.codes: dict[str, dict] = {}         # code -> {'unit', 'kind', 'days': {day: [first, last]}, 'marks', 'amounts'}
        self._kinds: dict[int, str | None] = {}
        self.dirty = False
        if path:
            self._load()

    def add(self, code: int, ts_ms: int, value: int | None, exp: int, flags: int, unit: str) -> None:
        kind = self._kinds.get(code, '')
        if kind == '':
            kind = self._kinds[code] = reading_kind('%012d' % code)
        if kind not in KINDS or value is None or flags & FLAG_MISSING:
            return
        key = '%012d' % code
        entry = self.codes.get(key)
        if entry is None or entry['unit'] != unit:
            entry = self.codes[key] = {'unit': unit, 'kind': kind, 'days': {}, 'marks': [], 'amounts': []}
        text = decimals.format(value, exp) if isinstance(value, int) else repr(value * 10.0 ** exp)
        reading = [ts_ms, text, flags]
        self.dirty = True
        if kind == 'amount':
            entry['amounts'].append(reading)
            return
        day = str((ts_ms // 1000 + self.utc_offset_s) // 86400)
        span = entry['days'].get(day)
        if flags & BREAKS:
            last = self._latest(entry)
            if last is not None:
                entry['marks'].append(last)
            entry['marks'].append(reading)
        if span is None:
            entry['days'][day] = [reading, reading]
        elif ts_ms >= span[1][0]:
            span[1] = reading
        elif ts_ms < span[0][0]:
            span[0] = reading

    @staticmethod
    def _latest(entry: dict) -> list | None:
        if not entry['days']:
            return None
        return entry['days'][max(entry['days'], key=int)][1]

    def readings(self, code: str, since_ms: int) -> tuple[list, str | None]:
        """A code's kept readings from `since_ms` on, preceded by the last one before (the
        baseline of the first increment), as shared/accounting/binding.py takes them."""
        entry = self.codes.get(code)
        if entry is None:
            return [], None
        if entry['kind'] == 'amount':
            return sorted(r for r in entry['amounts'] if r[0] >= since_ms), entry['unit']
        kept = {tuple(r[:2]): r for span in entry['days'].values() for r in span}
        kept.update((tuple(r[:2]), r) for r in entry['marks'])
        ordered = sorted(kept.values(), key=lambda r: r[0])
        before = [r for r in ordered if r[0] < since_ms]
        return before[-1:] + [r for r in ordered if r[0] >= since_ms], entry['unit']

    def prune(self, now_ms: int) -> None:
        """Forget what is older than the start of last month."""
        this_month = month_start_ms(now_ms, self.utc_offset_s)
        floor = month_start_ms(this_month - 1, self.utc_offset_s)
        floor_day = (floor // 1000 + self.utc_offset_s) // 86400
        for entry in self.codes.values():
            entry['days'] = {d: s for d, s in entry['days'].items() if int(d) >= floor_day}
            entry['marks'] = [r for r in entry['marks'] if r[0] >= floor]
            entry['amounts'] = [r for r in entry['amounts'] if r[0] >= floor]

    def snapshot(self) -> str | None:
        """The tally as text to save (on the loop that adds to it); None when nothing changed."""
        if not self.path or not self.dirty:
            return None
        self.dirty = False
        return json.dumps({'utc_offset_s': self.utc_offset_s, 'codes': self.codes}, separators=(',', ':'))

    def write(self, text: str) -> None:
        """Save a snapshot (in a worker thread: it syncs)."""
        replace_file(self.path, text)

    def _load(self) -> None:
        try:
            with open(self.path, encoding='utf-8') as f:
                doc = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning('ALARM the live accounting tally %s cannot be read (%s): the emissions on the page start '
                        'again from the next readings; the log and the centres keep every reading', self.path, e)
            return
        if doc.get('utc_offset_s') == self.utc_offset_s and isinstance(doc.get('codes'), dict):
            self.codes = doc['codes']
