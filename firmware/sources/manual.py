"""Manual entries (CPython): `tanji gateway enter` checks an entry and drops it as a
JSON file into the gateway's inbox (written to a temporary name, then renamed);
the running gateway appends the entry to the journal (period, evidence,
operator, id) with the sequence number it is about to get, logs the reading,
waits until it is durable and only then removes the file.  At start-up, before
any source adds a reading, an inbox file whose journalled sequence number is
durable is finished (removed); any other is taken again (a new journal line;
the last line per id counts).  So a power cut at any point neither loses an
entry nor logs it twice.  Withdrawals and corrections (firmware/drivers/manual.py) go
the same way; the journal is the who, when and why of every entry."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid

from firmware.drivers import manual

log = logging.getLogger('tanji.manual')

POLL_S = 1.0


def inbox_dir(data_dir: str) -> str:
    return os.path.join(data_dir, 'manual-inbox')


def journal_path(data_dir: str) -> str:
    return os.path.join(data_dir, 'manual-journal.jsonl')


def read_journal(data_dir: str) -> list[dict]:
    """The journal's lines (a torn last line after a power cut is skipped)."""
    out = []
    try:
        with open(journal_path(data_dir)) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return out


def _pending(data_dir: str, utc_offset_s: int) -> list[dict]:
    """Entries in the inbox the gateway has not taken yet, as journal-like records."""
    inbox = inbox_dir(data_dir)
    out = []
    for name in sorted(os.listdir(inbox)) if os.path.isdir(inbox) else []:
        if name.endswith('.json'):
            try:
                with open(os.path.join(inbox, name)) as f:
                    wrapper = json.load(f)
                doc = dict(wrapper.get('entry') or wrapper.get('withdraw') or {}, id=wrapper['id'])
                if 'entry' in wrapper:
                    doc.update(manual.entry(wrapper['entry'], int(time.time() * 1000), utc_offset_s)[1], id=wrapper['id'])
                out.append(doc)
            except (OSError, ValueError, KeyError, manual.EntryError):
                continue
    return out


def ledger(data_dir: str) -> manual.Ledger:
    return manual.Ledger(read_journal(data_dir))


def _check_entry(book: manual.Ledger, journal: dict, own_id: str | None) -> None:
    """EntryError when the entry would duplicate a live one, or corrects one that is not live."""
    if 'corrects' in journal:
        corrected = book.live(journal['corrects'], but=own_id)
        if corrected['code'] != journal['code']:
            raise manual.EntryError('entry %s is for code %s, not %s: a correction keeps the code (withdraw it and '
                                    'enter the other code)' % (corrected['id'], corrected['code'], journal['code']))
    other = book.clash(journal, own_id)
    if other is not None:
        raise manual.EntryError(
            'code %s already has entry %s for an overlapping period (%s, evidence %s, entered by %s): to change '
            'it, correct that entry (tanji gateway enter ... --corrects %s --reason "...") or withdraw it' % (
                journal['code'], other['id'], other['value'] + ' ' + other['unit'], other.get('evidence'),
                other.get('operator'), other['id']))


def _drop(data_dir: str, wrapper: dict) -> None:
    inbox = inbox_dir(data_dir)
    os.makedirs(inbox, exist_ok=True)
    tmp = os.path.join(inbox, '.%s.tmp' % wrapper['id'])
    with open(tmp, 'w') as f:
        json.dump(wrapper, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(inbox, '%s.json' % wrapper['id']))


def submit(data_dir: str, doc: dict, utc_offset_s: int) -> dict:
    """Check an entry and put it in the inbox; EntryError if it is not acceptable."""
    _, journal = manual.entry(doc, int(time.time() * 1000), utc_offset_s)
    journal['id'] = uuid.uuid4().hex[:12]
    _check_entry(manual.Ledger(read_journal(data_dir) + _pending(data_dir, utc_offset_s)), journal, None)
    _drop(data_dir, {'entry': doc, 'id': journal['id']})
    return journal


