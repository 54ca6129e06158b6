"""The reading sources of a gateway configuration: buses, meters and points read by
polling, MQTT collectors, OPC UA servers, HJ 212 stations and manual entry
(docs/drivers.md).  Everything is checked before the gateway starts; every
mistake is one GatewayConfigError naming the setting."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from firmware.settings import check_keys, fail, number, text, unique_name
from firmware.drivers import polled
from firmware.drivers.descriptor import PERIODS, Field, Protocol
from firmware.drivers.registry import PROTOCOLS
from shared import units
from shared.codec import codes, decimals
from shared.codec.text import ascii_digits

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
    owners: dict = field(default_factory=dict)         # code (int) -> the configured place that reads it

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


def _help(zh: str, en: str) -> dict:
    return {'zh': zh, 'en': en}


EVERY = Field('every', 'period', 'minute', _help('采集频率：minute 分钟级，hour 小时级，或秒数',
                                                'how often: minute, hour or a number of seconds'))

# The settings every bus, meter and point has whatever its protocol, beside the protocol's own
# (firmware/drivers/descriptor.py); the page's forms are made of both.  `bus` and `meter` name
# a configured bus or meter: the page offers those names.
COMMON_FIELDS = {
    'bus': [Field('name', 'text', help=_help('总线名称（字母、数字、. _ -）', 'name of the bus (letters, digits, . _ -)')),
            Field('protocol', 'choice', help=_help('通信规约', 'protocol'), choices=tuple(PROTOCOLS))],
    'meter': [Field('name', 'text', help=_help('仪表名称（字母、数字、. _ -）', 'name of the meter (letters, digits, . _ -)')),
              Field('bus', 'choice', help=_help('仪表所在的总线', 'the bus the meter is on'), choices=())],
    'point': [Field('meter', 'choice', help=_help('测点所属的仪表', 'the meter the point is read from'), choices=()),
              Field('code', 'text', help=_help('12 位数据项编码（DB35/T 2000）', '12-digit data-item code (DB35/T 2000)')),
              Field('unit', 'text', help=_help('上报单位，如 kWh、t、m3', 'unit reported, e.g. kWh, t, m3')),
              EVERY,
              Field('low', 'decimal', None, _help('合理范围下限（超出标记为可疑）', 'lowest plausible value (below: flagged)')),
              Field('high', 'decimal', None, _help('合理范围上限', 'highest plausible value')),
              Field('max_per_hour', 'decimal', None, _help('累计量每小时最大增量', 'largest rise per hour of a total')),
              Field('register_digits', 'int', None, _help('计度器整数位数（翻转判断）',
                                                          'integer digits of the register (for rollover)'),
                    low=1, high=18),
              Field('meter_unit', 'text', None, _help('仪表给出的单位（与上报单位不同时）',
                                                      'the unit the meter gives, when not the unit reported'))],
}


# The pushed sources' settings as the page's forms show them (the parsers below check them):
# each section's own, and the rows it lists ([[opcua.node]], [[hj212.map]]).
PUSHED_FIELDS = {
    'mqtt': [Field('host', 'text', help=_help('MQTT 代理地址', 'broker address')),
             Field('port', 'int', 1883, _help('端口', 'port'), low=1, high=65535),
             Field('topics', 'list', help=_help('订阅主题（逗号分隔，可含 + #）', 'topics to subscribe (comma separated, + # allowed)')),
             Field('client_id', 'text', None, _help('客户端标识：保持不变，代理据此保留会话', 'client id: keep it stable, the broker keeps the session by it')),
             Field('keepalive_s', 'int', 30, _help('保活间隔', 'keep-alive'), low=5, high=3600, unit='s'),
             Field('username', 'text', None, _help('用户名', 'user name')),
             Field('password', 'text', None, _help('密码', 'password'))],
    'opcua': [Field('url', 'text', help=_help('服务器地址（opc.tcp://…）', 'server address (opc.tcp://…)'))],
    'hj212': [Field('listen', 'text', help=_help('监听地址：主机:端口，如 0.0.0.0:9212', 'listen on: host:port, e.g. 0.0.0.0:9212')),
              Field('password', 'text', None, _help('访问密码 PW（可选）', 'access password PW (optional)')),
              Field('stations', 'list', None, _help('接受的设备唯一标识 MN（逗号分隔，可选）', 'accepted station MN (comma separated, optional)'))],
}
PUSHED_ROWS = {
    'opcua': ('node', [Field('node', 'text', help=_help('节点标识，如 ns=2;s=Kiln1.CoalFeed', 'node id, e.g. ns=2;s=Kiln1.CoalFeed')),
                       Field('code', 'text', help=_help('12 位数据项编码', '12-digit data-item code')),
                       Field('unit', 'text', help=_help('单位', 'unit')),
                       Field('mode', 'choice', 'subscribe', _help('方式：subscribe 订阅，read 定时读取', 'mode: subscribe, or read every period'),
                             choices=('subscribe', 'read')),
                       EVERY]),
    'hj212': ('map', [Field('cn', 'choice', help=_help('命令编码：2011 实时，2051 分钟，2061 小时，2031 日', 'CN: 2011 real time, 2051 minute, 2061 hour, 2031 day'),
                            choices=('2011', '2051', '2061', '2031')),
                      Field('pollutant', 'text', help=_help('污染物编码，如 a21026', 'pollutant code, e.g. a21026')),
                      Field('field', 'text', help=_help('字段，如 Avg、Cou', 'field, e.g. Avg, Cou')),
                      Field('code', 'text', help=_help('12 位数据项编码', '12-digit data-item code')),
                      Field('unit', 'text', help=_help('单位', 'unit'))]),
}


def _period(doc: dict, where: str) -> float:
    try:
        every = EVERY.value(doc)
    except ValueError as e:
        fail(where, str(e))
    return float(PERIODS.get(every, every))


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


def _settings(doc: dict, fields: list, where: str) -> dict:
    """Each field's checked value (its default when absent), by name."""
    out = {}
    for f in fields:
        try:
            out[f.name] = f.value(doc)
        except ValueError as e:
            fail(where, str(e))
        if f.kind == 'table' and out[f.name] is not None:
            check_keys(out[f.name], {sub.name for sub in f.fields}, '%s.%s' % (where, f.name))
    return out


