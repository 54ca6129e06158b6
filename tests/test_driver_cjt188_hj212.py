"""CJ/T 188 meters over a pty and an HJ 212 CEMS over loopback TCP, each against its
simulator (no independent peer exists on PyPI for either: meters.md §2.4, §4)."""

from __future__ import annotations

import asyncio
import time

from firmware.drivers import cjt188
from firmware.drivers.cjt188 import Cjt188Meter
from firmware.drivers.polled import Point
from firmware.sources.bus import BusRunner
from firmware.sources.config import Hj212Config
from firmware.sources.hj212 import Hj212Listener
from hardware.faults import Faults
from hardware.line import PtyLine
from hardware.profiles import Profile
from hardware.sim_cjt188 import Cjt188Line, SimCjt188Meter
from hardware.sim_hj212 import SimCems
from shared.codec import decimals
from tests.acquisition_helpers import ListSink, bus, clock, run_for

GAS = 80101601001            # cement, fuel combustion, natural gas, cumulative
WATER = 81430601001          # wastewater treatment, wastewater, cumulative


async def test_gas_and_water_meters_both_di_orders():
    t0 = time.time()
    gas = SimCjt188Meter(0x30, '00000012345678', Profile(rate=360.0, start=8000.0, t0=t0), swapped_di=True)
    water = SimCjt188Meter(0x10, '00000000000042', Profile(rate=3.6, start=12.0, t0=t0))
    line = PtyLine(Cjt188Line([gas, water]), time.time)
    await line.start()
    sink = ListSink()
    cfg = bus('mbus', 'cjt188', {'gas': Cjt188Meter(0x30, '00000012345678', swapped_di=True),
                                 'water': Cjt188Meter(0x10, '00000000000042')},
              {'gas': [Point('gas/v', GAS, 'Nm3', 0.5, 'current', register_digits=6, meter_unit='Nm3')],
               'water': [Point('water/v', WATER, 'm3', 0.5, 'current', register_digits=6)]}, port=line.device)
    try:
        await run_for(BusRunner(cfg, sink, clock()).run, 1.6)
    finally:
        await line.stop()
    for code, profile in ((GAS, gas.profile), (WATER, water.profile)):
        got = sink.of(code)
        assert len(got) >= 3
        for r in got:
            assert r[3] == -2 and r[4] == 0
            assert profile.register(r[1] / 1000 - 0.5) <= r[2] <= profile.register(r[1] / 1000 + 0.001)


async def test_gas_meter_m3_refused_for_a_normal_volume_point_without_meter_unit():
    """A gas meter reports m3 (unit code 2C); the point is in Nm3: without the explicit
    meter_unit = "Nm3" (a PT-compensated meter) the reading is missing with the reason."""
    t0 = time.time()
    gas = SimCjt188Meter(0x30, '00000012345678', Profile(t0=t0))
    line = PtyLine(Cjt188Line([gas]), time.time)
    await line.start()
    sink = ListSink()
    cfg = bus('mbus', 'cjt188', {'gas': Cjt188Meter(0x30, '00000012345678')},
              {'gas': [Point('gas/v', GAS, 'Nm3', 0.5, 'current')]}, port=line.device)
    runner = BusRunner(cfg, sink, clock())
    try:
        await run_for(runner.run, 0.8)
    finally:
        await line.stop()
    assert sink.readings and all(r[2] is None and r[4] == 1 for r in sink.readings)
    assert 'cannot convert m3 to Nm3' in runner.intake.last_reason['gas/v']


def test_heat_meter_reply_decodes():
    t0 = 1795000000.0
    heat = SimCjt188Meter(0x20, '00000012345678', Profile(rate=50.0, start=1234.0, t0=t0))
    reply = Cjt188Line([heat]).respond(cjt188.Parser().feed(cjt188.build_read(0x20, '00000012345678', ser=5))[0],
                                       t0 + 3600, None)
    frame = cjt188.Parser().feed(reply)[0]
    values = cjt188.decode_read(frame, 0x20, '00000012345678', ser=5)
    assert values['current_heat'] == (128400, -2, 'kWh')           # 1234 + 50 kWh/h × 1 h
    assert values['supply_temp'] == (7500, -2, 'degC')


def _accelerated(t0: float, factor: float):
    start = time.time()
    return lambda: t0 + (time.time() - start) * factor


async def test_cems_minute_and_real_time_data_acknowledged_with_crc_faults(unused_tcp_port):
    # 120 simulated seconds per real second: minute data every half second
    t0 = 1795000000.0
    sim_clock = _accelerated(t0, 120.0)
    flow = Profile(rate=180000.0, amplitude=20000.0, t0=t0)           # flue gas m3/h
    mapping = {('2051', 'a00000', 'Avg'): (80100213001, 'm3/h'),
               ('2011', 'a21026', 'Rtd'): (80100212001, '%')}
    cfg = Hj212Config('127.0.0.1', unused_tcp_port, '123456', ['88888880000001'], mapping)
    sink = ListSink()
    listener = Hj212Listener(cfg, sink, 8 * 3600)
    await listener.start()
    cems = SimCems('127.0.0.1', unused_tcp_port, '88888880000001', '123456', flow, realtime_s=30, overtime_s=0.3,
                   recount=5, faults=Faults(rates={'checksum': 0.2}, seed=7), clock=sim_clock)
    intruder = SimCems('127.0.0.1', unused_tcp_port, '99999990000009', '123456', flow, realtime_s=30,
                       overtime_s=0.3, recount=0, clock=sim_clock)
    try:
        async def both():
            await asyncio.gather(cems.run(), intruder.run())
        await run_for(both, 3.0)
    finally:
        await listener.stop()
    assert listener.stats['crc_errors'] >= 1 and not cems.unacknowledged
    minutes = sink.of(80100213001)
    assert len(minutes) >= 4
    assert len(minutes) == len({r[1] for r in minutes})              # a resent message is not logged twice
    for code, ts, value, exp, flags, unit in minutes:
        t = ts / 1000
        assert t % 60 == 0 and flags == 0
        assert (value, exp) == decimals.parse('%.2f' % flow.rate_at(t))   # the minute's average flow, exact
    realtime = sink.of(80100212001)
    assert realtime and all((r[2], r[3]) == (1150, -2) for r in realtime)
    assert listener.stats['refused'] >= 1 and intruder.unacknowledged     # unknown MN: no answer, nothing logged
    assert 'a00000-Cou' in listener.unmapped
