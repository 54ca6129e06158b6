"""Simulated DL/T 645-2007/-1997 meters on one RS-485 bus.

Each meter answers only its own address (a real meter is silent to others),
derives its items from one consumption profile (energy registers, power,
voltage, current), accepts the broadcast time sync, answers the read-address
request when it is alone on the bus, and can split replies into a first frame
and a follow-up (control B1, then 12/92) as meters do for long items."""

from __future__ import annotations

from firmware.drivers import bcd, dlt645
from hardware.faults import Faults
from hardware.line import MeterHandler
from hardware.profiles import Profile


class SimDlt645Meter:
    def __init__(self, address: str, profile: Profile, version: int = dlt645.V2007, faults: Faults | None = None,
                 split: bool = False) -> None:
        self.address = address
        self.profile = profile
        self.version = version
        self.faults = faults or Faults()
        self.split = split
        self.clock_offset_s = 0.0
        self.pending: dict[int, bytes] = {}
        self.items = dlt645.ITEMS_2007 if version == dlt645.V2007 else dlt645.ITEMS_1997

    def value(self, di: int, t: float) -> int | None:
        """The mantissa the meter shows for a data item at time t (at the item's decimals)."""
        spec = self.items.get(di)
        if spec is None:
            return None
        size, decimals, signed, unit = spec
        if unit in ('kWh',):
            if di in (0x00020000, 0x9020):
                return 0
            register = self.profile.register(t)                   # at profile.decimals
            return register * 10 ** (decimals - self.profile.decimals) if decimals >= self.profile.decimals \
                else register // 10 ** (self.profile.decimals - decimals)
        if unit == 'kvarh':
            return self.profile.register(t) // 3 * 10 ** (decimals - self.profile.decimals)
        if unit in ('kW', 'kVA', 'kvar'):
            return self.profile.instantaneous(t, decimals) // (1 if unit != 'kvar' else 3)
        if unit == 'V':
            return 2200 * 10 ** decimals // 10
        if unit == 'A':
            return int(self.profile.rate_at(t) / 0.66 * 10 ** decimals)
        if unit == 'Hz':
            return 5000
        return 950                                                 # power factor 0.950

    def reply_data(self, di: int, t: float, fault: str | None) -> bytes | None:
        spec = self.items.get(di)
        v = self.value(di, t)
        if v is None:
            return None
        size, _, signed, _ = spec
        raw = bcd.encode(v % (100 ** size if not signed else 100 ** size // 2), size, signed)
        if fault == 'bcd':
            raw = b'\xaa' * size                                   # checksum right, digits impossible
        return raw


def _di(data: bytes, version: int) -> int:
    n = 4 if version == dlt645.V2007 else 2
    return int.from_bytes(bytes(data[:n]), 'little')


class _Requests:
    def __init__(self) -> None:
        self.parser = dlt645.Parser()

    def feed(self, data: bytes) -> list:
        return [f for f in self.parser.feed(data) if isinstance(f, dlt645.Frame) and not f.is_reply]


def _overlaid(replies: list[bytes]) -> bytes:
    """What a line carries when several meters answer at once: their bits wired-AND (an idle
    RS-485 line is a 1).  On a real line the replies start a few bit times apart, so what
    arrives never checks out; the overlay alone sometimes would, so its checksum is spoilt."""
    size = max(len(r) for r in replies)
    out = bytearray(b'\xff' * size)
    for r in replies:
        for i, b in enumerate(r):
            out[i] &= b
    if all(isinstance(item, dlt645.Frame) for item in dlt645.Parser().feed(bytes(out))):
        out[-2] ^= 0x55
    return bytes(out)


class Dlt645Bus(MeterHandler):
    checksum_at = -2

    def __init__(self, meters: list[SimDlt645Meter]) -> None:
        self.meters = {m.address: m for m in meters}

    def parser(self):
        return _Requests()

    def faults_for(self, frame):
        m = self._meter(frame)
        return m.faults if m is not None and frame.control not in (dlt645.TIME_SYNC,) else None

    def _matching(self, address: str) -> list[SimDlt645Meter]:
        """The meters an address reaches: its own, or every one whose digits match where the
        address has digits ('AA' pairs are wildcards)."""
        if address in self.meters:
            return [self.meters[address]]
        pairs = [address[i:i + 2] for i in range(0, 12, 2)]
        if 'AA' not in pairs:
            return []
        return [m for a, m in self.meters.items()
                if all(p == 'AA' or p == a[i * 2:i * 2 + 2] for i, p in enumerate(pairs))]

    def _meter(self, frame):
        matching = self._matching(frame.address)
        return matching[0] if len(matching) == 1 else None

    def _collision(self, frame, matching: list[SimDlt645Meter], now: float) -> bytes | None:
        replies = []
        for m in matching:
            one = Dlt645Bus([m]).respond(frame.__class__(m.address, frame.control, frame.data), now, None)
            if one is not None:
                replies.append(one)
        return _overlaid(replies) if replies else None

    def respond(self, frame, now: float, fault: str | None) -> bytes | None:
        c = frame.control
        if c == dlt645.TIME_SYNC and frame.address == dlt645.BROADCAST:
            d = frame.data
            if len(d) == 6:
                for m in self.meters.values():
                    m.last_time_sync = bytes(reversed(d))          # YY MM DD hh mm ss
            return None
        if c == dlt645.READ_ADDRESS:
            if frame.address == dlt645.WILDCARD and len(self.meters) == 1:
                m = next(iter(self.meters.values()))
                return dlt645.build(m.address, 0x93, dlt645.encode_address(m.address))
            return None                 # several meters would all answer: a real bus gives garbage
        matching = self._matching(frame.address)
        if len(matching) > 1:
            return self._collision(frame, matching, now)
        m = matching[0] if matching else None
        if m is None:
            return None
        version = m.version
        if c == dlt645.READ[version]:
            di = _di(frame.data, version)
            raw = m.reply_data(di, now + m.clock_offset_s, fault)
            di_bytes = bytes(frame.data[:4 if version == dlt645.V2007 else 2])
            if raw is None:
                return dlt645.build(m.address, 0xC0 | c, b'\x02')      # no such data item
            if m.split and version == dlt645.V2007 and len(raw) > 1:
                half = len(raw) // 2
                m.pending[di] = raw[half:]
                return dlt645.build(m.address, 0xA0 | c, di_bytes + raw[:half])
            return dlt645.build(m.address, 0x80 | c, di_bytes + raw)
        if c == dlt645.READ_FOLLOWUP[dlt645.V2007] and version == dlt645.V2007:
            di = _di(frame.data, version)
            rest = m.pending.pop(di, None)
            if rest is None:
                return dlt645.build(m.address, 0xD2, b'\x02')
            return dlt645.build(m.address, 0x92, bytes(frame.data[:4]) + rest + bytes(frame.data[4:5]))
        return dlt645.build(m.address, 0xC0 | c, b'\x01')              # other functions: not supported


def rig_handler(meters: list, parts, tcp: bool = False) -> Dlt645Bus:
    """A multi-drop DL/T 645 line of a rig file's [[line.meter]] (hardware/rig.py)."""
    return Dlt645Bus([SimDlt645Meter(m['address'], parts.profile(m.get('profile')),
                                     dlt645.V1997 if m.get('version') == 1997 else dlt645.V2007,
                                     parts.faults(m.get('faults')), m.get('split', False)) for m in meters])
