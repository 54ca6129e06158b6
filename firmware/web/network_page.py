"""The page's Network form: its own address and the maintenance interface, changed with
confirm-or-revert (firmware/network.py does the changing)."""

from __future__ import annotations

from aiohttp import web

from firmware.settings import GatewayConfigError
from firmware.web import forms
from firmware.web.context import GATEWAY, base_context, document_of
from shared.web.http import ACCOUNTS, needs, render, t, who

NETWORK = web.AppKey('tanji_network', object)        # firmware.network.NetworkChanges, set by the page's runner


def _network_form(request: web.Request) -> dict[str, str]:
    gw = request.app[GATEWAY]
    net = gw.cfg.network
    return {'listen': '%s:%d' % (gw.cfg.web.host, gw.cfg.web.port) if gw.cfg.web else '',
            'interface': net.interface if net else '', 'address': net.address if net else '',
            'router': net.router if net else '', 'dns': ', '.join(net.dns) if net else '',
            'confirm_s': '%g' % net.confirm_s if net else ''}


def _network_page(request: web.Request, http_status: int = 200, form: dict | None = None,
                  error: str | None = None) -> web.Response:
    changes = request.app[NETWORK]
    return render(request, 'network.html', http_status, form=form or _network_form(request), error=error,
                  done=request.query.get('done'),
                  has_interface=request.app[GATEWAY].cfg.network is not None, pending=changes.status(),
                  here=changes.reached_by_new_address(request), **base_context(request))


@needs('admin')
async def network_page(request: web.Request) -> web.StreamResponse:
    return _network_page(request)


@needs('admin')
async def network_propose(request: web.Request) -> web.StreamResponse:
    posted = {k: str(v).strip() for k, v in (await request.post()).items()}
    form = dict(_network_form(request), **{k: v for k, v in posted.items() if k != 'csrf'})
    doc = document_of(request)
    doc.set_values('web', {'listen': form['listen']})
    if request.app[GATEWAY].cfg.network is not None:
        try:
            confirm_s = float(form['confirm_s'])
        except ValueError:
            return _network_page(request, 400, form, t(request, 'err_number', text=form['confirm_s']))
        doc.set_values('network', {'interface': form['interface'], 'address': form['address'],
                                   'router': form['router'], 'dns': [d for d in forms.SEPARATORS.split(form['dns'])
                                                                     if d],
                                   'confirm_s': int(confirm_s) if confirm_s.is_integer() else confirm_s})
    try:
        pending = await request.app[NETWORK].propose(doc.text(), who(request), posted.get('why') or 'network change')
    except GatewayConfigError as e:
        return _network_page(request, 400, form, t(request, 'err_config', message=str(e)))
    request.app[ACCOUNTS].audit(who(request), 'config.network.propose', {'version': pending['version']})
    return _network_page(request)


@needs('admin')
async def network_confirm(request: web.Request) -> web.StreamResponse:
    changes = request.app[NETWORK]
    if not changes.reached_by_new_address(request):
        return _network_page(request, 400, error=t(request, 'network_confirm_there'))
    await changes.confirm(who(request))
    raise web.HTTPSeeOther('/network?done=confirmed')


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get('/network', network_page)
    r.add_post('/network', network_propose)
    r.add_post('/network/confirm', network_confirm)
