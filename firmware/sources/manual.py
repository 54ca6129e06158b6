"""Manual entries (CPython): `tanji gateway enter` checks an entry and drops it as a
JSON file into the gateway's inbox (written to a temporary name, then renamed);
the running gateway appends the entry to the journal (period, evidence,
operator, id) with the sequence number it is about to get, logs the reading,
waits until it is durable and only then removes the file.  At start-up, before
any source adds a reading, an inbox file whose journalled sequence number is
durable is finished (removed); any other is taken again (a new journal line;
the last line per id counts).  So a power cut at any point neither loses an
entry nor logs it twice."""

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


def submit(data_dir: str, doc: dict, utc_offset_s: int) -> dict:
    """Check an entry and put it in the inbox; EntryError if it is not acceptable."""
    _, journal = manual.entry(doc, int(time.time() * 1000), utc_offset_s)
    journal['id'] = uuid.uuid4().hex
    inbox = inbox_dir(data_dir)
    os.makedirs(inbox, exist_ok=True)
    tmp = os.path.join(inbox, '.%s.tmp' % journal['id'])
    with open(tmp, 'w') as f:
        json.dump({'entry': doc, 'id': journal['id']}, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(inbox, '%s.json' % journal['id']))
    return journal


class ManualInbox:
    def __init__(self, data_dir: str, sink, utc_offset_s: int) -> None:
        self.data_dir = data_dir
        self.sink = sink
        self.utc_offset_s = utc_offset_s
        self.stats = {'entries': 0, 'refused': 0}

    def _journalled(self) -> dict:
        out = {}
        try:
            with open(journal_path(self.data_dir)) as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        out[rec['id']] = rec
                    except (ValueError, KeyError):
                        continue                # a torn last line after a power cut
        except FileNotFoundError:
            pass
        return out

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
        try:
            reading, journal = manual.entry(wrapper.get('entry'), int(time.time() * 1000), self.utc_offset_s)
        except manual.EntryError as e:
            self.stats['refused'] += 1
            log.warning('ALARM manual entry %s refused: %s (moved aside)', path, e)
            os.rename(path, path + '.refused')
            return
        journal.update(id=entry_id, seq=self.sink.next_seq)
        with open(journal_path(self.data_dir), 'a') as f:
            f.write(json.dumps(journal, ensure_ascii=False) + '\n')
            f.flush()
            os.fsync(f.fileno())
        seq = self.sink.add_reading(reading)       # no await since the journal line: it gets that number
        if seq is None:
            return
        await self.sink.wait_durable(seq)
        os.remove(path)
        self.stats['entries'] += 1
        log.info('manual entry %s logged as reading %d', entry_id, seq)

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
