"""Fan-out: every stored frame goes, unchanged and still signed, to each further
data centre (seed 001 §7.3), so each centre verifies it independently.

The frames table is the durable outbox; each centre has its own sender task,
HTTP session and Delivery (shared/delivery/machine.py, the gateway's machine,
with the frame id as cursor), so a dead or slow centre never holds up ingest
or the other centres.  A frame counts as delivered on a 200 with a valid ack
(the centre stores a frame before it answers 200; docs/protocol.md §7).  The
cursor is saved at most every half second, so a crash resends a few frames,
which the receiving centre absorbs.  A centre that refuses a frame for good (a
4xx other than 429) gets an entry in fanout_rejects and an alarm in the log,
and the sender moves on: one gateway unknown to that centre must not stop every
other gateway's data.  413 is recorded the same way, since a signed frame
cannot be split.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import aiohttp

from server.config import Downstream, ServerConfig
from server.dbthreads import DatabaseThreads
from server.store import centres, frames
from shared import tls
from shared.aio import cancel_and_wait, wait_for
from shared.delivery import exchange, machine
from shared.delivery.backoff import Backoff
from shared.delivery.http import post_frame

log = logging.getLogger('tanji.server.fanout')

READ_BATCH = 256
SAVE_EVERY_S = 0.5
IDLE_POLL_S = 1.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class CentreSender:
    def __init__(self, db: DatabaseThreads, centre: Downstream, new_data: asyncio.Event,
                 backoff: Backoff | None = None, timeout_s: float = 30.0) -> None:
        self.db = db
        self.centre = centre
        self.new_data = new_data
        self.timeout_s = timeout_s
        self.delivery = machine.Delivery(centre.name, 0, self._build, machine.Schedule(every_s=0),
                                         backoff=backoff or Backoff(base=1.0, cap=300.0), advance='frame')
        self._outbox: deque[tuple[int, bytes]] = deque()    # frames read ahead, oldest first
        self._unsaved = 0
        self._saved_at = 0.0
        self._task: asyncio.Task | None = None

    @property
    def cursor(self) -> int:
        return self.delivery.cursor

    def status(self) -> dict:
        return self.delivery.status(time.monotonic())

    async def start(self) -> None:
        row = await self.db.write_tx(centres.ensure_centre, self.centre.name, self.centre.url, self.centre.from_start)
        self.delivery.cursor = row.cursor
        self._task = asyncio.create_task(self._run(), name='tanji-fanout-%s' % self.centre.name)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
            await self._save()

    def _build(self, first: int, max_records: int, max_bytes: int) -> machine.Built | None:
        if not self._outbox:
            return None
        frame_id, raw = self._outbox[0]
        return machine.Built(raw, first, frame_id, 1)

    async def _save(self) -> None:
        if self._unsaved:
            await self.db.write_tx(centres.advance_centre, self.centre.name, self.cursor, self._unsaved, _now_ms())
            self._unsaved = 0
        self._saved_at = time.monotonic()

    async def _run(self) -> None:
        d = self.delivery
        async with tls.session(self.timeout_s, self.centre.ca_file, self.centre.pin_sha256) as session:
            while True:
                while self._outbox and self._outbox[0][0] <= d.cursor:
                    self._outbox.popleft()
                if not self._outbox:
                    self._outbox.extend(await self.db.read(frames.frames_after, d.cursor, READ_BATCH))
                now = time.monotonic()
                action, arg = d.step(now, self._outbox[-1][0] if self._outbox else d.cursor)
                if action == 'wait':
                    if arg is not None:
                        await asyncio.sleep(arg - now)
                        continue
                    await self._save()
                    self.new_data.clear()
                    try:
                        await wait_for(self.new_data.wait(), IDLE_POLL_S)
                    except asyncio.TimeoutError:
                        pass
                    continue
                await self._send(session, arg)

    async def _send(self, session: aiohttp.ClientSession, item: machine.Built) -> None:
        d = self.delivery
        failing = d.backoff.failures
        outcome = await post_frame(session, self.centre.url, item.data)
        moved = d.on_outcome(outcome, time.monotonic())
        if outcome.kind == exchange.ACKED and failing:
            log.info('centre %s reachable again', self.centre.name)
        elif outcome.kind in (exchange.REFUSED, exchange.SPLIT):
            log.warning('ALARM centre %s refused frame %d: %s', self.centre.name, item.last_seq, d.last_error.strip())
            await self.db.write_tx(centres.add_fanout_reject, self.centre.name, item.last_seq, outcome.status,
                                   outcome.error, outcome.detail, _now_ms())
        elif d.backoff.failures == 1:
            log.warning('centre %s: %s; retrying with backoff', self.centre.name, d.last_error.strip())
            await self.db.write_tx(centres.note_centre_error, self.centre.name, d.last_error.strip(), _now_ms())
        if moved is not None:
            self._unsaved += 1
            if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
                await self._save()


class Fanout:
    def __init__(self, db: DatabaseThreads, config: ServerConfig, listen) -> None:
        self.senders = [CentreSender(db, c, listen(), Backoff(config.fanout_backoff_base_s, config.fanout_backoff_cap_s))
                        for c in config.downstream]

    async def start(self) -> None:
        for sender in self.senders:
            await sender.start()

    async def stop(self) -> None:
        for sender in self.senders:
            await sender.stop()
