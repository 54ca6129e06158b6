"""Simulated CJ/T 188-2004 water, gas and heat meters (901F read), on one M-Bus line."""

from __future__ import annotations

from firmware.drivers import bcd, cjt188
from hardware.faults import Faults
from hardware.line import MeterHandler
from hardware.profiles import Profile
from shared import civil


class SimCjt188Meter:
    def __init__(self, meter_type: int, address: str, profile: Profile, faults: Faults | None = None,
                 swapped_di: bool = False, utc_offset_s: int = 8 * 3600) -> None:
        self.meter_type = meter_type
        self.address = address
        self.profile = profile
        self.faults = faults or Faults()
        self.swapped_di = swapped_di
        self.utc_offset_s = utc_offset_s
        self.status = 0

    def _time(self, t: float) -> bytes:
        y, mo, d, h, mi, s = civil.local_fields(int(t * 1000), self.utc_offset_s)
        return bytes(bcd.byte(v) for v in (s, mi, h, d, mo, y % 100, y // 100))

    def _quantity(self, mantissa_2dp: int, unit_code: int) -> bytes:
        return bcd.encode(mantissa_2dp % 10 ** 8, 4) + bytes((unit_code,))

    def body(self, t: float, fault: str | None) -> bytes:
        register = self.profile.register(t)                       # at profile.decimals (2)
        settlement = self.profile.register(self.profile.t0)
        if self.meter_type in cjt188.HEAT_TYPES:
            body = (self._quantity(settlement, 0x05) + self._quantity(register, 0x05) +
                    self._quantity(self.profile.instantaneous(t, 2), 0x17) + self._quantity(150, 0x35) +
                    self._quantity(register // 10, 0x2C) + bcd.encode(7500, 3) + bcd.encode(5500, 3) +
                    bcd.encode(int(t - self.profile.t0) // 3600, 3) + self._time(t) + bytes((self.status, 0)))
        else:
            body = (self._quantity(register, 0x2C) + self._quantity(settlement, 0x2C) + self._time(t) +
                    bytes((self.status, 0)))
        if fault == 'bcd':
            body = b'\xab' * 4 + body[4:]
        return body


class Cjt188Line(MeterHandler):
    checksum_at = -2

    def __init__(self, meters: list[SimCjt188Meter]) -> None:
        self.meters = {(m.meter_type, m.address): m for m in meters}

    def parser(self):
        p = cjt188.Parser()

        class Requests:
            def feed(self, data):
                return [f for f in p.feed(data) if isinstance(f, cjt188.Frame) and not f.control & 0x80]
        return Requests()

    def faults_for(self, frame):
        m = self.meters.get((frame.meter_type, frame.address))
        return m.faults if m else None

    def respond(self, frame, now: float, fault: str | None) -> bytes | None:
        m = self.meters.get((frame.meter_type, frame.address))
        if m is None or frame.control != cjt188.READ or len(frame.data) < 3:
            return None
        di = frame.data[:2]
        if di not in (b'\x90\x1f', b'\x1f\x90'):
            return cjt188.build(m.meter_type, m.address, 0xC1, bytes((frame.data[2], 0, 0)))
        return cjt188.build(m.meter_type, m.address, 0x81, di + frame.data[2:3] + m.body(now, fault))


def rig_handler(meters: list, parts, tcp: bool = False) -> Cjt188Line:
    """A CJ/T 188 line of a rig file's [[line.meter]] (hardware/rig.py)."""
    return Cjt188Line([SimCjt188Meter(int(m.get('type', '30'), 16), m['address'], parts.profile(m.get('profile')),
                                      parts.faults(m.get('faults')), m.get('di_order') == '1F90') for m in meters])
