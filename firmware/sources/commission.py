"""Commissioning helpers run by a technician at the gateway (CPython)."""

from __future__ import annotations

import asyncio
import logging
import time

from firmware.drivers import dlt645
from firmware.drivers.errors import MeterError
from firmware.ports import PortError, SerialPort

log = logging.getLogger('tanji.bus')


async def read_dlt645_address(path: str, baud: int = 2400, parity: str = 'E', timeout_s: float = 2.0) -> str:
    """The address of the one DL/T 645-2007 meter on a line (read address, control 13 to AA..AA).
    With several meters on the line their answers collide: connect one meter at a time."""
    port = SerialPort(path, baud, parity)
    try:
        return await port.exchange(dlt645.build_read_address(), dlt645.AddressReply(), timeout_s)
    except asyncio.TimeoutError:
        raise PortError('no meter answered the read-address request on %s (wiring, baud %d, parity %s?)'
                        % (path, baud, parity))
    except MeterError as e:
        raise PortError('the answer on %s was unusable: %s (several meters on the line?)' % (path, e.reason))
    finally:
        port.close()


# -- finding the meters on a DL/T 645-2007 line ------------------------------------------------

PROBE_DI = 0x00010000        # forward active energy, total: every DL/T 645-2007 electricity meter has it
SCAN_TIMEOUT_S = 0.6         # a meter answers within 500 ms (meters.md §1.1)


class ProbeReply:
    """The reply to a probe: the address of the one meter that answered.  Bytes that make no
    frame, or a frame that fails its checksum, mean several meters answered at once."""

    def __init__(self) -> None:
        self.parser = dlt645.Parser()
        self.heard = False

    def feed(self, data: bytes) -> str | None:
        self.heard = self.heard or bool(data)
        for item in self.parser.feed(data):
            if isinstance(item, MeterError):
                raise item
            if item.is_reply:
                return item.address
        return None


def probe_address(low_digits: str) -> str:
    """The shortened address reaching every meter whose address ends in `low_digits`."""
    return 'AA' * ((12 - len(low_digits)) // 2) + low_digits


async def scan_dlt645(exchange, progress=lambda probes, found: None) -> list[str]:   # type: ignore[no-untyped-def]
    """The addresses of the DL/T 645-2007 meters on a line, by shortened addressing (DL/T
    645-2007 §4.2: AAH in the high bytes): a probe for each last byte 00..99; where several
    meters answer at once, a probe for each next byte under it, and so on.  `exchange(request,
    reply)` sends one probe (asyncio.TimeoutError: nobody answered).  About 100 probes, and
    100 more for each clash."""
    found: list[str] = []
    clashes = ['']
    probes = 0
    while clashes:
        below = clashes.pop(0)
        for byte in range(100):
            low = '%02d' % byte + below
            reply = ProbeReply()
            probes += 1
            try:
                address = await exchange(dlt645.build_read(probe_address(low), PROBE_DI), reply)
            except asyncio.TimeoutError:
                if reply.heard:
                    clashes.append(low)
                continue
            except MeterError:
                if len(low) < 12:
                    clashes.append(low)
                elif low not in found:          # two meters set to one address: both are there
                    log.warning('ALARM scan: several meters answer to address %s', low)
                    found.append(low)
                continue
            finally:
                progress(probes, list(found))
            if address.endswith(low) and address not in found:
                found.append(address)
                progress(probes, list(found))
    return sorted(found)


class Scan:
    """One scan of a running bus, probe by probe between its meter visits, for the page."""

    def __init__(self, runner) -> None:   # type: ignore[no-untyped-def]
        self.runner = runner
        self.started = time.time()
        self.probes = 0
        self.found: list[str] = []
        self.finished: float | None = None
        self.error: str | None = None
        self.task = asyncio.create_task(self._run(), name='tanji-scan-%s' % runner.cfg.name)

    def _progress(self, probes: int, found: list[str]) -> None:
        self.probes, self.found = probes, found

    async def _run(self) -> None:
        timeout_s = min(self.runner.cfg.timeout_s, SCAN_TIMEOUT_S)

        async def exchange(request: bytes, reply):   # type: ignore[no-untyped-def]
            return await self.runner.borrow(lambda bus: bus.exchange_once(request, reply, timeout_s))
        log.info('bus %s: scan for DL/T 645-2007 meters started', self.runner.cfg.name)
        try:
            self.found = await scan_dlt645(exchange, self._progress)
        except PortError as e:
            self.error = str(e)
        except asyncio.CancelledError:
            self.error = 'stopped'
            raise
        finally:
            self.finished = time.time()
            log.info('bus %s: scan %s after %d probes: %s', self.runner.cfg.name,
                     'failed (%s)' % self.error if self.error else 'done', self.probes,
                     ', '.join(self.found) or 'no meter answered')

    def status(self) -> dict:
        return {'bus': self.runner.cfg.name, 'started': self.started, 'probes': self.probes, 'found': self.found,
                'finished': self.finished, 'error': self.error}


async def read_once(bus, driver, point) -> list:   # type: ignore[no-untyped-def]
    """One point read once through a BusRunner with a meter `driver` as the configuration
    being tried describes them: the decoded readings, or MeterError naming what went
    wrong.  A running bus lends itself between two visits; one not running yet opens its
    port for this read only."""
    tx = driver.transactions([point])[0]

    async def job(runner):   # type: ignore[no-untyped-def]
        values, reason = await runner._transact(driver, tx)
        if values is None:
            raise MeterError(reason, 'read')
        return values
    if bus.running:
        return await bus.borrow(job)
    try:
        return await job(bus)
    finally:
        bus.port.close()
