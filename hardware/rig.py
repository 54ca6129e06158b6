"""Hardware-in-the-loop rigs described by files (hardware/rigs/*.toml): which simulated
meters sit on which pty or TCP port, with which profiles and faults.  `tanji rig up
RIGFILE` starts one and prints where each line is (docs/rigs.md)."""

from __future__ import annotations

import asyncio
import os
import time
import tomllib
from pathlib import Path

import importlib

from firmware.drivers.registry import PROTOCOLS
from hardware import faults as faults_mod
from hardware import profiles
from hardware.line import MeterHandler, PtyLine, TcpLine


class RigError(Exception):
    """The rig file cannot be used; the message names the setting."""


def _profile(doc, where: str, t0: float) -> profiles.Profile:
    try:
        return profiles.from_dict(doc or {}, t0)
    except (TypeError, ValueError) as e:
        raise RigError('%s.profile: %s' % (where, e))


def _faults(doc, where: str) -> faults_mod.Faults:
    try:
        return faults_mod.from_dict(doc)
    except (TypeError, ValueError) as e:
        raise RigError('%s.faults: %s' % (where, e))


class Parts:
    """What a simulator's rig_handler(meters, parts, tcp) needs from the rig file: the
    place of a meter in it, and its profile and faults."""

    def __init__(self, where: str, t0: float) -> None:
        self.where = where
        self.t0 = t0

    def profile(self, doc) -> profiles.Profile:
        return _profile(doc, self.where, self.t0)

    def faults(self, doc) -> faults_mod.Faults:
        return _faults(doc, self.where)

    def error(self, message: str) -> 'RigError':
        return RigError('%s: %s' % (self.where, message))


def _handler(protocol: str, meters: list, where: str, t0: float, tcp: bool) -> MeterHandler:
    """The simulator of a protocol (its descriptor names it) with the line's meters."""
    known = sorted(p.name for p in PROTOCOLS.values() if p.simulator and (p.transport == 'tcp') == tcp)
    found = PROTOCOLS.get(protocol)
    if found is None or found.name not in known:
        raise RigError('%s.protocol must be %s, not %r' % (where, ', '.join(known), protocol))
    return importlib.import_module(found.simulator).rig_handler(meters, Parts(where, t0), tcp)


class Rig:
    def __init__(self, doc: dict, base_dir: str | None = None, clock=time.time) -> None:
        self.doc = doc
        self.clock = clock
        rig = doc.get('rig', {})
        self.name = rig.get('name', 'rig')
        self.dir = base_dir or rig.get('dir', '/tmp/tanji-rig')
        self.t0 = clock()
        self.lines: dict[str, object] = {}
        self.tasks: list[asyncio.Task] = []
        self.others: list = []
        self.mosquitto = None

    def _serial(self, i: int, doc: dict):
        where = 'line[%d]' % (i + 1)
        handler = _handler(doc.get('protocol'), doc.get('meter', []), where, self.t0, tcp=False)
        link = os.path.join(self.dir, doc.get('link', doc.get('name', 'line%d' % (i + 1))))
        return PtyLine(handler, self.clock, link, baud=doc.get('baud', 0), bits_per_char=doc.get('bits_per_char', 11),
                       turnaround_s=doc.get('turnaround_ms', 20) / 1000.0)

    async def start(self) -> dict:
        """Start everything; returns {name: where} (pty path or host:port)."""
        where = {}
        for i, doc in enumerate(self.doc.get('line', [])):
            line = self._serial(i, doc)
            await line.start()
            self.lines[doc.get('name', 'line%d' % (i + 1))] = line
            where[doc.get('name', 'line%d' % (i + 1))] = line.path
        for i, doc in enumerate(self.doc.get('tcp', [])):
            w = 'tcp[%d]' % (i + 1)
            handler = _handler(doc.get('protocol'), doc.get('device', []), w, self.t0, tcp=True)
            line = TcpLine(handler, self.clock, '127.0.0.1', doc.get('port', 0), doc.get('latency_ms', 0) / 1000.0)
            await line.start()
            self.lines[doc.get('name', 'tcp%d' % (i + 1))] = line
            where[doc.get('name', 'tcp%d' % (i + 1))] = '127.0.0.1:%d' % line.port
        for i, doc in enumerate(self.doc.get('opcua', [])):
            from hardware.sim_opcua import SimOpcuaServer
            w = 'opcua[%d]' % (i + 1)
            server = SimOpcuaServer(doc['url'], [(n['name'], n.get('kind', 'rate'), _profile(n.get('profile'), w,
                                                                                            self.t0))
                                                 for n in doc.get('node', [])], clock=self.clock)
            await server.start()
            self.others.append(server)
            where[doc.get('name', 'opcua%d' % (i + 1))] = '%s (%s)' % (doc['url'], ', '.join(
                server.node_id(n['name']) for n in doc.get('node', [])))
        for i, doc in enumerate(self.doc.get('mqtt', [])):
            from hardware.sim_mqtt import SimCollector
            w = 'mqtt[%d]' % (i + 1)
            port = doc.get('port', 1883)
            if doc.get('start_broker', False):
                from hardware.mosquitto import Mosquitto
                self.mosquitto = Mosquitto(os.path.join(self.dir, 'mosquitto'), port)
                self.mosquitto.start()
            collector = SimCollector('127.0.0.1', port, doc['topic'],
                                     [(p['code'], p['unit'], _profile(p.get('profile'), w, self.t0))
                                      for p in doc.get('point', [])], doc.get('every_s', 60),
                                     doc.get('encoding', 'json'), clock=self.clock)
            self.tasks.append(asyncio.create_task(collector.run()))
            self.others.append(collector)
            where[doc.get('name', 'mqtt%d' % (i + 1))] = 'broker 127.0.0.1:%d topic %s' % (port, doc['topic'])
        for i, doc in enumerate(self.doc.get('cems', [])):
            from hardware.sim_hj212 import SimCems
            w = 'cems[%d]' % (i + 1)
            host, _, port = doc['gateway'].rpartition(':')
            cems = SimCems(host, int(port), doc['mn'], doc.get('password', '123456'),
                           _profile(doc.get('profile'), w, self.t0), realtime_s=doc.get('realtime_s', 30),
                           faults=_faults(doc.get('faults'), w), clock=self.clock)
            self.tasks.append(asyncio.create_task(cems.run()))
            self.others.append(cems)
            where[doc.get('name', 'cems%d' % (i + 1))] = 'sending to %s as MN %s' % (doc['gateway'], doc['mn'])
        return where

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for line in self.lines.values():
            await line.stop()
        for o in self.others:
            if hasattr(o, 'stop'):
                await o.stop()
        if self.mosquitto:
            self.mosquitto.stop()


def load(path: str) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding='utf-8'))
    except OSError as e:
        raise RigError('cannot read %s: %s' % (path, e.strerror))
    except tomllib.TOMLDecodeError as e:
        raise RigError('%s is not valid TOML: %s' % (path, e))
