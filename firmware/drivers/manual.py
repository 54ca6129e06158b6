"""Manual entry: a value typed by a person, with its unit, the period it covers and
a reference to the evidence (invoice, weighbridge ticket, lab report).  Portable.

seed 001 §6.2 allows manual entry for data no instrument measures; it is checked
like any reading (code, unit, value) and always carries FLAG_MANUAL.  The reading
is stamped at the end of its period; the period, evidence and operator go into
the gateway's manual-entry journal beside the log (docs/drivers.md).

An entry is never edited (seed 001 §11.6, §11.13): it is withdrawn — a reading
with the same code, time and value flagged manual and invalid, which supersedes
it — or corrected: withdrawn, and the new value entered, with who, when and why
in the journal.  A second live entry for a code and an overlapping period is a
duplicate and refused; the Ledger knows which entries are live.
"""

from shared import civil
from shared.codec import codes, decimals
from firmware.lib.reading import Reading
from shared.codec.flags import FLAG_INVALID, FLAG_MANUAL

_MIN_MS = 946684800000          # 2000-01-01
_MAX_MS = 4102444800000         # 2100-01-01


class EntryError(ValueError):
    pass


def _time_ms(value, name, utc_offset_s, day_end=False):
    """ms since 1970 from an int (ms) or 'YYYY-MM-DD' / 'YYYY-MM-DDThh:mm[:ss]' local time."""
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str):
        text = value.strip().replace(' ', 'T')
        date, _, clock = text.partition('T')
        parts = date.split('-')
        try:
            y, mo, d = (int(p) for p in parts)
            hms = [int(p) for p in clock.split(':')] if clock else [0, 0]
            while len(hms) < 3:
                hms.append(0)
            h, mi, s = hms
        except ValueError:
            raise EntryError('%s %r must be YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss]' % (name, value))
        if len(parts) != 3 or not (1 <= mo <= 12 and 1 <= d <= 31 and 0 <= h < 24 and 0 <= mi < 60 and 0 <= s < 60):
            raise EntryError('%s %r is not a valid date/time' % (name, value))
        seconds = civil.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - utc_offset_s
        if day_end and not clock:
            seconds += 86400            # a date as period end means the end of that day
        ms = seconds * 1000
    else:
        raise EntryError('%s is required' % name)
    if not _MIN_MS <= ms < _MAX_MS:
        raise EntryError('%s lies outside 2000..2100' % name)
    return ms


def entry(doc, now_ms, utc_offset_s=8 * 3600, tables=None):
    """(reading, journal record) from an entry {code, value, unit, from, to, evidence, operator};
    EntryError naming the field otherwise."""
    tables = tables or codes.tables()
    if not isinstance(doc, dict):
        raise EntryError('an entry is an object')
    code = doc.get('code')
    try:
        code = tables.validate(code)
    except (codes.CodeError, TypeError, AttributeError) as e:
        raise EntryError('code: %s' % e)
    unit = doc.get('unit')
    if not isinstance(unit, str) or not unit:
        raise EntryError('unit is required (the unit the value is in)')
    try:
        tables.check_unit(code, unit)
    except codes.CodeError as e:
        raise EntryError('unit: %s' % e)
    value = doc.get('value')
    if not isinstance(value, str):
        raise EntryError('value must be given as decimal text, e.g. "1250.5"')
    try:
        m, e = decimals.parse(value)
    except decimals.DecimalError as err:
        raise EntryError('value: %s' % err)
    start = _time_ms(doc.get('from'), 'from', utc_offset_s)
    end = _time_ms(doc.get('to'), 'to', utc_offset_s, day_end=True)
    if end <= start:
        raise EntryError('the period must end after it starts')
    if end > now_ms + 86400000:
        raise EntryError('the period ends in the future')
    evidence = doc.get('evidence')
    if not isinstance(evidence, str) or not evidence.strip():
        raise EntryError('evidence is required: a reference to the document the value comes from')
    operator = doc.get('operator')
    if not isinstance(operator, str) or not operator.strip():
        raise EntryError('operator is required: who entered the value')
    reading = Reading(int(code), end, m, e, FLAG_MANUAL, unit)
    journal = {'code': code, 'value': value, 'unit': unit, 'from_ms': start, 'to_ms': end,
               'evidence': evidence.strip(), 'operator': operator.strip(), 'entered_ms': now_ms}
    corrects = doc.get('corrects')
    if corrects is not None:
        journal['corrects'] = _text(corrects, 'corrects', 'the id of the entry this one corrects')
        journal['reason'] = _text(doc.get('reason'), 'reason', 'why the entry is corrected')
    return reading, journal


def _text(value, name, what):
    if not isinstance(value, str) or not value.strip():
        raise EntryError('%s is required: %s' % (name, what))
    return value.strip()


def withdrawal(entry_journal, doc, now_ms):
    """(reading, journal record) withdrawing a journalled entry: its code, time and value
    flagged manual and invalid.  doc: {withdraws, reason, operator}."""
    reason = _text(doc.get('reason'), 'reason', 'why the entry is withdrawn')
    operator = _text(doc.get('operator'), 'operator', 'who withdraws the entry')
    m, e = decimals.parse(entry_journal['value'])
    reading = Reading(int(entry_journal['code']), entry_journal['to_ms'], m, e, FLAG_MANUAL | FLAG_INVALID,
                      entry_journal['unit'])
    return reading, {'withdraws': entry_journal['id'], 'code': entry_journal['code'], 'reason': reason,
                     'operator': operator, 'entered_ms': now_ms}


class Ledger:
    """The journal's entries (the last line per id counts) and which are live."""

    def __init__(self, records):
        self.entries = {}
        for rec in records:
            if isinstance(rec, dict) and 'id' in rec:
                self.entries[rec['id']] = rec
        self.ended_by = {}               # entry id -> the id of the entry that withdrew or corrected it
        for rec in self.entries.values():
            target = rec.get('withdraws') or rec.get('corrects')
            if target:
                self.ended_by[target] = rec['id']

    def live(self, entry_id, but=None):
        """The live entry with this id (but: ignore an ending by this id); EntryError otherwise."""
        rec = self.entries.get(entry_id)
        if rec is None or 'value' not in rec:
            raise EntryError('there is no entry %s (tanji gateway entries lists them)' % entry_id)
        ender = self.ended_by.get(entry_id)
        if ender is not None and ender != but:
            raise EntryError('entry %s was already %s by entry %s' % (
                entry_id, 'withdrawn' if 'withdraws' in self.entries[ender] else 'corrected', ender))
        return rec

    def clash(self, journal, own_id=None):
        """The live entry for the same code whose period overlaps this one's, or None."""
        ended = journal.get('corrects')
        for rec in self.entries.values():
            if rec['id'] in (own_id, ended) or 'value' not in rec or rec.get('code') != journal['code']:
                continue
            if rec['id'] in self.ended_by:
                continue
            if rec['from_ms'] < journal['to_ms'] and journal['from_ms'] < rec['to_ms']:
                return rec
        return None
