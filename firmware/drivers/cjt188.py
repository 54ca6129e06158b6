"""CJ/T 188-2004 water, heat and gas meters, sans I/O (portable).

Frame (CJ/T 188-2004 §5; ../shared/reference/meters.md §2):
    [FE x0-4] 68 T A0..A6 C L DI(2) SER [data] CS 16
- T: meter type (10-13 water, 20-22 heat, 30 gas, 40 electricity, AA any)
- address: 14 BCD digits, low byte first; AA x7 wildcard
- C: D7 reply, D6 abnormal; 01 read (81 / C1), 03 read address (83)
- no +0x33 offset; CS = sum mod 256 from 68 to the last data byte
- the DI is written 90 1F by the 2004 text and 1F 90 by many meters: the order
  is a per-meter setting when sending, and both are accepted when receiving.
"""

from firmware.drivers import bcd
from firmware.drivers.descriptor import Field, Protocol, serial_fields, timing_fields
from firmware.drivers.dlt645 import bcd_value
from firmware.drivers.errors import MeterError
from firmware.drivers.polled import Transaction
from firmware.lib.reading import Reading

PREAMBLE = b'\xfe\xfe\xfe\xfe'
WATER_TYPES = (0x10, 0x11, 0x12, 0x13)
HEAT_TYPES = (0x20, 0x21, 0x22)
GAS_TYPES = (0x30,)
READ = 0x01
DI_CURRENT = 0x901F

# EN 1434 / M-Bus unit codes (meters.md §2.3): code -> (unit, factor exponent)
UNITS = {
    0x01: ('J', 0), 0x02: ('Wh', 0), 0x05: ('kWh', 0), 0x08: ('MWh', 0), 0x0A: ('MWh', 2),
    0x0B: ('kJ', 0), 0x0E: ('MJ', 0), 0x11: ('GJ', 0), 0x13: ('GJ', 2),
    0x14: ('W', 0), 0x17: ('kW', 0), 0x1A: ('MW', 0),
    0x29: ('L', 0), 0x2C: ('m3', 0), 0x32: ('L/h', 0), 0x35: ('m3/h', 0),
}


def _di(di, swapped):
    hi, lo = di >> 8, di & 0xFF
    return bytes((lo, hi)) if swapped else bytes((hi, lo))


def build(meter_type, address, control, data, preamble=PREAMBLE):
    body = bytes((0x68, meter_type)) + bcd.address(address, 7) + bytes((control, len(data))) + data
    return preamble + body + bytes((sum(body) & 0xFF, 0x16))


def build_read(meter_type, address, di=DI_CURRENT, ser=0, swapped=False):
    """Read request; swapped=True sends the DI as 1F 90 (the order many meters use)."""
    return build(meter_type, address, READ, _di(di, swapped) + bytes((ser,)))


class Frame:
    __slots__ = ('meter_type', 'address', 'control', 'data')

    def __init__(self, meter_type, address, control, data):
        self.meter_type = meter_type
        self.address = address
        self.control = control
        self.data = data

    def __repr__(self):
        return 'Frame(%02X, %s, %02X, %s)' % (self.meter_type, self.address, self.control, self.data.hex())


