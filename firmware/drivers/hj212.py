"""HJ 212-2017 messages from a CEMS, sans I/O (portable).

Wire form (HJ 212-2017 §6.3; ../shared/reference/meters.md §4):
    ##dddd<data segment><CRC, 4 upper-case hex>\\r\\n
    data segment: QN=...;ST=..;CN=....;PW=...;MN=...;Flag=n;[PNUM=n;PNO=n;]CP=&&...&&
The CRC covers the data segment only and is HJ 212's own (init FFFF; per byte
crc = (crc >> 8) ^ byte, then 8 rounds of shift right, XOR A001 on a carry):
not CRC-16/MODBUS.  Parser finds messages in a TCP byte stream; parse_cp()
turns the CP field into DataTime and per-pollutant fields; ack() builds the
platform's answer when Flag asks for one (bit 0).
"""

from firmware.lib.reading import Reading
from shared import civil
from shared.codec.flags import FLAG_MISSING
from shared.codec.text import ascii_digits

MAX_SEGMENT = 9999          # the length field has 4 digits (the standard caps at 1024; peers exceed it)
CN_REALTIME = '2011'
CN_MINUTE = '2051'
CN_HOUR = '2061'
CN_DAY = '2031'
CN_DATA_ANSWER = '9014'
DATA_FLAGS = {'N': 'normal', 'F': 'stopped', 'M': 'maintenance', 'S': 'manual input', 'D': 'fault',
              'C': 'calibration', 'T': 'over range', 'B': 'communication abnormal', 'P': 'power failure'}


class HJ212Error(Exception):
    def __init__(self, reason, code):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def crc(segment):
    value = 0xFFFF
    for b in segment:
        value = (value >> 8) ^ b
        for _ in range(8):
            carry = value & 1
            value >>= 1
            if carry:
                value ^= 0xA001
    return value


def frame(segment):
    """The wire bytes for a data segment (str)."""
    data = segment.encode()
    if len(data) > MAX_SEGMENT:
        raise HJ212Error('data segment of %d bytes is too long' % len(data), 'too_long')
    return b'##%04d' % len(data) + data + b'%04X\r\n' % crc(data)


class Message:
    __slots__ = ('fields', 'cp', 'raw')

    def __init__(self, fields, cp, raw):
        self.fields = fields      # QN, ST, CN, PW, MN, Flag, PNUM, PNO as text
        self.cp = cp              # the text between CP=&& and &&
        self.raw = raw

    @property
    def flag(self):
        try:
            return int(self.fields.get('Flag', '0'))
        except ValueError:
            return 0

    @property
    def wants_ack(self):
        return bool(self.flag & 1)

    def get(self, key, default=None):
        return self.fields.get(key, default)


def parse_segment(segment):
    """Message from a data segment (text); HJ212Error when it is not well formed."""
    i = segment.find('CP=&&')
    if i < 0 or not segment.endswith('&&') or len(segment) < i + 7:
        raise HJ212Error('no CP=&&...&& field', 'format')
    head, cp = segment[:i], segment[i + 5:-2]
    fields = {}
    for item in head.split(';'):
        if not item:
            continue
        key, sep, value = item.partition('=')
        if not sep:
            raise HJ212Error('field %r has no value' % item, 'format')
        fields[key] = value
    for key in ('QN', 'ST', 'CN', 'MN'):
        if key not in fields:
            raise HJ212Error('field %s is missing' % key, 'format')
    return Message(fields, cp, segment)


