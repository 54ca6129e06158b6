"""The gateway's signed health report to its platform (seed 001 §10.6.1–§10.6.2; docs/
protocol.md §11): what the local page's dashboard shows, sent on a schedule so the
platform sees its fleet although gateways sit behind NAT and nobody can reach them.

    POST <centre>/api/v1/gateways/<id>/health
    Content-Type: application/json
    X-Tanji-Signature: <128 hex digits: SM2 r||s over the body bytes, the gateway's key>

The body says when it was made (`t`, ms), so a centre refuses a stale or replayed one."""

from __future__ import annotations

import asyncio
import binascii
import json
import logging
import time

import aiohttp

from firmware import health, logbook, summary

log = logging.getLogger('tanji.gateway')
RECENT_ERRORS = 10


def health_url(frames_url: str, gateway_id: str) -> str:
    base = frames_url.rstrip('/')
    if base.endswith('/frames'):
        base = base[:-len('/frames')]
    return '%s/gateways/%s/health' % (base, gateway_id)


def build(gw, recent_errors: list[dict]) -> dict:   # type: ignore[no-untyped-def]
    status = gw.status()
    durable = status.get('durable_seq', -1)
    buses = [{'bus': s['bus'], 'protocol': s.get('protocol'), 'state': s.get('state', 'up'),
              'degraded_meters': sorted(m for m, v in s.get('meters', {}).items() if v.get('degraded'))}
             for s in status.get('sources', []) if 'bus' in s]
    points = summary.points(status)
    errors = [{'at': e['at'], 'level': e['level'], 'message': e['message'][:500]} for e in recent_errors]
    return {
        'gateway': gw.cfg.id, 't': int(time.time() * 1000), 'version': status.get('version'),
        'health': health.figures(gw.cfg.data_dir), 'durable_seq': durable, 'oldest_seq': status.get('oldest_seq'),
        'counters': status.get('counters', {}), 'disk_error': status.get('disk_error'),
        'centres': [{'centre': c['centre'], 'state': c.get('state'), 'cursor': c.get('cursor'),
                     'backlog': max(0, durable - c.get('cursor', -1)), 'last_error': c.get('last_error')}
                    for c in status.get('centres', [])],
        'buses': buses,
        'points': {'count': len(points), 'in_trouble': sum(1 for p in points.values() if p.get('last_reason'))},
        'alarms': status.get('alarms', []), 'recent_errors': errors, 'config': status.get('config'),
        'remote_config': gw.remote.report() if gw.remote is not None else None,
    }


def signed(report: dict, sign) -> tuple[bytes, str]:   # type: ignore[no-untyped-def]
    body = json.dumps(report, ensure_ascii=False, sort_keys=True, separators=(',', ':'), default=str).encode()
    return body, binascii.hexlify(sign(body)).decode()


async def send(session: aiohttp.ClientSession, url: str, gw) -> str | None:   # type: ignore[no-untyped-def]
    """None when the platform took the report, else why not.  A configuration the platform
    offers in its answer goes to the gateway's remote configuration (firmware/remote.py)."""
    # the log files may hold megabytes: read in a thread, never on the loop that runs acquisition
    errors = await asyncio.to_thread(logbook.read, gw.cfg.data_dir, '', 'WARNING', '', RECENT_ERRORS)
    report = build(gw, errors)
    body, signature = signed(report, gw.key.sign)
    try:
        async with session.post(url, data=body, headers={'Content-Type': 'application/json',
                                                         'X-Tanji-Signature': signature}) as resp:
            if resp.status != 200:
                return 'HTTP %d: %s' % (resp.status, (await resp.text())[:200])
            answer = await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
        return '%s: %s' % (type(e).__name__, e)
    if gw.remote is not None:
        gw.remote.delivered(report['t'] / 1000.0)
        offer = answer.get('config') if isinstance(answer, dict) else None
        if isinstance(offer, dict):
            await gw.remote.offered(offer)
    return None


async def loop(gw, every_s: float) -> None:   # type: ignore[no-untyped-def]
    """Report to the first centre every `every_s`; one log line when it starts failing and
    one when it works again."""
    from shared import tls
    centre = gw.cfg.centres[0]
    url = health_url(centre.url, gw.cfg.id)
    failing = False
    async with tls.session(30, centre.ca_file, centre.pin_sha256) as session:
        while True:
            why = await send(session, url, gw)
            if why is not None and not failing:
                log.warning('health report to centre %s failed: %s; trying again every %.0f s', centre.name, why,
                            every_s)
            elif why is None and failing:
                log.info('health report to centre %s delivered again', centre.name)
            failing = why is not None
            await asyncio.sleep(every_s)
