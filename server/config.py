"""Server configuration: a TOML file, overridden by command-line options.

    [server]
    db = "tanji.db"                 # file path, sqlite:///PATH or postgresql://...
    host = "127.0.0.1"
    port = 8080
    max_frame_bytes = 4194304       # 413 above this
    max_records = 100000            # 413 above this many records in one frame
    max_future_s = 600              # 422 for records stamped further ahead of the server clock
    max_age_days = 400              # 422 for records older than this
    max_queue_records = 2000000     # 429 when this many accepted records wait for the disk
    tls = "auto"                    # auto: HTTPS unless host is loopback; on; off (a proxy in front terminates TLS)
    tls_cert = ""                   # the certificate and key to serve; without them the centre makes its own
    tls_key = ""
    tls_dir = "tls"                 # where the centre keeps the certificate it made (key mode 0600)
    seal_key = ""                   # the centre's SM2 private key (PEM file): accept sealed frames (protocol.md §10)
    seal_required = false           # refuse plain frames (415) once every gateway seals
    config_key = ""                 # SM2 private key (PEM) signing configurations staged for gateways (protocol.md §12)
    requests_per_address_s = 200    # 429 + Retry-After beyond this many requests a second from one address
    refusals_per_address_s = 10     # an address refused (4xx) more often than this is refused everything a while
    forgeries_per_gateway_s = 50    # uploads naming one gateway whose signature fails, from anywhere
    connections_per_address = 256   # open connections one address may hold
    limits_exempt = ["127.0.0.0/8", "::1"]   # networks the four limits above do not apply to
    verify_threads = 0              # 0: verify on the event loop; N: in N threads (use the other cores)
    fanout_backoff_base_s = 1.0     # retry waits to a downstream centre: base doubling to cap, jittered
    fanout_backoff_cap_s = 300.0

    [[downstream]]                  # each further data centre (seed 001 §7.3)
    name = "province"
    url = "https://centre.example/api/v1/frames"
    from_start = true               # a new centre receives the whole history
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from shared import tls


class ConfigError(Exception):
    """A configuration file or option that cannot be used; the message says which setting."""


@dataclass(frozen=True)
class Downstream:
    name: str
    url: str
    from_start: bool = True
    ca_file: str = ''               # trust the centre through this CA file, or
    pin_sha256: str = ''            # by its certificate's SHA-256
    plain_http: bool = False        # allow http:// to a host that is not loopback


@dataclass
class ServerConfig:
    db: str = 'tanji.db'
    host: str = '127.0.0.1'
    port: int = 8080
    max_frame_bytes: int = 4 * 1024 * 1024
    max_records: int = 100_000
    max_future_s: int = 600
    max_age_days: int = 400
    max_queue_records: int = 2_000_000
    tls: str = 'auto'
    tls_cert: str = ''
    tls_key: str = ''
    tls_dir: str = 'tls'
    seal_key: str = ''
    seal_required: bool = False
    config_key: str = ''
    fanout_backoff_base_s: float = 1.0
    fanout_backoff_cap_s: float = 300.0
    verify_threads: int = 0
    body_timeout_s: int = 30           # the longest a request may take to send its body
    requests_per_address_s: float = 200.0
    refusals_per_address_s: float = 10.0
    forgeries_per_gateway_s: float = 50.0
    connections_per_address: int = 256
    limits_exempt: list[str] = field(default_factory=lambda: ['127.0.0.0/8', '::1'])
    downstream: list[Downstream] = field(default_factory=list)

    def validate(self) -> 'ServerConfig':
        for name in ('port', 'max_frame_bytes', 'max_records', 'max_future_s', 'max_age_days', 'max_queue_records',
                     'verify_threads', 'body_timeout_s', 'connections_per_address'):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError('server.%s must be a non-negative integer, not %r' % (name, value))
        for name in ('fanout_backoff_base_s', 'fanout_backoff_cap_s'):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError('server.%s must be a number of seconds, not %r' % (name, value))
        for name in ('requests_per_address_s', 'refusals_per_address_s', 'forgeries_per_gateway_s'):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError('server.%s must be a number per second, 0 for no limit, not %r' % (name, value))
        if not isinstance(self.limits_exempt, list):
            raise ConfigError('server.limits_exempt must be a list of networks such as "10.0.0.0/8"')
        for net in self.limits_exempt:
            try:
                ipaddress.ip_network(net, strict=False)
            except (TypeError, ValueError):
                raise ConfigError('server.limits_exempt: %r is not a network such as "10.0.0.0/8" or "::1"' % (net,))
        if not 0 < self.fanout_backoff_base_s <= self.fanout_backoff_cap_s:
            raise ConfigError('server.fanout_backoff_base_s must be positive and at most fanout_backoff_cap_s')
        if not 0 < self.port < 65536:
            raise ConfigError('server.port must lie in 1..65535')
        if self.tls not in ('auto', 'on', 'off'):
            raise ConfigError('server.tls must be "auto", "on" or "off", not %r' % (self.tls,))
        if self.tls == 'off' and self.tls_cert:
            raise ConfigError('server.tls is "off" but tls_cert is set: remove one')
        if self.seal_required is not False and (self.seal_required is not True or not self.seal_key):
            raise ConfigError('server.seal_required is true or false, and true needs server.seal_key')
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError('server.tls_cert and server.tls_key go together')
        names = set()
        for d in self.downstream:
            if not re.fullmatch(r'[A-Za-z0-9_.-]{1,64}', d.name):
                raise ConfigError('downstream name %r: use 1-64 letters, digits, . _ -' % d.name)
            if d.name in names:
                raise ConfigError('downstream name %s appears twice' % d.name)
            if not d.url.startswith(('http://', 'https://')):
                raise ConfigError('downstream %s: url must start with http:// or https://' % d.name)
            try:
                tls.check_sender(d.url, 'downstream %s' % d.name, d.ca_file, d.pin_sha256, d.plain_http)
            except tls.TLSConfigError as e:
                raise ConfigError(str(e))
            names.add(d.name)
        return self


def load(path: str | Path | None, **overrides) -> ServerConfig:
    """Read a TOML file (or none) and apply the non-None overrides."""
    cfg = ServerConfig()
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding='utf-8'))
        except OSError as e:
            raise ConfigError('cannot read %s: %s' % (path, e.strerror))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError('%s is not valid TOML: %s' % (path, e))
        known = {f.name for f in fields(ServerConfig)} - {'downstream'}
        unknown = set(doc) - {'server', 'downstream'}
        if unknown:
            raise ConfigError('%s: unknown section(s) %s' % (path, ', '.join(sorted(unknown))))
        for key, value in doc.get('server', {}).items():
            if key not in known:
                raise ConfigError('%s: unknown setting server.%s' % (path, key))
            setattr(cfg, key, value)
        centres = []
        for i, item in enumerate(doc.get('downstream', [])):
            optional = {'from_start', 'ca_file', 'pin_sha256', 'plain_http'}
            if not isinstance(item, dict) or set(item) - {'name', 'url'} - optional or not {'name', 'url'} <= set(item):
                raise ConfigError('%s: downstream entry %d needs name and url (and optionally %s)'
                                  % (path, i + 1, ', '.join(sorted(optional))))
            centres.append(Downstream(str(item['name']), str(item['url']), bool(item.get('from_start', True)),
                                      str(item.get('ca_file', '')), str(item.get('pin_sha256', '')),
                                      item.get('plain_http', False) is True))
        cfg.downstream = centres
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    return cfg.validate()
