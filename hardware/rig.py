"""Hardware-in-the-loop rigs described by files (hardware/rigs/*.toml): which simulated
meters sit on which pty or TCP port, with which profiles and faults.  `tanji rig up
RIGFILE` starts one and prints where each line is (docs/rigs.md)."""

from __future__ import annotations

import asyncio
import os
import time
import tomllib
from pathlib import Path

from firmware.drivers import dlt645
from hardware import faults as faults_mod
from hardware import profiles
from hardware.line import PtyLine, TcpLine
from hardware.sim_cjt188 import Cjt188Line, SimCjt188Meter
from hardware.sim_dlt645 import Dlt645Bus, SimDlt645Meter
from hardware.sim_modbus import ModbusHandler, SimModbusDevice, SimRegister


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


def _modbus_device(d: dict, where: str, t0: float) -> SimModbusDevice:
    regs = []
    for j, r in enumerate(d.get('registers', [])):
        try:
            regs.append(SimRegister(**r))
        except TypeError as e:
            raise RigError('%s.registers[%d]: %s' % (where, j + 1, e))
    return SimModbusDevice(d.get('unit_id', 1), _profile(d.get('profile'), where, t0), regs,
                           _faults(d.get('faults'), where))


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
        protocol = doc.get('protocol')
        meters = doc.get('meter', [])
        if protocol == 'dlt645':
            handler = Dlt645Bus([SimDlt645Meter(m['address'], _profile(m.get('profile'), where, self.t0),
                                                dlt645.V1997 if m.get('version') == 1997 else dlt645.V2007,
                                                _faults(m.get('faults'), where), m.get('split', False))
                                 for m in meters])
        elif protocol == 'cjt188':
            handler = Cjt188Line([SimCjt188Meter(int(m.get('type', '30'), 16), m['address'],
                                                 _profile(m.get('profile'), where, self.t0),
                                                 _faults(m.get('faults'), where), m.get('di_order') == '1F90')
                                  for m in meters])
        elif protocol == 'modbus-rtu':
            handler = ModbusHandler([_modbus_device(m, where, self.t0) for m in meters])
        else:
            raise RigError('%s.protocol must be dlt645, cjt188 or modbus-rtu, not %r' % (where, protocol))
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
            if doc.get('protocol') != 'modbus-tcp':
                raise RigError('%s.protocol must be modbus-tcp' % w)
            handler = ModbusHandler([_modbus_device(d, w, self.t0) for d in doc.get('device', [])], tcp=True)
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
