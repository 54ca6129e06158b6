"""The reading sources of a gateway configuration: buses, meters and points read by
polling, MQTT collectors, OPC UA servers, HJ 212 stations and manual entry
(docs/drivers.md).  Everything is checked before the gateway starts; every
mistake is one GatewayConfigError naming the setting."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from firmware.settings import check_keys, fail, number, text, unique_name
from firmware.drivers import dlt645, polled, registers
from firmware.drivers.analog import AnalogError
from shared import units
from shared.codec import codes, decimals

PROTOCOLS = ('dlt645', 'dlt645-1997', 'cjt188', 'modbus-rtu', 'modbus-tcp')
SERIAL_PROTOCOLS = ('dlt645', 'dlt645-1997', 'cjt188', 'modbus-rtu')
PERIODS = {'minute': 60, 'hour': 3600}
BOARDS_DIR = Path(__file__).resolve().parent.parent.parent / 'hardware' / 'boards'


@dataclass
class BusConfig:
    name: str
    protocol: str
    port: str | None = None
    host: str | None = None
    tcp_port: int | None = None
    baud: int = 2400
    parity: str = 'E'
    stopbits: int = 1
    timeout_s: float = 1.0
    retries: int = 2
    gap_s: float = 0.05
    degrade_after: int = 3
    probe_s: float = 60.0
    probe_max_s: float = 600.0
    time_sync_s: float = 0.0                           # DL/T 645 broadcast time sync period, 0 = never
    utc_offset_s: int = 8 * 3600
    meters: dict = field(default_factory=dict)         # name -> driver
    points: dict = field(default_factory=dict)         # meter name -> [polled.Point]


@dataclass
class MqttConfig:
    host: str
    port: int
    topics: list
    client_id: str
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None


@dataclass
class OpcuaNode:
    node: str
    code: int
    unit: str
    mode: str
    period_s: float


@dataclass
class OpcuaConfig:
    url: str
    nodes: list


@dataclass
class Hj212Config:
    host: str
    port: int
    password: str | None
    stations: list | None
    mapping: dict


@dataclass
class Sources:
    buses: list = field(default_factory=list)
    mqtt: list = field(default_factory=list)
    opcua: list = field(default_factory=list)
    hj212: list = field(default_factory=list)
    manual: bool = False
    board: dict | None = None

    def empty(self) -> bool:
        return not (self.buses or self.mqtt or self.opcua or self.hj212 or self.manual)


def _code_unit(doc: dict, where: str, tables) -> tuple[int, str]:
    code = doc.get('code')
    try:
        code = tables.validate(code)
    except (codes.CodeError, TypeError, AttributeError) as e:
        fail(where, 'code %r: %s' % (code, e))
    unit = text(doc, 'unit', where)
    try:
        tables.check_unit(code, unit)
    except codes.CodeError as e:
        fail(where, str(e))
    return int(code), unit


def _period(doc: dict, where: str, default='minute') -> float:
    v = doc.get('every', default)
    if isinstance(v, str):
        if v not in PERIODS:
            fail(where, 'every must be "minute", "hour" or a number of seconds, not %r' % v)
        return float(PERIODS[v])
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        fail(where, 'every must be "minute", "hour" or a number of seconds > 0, not %r' % (v,))
    return float(v)


def _decimal(doc: dict, key: str, where: str):
    v = doc.get(key)
    if v is None:
        return None
    try:
        return decimals.parse(str(v))
    except decimals.DecimalError as e:
        fail(where, '%s: %s' % (key, e))


def load_board(ref: str, where='gateway.board') -> dict:
    """A board profile: hardware/boards/NAME.toml or a path to one."""
    path = Path(ref) if ref.endswith('.toml') else BOARDS_DIR / ('%s.toml' % ref)
    try:
        doc = tomllib.loads(path.read_text(encoding='utf-8'))
    except OSError:
        known = sorted(p.stem for p in BOARDS_DIR.glob('*.toml'))
        fail(where, 'no board profile %r (known: %s)' % (ref, ', '.join(known)))
    except tomllib.TOMLDecodeError as e:
        fail(where, '%s is not valid TOML: %s' % (path, e))
    board = doc.get('board')
    check_keys(board, {'name', 'description', 'storage', 'serial', 'cpu', 'ram_mb'}, '%s (%s)' % (where, path))
    serial = board.get('serial', {})
    if not isinstance(serial, dict) or not all(isinstance(v, str) for v in serial.values()):
        fail(where, 'board serial must map port names to device paths')
    return board


def _bus(doc: dict, where: str, seen: set, board: dict | None) -> BusConfig:
    check_keys(doc, {'name', 'protocol', 'port', 'host', 'tcp_port', 'baud', 'parity', 'stopbits', 'timeout_ms',
                      'retries', 'gap_ms', 'degrade_after', 'probe_s', 'probe_max_s', 'time_sync_h'}, where)
    name = unique_name(doc, where, seen)
    protocol = doc.get('protocol')
    if protocol not in PROTOCOLS:
        fail(where, 'protocol must be one of %s, not %r' % (', '.join(PROTOCOLS), protocol))
    bus = BusConfig(name, protocol)
    if protocol in SERIAL_PROTOCOLS:
        port = text(doc, 'port', where)
        if board and port in board.get('serial', {}):
            port = board['serial'][port]
        elif not port.startswith('/'):
            fail(where, 'port %r is neither a device path nor a serial port of the board' % port)
        bus.port = port
        bus.baud = number(doc, 'baud', where, 1200 if protocol == 'dlt645-1997' else 2400 if protocol != 'modbus-rtu'
                        else 9600, 300, 921600, integer=True)
        bus.parity = doc.get('parity', 'N' if protocol == 'modbus-rtu' else 'E')
        if bus.parity not in ('N', 'E', 'O'):
            fail(where, 'parity must be N, E or O')
        bus.stopbits = number(doc, 'stopbits', where, 1, 1, 2, integer=True)
    else:
        bus.host = text(doc, 'host', where)
        bus.tcp_port = number(doc, 'tcp_port', where, 502, 1, 65535, integer=True)
    bus.timeout_s = number(doc, 'timeout_ms', where, 1000, 10, 60000) / 1000.0
    bus.retries = number(doc, 'retries', where, 2, 0, 10, integer=True)
    bus.gap_s = number(doc, 'gap_ms', where, 50 if protocol != 'modbus-tcp' else 0, 0, 10000) / 1000.0
    bus.degrade_after = number(doc, 'degrade_after', where, 3, 1, 1000, integer=True)
    bus.probe_s = number(doc, 'probe_s', where, 60, 0.01)
    bus.probe_max_s = number(doc, 'probe_max_s', where, 600, bus.probe_s)
    if 'time_sync_h' in doc and protocol != 'dlt645':
        fail(where, 'time_sync_h: only DL/T 645-2007 buses have a broadcast time sync here')
    bus.time_sync_s = number(doc, 'time_sync_h', where, 24 if protocol == 'dlt645' else 0, 0, 8760) * 3600.0
    return bus


def _meter(doc: dict, where: str, bus: BusConfig):
    check_keys(doc, {'name', 'bus', 'address', 'unit_id', 'type', 'di_order'}, where)
    try:
        if bus.protocol in ('dlt645', 'dlt645-1997'):
            address = text(doc, 'address', where)
            if not re.fullmatch(r'\d{12}', address):
                fail(where, 'address must be the 12-digit meter address, e.g. "000012345678"')
            return polled.Dlt645Meter(address, dlt645.V2007 if bus.protocol == 'dlt645' else dlt645.V1997)
        if bus.protocol == 'cjt188':
            address = text(doc, 'address', where)
            if not re.fullmatch(r'\d{14}', address):
                fail(where, 'address must be the 14-digit meter address')
            kind = text(doc, 'type', where)
            if not re.fullmatch(r'[0-9A-Fa-f]{2}', kind):
                fail(where, 'type must be the meter type in hex: 10 water, 20 heat, 30 gas')
            order = doc.get('di_order', '901F')
            if order not in ('901F', '1F90'):
                fail(where, 'di_order must be "901F" or "1F90"')
            return polled.Cjt188Meter(int(kind, 16), address, swapped_di=order == '1F90')
        return polled.ModbusDevice(number(doc, 'unit_id', where, 1, 0, 247, integer=True),
                                   tcp=bus.protocol == 'modbus-tcp')
    except ValueError as e:
        fail(where, str(e))


def _point(doc: dict, where: str, meter_name: str, driver, tables) -> polled.Point:
    check_keys(doc, {'meter', 'code', 'unit', 'item', 'register', 'every', 'low', 'high', 'register_digits',
                      'max_per_hour', 'meter_unit'}, where)
    code, unit = _code_unit(doc, where, tables)
    if isinstance(driver, polled.ModbusDevice):
        reg = doc.get('register')
        if not isinstance(reg, dict):
            fail(where, 'register = {address = ..., type = ...} is required for a Modbus point')
        check_keys(reg, {'address', 'type', 'function', 'word_order', 'byte_order', 'scale', 'offset', 'loop',
                          'unit'}, where + '.register')
        try:
            loop = reg.get('loop')
            if loop is not None and (not isinstance(loop, list) or len(loop) != 2):
                fail(where, 'register.loop must be [low, high] of the 4-20 mA range')
            item = polled.RegisterItem(reg.get('address'), reg.get('type', 'u16'), reg.get('function', 'holding'),
                                       reg.get('word_order', 'big'), reg.get('byte_order', 'big'),
                                       reg.get('scale', '1'), reg.get('offset', '0'), loop, reg.get('unit'))
        except (registers.RegisterError, AnalogError) as e:
            fail(where, str(e))
    elif isinstance(driver, polled.Dlt645Meter):
        item = doc.get('item')
        if not isinstance(item, str) or not re.fullmatch(r'[0-9A-Fa-f]{4}|[0-9A-Fa-f]{8}', item):
            fail(where, 'item must be the data identifier in hex, e.g. "00010000"')
        item = int(item, 16)
    else:
        item = text(doc, 'item', where)
    digits = doc.get('register_digits')
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 18):
        fail(where, 'register_digits must be the number of integer digits of the register (1..18)')
    max_per_hour = _decimal(doc, 'max_per_hour', where)
    low, high = _decimal(doc, 'low', where), _decimal(doc, 'high', where)
    meter_unit = text(doc, 'meter_unit', where, required=False)
    point = polled.Point('%s/%s' % (meter_name, code), code, unit, _period(doc, where), item, low, high, digits,
                         None if max_per_hour is None else max_per_hour[0] * 10.0 ** max_per_hour[1] / 3600.0,
                         meter_unit)
    try:
        reported = driver.check_point(point)
    except ValueError as e:
        fail(where, str(e))
    source_unit = meter_unit or reported
    if source_unit is not None:
        try:
            units.shift(source_unit, unit)
        except units.UnitError as e:
            fail(where, 'the meter reports %s: %s' % (source_unit, e))
    return point


def _mqtt(doc: dict, where: str, gateway_id: str) -> MqttConfig:
    check_keys(doc, {'host', 'port', 'topics', 'client_id', 'keepalive_s', 'username', 'password'}, where)
    topics = doc.get('topics')
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
        fail(where, 'topics must be a list of topic filters')
    return MqttConfig(text(doc, 'host', where), number(doc, 'port', where, 1883, 1, 65535, integer=True), topics,
                      text(doc, 'client_id', where, default='tanji-%s' % gateway_id),
                      number(doc, 'keepalive_s', where, 30, 5, 3600, integer=True),
                      text(doc, 'username', where, required=False), text(doc, 'password', where, required=False))


def _opcua(doc: dict, where: str, tables) -> OpcuaConfig:
    check_keys(doc, {'url', 'node'}, where)
    url = text(doc, 'url', where)
    if not url.startswith('opc.tcp://'):
        fail(where, 'url must start with opc.tcp://')
    nodes = []
    for j, n in enumerate(doc.get('node', [])):
        w = '%s.node[%d]' % (where, j + 1)
        check_keys(n, {'node', 'code', 'unit', 'mode', 'every'}, w)
        code, unit = _code_unit(n, w, tables)
        mode = n.get('mode', 'subscribe')
        if mode not in ('subscribe', 'read'):
            fail(w, 'mode must be "subscribe" or "read"')
        nodes.append(OpcuaNode(text(n, 'node', w), code, unit, mode, _period(n, w)))
    if not nodes:
        fail(where, 'at least one [[opcua.node]] is required')
    return OpcuaConfig(url, nodes)


def _hj212(doc: dict, where: str, tables) -> Hj212Config:
    check_keys(doc, {'listen', 'password', 'stations', 'map'}, where)
    listen = text(doc, 'listen', where)
    host, _, port = listen.rpartition(':')
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(where, 'listen must be host:port, e.g. "0.0.0.0:9212"')
    stations = doc.get('stations')
    if stations is not None and (not isinstance(stations, list) or not all(isinstance(s, str) for s in stations)):
        fail(where, 'stations must be a list of MN')
    mapping = {}
    for j, m in enumerate(doc.get('map', [])):
        w = '%s.map[%d]' % (where, j + 1)
        check_keys(m, {'cn', 'pollutant', 'field', 'code', 'unit'}, w)
        cn = m.get('cn')
        if cn not in ('2011', '2051', '2061', '2031'):
            fail(w, 'cn must be 2011 (real time), 2051 (minute), 2061 (hour) or 2031 (day)')
        mapping[(cn, text(m, 'pollutant', w), text(m, 'field', w))] = _code_unit(m, w, tables)
    if not mapping:
        fail(where, 'at least one [[hj212.map]] is required')
    return Hj212Config(host, int(port), text(doc, 'password', where, required=False), stations, mapping)


def parse(doc: dict, gateway_id: str, tables=None, utc_offset_s: int = 8 * 3600) -> Sources:
    tables = tables or codes.tables()
    out = Sources()
    gw = doc.get('gateway', {})
    if gw.get('board'):
        out.board = load_board(gw['board'])
    seen: set = set()
    buses = {}
    for i, b in enumerate(doc.get('bus', [])):
        bus = _bus(b, 'bus[%d]' % (i + 1), seen, out.board)
        bus.utc_offset_s = utc_offset_s
        buses[bus.name] = bus
        out.buses.append(bus)
    meters_seen: set = set()
    owner = {}
    for i, m in enumerate(doc.get('meter', [])):
        where = 'meter[%d]' % (i + 1)
        if not isinstance(m, dict):
            fail(where, 'must be a table')
        name = unique_name(m, where, meters_seen)
        bus = buses.get(m.get('bus'))
        if bus is None:
            fail(where, 'bus %r is not a configured [[bus]]' % m.get('bus'))
        bus.meters[name] = _meter(m, where, bus)
        bus.points[name] = []
        owner[name] = bus
    keys: set = set()
    for i, p in enumerate(doc.get('point', [])):
        where = 'point[%d]' % (i + 1)
        if not isinstance(p, dict):
            fail(where, 'must be a table')
        bus = owner.get(p.get('meter'))
        if bus is None:
            fail(where, 'meter %r is not a configured [[meter]]' % p.get('meter'))
        point = _point(p, where, p['meter'], bus.meters[p['meter']], tables)
        if point.key in keys:
            fail(where, 'code %012d is already read from meter %s' % (point.code, p['meter']))
        keys.add(point.key)
        bus.points[p['meter']].append(point)
    for bus in out.buses:
        for name, points in bus.points.items():
            if not points:
                fail('meter %s' % name, 'has no [[point]]')
    out.mqtt = [_mqtt(m, 'mqtt[%d]' % (i + 1), gateway_id) for i, m in enumerate(doc.get('mqtt', []))]
    out.opcua = [_opcua(o, 'opcua[%d]' % (i + 1), tables) for i, o in enumerate(doc.get('opcua', []))]
    out.hj212 = [_hj212(h, 'hj212[%d]' % (i + 1), tables) for i, h in enumerate(doc.get('hj212', []))]
    manual = doc.get('manual', {})
    check_keys(manual, {'enabled'}, 'manual')
    out.manual = bool(manual.get('enabled', False))
    return out
