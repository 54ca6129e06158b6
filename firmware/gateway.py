"""The gateway's storage-and-delivery process (CPython, asyncio).

Readings go into the ring log (firmware/lib/ring.py) and become durable by group
commit within commit_interval_ms.  Each centre has its own task driving its
Delivery (shared/delivery/machine.py) over HTTP; a slow or dead centre only
delays itself.  Cursors and loss counters are saved in the state file
(firmware/lib/state.py) and the ring is told the lowest cursor (`floor`), below
which it may recycle without loss.  Losses (thinned, dropped, refused readings)
raise an ALARM log line and are counted, never silent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import aiohttp

from firmware.clock import RealClock
from firmware.config import GatewayConfig
from firmware.lib import outbox, thinning
from firmware.lib.reading import Reading
from firmware.lib.ring import RingFull, RingLog
from firmware.lib.state import StateFile
from shared.aio import cancel_and_wait
from shared.codec import sm2
from shared.delivery import machine as delivery
from shared.delivery.backoff import Backoff
from shared.delivery.http import post_frame

log = logging.getLogger('tanji.gateway')

STATE_SAVE_INTERVAL_S = 0.5


class Gateway:
    def __init__(self, cfg: GatewayConfig, clock=None, report_durable: str | None = None,
                 backoff_base_s: float = 1.0, backoff_cap_s: float = 300.0) -> None:
        self.cfg = cfg
        self.clock = clock or RealClock()
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.key = sm2.PrivateKey.load(Path(cfg.key).read_bytes())
        self.state = StateFile(os.path.join(cfg.data_dir, 'state'))
        saved = self.state.data
        self.counters: dict[str, int] = dict(saved.get('counters', {}))
        self.ring = RingLog(cfg.data_dir, cfg.segment_size, cfg.segment_count, cfg.policy,
                            thinning.rule(int(cfg.utc_offset_h * 3600)), self._on_loss)
        cursors = saved.get('cursors', {})
        self.deliveries: dict[str, delivery.Delivery] = {}
        self.urls: dict[str, str] = {}
        self.readers = {}
        for c in cfg.centres:
            reader = self.ring.reader(cursors.get(c.name, -1) + 1)
            self.readers[c.name] = reader
            schedule = delivery.Schedule(c.every_s, c.times, int(cfg.utc_offset_h * 3600))
            self.deliveries[c.name] = delivery.Delivery(
                c.name, cursors.get(c.name, -1), self._builder(reader), schedule, c.max_records, c.max_bytes,
                c.rate_bytes_s, Backoff(backoff_base_s, backoff_cap_s), on_alarm=self._on_alarm)
            self.urls[c.name] = c.url
        self._update_floor()
        self._new_data = {name: asyncio.Event() for name in self.deliveries}
        self._durable = asyncio.Event()
        self.sources = None                     # firmware.sources.Acquisition, when meters are configured
        self._state_dirty = False
        self._report = open(report_durable, 'a') if report_durable else None
        self._tasks: list[asyncio.Task] = []
        self.delivered_at: dict[str, list[tuple[int, float]]] = {name: [] for name in self.deliveries}
        self.uploads: dict[str, list[tuple[str, float, int]]] = {name: [] for name in self.deliveries}

    # -- readings ------------------------------------------------------------------

    def add_reading(self, r: Reading) -> int | None:
        """Log a reading; its sequence number, or None when the ring refuses it (policy 'stop'
        with the ring full)."""
        seq = self.ring.next_seq
        try:
            self.ring.append(r.pack())
        except RingFull:
            self.counters['refused'] = self.counters.get('refused', 0) + 1
            self._state_dirty = True
            return None
        return seq

    @property
    def next_seq(self) -> int:
        return self.ring.next_seq

    @property
    def durable_seq(self) -> int:
        return self.ring.durable_seq

    async def wait_durable(self, seq: int) -> None:
        """Return once reading `seq` is durable (at the next group commit)."""
        while self.ring.durable_seq < seq:
            await self._durable.wait()

    def commit(self) -> int:
        durable = self.ring.commit()
        self._durable.set()
        self._durable = asyncio.Event()
        if self._report is not None:
            self._report.write('%d\n' % durable)
            self._report.flush()
        for event in self._new_data.values():
            event.set()
        return durable

    # -- losses and alarms -------------------------------------------------------

    def _on_loss(self, kind: str, first: int, last: int, count: int) -> None:
        self.counters[kind] = self.counters.get(kind, 0) + count
        self._state_dirty = True
        log.warning('ALARM ring full: %s %d readings in %d..%d (policy %s)', kind, count, first, last, self.cfg.policy)

    def _on_alarm(self, centre: str, kind: str, detail: str) -> None:
        self.counters['%s_%s' % (kind, centre)] = self.counters.get('%s_%s' % (kind, centre), 0) + 1
        log.warning('ALARM centre %s: %s: %s', centre, kind, detail)

    # -- state -----------------------------------------------------------------------

    def _update_floor(self) -> None:
        self.ring.floor = min(d.cursor for d in self.deliveries.values())

    def save_state(self) -> None:
        self.state.save({'cursors': {n: d.cursor for n, d in self.deliveries.items()}, 'counters': self.counters})
        self._state_dirty = False

    def _builder(self, reader):
        def build(first_seq: int, max_records: int, max_bytes: int):
            return outbox.build(reader, self.cfg.id, self.key.sign, first_seq, max_records, max_bytes)
        return build

    # -- tasks -------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        interval = self.cfg.commit_interval_ms / 1000.0
        while True:
            await asyncio.sleep(self.clock.real_seconds(interval))
            if self.ring.pending():
                self.commit()

    async def _state_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_SAVE_INTERVAL_S)
            if self._state_dirty:
                self.save_state()

    async def _centre_loop(self, name: str) -> None:
        d = self.deliveries[name]
        event = self._new_data[name]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while True:
                try:
                    await self._centre_step(name, d, event, session)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # a fault of ours (a log file unreadable, say) must not end this centre's deliveries
                    log.exception('ALARM centre %s: delivery step failed; retrying in 5 s', name)
                    await asyncio.sleep(5)

    async def _centre_step(self, name: str, d: delivery.Delivery, event: asyncio.Event,
                           session: aiohttp.ClientSession) -> None:
        """One step of a centre's delivery: wait as told, or send one frame and apply the answer."""
        now = self.clock.now()
        was_draining = d.draining
        action, arg = d.step(now, self.ring.durable_seq)
        if d.draining != was_draining:
            # upload history for status and tests: (start time, durable at start) / (end time, cursor at end)
            self.uploads[name].append(('start' if d.draining else 'end', now,
                                       self.ring.durable_seq if d.draining else d.cursor))
            if len(self.uploads[name]) > 10_000:
                del self.uploads[name][:5_000]
        if action == 'wait':
            event.clear()
            timeout = None if arg is None else self.clock.real_seconds(arg - now)
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            return
        outcome = await post_frame(session, self.urls[name], arg.data)
        moved = d.on_outcome(outcome, self.clock.now())
        if moved is not None:
            self.delivered_at[name].append((moved, self.clock.now()))
            if len(self.delivered_at[name]) > 100_000:
                del self.delivered_at[name][:50_000]
            self._update_floor()
            self._state_dirty = True

    def send_now(self, centre: str | None = None) -> None:
        """Manual upload to one centre or all (seed 001 §7.5)."""
        for name, d in self.deliveries.items():
            if centre in (None, name):
                d.send_now()
                self._new_data[name].set()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._commit_loop()), asyncio.create_task(self._state_loop())]
        self._tasks += [asyncio.create_task(self._centre_loop(n), name='tanji-centre-%s' % n) for n in self.deliveries]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self.commit()
        self.save_state()
        self.ring.close()
        if self._report is not None:
            self._report.close()

    def status(self) -> dict:
        now = self.clock.now()
        return {'durable_seq': self.ring.durable_seq, 'oldest_seq': self.ring.oldest_seq(),
                'counters': dict(self.counters), 'centres': [d.status(now) for d in self.deliveries.values()],
                'sources': self.sources.status() if self.sources else [], 'time': time.time()}
