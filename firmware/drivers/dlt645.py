"""DL/T 645-2007 and DL/T 645-1997 electricity meters, sans I/O (portable).

Frame (DL/T 645-2007 §7.1; ../shared/reference/meters.md §1):
    [FE x0-4] 68 A0..A5 68 C L DATA CS 16
- address: 12 BCD digits, low byte first; AA x6 wildcard (read address), 99 x6 broadcast
- C: D7 reply, D6 abnormal reply, D5 more frames follow, D4..D0 function
- DATA: every byte +0x33 on the wire; items low byte first, packed BCD
- CS: sum mod 256 from the first 68 to the last DATA byte

Requests are built by build_*(); replies are found in a byte stream by Parser
(skips wake-up preambles and line noise, rejects bad checksums) and turned into
values by decode_read().  Values come back exactly, as (mantissa, exponent).
"""

from firmware.drivers import bcd
from firmware.drivers.descriptor import Field, Protocol, serial_fields, timing_fields
from firmware.drivers.errors import MeterError
from firmware.drivers.polled import FollowUp, Transaction
from firmware.lib.reading import Reading

PREAMBLE = b'\xfe\xfe\xfe\xfe'
WILDCARD = 'AAAAAAAAAAAA'
BROADCAST = '999999999999'

V2007 = 2007
V1997 = 1997

# function codes (request; a normal reply has D7 set, an abnormal one D7 and D6)
READ = {V2007: 0x11, V1997: 0x01}
READ_FOLLOWUP = {V2007: 0x12, V1997: 0x02}
READ_ADDRESS = 0x13          # 2007 only
TIME_SYNC = 0x08

ERROR_BITS = (
    (0x01, 'other error'), (0x02, 'no such data item'), (0x04, 'password wrong or not authorised'),
    (0x08, 'baud rate cannot be changed'), (0x10, 'too many year zones'), (0x20, 'too many daily slots'),
    (0x40, 'too many tariffs'),
)

# data identifier -> (bytes, decimals, signed, unit); DL/T 645-2007 appendix A (meters.md §1.3)
ITEMS_2007 = {
    0x00000000: (4, 2, False, 'kWh'),     # combined active total energy
    0x00010000: (4, 2, False, 'kWh'),     # forward active total energy
    0x00020000: (4, 2, False, 'kWh'),     # reverse active total energy
    0x00030000: (4, 2, False, 'kvarh'),
    0x00040000: (4, 2, False, 'kvarh'),
    0x02010100: (2, 1, False, 'V'),
    0x02010200: (2, 1, False, 'V'),
    0x02010300: (2, 1, False, 'V'),
    0x02020100: (3, 3, True, 'A'),
    0x02020200: (3, 3, True, 'A'),
    0x02020300: (3, 3, True, 'A'),
    0x02030000: (3, 4, True, 'kW'),
    0x02030100: (3, 4, True, 'kW'),
    0x02030200: (3, 4, True, 'kW'),
    0x02030300: (3, 4, True, 'kW'),
    0x02040000: (3, 4, True, 'kvar'),
    0x02050000: (3, 4, False, 'kVA'),
    0x02060000: (2, 3, True, ''),
    0x02800002: (2, 2, False, 'Hz'),
}
for _tariff in range(1, 64):
    ITEMS_2007[0x00010000 | (_tariff << 8)] = (4, 2, False, 'kWh')
ITEMS_1997 = {
    0x9010: (4, 2, False, 'kWh'),          # forward active total energy
    0x9020: (4, 2, False, 'kWh'),          # reverse active total energy
    0xB611: (2, 0, False, 'V'),
    0xB612: (2, 0, False, 'V'),
    0xB613: (2, 0, False, 'V'),
}


def checksum(data):
    return sum(data) & 0xFF


def encode_address(address):
    """'000012345678' -> wire bytes, low byte first (AAAAAAAAAAAA: the wildcard)."""
    return bcd.address(address, 6)


def decode_address(wire):
    if wire == b'\xaa' * 6:
        return WILDCARD
    return bcd.address_text(wire)


def _offset(data):
    return bytes((b + 0x33) & 0xFF for b in data)


def _unoffset(data):
    return bytes((b - 0x33) & 0xFF for b in data)


def di_bytes(di, version):
    """A data identifier as it goes on the wire (before the +0x33 offset), low byte first."""
    n = 4 if version == V2007 else 2
    return bytes((di >> (8 * i)) & 0xFF for i in range(n))


def build(address, control, data=b'', preamble=PREAMBLE):
    body = b'\x68' + encode_address(address) + b'\x68' + bytes((control, len(data))) + _offset(data)
    return preamble + body + bytes((checksum(body), 0x16))


