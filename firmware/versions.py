"""Every configuration the gateway has run with is a numbered version: its TOML text, who
applied it, when, why and from where (the page, the platform, a rollback, or the file
edited by hand).  Applying a version checks it with the same loader the gateway starts
with, writes the configuration file atomically and records the version; a rollback is a
new version with an old text, so the history only grows.  Versions live beside the log
in DATA_DIR/config/ (NNNNNN.toml and NNNNNN.json), readable without Tanji.

gateway.id, gateway.key and gateway.data_dir are the gateway's identity and its log:
a version that changes them is refused, so neither the page nor the platform can
make the gateway sign as another one or start an empty log (docs/gateway.md
"Configuration versions")."""

from __future__ import annotations

import difflib
import json
import os
import threading
import time
import tomllib
from dataclasses import dataclass

from firmware.config import GatewayConfig, parse
from firmware.lib.durable import replace_file
from firmware.settings import GatewayConfigError

LOCKED = ('id', 'key', 'data_dir')
ORIGINS = ('file', 'page', 'platform', 'rollback', 'revert')


@dataclass
class Version:
    number: int
    at_ms: int
    who: str
    why: str
    origin: str
    text: str = ''

    def meta(self) -> dict:
        return {'number': self.number, 'at_ms': self.at_ms, 'who': self.who, 'why': self.why, 'origin': self.origin}


def check(text: str, running: GatewayConfig | None = None) -> GatewayConfig:
    """The configuration a text describes, checked as at start; GatewayConfigError naming
    the setting otherwise, or naming the locked setting a running gateway's version changes."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GatewayConfigError('not valid TOML: %s' % e)
    cfg = parse(doc)
    if running is not None:
        for key in LOCKED:
            if getattr(cfg, key) != getattr(running, key):
                raise GatewayConfigError('gateway.%s: is changed only in the file at the gateway (it is the '
                                         "gateway's identity or its log), not from %r to %r here"
                                         % (key, getattr(running, key), getattr(cfg, key)))
    return cfg


class Versions:
    def __init__(self, data_dir: str, config_path: str, clock=time.time) -> None:
        self.dir = os.path.join(data_dir, 'config')
        self.config_path = config_path
        self.clock = clock
        self.lock = threading.Lock()
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def _path(self, number: int, ext: str) -> str:
        return os.path.join(self.dir, '%06d.%s' % (number, ext))

    def numbers(self) -> list[int]:
        out = []
        for name in os.listdir(self.dir):
            stem, _, ext = name.partition('.')
            if ext == 'json' and stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def get(self, number: int) -> Version | None:
        try:
            with open(self._path(number, 'json'), encoding='utf-8') as f:
                meta = json.load(f)
            with open(self._path(number, 'toml'), encoding='utf-8') as f:
                text = f.read()
        except (OSError, ValueError):
            return None
        return Version(meta['number'], meta['at_ms'], meta['who'], meta['why'], meta['origin'], text)

    def history(self, limit: int = 100) -> list[Version]:
        """The latest versions, newest first."""
        out = []
        for n in reversed(self.numbers()):
            v = self.get(n)
            if v is not None:
                out.append(v)
            if len(out) >= limit:
                break
        return out

    def latest(self) -> Version | None:
        numbers = self.numbers()
        return self.get(numbers[-1]) if numbers else None

    def file_text(self) -> str:
        with open(self.config_path, encoding='utf-8') as f:
            return f.read()

    def adopt_file(self) -> Version | None:
        """At start: the configuration file, when it is not the latest version (the first
        start, or an edit by hand), becomes a version; None when it already is one."""
        text = self.file_text()
        with self.lock:
            latest = self.latest()
            if latest is not None and latest.text == text:
                return None
            why = 'first start' if latest is None else 'the file was edited at the gateway'
            return self._record(text, 'file', why, 'file')

    def apply(self, text: str, who: str, why: str, origin: str, running: GatewayConfig | None = None
              ) -> tuple[Version, GatewayConfig]:
        """Check `text`, write it as the configuration file and record it as the next version.
        GatewayConfigError (nothing written) when it is not a configuration this gateway can run."""
        if origin not in ORIGINS:
            raise ValueError('origin must be one of %s' % ', '.join(ORIGINS))
        cfg = check(text, running)
        with self.lock:
            latest = self.latest()
            if latest is not None and latest.text == text:
                raise GatewayConfigError('nothing changed: version %d is this configuration' % latest.number)
            self._write_config(text)
            return self._record(text, who, why, origin), cfg

    def _write_config(self, text: str) -> None:
        replace_file(os.path.abspath(self.config_path), text)

    def _record(self, text: str, who: str, why: str, origin: str) -> Version:
        numbers = self.numbers()
        v = Version((numbers[-1] if numbers else 0) + 1, int(self.clock() * 1000), who, why, origin, text)
        replace_file(self._path(v.number, 'toml'), text)
        replace_file(self._path(v.number, 'json'), json.dumps(v.meta(), ensure_ascii=False))   # exists once this is
        return v

    def diff(self, number: int) -> list[str]:
        """Version `number` against the one before it, as unified diff lines."""
        this = self.get(number)
        if this is None:
            raise KeyError(number)
        before = self.get(number - 1)
        return list(difflib.unified_diff((before.text if before else '').splitlines(), this.text.splitlines(),
                                         'version %d' % (number - 1), 'version %d' % number, lineterm=''))