def submit_withdrawal(data_dir: str, doc: dict, utc_offset_s: int) -> dict:
    """Put a withdrawal {withdraws, reason, operator} in the inbox; EntryError if it cannot be."""
    book = manual.Ledger(read_journal(data_dir) + _pending(data_dir, utc_offset_s))
    target = book.live(doc.get('withdraws'))
    _, journal = manual.withdrawal(target, doc, int(time.time() * 1000))
    journal['id'] = uuid.uuid4().hex[:12]
    _drop(data_dir, {'withdraw': doc, 'id': journal['id']})
    return journal


class ManualInbox:
    def __init__(self, data_dir: str, sink, utc_offset_s: int) -> None:
        self.data_dir = data_dir
        self.sink = sink
        self.utc_offset_s = utc_offset_s
        self.stats = {'entries': 0, 'refused': 0}

    def _journalled(self) -> dict:
        return manual.Ledger(read_journal(self.data_dir)).entries

    def recover(self) -> None:
        """Finish entries a power cut interrupted; call before any source adds readings."""
        inbox = inbox_dir(self.data_dir)
        if not os.path.isdir(inbox):
            return
        done = self._journalled()
        for name in os.listdir(inbox):
            entry_id = name[:-5]
            if name.endswith('.json') and entry_id in done and done[entry_id]['seq'] <= self.sink.durable_seq:
                os.remove(os.path.join(inbox, name))

    async def _take(self, path: str) -> None:
        with open(path) as f:
            wrapper = json.load(f)
        entry_id = wrapper.get('id')
        now = int(time.time() * 1000)
        book = manual.Ledger(read_journal(self.data_dir))
        readings = []
        try:
            if 'withdraw' in wrapper:
                target = book.live(wrapper['withdraw'].get('withdraws'), but=entry_id)
                reading, journal = manual.withdrawal(target, wrapper['withdraw'], now)
            else:
                reading, journal = manual.entry(wrapper.get('entry'), now, self.utc_offset_s)
                _check_entry(book, journal, entry_id)
                if 'corrects' in journal:
                    readings.append(manual.withdrawal(book.entries[journal['corrects']], {
                        'reason': journal['reason'], 'operator': journal['operator']}, now)[0])
        except manual.EntryError as e:
            self.stats['refused'] += 1
            log.warning('ALARM manual entry %s refused: %s (moved aside)', path, e)
            os.rename(path, path + '.refused')
            return
        readings.append(reading)
        # the readings get consecutive numbers (no await between them); the journal names the last
        journal.update(id=entry_id, seq=self.sink.next_seq + len(readings) - 1)
        with open(journal_path(self.data_dir), 'a') as f:
            f.write(json.dumps(journal, ensure_ascii=False) + '\n')
            f.flush()
            os.fsync(f.fileno())
        seq = None
        for r in readings:
            seq = self.sink.add_reading(r)
            if seq is None:
                return
        await self.sink.wait_durable(seq)
        os.remove(path)
        self.stats['entries'] += 1
        what = ('withdrawal of entry %s' % journal['withdraws'] if 'withdraws' in journal else
                'correction of entry %s' % journal['corrects'] if 'corrects' in journal else 'entry')
        log.info('manual %s %s (%s: %s) logged as reading %d', what, entry_id, journal['operator'],
                 journal.get('reason', journal.get('evidence')), seq)

    async def run(self) -> None:
        inbox = inbox_dir(self.data_dir)
        os.makedirs(inbox, exist_ok=True)
        while True:
            names = sorted(n for n in os.listdir(inbox) if n.endswith('.json'))
            for name in names:
                try:
                    await self._take(os.path.join(inbox, name))
                except (OSError, ValueError) as e:
                    log.warning('ALARM manual entry %s unreadable: %s', name, e)
                    os.rename(os.path.join(inbox, name), os.path.join(inbox, name + '.refused'))
            await asyncio.sleep(POLL_S)

    def status(self) -> dict:
        return {'manual': inbox_dir(self.data_dir), **self.stats}
