"""A simulated CEMS station sending HJ 212-2017 data to the gateway over TCP.

It connects to the gateway's listener and sends real-time data (CN 2011) every
`realtime_s`, minute (2051), hour (2061) and day (2031) data at their
boundaries, asking for an answer (Flag=5); without the answer it resends after
`overtime_s`, up to `recount` times (HJ 212-2017 §6.6).  Values follow profiles:
a flue-gas flow with a known total and CO2 concentration."""

from __future__ import annotations

import asyncio
import logging

from firmware.drivers import hj212
from hardware.faults import Faults
from hardware.profiles import Profile
from shared import civil

log = logging.getLogger('tanji.sim.hj212')


def _stamp(t: float, utc_offset_s: int) -> str:
    y, mo, d, h, mi, s = civil.local_fields(int(t * 1000), utc_offset_s)
    return '%04d%02d%02d%02d%02d%02d' % (y, mo, d, h, mi, s)


class SimCems:
    def __init__(self, host: str, port: int, mn: str, password: str, flow: Profile, co2_pct: float = 11.5,
                 realtime_s: float = 30.0, overtime_s: float = 5.0, recount: int = 3, faults: Faults | None = None,
                 utc_offset_s: int = 8 * 3600, clock=None) -> None:
        self.host = host
        self.port = port
        self.mn = mn
        self.password = password
        self.flow = flow
        self.co2_pct = co2_pct
        self.realtime_s = realtime_s
        self.overtime_s = overtime_s
        self.recount = recount
        self.faults = faults or Faults()
        self.utc_offset_s = utc_offset_s
        self.clock = clock
        self.sent: list[tuple[str, str]] = []          # (CN, DataTime) acknowledged
        self.unacknowledged: list[tuple[str, str]] = []
        self._qn = 0

    def _qn_text(self, t: float) -> str:
        self._qn = (self._qn + 1) % 1000
        return _stamp(t, self.utc_offset_s) + '%03d' % self._qn

    def message(self, cn: str, t: float, period_s: float) -> tuple[str, bytes]:
        data_time = _stamp(t, self.utc_offset_s)
        if cn == hj212.CN_REALTIME:
            cp = 'DataTime=%s;a00000-Rtd=%.2f,a00000-Flag=N;a21026-Rtd=%.2f,a21026-Flag=N' % (
                data_time, self.flow.rate_at(t), self.co2_pct)
        else:
            total = self.flow.consumed(t - period_s, t)
            cp = ('DataTime=%s;a00000-Cou=%.2f,a00000-Avg=%.2f,a00000-Flag=N;'
                  'a21026-Avg=%.2f,a21026-Min=%.2f,a21026-Max=%.2f,a21026-Flag=N') % (
                data_time, total, self.flow.rate_at(t), self.co2_pct, self.co2_pct - 0.2, self.co2_pct + 0.2)
        qn = self._qn_text(t)
        seg = 'QN=%s;ST=31;CN=%s;PW=%s;MN=%s;Flag=5;CP=&&%s&&' % (qn, cn, self.password, self.mn, cp)
        return qn, hj212.frame(seg)

    async def _send(self, reader, writer, cn: str, t: float, period_s: float) -> None:
        qn, wire = self.message(cn, t, period_s)
        for attempt in range(self.recount + 1):
            out = wire
            if self.faults.pick() == 'checksum':
                out = wire[:-6] + b'0000\r\n' if not wire[-6:-2] == b'0000' else wire[:-6] + b'1111\r\n'
            writer.write(out)
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.readuntil(b'\r\n'), self.overtime_s)
            except asyncio.TimeoutError:
                continue
            if b'QN=%s' % qn.encode() in answer and b'CN=9014' in answer:
                self.sent.append((cn, qn))
                return
        self.unacknowledged.append((cn, qn))
        log.warning('CEMS %s: %s message %s not acknowledged after %d tries', self.mn, cn, qn, self.recount + 1)

    async def run(self) -> None:
        clock = self.clock
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(1.0)
                continue
            try:
                last = clock()
                while True:
                    await asyncio.sleep(0.05)
                    now = clock()
                    due = []
                    if int(now // self.realtime_s) != int(last // self.realtime_s):
                        due.append((hj212.CN_REALTIME, now // self.realtime_s * self.realtime_s, self.realtime_s))
                    for cn, period in ((hj212.CN_MINUTE, 60), (hj212.CN_HOUR, 3600), (hj212.CN_DAY, 86400)):
                        if int((now + self.utc_offset_s) // period) != int((last + self.utc_offset_s) // period):
                            due.append((cn, (now + self.utc_offset_s) // period * period - self.utc_offset_s, period))
                    last = now
                    for cn, t, period in due:
                        await self._send(reader, writer, cn, t, period)
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(1.0)
            finally:
                writer.close()
