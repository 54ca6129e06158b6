"""Modbus RTU and TCP, sans-IO and portable (CPython and MicroPython).

The client side builds requests and parses replies fed to it byte by byte; the
server side (used by the simulators in hardware/) parses requests and builds
replies.  No transport, no timers: a bus scheduler (firmware/lib/polling.py)
sends the bytes and decides what a silence means.

Why our own codec rather than pymodbus/umodbus on the gateway: the same code must
run on MicroPython, where neither package installs cleanly (PyPI `umodbus` is
CPython-only; `micropython-modbus` encodes registers signed and crashes on values
above 32767 — ../shared/reference/meters.md §5.2).  pymodbus is the independent
peer the tests check this codec against.
"""

import struct

from firmware.drivers import analog, registers
from firmware.drivers.descriptor import Field, Protocol, serial_fields, tcp_fields, timing_fields
from firmware.drivers.errors import MeterError
from firmware.drivers.polled import Transaction
from firmware.lib.reading import Reading

READ_COILS = 0x01
READ_DISCRETE_INPUTS = 0x02
READ_HOLDING = 0x03
READ_INPUT = 0x04
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10

MAX_READ_REGISTERS = 125

EXCEPTIONS = {
    1: 'illegal function',
    2: 'illegal data address',
    3: 'illegal data value',
    4: 'server device failure',
    5: 'acknowledge (request accepted, still processing)',
    6: 'server device busy',
    8: 'memory parity error',
    10: 'gateway path unavailable',
    11: 'gateway target device failed to respond',
}


class ModbusError(MeterError):
    """A Modbus reply that cannot be used; code is 'checksum', 'refused', 'address', 'protocol'
    or 'format'."""