def build_read(address, di, version=V2007):
    return build(address, READ[version], di_bytes(di, version))


def build_read_followup(address, di, seq):
    return build(address, READ_FOLLOWUP[V2007], di_bytes(di, V2007) + bytes((seq,)))


def build_read_address():
    return build(WILDCARD, READ_ADDRESS)


def build_time_sync(year, month, day, hour, minute, second):
    """Broadcast time sync, on the wire ss mm hh DD MM YY (meters.md §1.4; no reply)."""
    data = bytes(bcd.byte(v) for v in (second, minute, hour, day, month, year % 100))
    return build(BROADCAST, TIME_SYNC, data)


class Frame:
    __slots__ = ('address', 'control', 'data')

    def __init__(self, address, control, data):
        self.address = address
        self.control = control
        self.data = data          # with the 0x33 offset removed

    @property
    def is_reply(self):
        return bool(self.control & 0x80)

    @property
    def abnormal(self):
        return bool(self.control & 0x40)

    @property
    def more_follows(self):
        return bool(self.control & 0x20)

    @property
    def function(self):
        return self.control & 0x1F

    def __repr__(self):
        return 'Frame(%s, %02X, %s)' % (self.address, self.control, self.data.hex())


class Parser:
    """Finds frames in received bytes.  feed(data) returns a list of Frame or MeterError
    (for a frame that failed its checksum or end byte); noise between frames is skipped."""

    def __init__(self):
        self.buf = bytearray()
        self.skipped = 0

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            start = self.buf.find(b'\x68')
            if start < 0:
                self.skipped += len(self.buf)
                self.buf = bytearray()
                return out
            if start:
                self.skipped += start
                self.buf = self.buf[start:]
            if len(self.buf) < 10:
                return out
            if self.buf[7] != 0x68:
                self.buf = self.buf[1:]           # a stray 68: resynchronise
                self.skipped += 1
                continue
            length = self.buf[9]
            end = 10 + length + 2
            if len(self.buf) < end:
                return out
            frame = bytes(self.buf[:end])
            if frame[-1] != 0x16 or checksum(frame[:-2]) != frame[-2]:
                out.append(MeterError('garbled reply (checksum or end byte wrong)', 'checksum'))
                self.buf = self.buf[1:]
                continue
            self.buf = self.buf[end:]
            out.append(Frame(decode_address(frame[1:7]), frame[8], _unoffset(frame[10:10 + length])))


def error_reasons(code):
    reasons = [text for bit, text in ERROR_BITS if code & bit]
    return reasons or ['error code %02X' % code]


def bcd_value(raw, signed):
    """A BCD value of a reply; MeterError when the bytes are not BCD."""
    try:
        return bcd.value(raw, signed)
    except bcd.BCDError as e:
        raise MeterError('garbled reply (%s)' % e, 'bcd')


def decode_read(frame, address, di, version=V2007):
    """(mantissa, exponent, unit) from the reply to build_read(address, di); MeterError otherwise."""
    function = READ[version]
    if not frame.is_reply or frame.function != function:
        raise MeterError('unexpected frame (control %02X) in reply to a read' % frame.control, 'protocol')
    if address != WILDCARD and frame.address != address:
        raise MeterError('reply from meter %s, expected %s' % (frame.address, address), 'address')
    if frame.abnormal:
        code = frame.data[0] if frame.data else 0
        raise MeterError('meter refused: %s' % ', '.join(error_reasons(code)), 'refused')
    items = ITEMS_2007 if version == V2007 else ITEMS_1997
    di_len = 4 if version == V2007 else 2
    if frame.data[:di_len] != di_bytes(di, version):
        raise MeterError('reply is for another data item', 'protocol')
    spec = items.get(di)
    if spec is None:
        raise MeterError('data item %X has no known format' % di, 'format')
    size, decimals, signed, unit = spec
    value = frame.data[di_len:]
    if len(value) != size:
        raise MeterError('reply carries %d value bytes, %X needs %d' % (len(value), di, size), 'format')
    return bcd_value(value, signed), -decimals, unit


def decode_address_reply(frame):
    if not frame.is_reply or frame.function != READ_ADDRESS or frame.abnormal or len(frame.data) != 6:
        raise MeterError('not a read-address reply', 'protocol')
    return decode_address(frame.data)