def _keys(doc: dict, common: set, protocol: Protocol, part: str, where: str) -> None:
    """Settings of another protocol are named as such; the rest as unknown."""
    own = common | {f.name for f in getattr(protocol, part)}
    for key in sorted(set(doc) - own):
        others = [p.name for p in PROTOCOLS.values() if key in {f.name for f in getattr(p, part)}]
        if others:
            alike = sorted(name for name in own if key in name.split('_'))
            fail(where, '%s: not a setting of a %s %s (only of %s)%s' % (
                key, protocol.name, part.split('_')[0], ', '.join(others),
                '; did you mean %s?' % ' or '.join(alike) if alike else ''))
    check_keys(doc, own, where)


def _bus(doc: dict, where: str, seen: set, board: dict | None) -> BusConfig:
    if not isinstance(doc, dict):
        fail(where, 'must be a table')
    protocol = PROTOCOLS.get(doc.get('protocol'))
    if protocol is None:
        fail(where, 'protocol must be one of %s, not %r' % (', '.join(PROTOCOLS), doc.get('protocol')))
    _keys(doc, {f.name for f in COMMON_FIELDS['bus']}, protocol, 'bus_fields', where)
    bus = BusConfig(unique_name(doc, where, seen), protocol.name)
    s = _settings(doc, protocol.bus_fields, where)
    if protocol.transport == 'serial':
        port = s['port']
        if board and port in board.get('serial', {}):
            port = board['serial'][port]
        elif not port.startswith('/'):
            fail(where, 'port %r is neither a device path nor a serial port of the board' % port)
        bus.port, bus.baud, bus.parity, bus.stopbits = port, s['baud'], s['parity'], s['stopbits']
    else:
        bus.host, bus.tcp_port = s['host'], s['tcp_port']
    bus.timeout_s = s['timeout_ms'] / 1000.0
    bus.retries = s['retries']
    bus.gap_s = s['gap_ms'] / 1000.0
    bus.degrade_after = s['degrade_after']
    bus.probe_s, bus.probe_max_s = s['probe_s'], s['probe_max_s']
    if bus.probe_max_s < bus.probe_s:
        fail(where, 'probe_max_s must be at least probe_s')
    bus.time_sync_s = s.get('time_sync_h', 0) * 3600.0
    return bus


