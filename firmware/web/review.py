"""Manual entries through the page, entered by one account and approved by another
(seed 001 §11.6, §11.13): a proposal is checked as `tanji gateway enter` checks an entry
(firmware/drivers/manual.py), kept here until a second operator approves or rejects it,
and on approval handed to the gateway's manual inbox (firmware/sources/manual.py), which
logs the reading durably and journals who entered it, who approved it, and when."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Callable

from firmware.drivers import manual
from firmware.sources import manual as inbox
from firmware.sources.config import owner_of
from shared.codec.text import ascii_digits

SCHEMA = '''
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY, doc TEXT NOT NULL, proposed_by TEXT NOT NULL, proposed_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', decided_by TEXT, decided_at REAL, note TEXT, entry_id TEXT);
'''
FIELDS = ('code', 'value', 'unit', 'from', 'to', 'evidence')
CORRECTION = ('corrects', 'reason')           # a correction: an entry naming the one it replaces, and why


class ReviewError(ValueError):
    """A refusal with the form field it belongs next to ('' for the form as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _field_of(error: str) -> str:
    """The form field an EntryError's text names (its messages start with the field)."""
    head = error.split(':', 1)[0].split(' ', 1)[0]
    return head if head in FIELDS + CORRECTION else ('from' if 'period' in error else '')


class Reviews:
    def __init__(self, db: sqlite3.Connection, data_dir: str, sources: Callable[[], object], utc_offset_s: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.data_dir = data_dir
        self.sources = sources                  # the sources configured now (they change with the configuration)
        self.utc_offset_s = utc_offset_s
        self.clock = clock
        db.executescript(SCHEMA)

    def _book(self, proposal_id: str | None) -> manual.Ledger:
        return manual.Ledger(inbox.read_journal(self.data_dir) + inbox._pending(self.data_dir, self.utc_offset_s)
                             + self._other_proposals(proposal_id))

    def _check(self, doc: dict, proposal_id: str | None = None) -> dict:
        """The journal record the entry (or withdrawal) would make; ReviewError naming the field otherwise."""
        if 'withdraws' in doc:
            try:
                return manual.withdrawal(self._book(proposal_id).live(doc['withdraws']), doc,
                                         int(self.clock() * 1000))[1]
            except manual.EntryError as e:
                raise ReviewError('reason' if 'reason' in str(e) else '', str(e))
        code = doc.get('code', '')
        owner = owner_of(self.sources(), int(code)) if ascii_digits(code) else None
        if owner is not None:
            raise ReviewError('code', 'code %s is read by %s: a code identifies one monitoring point (seed 001 '
                                      '§7.2); enter it under its own code' % (code, owner))
        try:
            _, journal = manual.entry(doc, int(self.clock() * 1000), self.utc_offset_s)
            journal['id'] = proposal_id or ''
            inbox._check_entry(self._book(proposal_id), journal, proposal_id)
        except manual.EntryError as e:
            raise ReviewError(_field_of(str(e)), str(e))
        return journal

    def _other_proposals(self, but: str | None) -> list[dict]:
        """Pending proposals as journal records, so two proposals for one period clash too."""
        out = []
        for i, doc in self.db.execute("SELECT id, doc FROM proposals WHERE state = 'pending' AND id != ?",
                                      (but or '',)):
            try:
                journal = manual.entry(json.loads(doc), int(self.clock() * 1000), self.utc_offset_s)[1]
            except manual.EntryError:
                continue
            out.append(dict(journal, id=i))
        return out

    def propose(self, form: dict, who: str) -> str:
        """Keep an entry, a correction (with `corrects` and `reason`) or a withdrawal (`withdraws`
        and `reason`) for a second operator; ReviewError naming the field when it will not do."""
        if form.get('withdraws'):
            doc = {'withdraws': str(form['withdraws']), 'reason': str(form.get('reason', '')).strip()}
        else:
            doc = {k: str(form.get(k, '')).strip() for k in FIELDS}
            if form.get('corrects'):
                doc.update(corrects=str(form['corrects']), reason=str(form.get('reason', '')).strip())
        doc['operator'] = who
        proposal_id = uuid.uuid4().hex[:12]
        self._check(doc)
        self.db.execute('INSERT INTO proposals (id, doc, proposed_by, proposed_at) VALUES (?, ?, ?, ?)',
                        (proposal_id, json.dumps(doc, ensure_ascii=False), who, self.clock()))
        return proposal_id

    def pending(self) -> list[dict]:
        rows = self.db.execute("SELECT id, doc, proposed_by, proposed_at FROM proposals WHERE state = 'pending' "
                               "ORDER BY proposed_at")
        return [dict(json.loads(doc), id=i, proposed_by=by, proposed_at=at) for i, doc, by, at in rows]

    def decided(self, limit: int = 50) -> list[dict]:
        rows = self.db.execute("SELECT id, doc, proposed_by, state, decided_by, decided_at, note, entry_id "
                               "FROM proposals WHERE state != 'pending' ORDER BY decided_at DESC LIMIT ?", (limit,))
        return [dict(json.loads(doc), id=i, proposed_by=by, state=state, decided_by=dby, decided_at=at, note=note,
                     entry_id=entry) for i, doc, by, state, dby, at, note, entry in rows]

    def _take(self, proposal_id: str, who: str) -> dict:
        row = self.db.execute("SELECT doc, proposed_by FROM proposals WHERE id = ? AND state = 'pending'",
                              (proposal_id,)).fetchone()
        if row is None:
            raise ReviewError('', 'no_such_proposal')
        if row[1] == who:
            raise ReviewError('', 'second_person')        # the one who entered it cannot approve it
        return json.loads(row[0])

    def approve(self, proposal_id: str, who: str) -> str:
        """Hand the entry to the gateway; the id of the journal entry it becomes."""
        doc = self._take(proposal_id, who)
        doc['operator'] = '%s (approved by %s)' % (doc['operator'], who)
        self._check(doc, proposal_id)
        try:
            if 'withdraws' in doc:
                journal = inbox.submit_withdrawal(self.data_dir, doc, self.utc_offset_s)
            else:
                journal = inbox.submit(self.data_dir, doc, self.utc_offset_s)
        except manual.EntryError as e:
            raise ReviewError(_field_of(str(e)), str(e))
        self.db.execute("UPDATE proposals SET state = 'approved', decided_by = ?, decided_at = ?, entry_id = ? "
                        "WHERE id = ?", (who, self.clock(), journal['id'], proposal_id))
        return journal['id']

    def reject(self, proposal_id: str, who: str, note: str) -> None:
        self._take(proposal_id, who)
        if not note.strip():
            raise ReviewError('note', 'reason_required')
        self.db.execute("UPDATE proposals SET state = 'rejected', decided_by = ?, decided_at = ?, note = ? "
                        "WHERE id = ?", (who, self.clock(), note.strip(), proposal_id))
