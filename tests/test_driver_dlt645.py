"""DL/T 645 over a real pty: our bus runner against the simulated multi-drop bus
(hardware/sim_dlt645.py) and against the independent PyPI `dlt645` meter."""

from __future__ import annotations

import asyncio
import time

import pytest

from firmware.drivers import bcd, dlt645
from firmware.drivers.dlt645 import Dlt645Meter
from firmware.drivers.polled import Point
from firmware.sources.bus import BusRunner
from hardware.line import PtyLine
from hardware.profiles import Profile
from hardware.sim_dlt645 import Dlt645Bus, SimDlt645Meter
from shared import civil
from shared.codec.flags import FLAG_MISSING
from tests.acquisition_helpers import ListSink, PtyPair, bus, clock, run_for

ENERGY = 0x00010000
POWER = 0x02030000
CODE_E = 80420101001      # cement, purchased electricity, cumulative register
CODE_P = 80420114001      # ... power


def _points(meter: str, period: float = 0.5) -> list[Point]:
    return [Point('%s/e' % meter, CODE_E + int(meter[-1]), 'kWh', period, ENERGY, register_digits=6),
            Point('%s/p' % meter, CODE_P + int(meter[-1]), 'kW', period, POWER)]


async def _bus_with(meters: list[SimDlt645Meter], configured: dict, period: float = 0.5, seconds: float = 2.6,
                    **kw):
    line = PtyLine(Dlt645Bus(meters), time.time)
    await line.start()
    sink = ListSink()
    cfg = bus('b1', 'dlt645', {name: Dlt645Meter(addr) for name, addr in configured.items()},
              {name: _points(name, period) for name in configured}, port=line.device, **kw)
    runner = BusRunner(cfg, sink, clock())
    try:
        await run_for(runner.run, seconds)
    finally:
        await line.stop()
    return sink, runner, line


async def test_three_meters_on_one_bus_each_read_with_its_own_values():
    t0 = time.time()
    profiles = {a: Profile(rate=12.0 * (i + 1), start=1000 * (i + 1), t0=t0)
                for i, a in enumerate(('000000000001', '000000000002', '000000000003'))}
    meters = [SimDlt645Meter(a, p) for a, p in profiles.items()]
    sink, runner, line = await _bus_with(meters, {'m1': '000000000001', 'm2': '000000000002', 'm3': '000000000003'},
                                         time_sync_s=3600)
    # the broadcast time sync reached every meter, ss-first on the wire, Beijing time
    expected = civil.local_fields(int(t0 * 1000), 8 * 3600)
    for m in meters:
        yy, mo, dd, hh, mi, ss = (bcd.value(bytes((b,))) for b in m.last_time_sync)
        assert (2000 + yy, mo, dd, hh) == expected[:4] and abs(mi * 60 + ss - expected[4] * 60 - expected[5]) <= 2
    assert runner.stats['time_syncs'] == 1
    for i, (addr, prof) in enumerate(profiles.items()):
        energy = sink.of(CODE_E + i + 1)
        assert len(energy) >= 4, energy
        for code, ts, value, exp, flags, unit in energy:
            assert flags == 0 and exp == -2 and unit == 'kWh'
            # the meter showed its register at some moment before the reply completed
            assert prof.register(ts / 1000 - 0.5) <= value <= prof.register(ts / 1000 + 0.001)
        power = sink.of(CODE_P + i + 1)
        assert power and all(r[2] == (i + 1) * 120000 and r[3] == -4 for r in power)    # 12 kWh/h = 12.0000 kW
    assert runner.stats['timeouts'] == 0 and runner.stats['garbled'] == 0


async def test_meter_absent_from_the_bus_gives_flagged_missing_readings_and_degrades():
    t0 = time.time()
    meters = [SimDlt645Meter('000000000001', Profile(t0=t0))]
    sink, runner, _ = await _bus_with(meters, {'m1': '000000000001', 'm9': '000000000009'}, seconds=3.2,
                                      timeout_s=0.1, retries=0, degrade_after=2, probe_s=1.0)
    missing = sink.of(CODE_E + 9)
    assert missing and all(r[2] is None and r[4] == FLAG_MISSING for r in missing)
    assert runner.scheduler.meters['m9'].degraded
    # the healthy meter on the same bus kept its schedule
    assert len(sink.of(CODE_E + 1)) >= 5 and all(r[4] == 0 for r in sink.of(CODE_E + 1))
    # degraded: fewer bus transactions than slots, yet every slot has a reading
    assert runner.stats['timeouts'] < len(missing)


async def test_a_failing_meter_comes_back_by_itself():
    t0 = time.time()
    meter = SimDlt645Meter('000000000001', Profile(t0=t0, rate=360.0))
    meter.faults.inject('no_answer', 4)            # silent for a while, then fine
    sink, runner, _ = await _bus_with([meter], {'m1': '000000000001'}, period=0.25, seconds=3.5, timeout_s=0.05,
                                      retries=0, degrade_after=2, probe_s=0.5, probe_max_s=0.5)
    energy = sorted(sink.of(CODE_E + 1), key=lambda r: r[1])      # slots skipped while degraded come late
    flags = [r[4] for r in energy]
    first_good = flags.index(0)
    assert all(f == FLAG_MISSING for f in flags[:first_good]) and first_good >= 2
    assert all(f == 0 for f in flags[first_good:]) and len(flags) - first_good >= 4, str(flags)
    assert not runner.scheduler.meters['m1'].degraded