def crc16(data):
    """CRC-16/MODBUS (init FFFF, reflected polynomial A001), sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


# -- PDUs ---------------------------------------------------------------------------

def pdu_read(function, address, count):
    if function not in (READ_COILS, READ_DISCRETE_INPUTS, READ_HOLDING, READ_INPUT):
        raise ValueError('function %d is not a read' % function)
    limit = 2000 if function in (READ_COILS, READ_DISCRETE_INPUTS) else MAX_READ_REGISTERS
    if not 0 <= address <= 0xFFFF or not 1 <= count <= limit or address + count > 0x10000:
        raise ValueError('read of %d at %d is out of range' % (count, address))
    return struct.pack('>BHH', function, address, count)


def pdu_write(address, words):
    if not 0 <= address <= 0xFFFF or not 1 <= len(words) <= 123:
        raise ValueError('write of %d registers at %d is out of range' % (len(words), address))
    if len(words) == 1:
        return struct.pack('>BHH', WRITE_SINGLE, address, words[0])
    return struct.pack('>BHHB', WRITE_MULTIPLE, address, len(words), 2 * len(words)) + \
        b''.join(struct.pack('>H', w) for w in words)


def rtu_adu(unit, pdu):
    body = bytes((unit,)) + pdu
    return body + struct.pack('<H', crc16(body))


def tcp_adu(transaction, unit, pdu):
    return struct.pack('>HHHB', transaction, 0, len(pdu) + 1, unit) + pdu


def _reply_pdu_length(pdu_head):
    """Length of a reply PDU from its first two bytes, or None if not yet known."""
    function = pdu_head[0]
    if function & 0x80:
        return 2
    if function in (READ_COILS, READ_DISCRETE_INPUTS, READ_HOLDING, READ_INPUT):
        return 2 + pdu_head[1] if len(pdu_head) > 1 else None
    if function in (WRITE_SINGLE, WRITE_MULTIPLE):
        return 5
    return -1


def decode_reply_pdu(pdu, function, count):
    """Registers (list of int) or bits (list of bool) of a read reply, [] for a write;
    ModbusError for an exception reply or a malformed one."""
    if pdu[0] == function | 0x80:
        code = pdu[1]
        raise ModbusError('device refused: %s (exception %d)' % (EXCEPTIONS.get(code, 'unknown'), code), 'refused')
    if pdu[0] != function:
        raise ModbusError('reply to function %d, expected %d' % (pdu[0], function), 'protocol')
    if function in (WRITE_SINGLE, WRITE_MULTIPLE):
        return []
    data = pdu[2:]
    if function in (READ_HOLDING, READ_INPUT):
        if len(data) != 2 * count:
            raise ModbusError('reply carries %d bytes, %d registers need %d' % (len(data), count, 2 * count),
                              'format')
        return list(struct.unpack('>%dH' % count, data))
    if len(data) != (count + 7) // 8:
        raise ModbusError('reply carries %d bytes for %d bits' % (len(data), count), 'format')
    return [bool(data[i // 8] >> (i % 8) & 1) for i in range(count)]


# -- client side ----------------------------------------------------------------------

class _Reply:
    def __init__(self, unit, function, count):
        self.unit = unit
        self.function = function
        self.count = count
        self.buf = bytearray()


class RtuReply(_Reply):
    """Collects the RTU reply to one request: feed(bytes) returns None until the reply is
    complete, then the decoded registers, or raises ModbusError."""

    def feed(self, data):
        self.buf += data
        if len(self.buf) < 3:
            return None
        n = _reply_pdu_length(self.buf[1:3])
        if n is None:
            return None
        if n < 0:
            raise ModbusError('garbled reply (unknown function %d)' % self.buf[1], 'checksum')
        if len(self.buf) < 1 + n + 2:
            return None
        adu = bytes(self.buf[:1 + n + 2])
        if crc16(adu[:-2]) != adu[-2] | adu[-1] << 8:
            raise ModbusError('garbled reply (CRC wrong)', 'checksum')
        if adu[0] != self.unit:
            raise ModbusError('reply from unit %d, expected %d' % (adu[0], self.unit), 'address')
        return decode_reply_pdu(adu[1:-2], self.function, self.count)


class TcpReply(_Reply):
    """The Modbus TCP counterpart of RtuReply; replies to other transactions are skipped."""

    def __init__(self, transaction, unit, function, count):
        super().__init__(unit, function, count)
        self.transaction = transaction

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 7:
            tid, proto, length, unit = struct.unpack('>HHHB', self.buf[:7])
            if proto != 0 or not 2 <= length <= 254:
                raise ModbusError('garbled reply (bad MBAP header)', 'checksum')
            if len(self.buf) < 6 + length:
                return None
            pdu = bytes(self.buf[7:6 + length])
            self.buf = self.buf[6 + length:]
            if tid != self.transaction:
                continue                       # a late reply to an earlier request
            if unit != self.unit:
                raise ModbusError('reply from unit %d, expected %d' % (unit, self.unit), 'address')
            return decode_reply_pdu(pdu, self.function, self.count)
        return None


# -- server side (simulators) ------------------------------------------------------------

class Request:
    def __init__(self, unit, function, address, count, values, transaction=None):
        self.unit = unit
        self.function = function
        self.address = address
        self.count = count
        self.values = values
        self.transaction = transaction


def _request_pdu_length(buf):
    function = buf[0]
    if function in (READ_COILS, READ_DISCRETE_INPUTS, READ_HOLDING, READ_INPUT, WRITE_SINGLE):
        return 5
    if function == WRITE_MULTIPLE:
        return 6 + buf[5] if len(buf) > 5 else None
    return 1


def _parse_request_pdu(unit, pdu, transaction=None):
    function = pdu[0]
    if function == WRITE_SINGLE:
        address, value = struct.unpack('>HH', pdu[1:5])
        return Request(unit, function, address, 1, [value], transaction)
    if function == WRITE_MULTIPLE:
        address, count = struct.unpack('>HH', pdu[1:5])
        values = list(struct.unpack('>%dH' % count, pdu[6:6 + 2 * count])) if len(pdu) == 6 + 2 * count else None
        return Request(unit, function, address, count, values, transaction)
    if len(pdu) == 5:
        address, count = struct.unpack('>HH', pdu[1:5])
        return Request(unit, function, address, count, None, transaction)
    return Request(unit, function, 0, 0, None, transaction)


class RtuRequests:
    """Server side of an RTU line: feed(bytes) returns the complete requests with a good CRC.
    Bytes that do not make a valid request are dropped one at a time (resynchronisation)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            n = _request_pdu_length(self.buf[1:])
            if n is None:
                break
            if len(self.buf) < 1 + n + 2:
                break
            adu = bytes(self.buf[:1 + n + 2])
            if crc16(adu[:-2]) != adu[-2] | adu[-1] << 8:
                self.buf = self.buf[1:]
                continue
            self.buf = self.buf[1 + n + 2:]
            out.append(_parse_request_pdu(adu[0], adu[1:-2]))
        return out


