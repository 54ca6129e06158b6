"""Simulated Modbus devices: an RTU power meter on a serial line and a TCP flow meter,
or any register map given in a rig file.  Registers follow one consumption profile:

    energy   the register (integer, at the profile's decimals), any integer type
    rate     the instantaneous rate (profile units per hour), f32/f64 or scaled integer
    loop     a 4-20 mA analog input in µA for the rate over [low, high]; `loop_ua`
             overrides the current (open loop = 0, over range = 22000)
    constant a fixed value
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.drivers import modbus, registers
from hardware.faults import Faults
from hardware.line import MeterHandler
from hardware.profiles import Profile


@dataclass
class SimRegister:
    address: int
    kind: str = 'u16'
    what: str = 'energy'
    word_order: str = 'big'
    byte_order: str = 'big'
    decimals: int = 0                  # rate as a scaled integer: rate × 10^decimals
    loop: list | None = None
    value: float = 0
    loop_ua: int | None = None
    function: str = 'holding'


@dataclass
class SimModbusDevice:
    unit_id: int
    profile: Profile
    registers: list = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)

    def _value(self, r: SimRegister, t: float):
        if r.what == 'energy':
            v = self.profile.register(t)
            return v % (1 << (16 * registers.width(r.kind)))
        if r.what == 'rate':
            rate = self.profile.rate_at(t)
            return rate if r.kind in ('f32', 'f64') else int(round(rate * 10 ** r.decimals))
        if r.what == 'loop':
            if r.loop_ua is not None:
                return r.loop_ua
            low, high = r.loop
            frac = (self.profile.rate_at(t) - low) / (high - low)
            return int(round(4000 + 16000 * min(max(frac, -0.01), 1.01)))
        return r.value

    def words(self, function: int, start: int, count: int, t: float) -> list | None:
        table = {}
        fn_name = 'holding' if function == modbus.READ_HOLDING else 'input'
        for r in self.registers:
            if r.function != fn_name:
                continue
            for i, w in enumerate(registers.to_words(self._value(r, t), r.kind, r.word_order, r.byte_order)):
                table[r.address + i] = w
        if any(a not in table for a in range(start, start + count)):
            return None
        return [table[a] for a in range(start, start + count)]


class ModbusHandler(MeterHandler):
    def __init__(self, devices: list[SimModbusDevice], tcp: bool = False) -> None:
        self.devices = {d.unit_id: d for d in devices}
        self.tcp = tcp
        self.checksum_at = -1          # RTU: the CRC's high byte; TCP has no checksum (the fault garbles a byte)

    def parser(self):
        return modbus.TcpRequests() if self.tcp else modbus.RtuRequests()

    def faults_for(self, request):
        d = self.devices.get(request.unit)
        return d.faults if d else None

    def corrupt(self, reply: bytes, fault: str, faults) -> bytes:
        if not self.tcp:
            return faults.corrupt(reply, fault, self.checksum_at)
        # TCP frames carry no checksum (TCP's own catches line noise); a broken peer shows
        # as a malformed MBAP header, which is what we emulate
        return reply[:2] + b'\x5a' + reply[3:]

    def respond(self, request, now: float, fault: str | None) -> bytes | None:
        d = self.devices.get(request.unit)
        if d is None:
            return None if not self.tcp else self._adu(request, modbus.pdu_exception(request.function, 11))
        if request.function in (modbus.READ_HOLDING, modbus.READ_INPUT):
            words = d.words(request.function, request.address, request.count, now)
            pdu = modbus.pdu_exception(request.function, 2) if words is None else \
                modbus.pdu_registers(request.function, words)
        else:
            pdu = modbus.pdu_exception(request.function, 1)
        return self._adu(request, pdu)

    def _adu(self, request, pdu: bytes) -> bytes:
        if self.tcp:
            return modbus.tcp_adu(request.transaction, request.unit, pdu)
        return modbus.rtu_adu(request.unit, pdu)


def rig_handler(devices: list, parts, tcp: bool = False) -> ModbusHandler:
    """Modbus devices of a rig file's [[line.meter]] or [[tcp.device]] (hardware/rig.py)."""
    out = []
    for d in devices:
        regs = []
        for j, r in enumerate(d.get('registers', [])):
            try:
                regs.append(SimRegister(**r))
            except TypeError as e:
                raise parts.error('registers[%d]: %s' % (j + 1, e))
        out.append(SimModbusDevice(d.get('unit_id', 1), parts.profile(d.get('profile')), regs,
                                   parts.faults(d.get('faults'))))
    return ModbusHandler(out, tcp=tcp)
