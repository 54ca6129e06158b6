"""Runs one polled bus: one transaction at a time, the protocol's silence before each
request, timeouts and retries, degraded meters, missing readings (CPython, asyncio).

The schedule is firmware/lib/polling.py, the wire logic firmware/drivers/polled.py,
the flags firmware/lib/intake.py; this module only moves bytes and time."""

from __future__ import annotations

import asyncio
import logging

from firmware.clock import JumpDetector
from firmware.drivers.errors import MeterError
from firmware.drivers.polled import FollowUp
from firmware.drivers.registry import PROTOCOLS
from firmware.lib import polling
from firmware.lib.intake import Intake
from firmware.lib.reading import Reading
from firmware.ports import PortError, SerialPort, TcpPort
from shared import civil
from shared.aio import wait_for
from shared.codec.flags import FLAG_MISSING

log = logging.getLogger('tanji.bus')

MAX_WAIT_S = 1.0


class BusRunner:
    def __init__(self, cfg, sink, clock, intake: Intake | None = None) -> None:
        self.cfg = cfg
        self.sink = sink
        self.clock = clock
        self.intake = intake or Intake()
        if cfg.port is not None:
            self.port = SerialPort(cfg.port, cfg.baud, cfg.parity, cfg.stopbits)
        else:
            self.port = TcpPort(cfg.host, cfg.tcp_port)
        self.points = {name: {p.key: p for p in pts} for name, pts in cfg.points.items()}
        self.scheduler = polling.BusScheduler(
            {name: {p.key: p.period_s for p in pts} for name, pts in cfg.points.items()}, clock.now(),
            cfg.degrade_after, cfg.probe_s, cfg.probe_max_s)
        self.stats = {'transactions': 0, 'retries': 0, 'timeouts': 0, 'garbled': 0, 'refused': 0, 'port_errors': 0,
                      'readings': 0, 'missing': 0}
        self._last_activity = 0.0
        self.time_sync = PROTOCOLS[cfg.protocol].time_sync
        self._next_time_sync = clock.now() if cfg.time_sync_s and self.time_sync is not None else None
        self._jumps = JumpDetector(clock)
        self._lent: list[tuple] = []            # commissioning jobs waiting for the bus (borrow)
        self.running = False
        self._wake = asyncio.Event()            # a job was lent: stop waiting for the next poll

    def _follow_clock(self, now: float) -> None:
        """Polling slots follow the wall clock: after a jump, the next slots are the new
        time's (checked before every step, so a jump forward never reads as missed slots)."""
        if self._jumps.check():
            self.scheduler.rebase(now)
            if self._next_time_sync is not None:
                self._next_time_sync = now + self.cfg.time_sync_s

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def _emit(self, reading: Reading) -> None:
        if reading.flags & FLAG_MISSING:
            self.stats['missing'] += 1
        else:
            self.stats['readings'] += 1
        self.sink.add_reading(reading)

    async def _gap(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_activity + self.cfg.gap_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _transact(self, driver, tx):
        """The decoded values of one transaction after retries, or (None, reason)."""
        reason = 'no answer'
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                self.stats['retries'] += 1
                tx = driver.transactions(tx.points)[0]       # fresh reply collector (and sequence number)
            await self._gap()
            self.stats['transactions'] += 1
            try:
                result = await self.port.exchange(tx.request, tx.reply, self.cfg.timeout_s)
                while isinstance(result, FollowUp):
                    self._last_activity = asyncio.get_running_loop().time()
                    await self._gap()
                    result = await self.port.exchange(result.request, tx.reply, self.cfg.timeout_s)
                self._last_activity = asyncio.get_running_loop().time()
                self._port_up()
                return tx.decode(result), None
            except asyncio.TimeoutError:
                self.stats['timeouts'] += 1
                reason = 'no answer within %d ms' % (self.cfg.timeout_s * 1000)
            except MeterError as e:
                self.stats['refused' if e.code == 'refused' else 'garbled'] += 1
                reason = e.reason
                if e.code == 'refused':
                    self._last_activity = asyncio.get_running_loop().time()
                    break                                   # the meter answered clearly: asking again won't help
            except PortError as e:
                self.stats['port_errors'] += 1
                reason = str(e)
                self._port_down(reason)
                await asyncio.sleep(min(self.cfg.timeout_s, 1.0))
                continue
            self._port_up()
            self._last_activity = asyncio.get_running_loop().time()
        return None, reason

    def _port_down(self, reason: str) -> None:
        if self.stats.get('state') != 'down':
            log.warning('ALARM bus %s: %s; its readings are recorded as missing until the port works',
                        self.cfg.name, reason)
        self.stats['state'] = 'down'
        self.stats['down_reason'] = reason

    def _port_up(self) -> None:
        if self.stats.get('state') == 'down':
            log.warning('RECOVERED bus %s: the port works again', self.cfg.name)
        self.stats['state'] = 'up'
        self.stats.pop('down_reason', None)

    def _meter_name(self, meter: str) -> str:
        """'meter m1 (unit id 7 at 127.0.0.1:502)': what a person needs to find it."""
        where = self.cfg.port if self.cfg.port else '%s:%s' % (self.cfg.host, self.cfg.tcp_port)
        return 'meter %s (%s on %s)' % (meter, self.cfg.meters[meter].label, where)

    async def _visit(self, meter: str, keys: list[str]) -> bool:
        driver = self.cfg.meters[meter]
        points = [self.points[meter][k] for k in keys]
        any_ok = False
        silent = None
        for tx in driver.transactions(points):
            if silent is not None:
                # the meter did not answer this visit: don't spend bus time on its other items
                for p in tx.points:
                    self._emit(self.intake.missing(p, self._now_ms(), silent))
                continue
            values, reason = await self._transact(driver, tx)
            ts = self._now_ms()                              # stamped at read time
            if values is None:
                no_answer = reason.startswith('no answer')
                reason = '%s: %s' % (self._meter_name(meter), reason)
                for p in tx.points:
                    self._emit(self.intake.missing(p, ts, reason))
                if no_answer and not any_ok:
                    silent = reason
                continue
            any_ok = True
            points = {p.code: p for p in tx.points}
            for r in values:
                self._emit(self.intake.measured(points[r.code], r.value, r.exp, r.unit, ts, r.flags,
                                                tx.notes.get(r.code)))
        return any_ok

    async def _time_sync(self, now: float) -> None:
        """The protocol's broadcast time sync (DL/T 645-2007: control 08 to 99...99, no reply), seed 001 §11.3."""
        self._next_time_sync = now + self.cfg.time_sync_s
        y, mo, d, h, mi, s = civil.local_fields(int(now * 1000), self.cfg.utc_offset_s)
        await self._gap()
        try:
            await self.port.exchange(self.time_sync(y, mo, d, h, mi, s), None, 0, expect_reply=False)
            self.stats['time_syncs'] = self.stats.get('time_syncs', 0) + 1
        except (PortError, OSError) as e:      # a failed broadcast is retried at the next period
            log.warning('bus %s: time sync failed: %s', self.cfg.name, e)
        self._last_activity = asyncio.get_running_loop().time()

    async def borrow(self, job):   # type: ignore[no-untyped-def]
        """Run `await job(self)` between two meter visits (a commissioning read or scan probe
        on a bus that is being polled); its result.  Waits for the bus at most MAX_WAIT_S."""
        done = asyncio.get_running_loop().create_future()
        self._lent.append((job, done))
        self._wake.set()
        return await done

    async def exchange_once(self, request: bytes, reply, timeout_s: float):   # type: ignore[no-untyped-def]
        """One request and its reply, no retry, after the bus's silence (commissioning probes)."""
        await self._gap()
        self.stats['transactions'] += 1
        try:
            return await self.port.exchange(request, reply, timeout_s)
        finally:
            self._last_activity = asyncio.get_running_loop().time()

    async def _lend(self) -> None:
        while self._lent:
            job, done = self._lent.pop(0)
            if done.cancelled():
                continue
            try:
                done.set_result(await job(self))
            except (asyncio.CancelledError, KeyboardInterrupt):
                done.cancel()
                raise
            except Exception as e:              # the job's own failure is its caller's to report
                done.set_exception(e)

    async def run(self) -> None:
        self.running = True
        try:
            while True:
                await self._lend()
                now = self.clock.now()
                self._follow_clock(now)
                if self._next_time_sync is not None and now >= self._next_time_sync:
                    await self._time_sync(now)
                action = self.scheduler.next(now)
                if action[0] == polling.WAIT:
                    wait = MAX_WAIT_S if action[1] is None else min(MAX_WAIT_S, action[1] - now)
                    self._wake.clear()
                    if not self._lent:
                        try:
                            await wait_for(self._wake.wait(), max(0.0, self.clock.real_seconds(wait)))
                        except asyncio.TimeoutError:
                            pass
                    continue
                meter = action[1]
                if action[0] == polling.SKIP:
                    for key, slot in action[2]:
                        self._emit(self.intake.missing(self.points[meter][key], int(slot * 1000),
                                                       'meter %s degraded after repeated failures: not polled'
                                                       % meter))
                    continue
                try:
                    ok = await self._visit(meter, action[2])
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception:
                    # a fault of ours must not silence the bus: the visit's slots become missing readings
                    log.exception('ALARM bus %s: reading meter %s failed', self.cfg.name, meter)
                    for key in action[2]:
                        self._emit(self.intake.missing(self.points[meter][key], self._now_ms(),
                                                       'internal error while reading (see the log)'))
                    ok = False
                if not ok and self.scheduler.meters[meter].failures + 1 == self.cfg.degrade_after:
                    log.warning('ALARM bus %s: %s failed %d times in a row; polling it less often',
                                self.cfg.name, self._meter_name(meter), self.cfg.degrade_after)
                if ok and self.scheduler.meters[meter].degraded:
                    log.warning('RECOVERED bus %s: %s answers again; back to its schedule', self.cfg.name,
                                self._meter_name(meter))
                for key, slot in self.scheduler.done(meter, action[2], ok, self.clock.now()):
                    self._emit(self.intake.missing(self.points[meter][key], int(slot * 1000),
                                                   'bus %s too busy to read this slot' % self.cfg.name))
        finally:
            self.running = False
            for _, done in self._lent:
                done.cancel()
            self.port.close()

    def status(self) -> dict:
        return {'bus': self.cfg.name, 'protocol': self.cfg.protocol, **self.stats,
                'meters': self.scheduler.status()}
