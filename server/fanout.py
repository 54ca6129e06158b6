"""Fan-out: every stored frame goes, unchanged and still signed, to each further
data centre (seed 001 §7.3), so each centre verifies it independently.

The frames table is the durable outbox; each centre has its own cursor (the
id of the last frame it stored) and its own sender task and HTTP session, so a
dead or slow centre never holds up ingest or the other centres.  A frame
counts as delivered on a 200 with a valid ack (the centre stores a frame
before it answers 200; docs/protocol.md §7).  The cursor is saved at most
every half second, so a crash resends a few frames, which the receiving
centre absorbs.  A centre that refuses a frame for good (a 4xx other than
429) gets an entry in fanout_rejects and an alarm in the log, and the sender
moves on: one gateway unknown to that centre must not stop every other
gateway's data.  413 is recorded the same way, since a signed frame cannot be
split.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from server.store import centres, frames
from server.config import Downstream, ServerConfig
from server.dbthreads import DatabaseThreads
from shared.delivery import exchange
from shared.delivery.backoff import Backoff

log = logging.getLogger('tanji.server.fanout')

READ_BATCH = 256
SAVE_EVERY_S = 0.5
IDLE_POLL_S = 1.0


class CentreSender:
    def __init__(self, db: DatabaseThreads, centre: Downstream, new_data: asyncio.Event,
                 backoff: Backoff | None = None, timeout_s: float = 30.0) -> None:
        self.db = db
        self.centre = centre
        self.new_data = new_data
        self.backoff = backoff or Backoff(base=1.0, cap=300.0)
        self.timeout_s = timeout_s
        self.cursor = 0
        self.state = 'starting'
        self.last_error = ''
        self.retry_at: float | None = None
        self.refused = 0
        self._task: asyncio.Task | None = None

    def status(self) -> dict:
        return {'state': self.state, 'consecutive_failures': self.backoff.failures,
                'next_attempt_in_s': None if self.retry_at is None else max(0.0, round(self.retry_at - time.monotonic(), 3)),
                'last_error': self.last_error or None}

    async def start(self) -> None:
        row = await self.db.write_tx(centres.ensure_centre, self.centre.name, self.centre.url, self.centre.from_start)
        self.cursor = row.cursor
        self._task = asyncio.create_task(self._run(), name='tanji-fanout-%s' % self.centre.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _post(self, session: aiohttp.ClientSession, raw: bytes) -> exchange.Outcome:
        try:
            async with session.post(self.centre.url, data=raw,
                                    headers={'Content-Type': 'application/x-msgpack'}) as resp:
                body = await resp.read()
                return exchange.classify(resp.status, body, resp.headers.get('Retry-After'))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            return exchange.no_answer('%s: %s' % (type(e).__name__, e))

    async def _save(self, delivered: int) -> None:
        if delivered:
            await self.db.write_tx(centres.advance_centre, self.centre.name, self.cursor, delivered, _now_ms())

    async def _deliver(self, session: aiohttp.ClientSession, frame_id: int, raw: bytes) -> None:
        """Returns once the centre has the frame or has refused it for good."""
        while True:
            self.state = 'sending'
            outcome = await self._post(session, raw)
            if outcome.kind == exchange.ACKED:
                if self.backoff.failures:
                    log.info('centre %s reachable again', self.centre.name)
                self.backoff.success()
                self.retry_at = None
                return
            if outcome.kind in (exchange.REFUSED, exchange.SPLIT):
                self.refused += 1
                self.last_error = '%s %s: %s' % (outcome.status, outcome.error, outcome.detail)
                log.warning('ALARM centre %s refused frame %d: %s', self.centre.name, frame_id, self.last_error)
                await self.db.write_tx(centres.add_fanout_reject, self.centre.name, frame_id, outcome.status,
                                       outcome.error, outcome.detail, _now_ms())
                return
            if outcome.kind == exchange.BUSY and outcome.retry_after is not None:
                self.backoff.failures += 1
                wait = float(outcome.retry_after)
            else:
                wait = self.backoff.failure()
            self.last_error = '%s %s' % (outcome.status or '', outcome.error or outcome.detail)
            if self.backoff.failures == 1:
                log.warning('centre %s: %s; retrying with backoff', self.centre.name, self.last_error.strip())
                await self.db.write_tx(centres.note_centre_error, self.centre.name, self.last_error.strip(), _now_ms())
            self.state = 'backoff'
            self.retry_at = time.monotonic() + wait
            await asyncio.sleep(wait)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                batch = await self.db.read(frames.frames_after, self.cursor, READ_BATCH)
                if not batch:
                    self.state = 'idle'
                    self.new_data.clear()
                    try:
                        await asyncio.wait_for(self.new_data.wait(), IDLE_POLL_S)
                    except asyncio.TimeoutError:
                        pass
                    continue
                delivered, saved_at = 0, time.monotonic()
                try:
                    for frame_id, raw in batch:
                        await self._deliver(session, frame_id, raw)
                        self.cursor = frame_id
                        delivered += 1
                        if time.monotonic() - saved_at >= SAVE_EVERY_S:
                            await self._save(delivered)
                            delivered, saved_at = 0, time.monotonic()
                finally:
                    await asyncio.shield(self._save(delivered))


def _now_ms() -> int:
    return int(time.time() * 1000)


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

    def sender(self, name: str) -> CentreSender | None:
        for s in self.senders:
            if s.centre.name == name:
                return s
        return None