class Parser:
    """Finds frames in received bytes: feed() returns Frame or MeterError items."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            start = self.buf.find(b'\x68')
            if start < 0:
                self.buf = bytearray()
                return out
            self.buf = self.buf[start:]
            if len(self.buf) < 11:
                return out
            end = 11 + self.buf[10] + 2
            if len(self.buf) < end:
                return out
            frame = bytes(self.buf[:end])
            if frame[-1] != 0x16 or sum(frame[:-2]) & 0xFF != frame[-2]:
                out.append(MeterError('garbled reply (checksum or end byte wrong)', 'checksum'))
                self.buf = self.buf[1:]
                continue
            self.buf = self.buf[end:]
            out.append(Frame(frame[1], bcd.address_text(frame[2:9]), frame[9], frame[11:-2]))


def _quantity(raw, unit_code):
    """4-byte BCD XXXXXX.XX + unit code -> (mantissa, exponent, unit)."""
    if unit_code not in UNITS:
        raise MeterError('unknown unit code %02X' % unit_code, 'format')
    unit, scale = UNITS[unit_code]
    return bcd_value(raw, False), -2 + scale, unit


def _bcd2(b):
    return bcd_value(bytes((b,)), False)


def _time(raw):
    """ss mm hh DD MM YYlow YYhigh -> (Y, M, D, h, m, s)."""
    s, mi, h, d, mo = (_bcd2(b) for b in raw[:5])
    year = _bcd2(raw[6]) * 100 + _bcd2(raw[5])
    return (year, mo, d, h, mi, s)


def decode_read(frame, meter_type, address, ser=0):
    """The 901F reply as a dict of exact quantities; MeterError when the reply is unusable."""
    if frame.control & 0x80 == 0 or frame.control & 0x3F != READ:
        raise MeterError('unexpected frame (control %02X) in reply to a read' % frame.control, 'protocol')
    if frame.address != address or frame.meter_type != meter_type:
        raise MeterError('reply from meter %02X/%s, expected %02X/%s'
                         % (frame.meter_type, frame.address, meter_type, address), 'address')
    if frame.control & 0x40:
        raise MeterError('meter reported an abnormal condition (status %s)' % frame.data.hex(), 'refused')
    data = frame.data
    if len(data) < 3 or data[:2] not in (_di(DI_CURRENT, False), _di(DI_CURRENT, True)):
        raise MeterError('reply is for another data item', 'protocol')
    if data[2] != ser:
        raise MeterError('reply carries sequence %d, expected %d' % (data[2], ser), 'protocol')
    body = data[3:]
    if meter_type in WATER_TYPES or meter_type in GAS_TYPES:
        if len(body) != 19:
            raise MeterError('water/gas 901F reply needs 19 bytes, got %d' % len(body), 'format')
        status = body[17] | body[18] << 8
        return {'current': _quantity(body[0:4], body[4]), 'settlement': _quantity(body[5:9], body[9]),
                'time': _time(body[10:17]), 'status': status,
                'valve': ('open', 'closed', 'unknown', 'fault')[status & 0x03], 'battery_low': bool(status & 0x04)}
    if meter_type in HEAT_TYPES:
        if len(body) != 43:
            raise MeterError('heat 901F reply needs 43 bytes, got %d' % len(body), 'format')
        return {'settlement_heat': _quantity(body[0:4], body[4]), 'current_heat': _quantity(body[5:9], body[9]),
                'power': _quantity(body[10:14], body[14]), 'flow_rate': _quantity(body[15:19], body[19]),
                'cumulative_flow': _quantity(body[20:24], body[24]),
                'supply_temp': (bcd_value(body[25:28], False), -2, 'degC'),
                'return_temp': (bcd_value(body[28:31], False), -2, 'degC'),
                'hours': (bcd_value(body[31:34], False), 0, 'h'), 'time': _time(body[34:41]),
                'status': body[41] | body[42] << 8}
    raise MeterError('meter type %02X is not a water, heat or gas meter' % meter_type, 'format')


class _ReadReply:
    def __init__(self, meter_type, address, ser):
        self.parser = Parser()
        self.meter_type = meter_type
        self.address = address
        self.ser = ser

    def feed(self, data):
        for item in self.parser.feed(data):
            if isinstance(item, MeterError):
                raise item
            if not item.control & 0x80:
                continue
            return decode_read(item, self.meter_type, self.address, self.ser)
        return None


class Cjt188Meter:
    WATER_GAS_FIELDS = ('current', 'settlement')
    HEAT_FIELDS = ('settlement_heat', 'current_heat', 'power', 'flow_rate', 'cumulative_flow', 'supply_temp',
                   'return_temp', 'hours')

    def __init__(self, meter_type, address, swapped_di=False):
        self.meter_type = meter_type
        self.address = address
        self.label = 'address %s' % address           # how a person finds this meter on its bus
        self.swapped_di = swapped_di
        self.ser = 0

    def check_point(self, point):
        fields = self.HEAT_FIELDS if self.meter_type in HEAT_TYPES else self.WATER_GAS_FIELDS
        if point.item not in fields:
            raise ValueError('CJ/T 188 field %r: use one of %s' % (point.item, ', '.join(fields)))
        return None                              # the unit comes with each reply

    def transactions(self, points):
        self.ser = (self.ser + 1) & 0xFF
        req = build_read(self.meter_type, self.address, ser=self.ser, swapped=self.swapped_di)

        def decode(result):
            return [Reading(p.code, None, result[p.item][0], result[p.item][1], 0, result[p.item][2]) for p in points]
        return [Transaction(req, _ReadReply(self.meter_type, self.address, self.ser), list(points), decode)]


# -- what the gateway needs to know (firmware/drivers/descriptor.py) ---------------------------------

PROTOCOL = Protocol(
    'cjt188', {'zh': 'CJ/T 188-2004 水、气、热量表', 'en': 'CJ/T 188-2004 water, gas and heat meters'}, 'serial',
    serial_fields(2400, 'E') + timing_fields(50),
    [Field('address', 'digits', lengths=(14,), help={'zh': '表地址，14 位数字', 'en': 'meter address, 14 digits'},
           error='address must be the 14-digit meter address'),
     Field('type', 'hex', lengths=(2,), help={'zh': '仪表类型（十六进制）：10 水表，20 热量表，30 燃气表',
                                               'en': 'meter type in hex: 10 water, 20 heat, 30 gas'},
           error='type must be the meter type in hex: 10 water, 20 heat, 30 gas'),
     Field('di_order', 'choice', '901F', {'zh': '数据标识字节顺序（多数表为 901F）',
                                          'en': 'byte order of the data identifier (most meters: 901F)'},
           choices=('901F', '1F90'), error='di_order must be "901F" or "1F90"')],
    [Field('item', 'choice', choices=Cjt188Meter.WATER_GAS_FIELDS + Cjt188Meter.HEAT_FIELDS,
           help={'zh': '读取的量：水/气表 current、settlement；热量表 current_heat 等',
                 'en': 'quantity read: water/gas current, settlement; heat meters current_heat and others'})],
    lambda settings: Cjt188Meter(settings['type'], settings['address'], swapped_di=settings['di_order'] == '1F90'),
    lambda settings: settings['item'], simulator='hardware.sim_cjt188')