def _meter(doc: dict, where: str, bus: BusConfig):
    protocol = PROTOCOLS[bus.protocol]
    _keys(doc, {f.name for f in COMMON_FIELDS['meter']}, protocol, 'meter_fields', where)
    try:
        return protocol.make_meter(_settings(doc, protocol.meter_fields, where))
    except ValueError as e:
        fail(where, str(e))


POINT_SETTINGS = {f.name for f in COMMON_FIELDS['point']}


def _point(doc: dict, where: str, meter_name: str, bus: BusConfig, tables) -> polled.Point:
    protocol = PROTOCOLS[bus.protocol]
    driver = bus.meters[meter_name]
    _keys(doc, POINT_SETTINGS, protocol, 'point_fields', where)
    code, unit = _code_unit(doc, where, tables)
    try:
        item = protocol.point_item(_settings(doc, protocol.point_fields, where))
    except ValueError as e:
        fail(where, str(e))
    digits = doc.get('register_digits')
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 18):
        fail(where, 'register_digits must be the number of integer digits of the register (1..18)')
    max_per_hour = _decimal(doc, 'max_per_hour', where)
    low, high = _decimal(doc, 'low', where), _decimal(doc, 'high', where)
    meter_unit = text(doc, 'meter_unit', where, required=False)
    point = polled.Point('%s/%012d' % (meter_name, code), code, unit, _period(doc, where), item, low, high, digits,
                         None if max_per_hour is None else max_per_hour[0] * 10.0 ** max_per_hour[1] / 3600.0,
                         meter_unit)
    try:
        reported = driver.check_point(point)
    except ValueError as e:
        fail(where, str(e))
    source_unit = meter_unit or reported
    point.meter_unit = source_unit
    if source_unit is not None:
        try:
            units.shift(source_unit, unit)
        except units.UnitError as e:
            fail(where, 'the meter reports %s: %s' % (source_unit, e))
    return point


def _mqtt(doc: dict, where: str, gateway_id: str) -> MqttConfig:
    check_keys(doc, {f.name for f in PUSHED_FIELDS['mqtt']}, where)
    topics = doc.get('topics')
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
        fail(where, 'topics must be a list of topic filters')
    return MqttConfig(text(doc, 'host', where), number(doc, 'port', where, 1883, 1, 65535, integer=True), topics,
                      text(doc, 'client_id', where, default='tanji-%s' % gateway_id),
                      number(doc, 'keepalive_s', where, 30, 5, 3600, integer=True),
                      text(doc, 'username', where, required=False), text(doc, 'password', where, required=False))


def _opcua(doc: dict, where: str, tables) -> OpcuaConfig:
    check_keys(doc, {f.name for f in PUSHED_FIELDS['opcua']} | {'node'}, where)
    url = text(doc, 'url', where)
    if not url.startswith('opc.tcp://'):
        fail(where, 'url must start with opc.tcp://')
    nodes = []
    for j, n in enumerate(doc.get('node', [])):
        w = '%s.node[%d]' % (where, j + 1)
        check_keys(n, {f.name for f in PUSHED_ROWS['opcua'][1]}, w)
        code, unit = _code_unit(n, w, tables)
        mode = n.get('mode', 'subscribe')
        if mode not in ('subscribe', 'read'):
            fail(w, 'mode must be "subscribe" or "read"')
        nodes.append(OpcuaNode(text(n, 'node', w), code, unit, mode, _period(n, w)))
    if not nodes:
        fail(where, 'at least one [[opcua.node]] is required')
    return OpcuaConfig(url, nodes)


