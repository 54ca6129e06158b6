"""The gateway's reading sources, started from the configuration (docs/drivers.md)."""

from __future__ import annotations

import asyncio
import logging
import os

from shared import civil
from shared.aio import cancel_and_wait
from shared.codec.flags import FLAG_INVALID, FLAG_MISSING, FLAG_RESET, FLAG_ROLLOVER, FLAG_SUSPECT, flag_names

log = logging.getLogger('tanji.sources')
BREAKS = FLAG_ROLLOVER | FLAG_RESET | FLAG_SUSPECT     # a register's history restarts after one
OUTAGE_SLOTS_MAX = 1440    # a day of minute slots per point; a longer outage shows as a longer silence


class Acquisition:
    """Owns one task per bus, MQTT broker, OPC UA server, HJ 212 listener and the manual inbox."""

    def __init__(self, sources, gateway, clock, utc_offset_s: int, previous: Acquisition | None = None) -> None:
        from firmware.lib.intake import Intake
        from firmware.sources.bus import BusRunner
        from firmware.sources.hj212 import Hj212Listener
        from firmware.sources.manual import ManualInbox
        from firmware.sources.mqtt import MqttSource
        self._reasons: dict[str, str] = {}
        if previous is None:
            self.intake = Intake(log_reason=self._log_reason)
        else:                                   # reconfigured while running: the points' history goes on
            self.intake = previous.intake
            self.intake.log_reason = self._log_reason
            self._reasons = previous._reasons
        self.utc_offset_s = utc_offset_s
        self.gateway = gateway
        self.clock = clock
        self.buses = [BusRunner(b, gateway, clock, self.intake) for b in sources.buses]
        self.mqtt = [MqttSource(m, gateway, os.path.join(gateway.cfg.data_dir, 'mqtt-refused'), sources.owners)
                     for m in sources.mqtt]
        self.hj212 = [Hj212Listener(h, gateway, utc_offset_s) for h in sources.hj212]
        self.opcua = []
        if sources.opcua:
            from firmware.sources.opcua import OpcuaSource
            self.opcua = [OpcuaSource(o, gateway, clock, self.intake) for o in sources.opcua]
        self.manual = ManualInbox(gateway.cfg.data_dir, gateway, utc_offset_s) if sources.manual else None
        self._tasks: list[asyncio.Task] = []
        if previous is not None:
            self.intake.reconfigured(self.point_keys())

    def point_keys(self) -> set[str]:
        keys = {p.key for b in self.buses for pts in b.points.values() for p in pts.values()}
        return keys | {p.key for source in self.opcua for p in source.points.values()}

    def _log_reason(self, point, ts_ms: int, reason: str | None) -> None:
        # one line when a point's trouble starts, changes or ends, not one per failed reading
        if self._reasons.get(point.key) != reason:
            if reason is None:
                self._reasons.pop(point.key, None)
                log.warning('RECOVERED point %s: good readings again', point.key)
            else:
                self._reasons[point.key] = reason
                log.warning('point %s: %s', point.key, reason)

    def replay_log(self, gateway) -> dict[str, int]:
        """After a restart: the measured points' recent readings in the log are handed to the
        intake, so the first new value of each is judged against its last one and its
        history (a register type changed between runs shows): per point its first and last
        good reading since its latest break, and what it consumed between, not every reading
        (one scan, a few µs a reading).  Returns each code's last time."""
        points = {'%012d' % int(p.code): p for b in self.buses for pts in b.points.values() for p in pts.values()}
        for source in self.opcua:
            points.update(('%012d' % int(p.code), p) for p in source.points.values())
        last: dict[str, int] = {}
        if gateway.restart_cause is None or not points:
            return last
        window: dict[str, list] = {}         # code -> [first, last good reading since its latest break, amount]
        for rec in gateway.recent_readings(points):
            last[rec.code] = max(last.get(rec.code, rec.ts_ms), rec.ts_ms)
            if rec.value is None or rec.flags & (FLAG_MISSING | FLAG_INVALID):
                continue
            good = (rec.ts_ms, rec.value, rec.exp)
            w = window.get(rec.code)
            if w is None or rec.flags & BREAKS:
                window[rec.code] = [good, good, 0.0]
            else:
                w[1] = good
                w[2] += rec.value * 10.0 ** rec.exp
        for code, (first, final, amount) in window.items():
            self.intake.seed(points[code], first, final, amount)
        return last

    def record_outage(self, gateway, now_ms: int, last: dict[str, int]) -> int:
        """After a restart: each polled point's slots between its last reading in the log
        (`last`, from replay_log) and its first slot now are recorded as missing with the
        outage flag, so the gap is visible (seed 001 §12.4).  At most OUTAGE_SLOTS_MAX per
        point, the latest.  Returns how many were recorded."""
        if gateway.restart_cause is None:
            return 0
        polled = [(b, meter, p) for b in self.buses for meter, pts in b.points.items() for p in pts.values()]
        if not polled:
            return 0
        recorded = points = 0
        oldest = None
        for bus, meter, p in polled:
            t = last.get('%012d' % int(p.code))
            if t is None:
                continue
            period_ms = int(p.period_s * 1000)
            first = (t // period_ms + 1) * period_ms
            end = int(bus.scheduler.meters[meter].due[p.key] * 1000)
            first = max(first, end - OUTAGE_SLOTS_MAX * period_ms)
            if first >= end:
                continue
            points += 1
            oldest = first if oldest is None else min(oldest, first)
            for ts in range(first, min(end, now_ms + 1), period_ms):
                gateway.add_reading(self.intake.outage(p, ts))
                recorded += 1
        if recorded:
            log.warning('ALARM the gateway was not running (%s) from %s to %s: %d slots of %d points recorded as '
                        'missing (flag outage)', gateway.restart_cause, civil.local_iso(oldest, self.utc_offset_s),
                        civil.local_iso(now_ms, self.utc_offset_s), recorded, points)
        return recorded

    async def start(self, resumed: bool = False) -> None:
        """Start every source; `resumed`: they take over from sources stopped a moment ago in this
        process (a live reconfiguration), so there is no log to replay and no outage to record."""
        if not resumed:
            self.record_outage(self.gateway, int(self.clock.now() * 1000), self.replay_log(self.gateway))
        if self.manual is not None:
            self.manual.recover()
            self._tasks.append(asyncio.create_task(self.manual.run()))
        for h in self.hj212:
            await h.start()
        runners = self.buses + self.mqtt + self.opcua
        self._tasks += [asyncio.create_task(r.run()) for r in runners]

    def clock_jumped(self) -> None:
        """The gateway's wall clock jumped: the next value of each point is flagged clock
        (each bus notices the jump itself, before its next poll)."""
        self.intake.clock_jumped()

    @property
    def tasks(self) -> list[asyncio.Task]:
        return list(self._tasks)

    async def stop(self, timeout: float | None = None) -> list[asyncio.Task]:
        """Stop every source; returns the tasks that had not ended within timeout."""
        stuck = await cancel_and_wait(self._tasks, timeout)
        for h in self.hj212:
            await h.stop()
        return stuck

    def status(self) -> list[dict]:
        out = [r.status() for r in self.buses + self.mqtt + self.opcua + self.hj212]
        if self.manual is not None:
            out.append(self.manual.status())
        # per point: readings taken, missing, invalid, flagged (rollover/reset/suspect), its trouble now and
        # its latest flagged reading
        out.append({'points': {key: {'good': c[0], 'missing': c[1], 'invalid': c[2], 'flagged': c[3],
                                     'last_reason': self.intake.last_reason.get(key),
                                     'last_flagged': self._last_flagged(key), 'last': self._last_reading(key)}
                               for key, c in sorted(self.intake.counts.items())}})
        return out

    def _last_reading(self, key: str) -> dict | None:
        last = self.intake.last_reading.get(key)
        if last is None:
            return None
        return {'at': civil.local_iso(last[0], self.utc_offset_s), 'value': last[1], 'unit': last[2],
                'flags': flag_names(last[3])}

    def _last_flagged(self, key: str) -> dict | None:
        last = self.intake.last_flagged.get(key)
        if last is None:
            return None
        return {'at': civil.local_iso(last[0], self.utc_offset_s), 'flags': flag_names(last[1]), 'reason': last[2]}
