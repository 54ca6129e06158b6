"""Gateway configuration (TOML), checked as a whole before anything starts.

    [gateway]
    id = "GW-0001"
    key = "/etc/tanji/gateway.key"       # SM2 private key (tanji keys generate)
    data_dir = "/var/lib/tanji"          # the log, the state file
    ring_mb = 1536                       # total log size; see DEFAULT_RING_MB
    segment_mb = 16
    policy = "thin"                      # when the ring is full of unacknowledged data: thin | drop_oldest | stop
    commit_interval_ms = 1000            # a reading is durable within this bound (group commit)
    utc_offset_h = 8                     # local time for day boundaries and upload times

    [[centre]]                           # the platform and at least two more (seed 001 §7.3)
    name = "platform"
    url = "https://platform.example/api/v1/frames"
    every_s = 60                         # automatic upload every N seconds (0: as soon as durable) ...
    times = ["02:00", "14:00"]           # ... or at these local times of day (seed 001 §7.5)
    max_records = 5000                   # frame size caps
    max_bytes = 262144
    rate_bytes_s = 0                     # bandwidth cap, 0 = none

    # readings: [[bus]]/[[meter]]/[[point]], [[mqtt]], [[opcua]], [[hj212]], [manual]
    # (docs/drivers.md), or synthetic meters:
    [source]
    kind = "synthetic"
    points = 500
    rate_per_s = 8.34
    step_ms = 120
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from firmware.drivers.descriptor import Field
from firmware.settings import GatewayConfigError, number, unique_name
from firmware.sources import config as sources_config
from shared import tls
from shared.codec import sm2

# 30 days of 500 points read every minute is 21.6 million readings; a reading costs
# about 33 bytes of payload plus 16 of framing in the log, so 1.06 GB.  1.5 GiB leaves
# room for longer codes and larger values and gives about 45 days at that rate.
DEFAULT_RING_MB = 1536


@dataclass
class CentreConfig:
    name: str
    url: str
    every_s: float = 60.0
    times: list[int] | None = None
    max_records: int = 5000
    max_bytes: int = 256 * 1024
    rate_bytes_s: float = 0.0
    ca_file: str = ''               # trust the centre's certificate through this CA file...
    pin_sha256: str = ''            # ...or by its SHA-256 (the centre prints it at start)
    plain_http: bool = False        # allow http:// to a host that is not loopback (a TLS tunnel carries it)
    seal_key: str = ''              # the centre's SM2 public key (PEM file): seal every frame (protocol.md §10)


def _help(zh: str, en: str) -> dict:
    return {'zh': zh, 'en': en}


# A centre's settings as the page's form shows them (checked by parse below).
CENTRE_FIELDS = [
    Field('name', 'text', help=_help('数据中心名称', 'name of the centre')),
    Field('url', 'text', help=_help('上传地址（https://…/api/v1/frames）', 'upload address (https://…/api/v1/frames)')),
    Field('every_s', 'number', 60.0, _help('自动上传间隔（0：数据落盘即上传）', 'automatic upload every N seconds (0: as '
                                                                          'soon as durable)'), low=0, unit='s'),
    Field('times', 'list', None, _help('或在每天这些时刻上传（HH:MM，逗号分隔；GB/T 32151 第 7.5 条）',
                                       'or upload at these local times of day (HH:MM, comma separated)')),
    Field('max_records', 'int', 5000, _help('每帧最多记录数', 'most records in one frame'), low=1),
    Field('max_bytes', 'int', 256 * 1024, _help('每帧最大字节数', 'largest frame in bytes'), low=1024),
    Field('rate_bytes_s', 'number', 0.0, _help('带宽上限（字节/秒，0 不限）', 'bandwidth cap in bytes/s (0: none)'), low=0),
    Field('ca_file', 'text', '', _help('信任该 CA 文件签发的证书', "trust the centre's certificate through this CA file")),
    Field('pin_sha256', 'text', '', _help('或按证书 SHA-256 指纹信任（数据中心启动时打印）',
                                          "or by its SHA-256 (the centre prints it at start)")),
    Field('plain_http', 'bool', False, _help('允许明文 http 到非本机地址（由 TLS 隧道承载时）',
                                             'allow http:// to a host that is not loopback (a TLS tunnel carries it)')),
    Field('seal_key', 'text', '', _help('数据中心的 SM2 公钥文件：每帧加密（protocol.md §10）',
                                        "the centre's SM2 public key (PEM file): seal every frame")),
]


@dataclass
class WebConfig:
    host: str
    port: int


@dataclass
class NetworkSettings:
    apply: str                       # the board's command that applies interface settings (JSON on stdin)
    interface: str
    address: str                     # "192.168.10.1/24" or "dhcp"
    router: str = ''
    dns: list[str] = field(default_factory=list)
    confirm_s: float = 120.0         # not confirmed from the new address this long: put back

    def as_applied(self) -> dict:
        return {'interface': self.interface, 'address': self.address, 'router': self.router, 'dns': list(self.dns)}


@dataclass
class RemoteSettings:
    key: str                         # the platform's configuration key (SM2 public, PEM): firmware/remote.py
    revert_after_s: float = 900.0


@dataclass
class GatewayConfig:
    id: str
    key: str
    data_dir: str
    ring_mb: int = DEFAULT_RING_MB
    segment_mb: int = 16
    policy: str = 'thin'
    commit_interval_ms: int = 1000
    utc_offset_h: float = 8.0
    health_every_s: float = 300.0    # a signed health report to the first centre this often; 0: never
    centres: list[CentreConfig] = field(default_factory=list)
    source: dict = field(default_factory=dict)
    sources: object = None           # firmware.sources.config.Sources
    web: WebConfig | None = None     # the local page; None: off
    accounting: dict | None = None   # the accounting sections (firmware/bindings.py, emissions.py); None: off
    remote: RemoteSettings | None = None   # [remote]: configurations from the platform; None: off
    network: NetworkSettings | None = None  # [network]: the maintenance interface, changed with confirm-or-revert

    @property
    def segment_size(self) -> int:
        return self.segment_mb * 1024 * 1024

    @property
    def segment_count(self) -> int:
        return max(3, self.ring_mb // self.segment_mb)


def _time_of_day(text: str, where: str) -> int:
    m = re.fullmatch(r'(\d{1,2}):(\d{2})', text) if isinstance(text, str) else None
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise GatewayConfigError('%s: upload time %r must be HH:MM' % (where, text))
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60


def parse(doc: dict) -> GatewayConfig:
    unknown = set(doc) - {'gateway', 'centre', 'source', 'bus', 'meter', 'point', 'mqtt', 'opcua', 'hj212', 'manual', 'web',
                          'accounting', 'accounting_unit', 'emission_source', 'remote', 'network'}
    if unknown:
        raise GatewayConfigError('unknown section(s): %s' % ', '.join(sorted(unknown)))
    g = doc.get('gateway')
    if not isinstance(g, dict):
        raise GatewayConfigError('a [gateway] section is required')
    known = {'id', 'key', 'data_dir', 'ring_mb', 'segment_mb', 'policy', 'commit_interval_ms', 'utc_offset_h', 'board',
             'health_every_s'}
    if set(g) - known:
        raise GatewayConfigError('unknown setting(s) gateway.%s' % ', gateway.'.join(sorted(set(g) - known)))
    if g.get('board') is not None and not g.get('data_dir'):
        if not isinstance(g['board'], str):
            raise GatewayConfigError('gateway.board must be a board profile name or path')
        storage = sources_config.load_board(g['board']).get('storage')
        if storage:
            g = dict(g, data_dir=storage)
    for key in ('id', 'key', 'data_dir'):
        if not isinstance(g.get(key), str) or not g[key]:
            raise GatewayConfigError('gateway.%s is required' % key)
    cfg = GatewayConfig(
        id=g['id'], key=g['key'], data_dir=g['data_dir'],
        ring_mb=number(g, 'ring_mb', 'gateway', DEFAULT_RING_MB, 1, integer=True),
        segment_mb=number(g, 'segment_mb', 'gateway', 16, 1, integer=True),
        policy=g.get('policy', 'thin'),
        commit_interval_ms=number(g, 'commit_interval_ms', 'gateway', 1000, 1, integer=True),
        utc_offset_h=number(g, 'utc_offset_h', 'gateway', 8.0, -12),
        health_every_s=number(g, 'health_every_s', 'gateway', 300.0, 0),
    )
    if cfg.policy not in ('thin', 'drop_oldest', 'stop'):
        raise GatewayConfigError('gateway.policy must be thin, drop_oldest or stop, not %r' % cfg.policy)
    if cfg.ring_mb < 3 * cfg.segment_mb:
        raise GatewayConfigError('gateway.ring_mb must hold at least three segments of segment_mb')
    names = set()
    for i, c in enumerate(doc.get('centre', [])):
        where = 'centre[%d]' % (i + 1)
        if not isinstance(c, dict):
            raise GatewayConfigError('%s must be a table' % where)
        extra = set(c) - {f.name for f in CENTRE_FIELDS}
        if extra:
            raise GatewayConfigError('%s: unknown setting(s) %s' % (where, ', '.join(sorted(extra))))
        name, url = unique_name(c, where, names), c.get('url')
        if not isinstance(url, str) or not url.startswith(('http://', 'https://')):
            raise GatewayConfigError('%s.url must be an http:// or https:// URL' % where)
        ca_file, pin, plain = c.get('ca_file', ''), c.get('pin_sha256', ''), c.get('plain_http', False)
        if not isinstance(ca_file, str) or not isinstance(pin, str) or not isinstance(plain, bool):
            raise GatewayConfigError('%s: ca_file and pin_sha256 are text, plain_http is true or false' % where)
        try:
            tls.check_sender(url, where, ca_file, pin, plain)
        except tls.TLSConfigError as e:
            raise GatewayConfigError(str(e))
        seal_key = c.get('seal_key', '')
        if not isinstance(seal_key, str):
            raise GatewayConfigError('%s.seal_key must be the path of the centre\'s SM2 public key (PEM)' % where)
        if seal_key:
            _public_key(seal_key, '%s.seal_key' % where)
        times = c.get('times')
        if times is not None:
            if not isinstance(times, list) or not times:
                raise GatewayConfigError('%s.times must be a list of "HH:MM"' % where)
            times = [_time_of_day(t, where) for t in times]
        cfg.centres.append(CentreConfig(
            name, url, every_s=number(c, 'every_s', where, 60.0, 0), times=times,
            max_records=number(c, 'max_records', where, 5000, 1, integer=True),
            max_bytes=number(c, 'max_bytes', where, 256 * 1024, 1024, integer=True),
            rate_bytes_s=number(c, 'rate_bytes_s', where, 0.0, 0), ca_file=ca_file, pin_sha256=pin,
            plain_http=plain, seal_key=seal_key))
    if not cfg.centres:
        raise GatewayConfigError('at least one [[centre]] is required')
    source = doc.get('source', {})
    if not isinstance(source, dict):
        raise GatewayConfigError('[source] must be a table')
    cfg.source = source
    cfg.network = _network(doc.get('network'))
    cfg.web = _web(doc.get('web'), cfg.network)
    cfg.remote = _remote(doc.get('remote'), cfg.health_every_s)
    from firmware import bindings
    if bindings.present(doc):
        from firmware import emissions
        sections = {k: doc[k] for k in bindings.SECTIONS if k in doc}
        if bindings.active(doc):
            emissions.load(sections, cfg.id)            # checked here: a scenario that cannot be used stops the start
            cfg.accounting = sections
        else:                                           # the entity and its units only: checked, nothing to account
            from shared.accounting.methods import MethodLibrary
            bindings.scenario(doc, cfg.id, MethodLibrary.default())
    cfg.sources = sources_config.parse(doc, cfg.id, utc_offset_s=int(cfg.utc_offset_h * 3600))
    if cfg.source and not cfg.sources.empty():
        raise GatewayConfigError('[source] (synthetic meters) and meter sources cannot be combined')
    return cfg


def _web(section: object, network: NetworkSettings | None = None) -> WebConfig | None:
    """[web] listen = "HOST:PORT": where the local page listens.  By default the maintenance
    interface only: its static address when [network] gives one, else this machine alone."""
    if section is None:
        return None
    if not isinstance(section, dict) or set(section) - {'listen'}:
        raise GatewayConfigError('[web] takes one setting: listen = "HOST:PORT" (the maintenance interface)')
    host = network.address.split('/')[0] if network is not None and network.address != 'dhcp' else '127.0.0.1'
    listen = section.get('listen', ('[%s]:8480' if ':' in host else '%s:8480') % host)
    m = re.fullmatch(r'\[?([0-9A-Za-z.:-]+?)\]?:([0-9]{1,5})', listen) if isinstance(listen, str) else None
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise GatewayConfigError('web.listen must be "HOST:PORT", e.g. "192.168.10.1:80", not %r' % (listen,))
    return WebConfig(m.group(1), int(m.group(2)))


def _network(section: object) -> NetworkSettings | None:
    """[network]: the maintenance interface's settings, applied by the board's command and
    changed from the page with confirm-or-revert (firmware/network.py)."""
    import ipaddress
    if section is None:
        return None
    if not isinstance(section, dict):
        raise GatewayConfigError('[network] must be a table')
    extra = set(section) - {'apply', 'interface', 'address', 'router', 'dns', 'confirm_s'}
    if extra:
        raise GatewayConfigError('unknown setting(s) network.%s' % ', network.'.join(sorted(extra)))
    apply, interface = section.get('apply'), section.get('interface')
    if not isinstance(apply, str) or not os.path.isfile(apply) or not os.access(apply, os.X_OK):
        raise GatewayConfigError('network.apply must be the board\'s command that applies the settings (an '
                                 'executable file), not %r' % (apply,))
    if not isinstance(interface, str) or not re.fullmatch(r'[A-Za-z0-9_.:-]{1,15}', interface):
        raise GatewayConfigError('network.interface must be an interface name such as "eth1", not %r' % (interface,))
    address = section.get('address')
    if address != 'dhcp':
        try:
            iface = ipaddress.ip_interface(address if isinstance(address, str) and '/' in address else '-')
        except ValueError:
            raise GatewayConfigError('network.address must be "dhcp" or an address with its prefix such as '
                                     '"192.168.10.1/24", not %r' % (address,))
        if iface.network.prefixlen == iface.max_prefixlen or iface.ip in (iface.network.network_address,
                                                                          iface.network.broadcast_address):
            raise GatewayConfigError('network.address %s is not a host address of its network' % address)
    router = section.get('router', '')
    dns = section.get('dns', [])
    try:
        if router:
            ipaddress.ip_address(router)
        if not isinstance(dns, list):
            raise ValueError
        for server in dns:
            ipaddress.ip_address(server)
    except (ValueError, TypeError):
        raise GatewayConfigError('network.router and network.dns take IP addresses, such as "192.168.10.254"')
    if router and address != 'dhcp' and ipaddress.ip_address(router) not in ipaddress.ip_interface(address).network:
        raise GatewayConfigError('network.router %s is not in the network of network.address %s' % (router, address))
    return NetworkSettings(apply, interface, address, router, dns, number(section, 'confirm_s', 'network', 120.0, 30,
                                                                          3600))


def _remote(section: object, health_every_s: float) -> RemoteSettings | None:
    """[remote]: configurations staged at the platform, verified with its key (firmware/remote.py)."""
    if section is None:
        return None
    if not isinstance(section, dict) or set(section) - {'key', 'revert_after_s'} or not isinstance(
            section.get('key'), str):
        raise GatewayConfigError('[remote] takes key = "the platform\'s configuration key (SM2 public, PEM)" and '
                                 'optionally revert_after_s')
    _public_key(section['key'], 'remote.key')
    settings = RemoteSettings(section['key'], number(section, 'revert_after_s', 'remote', 900.0, 10))
    if not health_every_s or settings.revert_after_s <= 2 * health_every_s:
        raise GatewayConfigError('remote.revert_after_s (%g s) must be more than two health reports '
                                 '(gateway.health_every_s = %g s): a configuration is confirmed by a report reaching '
                                 'the platform' % (settings.revert_after_s, health_every_s))
    return settings


def _public_key(path: str, setting: str) -> sm2.PublicKey:
    try:
        with open(path, 'rb') as f:
            return sm2.PublicKey.load(f.read())
    except OSError as e:
        raise GatewayConfigError('%s: cannot read %s: %s' % (setting, path, e.strerror))
    except ValueError as e:
        raise GatewayConfigError('%s: %s is not an SM2 public key: %s' % (setting, path, e))


def remote_key(settings: RemoteSettings) -> sm2.PublicKey:
    return _public_key(settings.key, 'remote.key')


def centre_seal_point(c: CentreConfig) -> bytes | None:
    """The point of the centre's SM2 public key when frames to it are sealed."""
    return _public_key(c.seal_key, '%s.seal_key' % c.name).point if c.seal_key else None


def load(path: str | Path) -> GatewayConfig:
    try:
        doc = tomllib.loads(Path(path).read_text(encoding='utf-8'))
    except OSError as e:
        raise GatewayConfigError('cannot read %s: %s' % (path, e.strerror))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GatewayConfigError('%s is not valid TOML: %s' % (path, e))
    return parse(doc)
