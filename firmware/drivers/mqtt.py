"""MQTT 3.1.1 subscriber, sans-IO and portable, and the collector payload.

Collectors publish readings; the gateway subscribes with QoS 1 and a persistent
session (clean session 0), and answers PUBACK only once the readings are durable
in its log, so a broker redelivers whatever a power cut interrupted.

Payload (JSON or msgpack; docs/drivers.md):
    {"readings": [{"code": "080420101001", "t": 1763884800000, "v": "12345.67", "unit": "kWh"}, ...]}
or one such reading object on its own.  "v" is decimal text (exact), an integer, a
float, or null with "flags" (missing reading); "t" is the collector's time of
reading in ms since 1970 UTC and is required: a reading is never stamped with the
time it happened to arrive.  An empty payload (a cleared retained message) is
ignored.
"""

import json
import struct

from shared.codec import codes, decimals, mp
from firmware.lib.reading import Reading
from shared.codec.flags import FLAG_MISSING

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14
CONNACK_REASONS = {1: 'unacceptable protocol version', 2: 'client id rejected', 3: 'server unavailable',
                   4: 'bad user name or password', 5: 'not authorised'}
MAX_PACKET = 1 << 20


class MqttError(Exception):
    pass


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack('>H', len(b)) + b


def _packet(ptype, flags, body):
    return bytes((ptype << 4 | flags,)) + _varint(len(body)) + body


def connect(client_id, keepalive=60, clean=False, username=None, password=None):
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    return _packet(CONNECT, 0, _str('MQTT') + bytes((4, flags)) + struct.pack('>H', keepalive) + payload)


def subscribe(packet_id, topics):
    """topics: [(filter, qos)]"""
    body = struct.pack('>H', packet_id) + b''.join(_str(t) + bytes((q,)) for t, q in topics)
    return _packet(SUBSCRIBE, 0x02, body)


def publish(topic, payload, qos=0, packet_id=0, retain=False, dup=False):
    flags = (0x08 if dup else 0) | qos << 1 | (1 if retain else 0)
    body = _str(topic) + (struct.pack('>H', packet_id) if qos else b'') + payload
    return _packet(PUBLISH, flags, body)


def puback(packet_id):
    return _packet(PUBACK, 0, struct.pack('>H', packet_id))


def pingreq():
    return _packet(PINGREQ, 0, b'')


def disconnect():
    return _packet(DISCONNECT, 0, b'')


class Packet:
    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body

    # CONNACK
    def connack(self):
        """(session present, return code)"""
        return bool(self.body[0] & 1), self.body[1]

    # PUBLISH
    def publish(self):
        """(topic, payload, qos, packet id, retain, dup)"""
        n = struct.unpack('>H', self.body[:2])[0]
        topic = self.body[2:2 + n].decode()
        qos = self.flags >> 1 & 3
        pos = 2 + n
        pid = 0
        if qos:
            pid = struct.unpack('>H', self.body[pos:pos + 2])[0]
            pos += 2
        return topic, self.body[pos:], qos, pid, bool(self.flags & 1), bool(self.flags & 8)

    def packet_id(self):
        return struct.unpack('>H', self.body[:2])[0]


class Parser:
    """Splits the byte stream from the broker into packets."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 2:
            length = 0
            shift = 0
            pos = 1
            while True:
                if pos >= len(self.buf):
                    return out
                b = self.buf[pos]
                length |= (b & 0x7F) << shift
                pos += 1
                if not b & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise MqttError('malformed remaining length')
            if length > MAX_PACKET:
                raise MqttError('packet of %d bytes exceeds the limit' % length)
            if len(self.buf) < pos + length:
                return out
            head = self.buf[0]
            out.append(Packet(head >> 4, head & 0x0F, bytes(self.buf[pos:pos + length])))
            self.buf = self.buf[pos + length:]
        return out


# -- payload ----------------------------------------------------------------------------------

class PayloadError(ValueError):
    pass


def _one(item, tables):
    if not isinstance(item, dict):
        raise PayloadError('a reading must be an object')
    code, t, v, unit = item.get('code'), item.get('t'), item.get('v'), item.get('unit')
    flags = item.get('flags', 0)
    if not isinstance(code, str):
        raise PayloadError('reading without a "code"')
    try:
        code = tables.validate(code)
        tables.check_unit(code, unit)
    except codes.CodeError as e:
        raise PayloadError('%s: %s' % (code, e))
    if not isinstance(t, int) or isinstance(t, bool) or not 946684800000 <= t < 4102444800000:
        raise PayloadError('%s: "t" must be the time of reading in ms since 1970 (2000..2100)' % code)
    if not isinstance(flags, int) or isinstance(flags, bool) or not 0 <= flags <= 0xFFFF:
        raise PayloadError('%s: "flags" must be an integer 0..65535' % code)
    exp = 0
    if v is None:
        flags |= FLAG_MISSING
    elif isinstance(v, str):
        try:
            v, exp = decimals.parse(v)
        except decimals.DecimalError as e:
            raise PayloadError('%s: %s' % (code, e))
    elif isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PayloadError('%s: "v" must be decimal text, a number or null' % code)
    elif isinstance(v, float) and (v != v or v in (float('inf'), float('-inf'))):
        raise PayloadError('%s: "v" is not a finite number' % code)
    return Reading(int(code), t, v, exp, flags, unit)


def readings(payload, tables=None):
    """The Readings of one message; [] for an
    empty payload; PayloadError naming the fault otherwise.  All or nothing: one bad
    reading refuses the message, so a half-taken message is never acknowledged."""
    if not payload:
        return []
    tables = tables or codes.tables()
    try:
        doc = json.loads(payload) if payload.lstrip()[:1] in (b'{', b'[') else mp.unpackb(payload)
    except Exception as e:
        raise PayloadError('payload is neither JSON nor msgpack (%s)' % e)
    if isinstance(doc, dict) and 'readings' in doc:
        doc = doc['readings']
    items = doc if isinstance(doc, list) else [doc]
    return [_one(item, tables) for item in items]
