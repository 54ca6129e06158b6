"""Applying a new configuration version to the running gateway.  A change to the reading
sources (buses, meters, points, MQTT, OPC UA, HJ 212, manual entry) is applied at
once: the sources stop and start again with the new settings while storage and
delivery go on, and each point's history (its last value, its counters) carries over.
A change to the accounting bindings and boundary replaces the live emissions' scenario.
Any other change (centres, schedules, the page, the ring) takes effect when the gateway
restarts; until then the status says a restart is pending, and the page offers it."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tomllib
from typing import Callable

from firmware.versions import Version, Versions

log = logging.getLogger('tanji.config')

SOURCE_SECTIONS = frozenset({'bus', 'meter', 'point', 'mqtt', 'opcua', 'hj212', 'manual'})
ACCOUNTING_SECTIONS = frozenset({'accounting', 'accounting_unit', 'emission_source'})    # the live emissions'


def changed_sections(old_text: str, new_text: str) -> set[str]:
    old, new = tomllib.loads(old_text), tomllib.loads(new_text)
    return {key for key in set(old) | set(new) if old.get(key) != new.get(key)}


class Reconfigurer:
    """Owns the gateway's configuration versions while it runs.  `watch` is given each task
    the new sources start, so a task that dies stops the gateway as at start."""

    def __init__(self, gateway, versions: Versions, watch: Callable[[asyncio.Task], None] = lambda task: None
                 ) -> None:   # type: ignore[no-untyped-def]
        self.gateway = gateway
        self.versions = versions
        self.watch = watch
        self.running = versions.latest()           # the version the gateway runs now
        self.pending: Version | None = None        # a version written that waits for a restart
        self.restart_requested = asyncio.Event()
        self._lock = asyncio.Lock()

    @classmethod
    def at_start(cls, gateway, config_path: str, watch=lambda task: None) -> Reconfigurer:   # type: ignore[no-untyped-def]
        versions = Versions(gateway.cfg.data_dir, config_path, gateway.clock.now)
        adopted = versions.adopt_file()
        if adopted is not None:
            log.info('configuration version %d: %s', adopted.number, adopted.why)
        return cls(gateway, versions, watch)

    def status(self) -> dict:
        return {'version': self.running.number if self.running else None,
                'pending': self.pending.number if self.pending else None}

    async def apply(self, text: str, who: str, why: str, origin: str, applied_by_caller: frozenset = frozenset()
                    ) -> tuple[Version, bool]:
        """Check and record `text` as the next version and apply it; returns the version and
        whether it took effect now (False: at the next restart).  `applied_by_caller`: sections
        the caller puts into effect itself (the page's address and the network: firmware/
        network.py).  GatewayConfigError naming the setting, with nothing written, when the
        gateway could not run it."""
        async with self._lock:
            base = (self.pending or self.running)
            base_text = base.text if base else self.versions.file_text()
            version, cfg = await asyncio.to_thread(self.versions.apply, text, who, why, origin, self.gateway.cfg)
            sections = changed_sections(base_text, text)
            log.info('configuration version %d by %s (%s): %s changed: %s', version.number, who, origin,
                     ', '.join(sorted(sections)) or 'nothing', why)
            if self.pending is not None or not sections <= SOURCE_SECTIONS | ACCOUNTING_SECTIONS | applied_by_caller:
                self.pending = version
                log.warning('configuration version %d waits for a restart of the gateway (%s changed)',
                            version.number, ', '.join(sorted(sections - SOURCE_SECTIONS - ACCOUNTING_SECTIONS
                                                             - applied_by_caller)) or 'an earlier version')
                return version, False
            if sections & SOURCE_SECTIONS:
                await self._restart_sources(cfg)
            if sections & ACCOUNTING_SECTIONS:
                self.gateway.set_accounting(cfg.accounting)
            self.gateway.cfg = cfg
            self.running = version
            return version, True

    async def _restart_sources(self, cfg) -> None:   # type: ignore[no-untyped-def]
        from firmware.sources import Acquisition
        gw = self.gateway
        previous = gw.sources
        if previous is not None:
            await previous.stop()
        gw.sources = None
        if cfg.sources is not None and not cfg.sources.empty():
            gw.sources = Acquisition(cfg.sources, gw, gw.clock, int(cfg.utc_offset_h * 3600), previous)
            await gw.sources.start(resumed=previous is not None)
            for task in gw.sources.tasks:
                self.watch(task)
        log.info('reading sources restarted with the new configuration: %s', _census(gw.sources))
        if gw.calibration is not None:
            gw.calibration.refresh()             # the points of a meter past calibration may have changed

    def request_restart(self, who: str) -> None:
        log.warning('restart of the gateway requested by %s (configuration version %s waits)', who,
                    self.pending.number if self.pending else '-')
        self.restart_requested.set()


def _census(sources) -> str:   # type: ignore[no-untyped-def]
    if sources is None:
        return 'none'
    meters = sum(len(b.points) for b in sources.buses)
    return '%d bus(es), %d meter(s), %d polled point(s)' % (len(sources.buses), meters, len(sources.point_keys()))


def restart_process() -> None:
    """Run the gateway again in this process's place, with the same command line (after a
    clean stop: everything durable is saved)."""
    os.execv(sys.executable, sys.orig_argv)