def _hj212(doc: dict, where: str, tables) -> Hj212Config:
    check_keys(doc, {f.name for f in PUSHED_FIELDS['hj212']} | {'map'}, where)
    listen = text(doc, 'listen', where)
    host, _, port = listen.rpartition(':')
    if not host or not ascii_digits(port) or not 0 < int(port) < 65536:
        fail(where, 'listen must be host:port, e.g. "0.0.0.0:9212"')
    stations = doc.get('stations')
    if stations is not None and (not isinstance(stations, list) or not all(isinstance(s, str) for s in stations)):
        fail(where, 'stations must be a list of MN')
    mapping = {}
    for j, m in enumerate(doc.get('map', [])):
        w = '%s.map[%d]' % (where, j + 1)
        check_keys(m, {f.name for f in PUSHED_ROWS['hj212'][1]}, w)
        cn = m.get('cn')
        if cn not in ('2011', '2051', '2061', '2031'):
            fail(w, 'cn must be 2011 (real time), 2051 (minute), 2061 (hour) or 2031 (day)')
        key = (cn, text(m, 'pollutant', w), text(m, 'field', w))
        if key in mapping:
            fail(w, 'cn %s pollutant %s field %s is already mapped, to code %012d' % (*key, mapping[key][0]))
        mapping[key] = _code_unit(m, w, tables)
    if not mapping:
        fail(where, 'at least one [[hj212.map]] is required')
    return Hj212Config(host, int(port), text(doc, 'password', where, required=False), stations, mapping)


def _own(owners: dict, code: int, place: str, where: str) -> None:
    """One code, one monitoring point (seed 001 §7.2): refuse a second place reading it."""
    if code in owners:
        fail(where, 'code %012d is already read by %s: a code identifies one monitoring point (seed 001 §7.2); '
                    'give each its own code' % (code, owners[code]))
    owners[code] = place


def owner_of(sources: Sources | None, code: int) -> str | None:
    """The configured place that reads code, or None."""
    return None if sources is None else sources.owners.get(int(code))


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
    for i, p in enumerate(doc.get('point', [])):
        where = 'point[%d]' % (i + 1)
        if not isinstance(p, dict):
            fail(where, 'must be a table')
        bus = owner.get(p.get('meter'))
        if bus is None:
            fail(where, 'meter %r is not a configured [[meter]]' % p.get('meter'))
        point = _point(p, where, p['meter'], bus, tables)
        _own(out.owners, point.code, '%s (meter %s on bus %s)' % (where, p['meter'], bus.name), where)
        bus.points[p['meter']].append(point)
    for bus in out.buses:
        for name, points in bus.points.items():
            if not points:
                fail('meter %s' % name, 'has no [[point]]')
    out.mqtt = [_mqtt(m, 'mqtt[%d]' % (i + 1), gateway_id) for i, m in enumerate(doc.get('mqtt', []))]
    out.opcua = [_opcua(o, 'opcua[%d]' % (i + 1), tables) for i, o in enumerate(doc.get('opcua', []))]
    for i, o in enumerate(out.opcua):
        for j, n in enumerate(o.nodes):
            where = 'opcua[%d].node[%d]' % (i + 1, j + 1)
            _own(out.owners, n.code, '%s (node %s)' % (where, n.node), where)
    out.hj212 = [_hj212(h, 'hj212[%d]' % (i + 1), tables) for i, h in enumerate(doc.get('hj212', []))]
    for i, h in enumerate(out.hj212):
        for j, (key, (code, _)) in enumerate(h.mapping.items()):
            where = 'hj212[%d].map[%d]' % (i + 1, j + 1)
            _own(out.owners, code, '%s (%s %s-%s)' % (where, *key), where)
    manual = doc.get('manual', {})
    check_keys(manual, {'enabled'}, 'manual')
    out.manual = bool(manual.get('enabled', False))
    return out