class Parser:
    """Finds messages in received bytes: feed() returns Message or HJ212Error items."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            start = self.buf.find(b'##')
            if start < 0:
                self.buf = self.buf[-1:] if self.buf[-1:] == b'#' else bytearray()
                return out
            self.buf = self.buf[start:]
            if len(self.buf) < 6:
                return out
            digits = ''.join(chr(b) for b in self.buf[2:6])
            if not ascii_digits(digits):
                out.append(HJ212Error('bad length field %r' % digits, 'format'))
                self.buf = self.buf[2:]
                continue
            n = int(digits)
            end = 6 + n + 6
            if len(self.buf) < end:
                return out
            segment = bytes(self.buf[6:6 + n])
            tail = bytes(self.buf[6 + n:end])
            if tail[4:] != b'\r\n':
                out.append(HJ212Error('message does not end in CRLF where its length says', 'format'))
                self.buf = self.buf[2:]
                continue
            self.buf = self.buf[end:]
            try:
                expected = int(''.join(chr(b) for b in tail[:4]), 16)
            except ValueError:
                expected = -1
            if expected != crc(segment):
                out.append(HJ212Error('CRC mismatch', 'crc'))
                continue
            try:
                out.append(parse_segment(segment.decode()))
            except UnicodeError:
                out.append(HJ212Error('data segment is not text', 'format'))
            except HJ212Error as e:
                out.append(e)


def parse_cp(cp):
    """(DataTime text or None, {pollutant: {field: value text}}) from a CP field."""
    data_time = None
    values = {}
    for group in cp.split(';'):
        for item in group.split(','):
            if not item:
                continue
            key, sep, value = item.partition('=')
            if not sep:
                raise HJ212Error('CP item %r has no value' % item, 'format')
            if key == 'DataTime':
                data_time = value
                continue
            code, dash, field = key.rpartition('-')
            if not dash:
                values.setdefault(key, {})[''] = value
            else:
                values.setdefault(code, {})[field] = value
    return data_time, values


def ack(message, qn_rtn='1'):
    """The platform's data answer (ST=91, CN=9014) to a message whose Flag asks for one."""
    seg = 'QN=%s;ST=91;CN=%s;PW=%s;MN=%s;Flag=4;CP=&&&&' % (
        message.get('QN'), CN_DATA_ANSWER, message.get('PW', ''), message.get('MN'))
    return frame(seg)


# -- readings ------------------------------------------------------------------------------

DATA_CNS = (CN_REALTIME, CN_MINUTE, CN_HOUR, CN_DAY)
# HJ 212 data flags that mean the value is not a valid measurement; S (manual input) is kept
# as manual, N is normal
_FLAG_BITS = {'N': 0, 'S': 0x0008, 'T': 0x0002, 'F': 0x0002, 'M': 0x0002, 'D': 0x0002, 'C': 0x0002,
              'B': 0x0002, 'P': 0x0002}


def data_time_ms(text, utc_offset_s):
    """DataTime YYYYMMDDhhmmss (the station's local time) -> ms since 1970 UTC."""
    if len(text) != 14 or not ascii_digits(text):
        raise HJ212Error('DataTime %r is not YYYYMMDDhhmmss' % text, 'format')
    y, mo, d, h, mi, s = (int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                          int(text[12:14]))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        raise HJ212Error('DataTime %r is not a valid time' % text, 'format')
    return ((civil.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) - utc_offset_s) * 1000


def readings(message, mapping, utc_offset_s, decimal_parse):
    """(readings, unmapped) from a data message (CN 2011/2051/2061/2031).

    mapping: {(cn, pollutant, field): (code int, unit)}, e.g. ('2061', 'a21026', 'Avg').
    A reading is (code, time ms, mantissa or None, exponent, flags, unit); fields not in
    the mapping are listed in `unmapped` so the operator sees what the CEMS sends."""
    cn = message.get('CN')
    if cn not in DATA_CNS:
        return [], []
    data_time, values = parse_cp(message.cp)
    if data_time is None:
        raise HJ212Error('data message without DataTime', 'format')
    ts = data_time_ms(data_time, utc_offset_s)
    out = []
    unmapped = []
    for pollutant, fields in values.items():
        status = fields.get('Flag', 'N')
        for field, text in fields.items():
            if field in ('Flag', 'EFlag', 'SampleTime'):
                continue
            target = mapping.get((cn, pollutant, field))
            if target is None:
                unmapped.append('%s-%s' % (pollutant, field))
                continue
            code, unit = target
            flags = _FLAG_BITS.get(status, 0x0002)
            try:
                m, e = decimal_parse(text)
            except ValueError:
                out.append(Reading(code, ts, None, 0, FLAG_MISSING, unit))       # garbled value: missing, never guessed
                continue
            out.append(Reading(code, ts, m, e, flags, unit))
    return out, unmapped