class TcpRequests:
    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 7:
            tid, proto, length, unit = struct.unpack('>HHHB', self.buf[:7])
            if len(self.buf) < 6 + length:
                break
            pdu = bytes(self.buf[7:6 + length])
            self.buf = self.buf[6 + length:]
            if proto == 0 and pdu:
                out.append(_parse_request_pdu(unit, pdu, tid))
        return out


def pdu_registers(function, words):
    return struct.pack('>BB', function, 2 * len(words)) + b''.join(struct.pack('>H', w & 0xFFFF) for w in words)


def pdu_exception(function, code):
    return bytes((function | 0x80, code))


# -- devices read by the gateway ------------------------------------------------------------

FUNCTIONS = {'holding': READ_HOLDING, 'input': READ_INPUT}
MAX_BLOCK_GAP = 8          # registers read needlessly to save a transaction


class RegisterItem:
    """Where and how a point lives in a Modbus device."""

    def __init__(self, address, kind='u16', function='holding', word_order='big', byte_order='big',
                 scale='1', offset='0', loop=None, unit=None):
        if function not in FUNCTIONS:
            raise registers.RegisterError('function %r: use holding or input' % function)
        for name, order in (('word_order', word_order), ('byte_order', byte_order)):
            if order not in registers.ORDERS:
                raise registers.RegisterError('%s %r: use big or little' % (name, order))
        if not isinstance(address, int) or not 0 <= address <= 0xFFFF:
            raise registers.RegisterError('register address %r out of 0..65535' % (address,))
        self.address = address
        self.kind = kind
        self.count = registers.width(kind)
        self.function = FUNCTIONS[function]
        self.word_order = word_order
        self.byte_order = byte_order
        self.scaling = registers.Scaling(scale, offset)
        self.loop = analog.Loop(loop[0], loop[1]) if loop else None
        self.unit = unit


def _blocks(points):
    """Group points into contiguous reads of one function, at most 125 registers each."""
    ordered = sorted(points, key=lambda p: (p.item.function, p.item.address))
    blocks = []
    for p in ordered:
        it = p.item
        if blocks:
            fn, start, end, members = blocks[-1]
            if fn == it.function and it.address <= end + MAX_BLOCK_GAP and \
                    max(end, it.address + it.count) - start <= MAX_READ_REGISTERS:
                blocks[-1] = (fn, start, max(end, it.address + it.count), members + [p])
                continue
        blocks.append((it.function, it.address, it.address + it.count, [p]))
    return blocks


class ModbusDevice:
    def __init__(self, unit_id, tcp=False):
        if not 0 <= unit_id <= 247:
            raise ValueError('unit id %r out of 0..247' % unit_id)
        self.unit_id = unit_id
        self.tcp = tcp
        self.label = 'unit id %d' % unit_id           # how a person finds this device on its bus
        self.transaction_id = 0

    def check_point(self, point):
        return point.item.unit

    def _decode_block(self, tx, start, members, words):
        out = []
        for p in members:
            it = p.item
            raw = registers.raw_value(words[it.address - start:it.address - start + it.count], it.kind,
                                      it.word_order, it.byte_order)
            value, exp = it.scaling.apply(raw)
            if it.loop is not None:
                if isinstance(value, float):
                    raise ModbusError('a 4-20 mA point needs an integer register', 'format')
                value, exp, flags, reason = it.loop.convert(value, exp)
                if reason:
                    tx.notes[p.code] = reason
                out.append(Reading(p.code, None, value, exp, flags, it.unit))
                continue
            out.append(Reading(p.code, None, value, exp, 0, it.unit))
        return out

    def transactions(self, points):
        out = []
        for fn, start, end, members in _blocks(points):
            pdu = pdu_read(fn, start, end - start)
            if self.tcp:
                self.transaction_id = (self.transaction_id + 1) & 0xFFFF
                req = tcp_adu(self.transaction_id, self.unit_id, pdu)
                reply = TcpReply(self.transaction_id, self.unit_id, fn, end - start)
            else:
                req = rtu_adu(self.unit_id, pdu)
                reply = RtuReply(self.unit_id, fn, end - start)
            tx = Transaction(req, reply, members, None)
            tx.decode = lambda words, tx=tx, start=start, members=members: self._decode_block(tx, start, members, words)
            out.append(tx)
        return out


