"""The gateway's page as an aiohttp application: first set-up, sign-in, the dashboard
(health, centres with "send now", buses, meters and points with their last readings and
flags, alarms) and the audit log.  Accounts, sessions, CSRF and language come from
shared/web/; the figures from the running Gateway's own status."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from firmware.web import health
from shared.web import signin
from shared.web.accounts import Accounts
from shared.web.http import (ACCOUNTS, TEMPLATES, add_static, needs, page_middleware, render, t, templates, who)

HERE = Path(__file__).resolve().parent
GATEWAY = web.AppKey('tanji_gateway', object)


def _points(status: dict) -> list[dict]:
    points: dict = {}
    for source in status.get('sources', []):
        points.update(source.get('points', {}))
    return [dict(p, key=key) for key, p in sorted(points.items())]


@needs('viewer')
async def dashboard(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    status = gw.status()
    durable = status.get('durable_seq', -1)
    centres = [dict(c, backlog=max(0, durable - c.get('cursor', -1))) for c in status.get('centres', [])]
    buses = [s for s in status.get('sources', []) if 'bus' in s]
    return render(request, 'dashboard.html', status=status, centres=centres, buses=buses, points=_points(status),
                  health=health.figures(gw.cfg.data_dir), sent=request.query.get('sent'))


@needs('operator')
async def send_now(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    name = request.match_info['centre']
    if name not in gw.deliveries:
        raise web.HTTPNotFound()
    gw.send_now(name)
    request.app[ACCOUNTS].audit(who(request), 'centre.send_now', {'centre': name})
    raise web.HTTPSeeOther('/?sent=' + name)


@needs('admin')
async def audit(request: web.Request) -> web.StreamResponse:
    return render(request, 'audit.html', entries=request.app[ACCOUNTS].audit_log(500))


@needs('viewer')
async def status_json(request: web.Request) -> web.StreamResponse:
    """The same figures as JSON, for the page's live updates."""
    gw = request.app[GATEWAY]
    return web.json_response(dict(gw.status(), health=health.figures(gw.cfg.data_dir)))


def make_app(gateway, accounts: Accounts) -> web.Application:   # type: ignore[no-untyped-def]
    app = web.Application(middlewares=[page_middleware], client_max_size=1 << 20)
    app[ACCOUNTS] = accounts
    app[TEMPLATES] = templates(HERE / 'templates', utc_offset_s=int(gateway.cfg.utc_offset_h * 3600))
    app[GATEWAY] = gateway
    signin.add_routes(app.router)
    add_static(app.router)
    app.router.add_get('/', dashboard)
    app.router.add_post('/centres/{centre}/send', send_now)
    app.router.add_get('/audit', audit)
    app.router.add_get('/status.json', status_json)
    return app


__all__ = ['make_app', 't']
