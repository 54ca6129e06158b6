"""Commissioning on the page (seed 001 §11.3): the meters found on a DL/T 645-2007 line, and
a point read once as its form describes it (firmware/sources/commission.py does the bus work)."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from firmware.drivers.errors import MeterError
from firmware.ports import PortError
from firmware.sources import commission
from firmware.web.context import GATEWAY, base_context, document_of
from shared.codec import decimals
from shared.web.http import ACCOUNTS, needs, render, who

log = logging.getLogger('tanji.config')
SCANS = web.AppKey('tanji_scans', dict)


async def read_once(request: web.Request, text: str, meter: str, code: str) -> dict:
    """The point `code` of `meter` read once as the configuration `text` describes it: the
    running bus lends itself between two visits; a bus not running yet is opened for it."""
    from firmware.sources.bus import BusRunner
    from firmware.versions import check
    gw = request.app[GATEWAY]
    cfg = check(text, gw.cfg)
    bus = next(b for b in cfg.sources.buses if meter in b.meters)
    point = next(p for p in bus.points[meter] if '%012d' % int(p.code) == code)
    running = next((r for r in (gw.sources.buses if gw.sources else ()) if r.cfg.name == bus.name
                    and (r.cfg.port, r.cfg.host, r.cfg.tcp_port) == (bus.port, bus.host, bus.tcp_port)), None)
    started = time.monotonic()
    try:
        readings = await commission.read_once(running or BusRunner(bus, None, gw.clock), bus.meters[meter], point)
    except (MeterError, PortError) as e:
        return {'ok': False, 'reason': getattr(e, 'reason', None) or str(e), 'code': code}
    ms = (time.monotonic() - started) * 1000
    shown = [{'code': '%012d' % int(r.code), 'value': decimals.format(r.value, r.exp),
              'unit': r.unit or point.meter_unit or point.unit} for r in readings]
    log.info('commissioning read of %s on bus %s by %s: %s', point.key, bus.name, who(request),
             ', '.join('%(value)s %(unit)s' % r for r in shown))
    return {'ok': True, 'readings': shown, 'ms': ms, 'code': code, 'unit': point.unit}


def _running_bus(request: web.Request, name: str):   # type: ignore[no-untyped-def]
    gw = request.app[GATEWAY]
    return next((r for r in (gw.sources.buses if gw.sources else ()) if r.cfg.name == name), None)


@needs('admin')
async def scan_page(request: web.Request) -> web.StreamResponse:
    """The meters found on a DL/T 645-2007 line, and the button that looks for them."""
    name = request.match_info['key']
    bus = document_of(request).find('bus', name)
    if bus is None:
        raise web.HTTPNotFound()
    scan = request.app[SCANS].get(name)
    configured = {str(m.get('address')): m['name'] for m in document_of(request).entries('meter')
                  if m.get('bus') == name and 'address' in m}
    return render(request, 'scan.html', bus=bus, scannable=bus.get('protocol') == 'dlt645',
                  running=_running_bus(request, name) is not None, scan=scan.status() if scan else None,
                  configured=configured, **base_context(request))


@needs('admin')
async def scan_start(request: web.Request) -> web.StreamResponse:
    name = request.match_info['key']
    bus = document_of(request).find('bus', name)
    runner = _running_bus(request, name)
    if bus is None or bus.get('protocol') != 'dlt645' or runner is None or runner.cfg.protocol != 'dlt645':
        raise web.HTTPNotFound()
    scan = request.app[SCANS].get(name)
    if scan is None or scan.finished is not None:
        request.app[SCANS][name] = commission.Scan(runner)
        request.app[ACCOUNTS].audit(who(request), 'bus.scan', {'bus': name})
    raise web.HTTPSeeOther('/config/bus/%s/scan' % name)


async def _stop_scans(app: web.Application) -> None:
    for scan in app[SCANS].values():
        scan.task.cancel()


def add_routes(app: web.Application) -> None:
    app[SCANS] = {}
    app.on_cleanup.append(_stop_scans)
    app.router.add_get('/config/bus/{key}/scan', scan_page)
    app.router.add_post('/config/bus/{key}/scan', scan_start)