class ReadReply:
    """A read, with its follow-up reads when the meter sets 'more follows' (D5 of C):
    DL/T 645-2007 §7.1 (11 -> B1, then 12 with SEQ 1, 2, ... -> B2/92)."""

    MAX_FOLLOWUPS = 16

    def __init__(self, address, di, version):
        self.parser = Parser()
        self.address = address
        self.di = di
        self.version = version
        self.collected = None           # value bytes of earlier frames
        self.seq = 0

    def _followup(self, frame):
        di_len = 4
        if self.collected is None:
            if frame.function != READ[self.version] or frame.abnormal:
                return None
            if frame.data[:di_len] != di_bytes(self.di, self.version):
                raise MeterError('reply is for another data item', 'protocol')
            self.collected = bytes(frame.data[di_len:])
        else:
            # follow-up reply: DI + data + SEQ (DL/T 645-2007 §7.2)
            if frame.data[:di_len] != di_bytes(self.di, self.version) or len(frame.data) < di_len + 1:
                raise MeterError('follow-up reply is for another data item', 'protocol')
            self.collected += bytes(frame.data[di_len:-1])
        if frame.more_follows:
            self.seq += 1
            if self.seq > self.MAX_FOLLOWUPS:
                raise MeterError('meter keeps announcing more frames', 'protocol')
            return FollowUp(build_read_followup(self.address, self.di, self.seq))
        whole = Frame(frame.address, 0x80 | READ[self.version],
                             di_bytes(self.di, self.version) + self.collected)
        return decode_read(whole, self.address, self.di, self.version)

    def feed(self, data):
        for item in self.parser.feed(data):
            if isinstance(item, MeterError):
                raise item
            if not item.is_reply:
                continue                      # our own request echoed by a half-duplex adapter
            try:
                if self.version == V2007 and (item.more_follows or self.collected is not None):
                    if item.abnormal:
                        raise MeterError('meter refused the follow-up: %s' % ', '.join(
                            error_reasons(item.data[0] if item.data else 0)), 'refused')
                    return self._followup(item)
                return decode_read(item, self.address, self.di, self.version)
            except MeterError as e:
                if e.code not in ('protocol', 'address'):
                    raise
                # a late answer to an earlier request (another DI or meter): keep waiting
        return None


class Dlt645Meter:
    def __init__(self, address, version=V2007):
        self.address = address
        self.version = version
        self.label = 'address %s' % address           # how a person finds this meter on its bus
        items = ITEMS_2007 if version == V2007 else ITEMS_1997
        self.items = items

    def check_point(self, point):
        if point.item not in self.items:
            raise ValueError('data item %X is not one the driver can decode' % point.item)
        return self.items[point.item][3]         # the unit the meter reports

    def transactions(self, points):
        out = []
        for p in points:
            req = build_read(self.address, p.item, self.version)
            out.append(Transaction(req, ReadReply(self.address, p.item, self.version), [p],
                                   lambda r, p=p: [Reading(p.code, None, r[0], r[1], 0, r[2])]))
        return out


class AddressReply:
    """Collects the reply to a read-address request (build_read_address): the address."""

    def __init__(self):
        self.parser = Parser()

    def feed(self, data):
        for item in self.parser.feed(data):
            if isinstance(item, MeterError):
                raise item
            if item.is_reply:
                return decode_address_reply(item)
        return None


# -- what the gateway needs to know (firmware/drivers/descriptor.py) ---------------------------------

_ADDRESS = Field('address', 'digits', lengths=(12,),
                 help={'zh': '表地址，12 位数字（铭牌或 tanji gateway read-address）',
                       'en': 'meter address, 12 digits (name plate, or tanji gateway read-address)'},
                 error='address must be the 12-digit meter address, e.g. "000012345678"')
_ITEM = Field('item', 'hex', lengths=(4, 8),
              help={'zh': '数据标识（十六进制），如 00010000 正向有功总电能',
                    'en': 'data identifier in hex, e.g. 00010000 forward active energy'},
              error='item must be the data identifier in hex, e.g. "00010000"')


def _point_item(settings):
    return settings['item']


DLT645_2007 = Protocol(
    'dlt645', {'zh': 'DL/T 645-2007 电能表', 'en': 'DL/T 645-2007 electricity meters'}, 'serial',
    serial_fields(2400, 'E') + timing_fields(50) + [
        Field('time_sync_h', 'number', 24, {'zh': '广播校时周期（0 为不校时）',
                                            'en': 'broadcast time sync period (0: never)'},
              low=0, high=8760, unit='h')],
    [_ADDRESS], [_ITEM], lambda settings: Dlt645Meter(settings['address'], V2007), _point_item,
    time_sync=build_time_sync, simulator='hardware.sim_dlt645')

DLT645_1997 = Protocol(
    'dlt645-1997', {'zh': 'DL/T 645-1997 电能表', 'en': 'DL/T 645-1997 electricity meters'}, 'serial',
    serial_fields(1200, 'E') + timing_fields(50),
    [_ADDRESS], [_ITEM], lambda settings: Dlt645Meter(settings['address'], V1997), _point_item,
    simulator='hardware.sim_dlt645')
