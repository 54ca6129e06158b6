"""Modbus RTU (over a socat pty) and TCP (loopback) against pymodbus's own server, the
independent peer, and against our simulators; register types, orders, scaling, 4-20 mA."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from firmware.drivers.modbus import ModbusDevice, RegisterItem
from firmware.drivers.polled import Point
from firmware.sources.bus import BusRunner
from hardware.line import PtyLine, TcpLine
from hardware.profiles import Profile
from hardware.sim_modbus import ModbusHandler, SimModbusDevice, SimRegister
from shared.codec.flags import FLAG_INVALID, FLAG_MISSING
from tests.acquisition_helpers import ListSink, PtyPair, bus, clock, run_for

pymodbus = pytest.importorskip('pymodbus')
from pymodbus.server import ModbusSerialServer, ModbusTcpServer  # noqa: E402
from pymodbus.simulator import DataType, SimData, SimDevice  # noqa: E402
from pymodbus import FramerType  # noqa: E402

E, P, F = 80420101001, 80420114001, 80420114002       # energy register, power, another power point


def _words(fmt: str, value) -> list[int]:
    raw = struct.pack('>' + fmt, value)
    return [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]


def _peer_device() -> SimDevice:
    """Register contents encoded by pymodbus itself (big-endian words) plus hand-packed other orders."""
    f32_little_words = list(reversed(_words('f', 1.5)))                        # word order little
    u32_byte_swapped = [((w & 0xFF) << 8) | (w >> 8) for w in _words('I', 123456789)]   # byte order little
    return SimDevice(id=7, simdata=[
        SimData(address=0, values=1234567890, datatype=DataType.UINT32),
        SimData(address=2, values=-1234, datatype=DataType.INT16),
        SimData(address=3, values=-2.25, datatype=DataType.FLOAT32),
        SimData(address=5, values=98765432101234, datatype=DataType.UINT64),
        SimData(address=9, values=f32_little_words + u32_byte_swapped, datatype=DataType.REGISTERS),
        SimData(address=13, values=[12000, 2500, 25000], datatype=DataType.REGISTERS),       # µA: 12 mA, 2.5 mA, 25 mA
    ])


def _peer_points() -> list[Point]:
    return [
        Point('d/u32', E, 'kWh', 0.5, RegisterItem(0, 'u32', scale='0.01')),
        Point('d/s16', P, 'kW', 0.5, RegisterItem(2, 's16', scale='0.1', offset='100')),
        Point('d/f32', F, 'kW', 0.5, RegisterItem(3, 'f32')),
        Point('d/u64', 80420101002, 'kWh', 0.5, RegisterItem(5, 'u64', scale='0.001')),
        Point('d/f32le', 80420114003, 'kW', 0.5, RegisterItem(9, 'f32', word_order='little')),
        Point('d/u32bs', 80420101003, 'kWh', 0.5, RegisterItem(11, 'u32', byte_order='little')),
        Point('d/ai1', 80420114004, 'kW', 0.5, RegisterItem(13, 'u16', scale='0.001', loop=['0', '800'])),
        Point('d/ai2', 80420114005, 'kW', 0.5, RegisterItem(14, 'u16', scale='0.001', loop=['0', '800'])),
        Point('d/ai3', 80420114006, 'kW', 0.5, RegisterItem(15, 'u16', scale='0.001', loop=['0', '800'])),
    ]


def _check_peer_values(sink: ListSink) -> None:
    got = {r[0]: r for r in sink.readings}
    assert got[E][2:4] == (1234567890, -2)                  # 12345678.90 kWh, exact
    assert got[P][2:4] == (-1234 + 1000, -1)                # -123.4 + 100 = -23.4 kW
    assert got[F][2] == -2.25
    assert got[80420101002][2:4] == (98765432101234, -3)
    assert got[80420114003][2] == 1.5
    assert got[80420101003][2:4] == (123456789, 0)
    assert got[80420114004][2:5] == (400, 0, 0)             # 12 mA on 0..800 kW = 400 kW
    assert got[80420114005][2] is None and got[80420114005][4] == FLAG_MISSING      # 2.5 mA: open loop
    assert got[80420114006][2] is None and got[80420114006][4] == FLAG_MISSING      # 25 mA: loop fault high


async def test_tcp_against_pymodbus_server(unused_tcp_port):
    server = ModbusTcpServer(_peer_device(), address=('127.0.0.1', unused_tcp_port))
    await server.serve_forever(background=True)
    await asyncio.sleep(0.2)
    sink = ListSink()
    cfg = bus('tcp', 'modbus-tcp', {'d': ModbusDevice(7, tcp=True)}, {'d': _peer_points()}, host='127.0.0.1',
              tcp_port=unused_tcp_port, timeout_s=1.0)
    runner = BusRunner(cfg, sink, clock())
    try:
        await run_for(runner.run, 1.2)
    finally:
        await server.shutdown()
    _check_peer_values(sink)
    # contiguous registers are read in one transaction per visit
    assert runner.stats['transactions'] <= 3 * 1 + 1


async def test_rtu_against_pymodbus_serial_server(tmp_path):
    pair = PtyPair(str(tmp_path))
    server = ModbusSerialServer(_peer_device(), framer=FramerType.RTU, port=pair.a, baudrate=9600, parity='N')
    await server.serve_forever(background=True)
    await asyncio.sleep(0.3)
    sink = ListSink()
    cfg = bus('rtu', 'modbus-rtu', {'d': ModbusDevice(7)}, {'d': _peer_points()}, port=pair.b, timeout_s=1.0,
              gap_s=0.01)
    runner = BusRunner(cfg, sink, clock())
    try:
        await run_for(runner.run, 1.5)
    finally:
        await server.shutdown()
        pair.close()
    _check_peer_values(sink)


async def test_pymodbus_exception_is_a_refusal_not_a_value(unused_tcp_port):
    server = ModbusTcpServer(_peer_device(), address=('127.0.0.1', unused_tcp_port))
    await server.serve_forever(background=True)
    await asyncio.sleep(0.2)
    sink = ListSink()
    points = [Point('d/x', E, 'kWh', 0.5, RegisterItem(500, 'u32'))]      # not defined on the device
    cfg = bus('tcp', 'modbus-tcp', {'d': ModbusDevice(7, tcp=True)}, {'d': points}, host='127.0.0.1',
              tcp_port=unused_tcp_port, timeout_s=1.0)
    runner = BusRunner(cfg, sink, clock())
    try:
        await run_for(runner.run, 0.8)
    finally:
        await server.shutdown()
    assert sink.readings and all(r[2] is None and r[4] == FLAG_MISSING for r in sink.readings)
    assert runner.stats['refused'] >= 1 and runner.stats['retries'] == 0


async def test_simulated_power_meter_rtu_and_flow_meter_tcp():
    t0 = time.time()
    power_meter = SimModbusDevice(1, Profile(rate=250.0, start=5000.0, t0=t0), [
        SimRegister(0, 'u32', 'energy'), SimRegister(2, 'f32', 'rate'),
        SimRegister(4, 'u16', 'loop', loop=[0, 500], function='input')])
    rtu = PtyLine(ModbusHandler([power_meter]), time.time)
    flow_meter = SimModbusDevice(3, Profile(rate=36.0, start=100.0, t0=t0, decimals=3), [
        SimRegister(100, 'u32', 'energy', word_order='little')])
    tcp = TcpLine(ModbusHandler([flow_meter], tcp=True), time.time)
    await rtu.start()
    await tcp.start()
    sink = ListSink()
    rtu_cfg = bus('rtu', 'modbus-rtu', {'pm': ModbusDevice(1)}, {'pm': [
        Point('pm/e', E, 'kWh', 0.5, RegisterItem(0, 'u32', scale='0.01'), register_digits=6),
        Point('pm/p', P, 'kW', 0.5, RegisterItem(2, 'f32')),
        Point('pm/ai', F, 'kW', 0.5, RegisterItem(4, 'u16', function='input', scale='0.001', loop=['0', '500']),
              low=(0, 0), high=(400, 0))]}, port=rtu.device)
    tcp_cfg = bus('tcp', 'modbus-tcp', {'fm': ModbusDevice(3, tcp=True)}, {'fm': [
        Point('fm/v', 80101601001, '10^4 Nm3', 0.5, RegisterItem(100, 'u32', word_order='little', scale='0.001',
                                                                 unit='Nm3'))]},
        host='127.0.0.1', tcp_port=tcp.port)
    try:
        await asyncio.gather(run_for(BusRunner(rtu_cfg, sink, clock()).run, 1.6),
                             run_for(BusRunner(tcp_cfg, sink, clock()).run, 1.6))
    finally:
        await rtu.stop()
        await tcp.stop()
    energy = sink.of(E)
    assert len(energy) >= 3
    for r in energy:
        assert power_meter.profile.register(r[1] / 1000 - 0.5) <= r[2] <= power_meter.profile.register(r[1] / 1000 + 0.001)
    assert all(abs(r[2] - 250.0) < 1e-3 for r in sink.of(P))
    # 250 kW on a 0..500 kW loop is 12 mA; above the instrument's 400 kW high limit? no: valid
    assert all(r[2:5] == (250, 0, 0) for r in sink.of(F))
    # the flow meter's Nm3 register arrives in 10^4 Nm3, exact: same digits, exponent shifted by 4
    volume = sink.of(80101601001)
    assert volume and all(r[3] == -7 and r[5] == '10^4 Nm3' for r in volume)


async def test_analog_over_instrument_range_is_flagged_invalid():
    t0 = time.time()
    reg = SimRegister(4, 'u16', 'loop', loop=[0, 500])
    dev = SimModbusDevice(1, Profile(rate=480.0, t0=t0), [reg])
    line = PtyLine(ModbusHandler([dev]), time.time)
    await line.start()
    sink = ListSink()
    cfg = bus('rtu', 'modbus-rtu', {'d': ModbusDevice(1)}, {'d': [
        Point('d/ai', F, 'kW', 0.3, RegisterItem(4, 'u16', scale='0.001', loop=['0', '500']), high=(450, 0))]},
        port=line.device)
    try:
        await run_for(BusRunner(cfg, sink, clock()).run, 0.7)
        reg.loop_ua = 20800            # 20.8 mA: over range per NAMUR NE 43
        await run_for(BusRunner(cfg, sink, clock()).run, 0.7)
    finally:
        await line.stop()
    first, *_ = sink.readings
    assert first[2:5] == (480, 0, FLAG_INVALID)            # above the instrument's 450 kW limit
    assert sink.readings[-1][2:5] == (525, 0, FLAG_INVALID)      # 500 × 16.8/16: kept, flagged