# -- what the gateway needs to know (firmware/drivers/descriptor.py) ---------------------------------

_WORD_ORDER = {'zh': '字序：big 高位字在前，little 低位字在前',
               'en': 'word order: big, most significant word first; little, least first'}
_BYTE_ORDER = {'zh': '字节序：big 高位字节在前，little 低位字节在前',
               'en': 'byte order: big, most significant byte first; little, least first'}
_REGISTER = Field('register', 'table', help={'zh': '寄存器：地址、类型、功能码、字/字节序、换算',
                                             'en': 'register: address, type, function, word/byte order, scaling'},
                  error='register = {address = ..., type = ...} is required for a Modbus point', fields=[
    Field('address', 'int', help={'zh': '寄存器地址（从 0 起）', 'en': 'register address (from 0)'}, low=0, high=0xFFFF),
    Field('type', 'choice', 'u16', {'zh': '数据类型', 'en': 'data type'}, choices=tuple(sorted(registers.TYPES))),
    Field('function', 'choice', 'holding', {'zh': '功能码：holding 保持寄存器（03），input 输入寄存器（04）',
                                            'en': 'function: holding registers (03) or input registers (04)'},
          choices=tuple(sorted(FUNCTIONS))),
    Field('word_order', 'choice', 'big', _WORD_ORDER, choices=registers.ORDERS),
    Field('byte_order', 'choice', 'big', _BYTE_ORDER, choices=registers.ORDERS),
    Field('scale', 'decimal', '1', {'zh': '乘数（精确小数）', 'en': 'multiplier (exact decimal)'}),
    Field('offset', 'decimal', '0', {'zh': '偏移（精确小数）', 'en': 'offset (exact decimal)'}),
    Field('loop', 'pair', None, {'zh': '4-20 mA 对应的量程 [下限, 上限]', 'en': 'range of the 4-20 mA loop [low, high]'}),
    Field('unit', 'text', None, {'zh': '仪表给出的单位', 'en': 'the unit the device gives'}),
])


def _register_item(settings):
    reg = settings['register']
    loop = reg.get('loop')
    if loop is not None and (not isinstance(loop, list) or len(loop) != 2):
        raise ValueError('register.loop must be [low, high] of the 4-20 mA range')
    try:
        return RegisterItem(reg.get('address'), reg.get('type', 'u16'), reg.get('function', 'holding'),
                            reg.get('word_order', 'big'), reg.get('byte_order', 'big'), reg.get('scale', '1'),
                            reg.get('offset', '0'), loop, reg.get('unit'))
    except (registers.RegisterError, analog.AnalogError) as e:
        raise ValueError(str(e))


_UNIT_ID = Field('unit_id', 'int', 1, {'zh': '从站地址', 'en': 'unit id (slave address)'}, low=0, high=247)

RTU = Protocol(
    'modbus-rtu', {'zh': 'Modbus RTU 仪表', 'en': 'Modbus RTU devices'}, 'serial',
    serial_fields(9600, 'N') + timing_fields(50), [_UNIT_ID], [_REGISTER],
    lambda settings: ModbusDevice(settings['unit_id']), _register_item, simulator='hardware.sim_modbus')

TCP = Protocol(
    'modbus-tcp', {'zh': 'Modbus TCP 仪表', 'en': 'Modbus TCP devices'}, 'tcp',
    tcp_fields(502) + timing_fields(0), [_UNIT_ID], [_REGISTER],
    lambda settings: ModbusDevice(settings['unit_id'], tcp=True), _register_item, simulator='hardware.sim_modbus')