async def test_follow_up_frames_are_collected():
    t0 = time.time()
    meters = [SimDlt645Meter('000000000001', Profile(start=123456.78, t0=t0, rate=0), split=True)]
    sink, runner, _ = await _bus_with(meters, {'m1': '000000000001'}, seconds=1.2)
    energy = sink.of(CODE_E + 1)
    assert energy and all(r[2] == 12345678 and r[4] == 0 for r in energy)


async def test_dlt645_1997_meter():
    t0 = time.time()
    line = PtyLine(Dlt645Bus([SimDlt645Meter('000012345678', Profile(start=42.0, rate=0, t0=t0),
                                             version=dlt645.V1997)]), time.time)
    await line.start()
    sink = ListSink()
    cfg = bus('b97', 'dlt645-1997', {'m': Dlt645Meter('000012345678', dlt645.V1997)},
              {'m': [Point('m/e', CODE_E, 'kWh', 0.5, 0x9010)]}, port=line.device)
    try:
        await run_for(BusRunner(cfg, sink, clock()).run, 1.2)
    finally:
        await line.stop()
    assert sink.readings and all(r[2] == 4200 and r[3] == -2 for r in sink.readings)


async def test_against_the_dlt645_package_meter(tmp_path):
    """The independent peer: PyPI dlt645's RTU meter on one end of a socat pty pair.
    It takes addresses in wire order (meters.md §5.3, deviation 1) and parity N on a pty."""
    pytest.importorskip('dlt645')
    from dlt645 import MeterServerService
    pair = PtyPair(str(tmp_path))
    server = MeterServerService.new_rtu_server(pair.a, 8, 1, 2400, 'N', 1.0)
    server.set_address(bytes([0x78, 0x56, 0x34, 0x12, 0x00, 0x00]))
    server.set_00(0x00000000, 12345.67)
    server.set_00(0x00010000, 23456.78)
    server.set_02(0x02010100, 220.1)
    server.set_02(0x02020100, -5.123)
    server.set_02(0x02030000, 1.2345)
    server.start()
    await asyncio.sleep(0.3)
    sink = ListSink()
    points = [Point('m/0', 80420101001, 'kWh', 0.5, 0x00000000), Point('m/1', 80420101002, 'kWh', 0.5, 0x00010000),
              Point('m/v', 80420114003, 'kW', 0.5, 0x02030000),
              Point("m/x", 80420114004, "kW", 0.5, 0x02030100)]
    cfg = bus('pk', 'dlt645', {'m': Dlt645Meter('000012345678')}, {'m': points}, port=pair.b, timeout_s=1.0,
              retries=0, gap_s=0.02)
    try:
        await run_for(BusRunner(cfg, sink, clock()).run, 2.0)
    finally:
        server.stop()
        pair.close()
    assert {(r[2], r[3]) for r in sink.of(80420101001)} == {(1234567, -2)}
    assert {(r[2], r[3]) for r in sink.of(80420101002)} == {(2345678, -2)}
    assert {(r[2], r[3]) for r in sink.of(80420114003)} == {(12345, -4)}
    # phase A power was never set: the package answers 0
    assert all(r[4] == 0 for r in sink.readings)


async def test_read_address_of_the_single_meter_on_a_line():
    from firmware.ports import PortError
    from firmware.sources.commission import read_dlt645_address
    line = PtyLine(Dlt645Bus([SimDlt645Meter('000012345678', Profile())]), time.time)
    await line.start()
    try:
        assert await read_dlt645_address(line.device, parity='N') == '000012345678'
    finally:
        await line.stop()
    two = PtyLine(Dlt645Bus([SimDlt645Meter('000000000001', Profile()), SimDlt645Meter('000000000002', Profile())]),
                  time.time)
    await two.start()
    try:
        with pytest.raises(PortError, match='no meter answered'):
            await read_dlt645_address(two.device, parity='N', timeout_s=0.3)
    finally:
        await two.stop()


async def test_a_scan_tells_apart_meters_whose_addresses_end_alike():
    """Shortened addressing (AA in the high bytes): 100 probes, and 100 more under each clash."""
    from firmware.ports import SerialPort
    from firmware.sources.commission import scan_dlt645
    addresses = ['000000000012', '000000001012', '000000002012', '000012345678']
    line = PtyLine(Dlt645Bus([SimDlt645Meter(a, Profile()) for a in addresses]), time.time)
    await line.start()
    port = SerialPort(line.device, 2400, 'E')
    seen = []
    try:
        found = await scan_dlt645(lambda request, reply: port.exchange(request, reply, 0.05),
                                  lambda probes, so_far: seen.append(probes))
    finally:
        port.close()
        await line.stop()
    assert found == sorted(addresses)
    assert seen[-1] == 200                      # the clash on ..12 cost one more level, and only one


async def test_a_pty_opens_again_with_parity_after_it_was_closed():
    """Linux refuses (EINVAL) a parity a pty cannot apply when nothing else changes, as on
    every open after the first: the port opens it without parity instead of failing."""
    from firmware.ports import SerialPort
    line = PtyLine(Dlt645Bus([SimDlt645Meter('000012345678', Profile(start=42.0, rate=0))]), time.time)
    await line.start()
    try:
        for _ in range(3):
            port = SerialPort(line.device, 2400, 'E')
            try:
                reply = dlt645.ReadReply('000012345678', 0x00010000, dlt645.V2007)
                assert await port.exchange(dlt645.build_read('000012345678', 0x00010000), reply, 1.0) == (4200, -2,
                                                                                                            'kWh')
            finally:
                port.close()
    finally:
        await line.stop()
