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
    tls_cert = ""                   # serve HTTPS when both are set
    tls_key = ""
    verify_threads = 0              # 0: verify on the event loop; N: in N threads (use the other cores)
    fanout_backoff_base_s = 1.0     # retry waits to a downstream centre: base doubling to cap, jittered
    fanout_backoff_cap_s = 300.0

    [[downstream]]                  # each further data centre (seed 001 §7.3)
    name = "province"
    url = "https://centre.example/api/v1/frames"
    from_start = true               # a new centre receives the whole history
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


class ConfigError(Exception):
    """A configuration file or option that cannot be used; the message says which setting."""


@dataclass(frozen=True)
class Downstream:
    name: str
    url: str
    from_start: bool = True


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
    tls_cert: str = ''
    tls_key: str = ''
    fanout_backoff_base_s: float = 1.0
    fanout_backoff_cap_s: float = 300.0
    verify_threads: int = 0
    body_timeout_s: int = 30           # the longest a request may take to send its body
    downstream: list[Downstream] = field(default_factory=list)

    def validate(self) -> 'ServerConfig':
        for name in ('port', 'max_frame_bytes', 'max_records', 'max_future_s', 'max_age_days', 'max_queue_records',
                     'verify_threads', 'body_timeout_s'):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError('server.%s must be a non-negative integer, not %r' % (name, value))
        for name in ('fanout_backoff_base_s', 'fanout_backoff_cap_s'):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError('server.%s must be a number of seconds, not %r' % (name, value))
        if not 0 < self.fanout_backoff_base_s <= self.fanout_backoff_cap_s:
            raise ConfigError('server.fanout_backoff_base_s must be positive and at most fanout_backoff_cap_s')
        if not 0 < self.port < 65536:
            raise ConfigError('server.port must lie in 1..65535')
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
            if not isinstance(item, dict) or set(item) - {'name', 'url', 'from_start'} or not {'name', 'url'} <= set(item):
                raise ConfigError('%s: downstream entry %d needs name and url (and optionally from_start)' % (path, i + 1))
            centres.append(Downstream(str(item['name']), str(item['url']), bool(item.get('from_start', True))))
        cfg.downstream = centres
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    return cfg.validate()
