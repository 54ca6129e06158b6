"""The page's configuration: buses, meters, points and centres edited through forms made
from the driver descriptors (firmware/web/forms.py), each saved change a new version of
the configuration (firmware/versions.py) applied by the running gateway's Reconfigurer,
live when only the reading sources changed; the versions with who, when, why and a
diff, one-click rollback, and the restart a version may wait for.  Admins only: a
configuration decides what is measured and where it goes."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from firmware import bindings
from firmware.confedit import SECTIONS, Document, key_of
from firmware.drivers.errors import MeterError
from firmware.ports import PortError
from firmware.settings import GatewayConfigError
from firmware.sources import commission
from firmware.web import forms
from shared.codec import decimals
from shared.web.http import ACCOUNTS, needs, render, t, who

log = logging.getLogger('tanji.config')

GATEWAY = web.AppKey('tanji_config_gateway', object)
WITHOUT_PROTOCOL = ('centre', 'mqtt', 'opcua', 'hj212', 'accounting_unit', 'emission_source')   # their form is theirs


def _reconfigurer(request: web.Request):   # type: ignore[no-untyped-def]
    reconfigurer = request.app[GATEWAY].reconfigurer
    if reconfigurer is None:
        raise web.HTTPNotFound(text='this gateway runs without configuration versions')
    return reconfigurer


def _document(request: web.Request) -> Document:
    return Document(_reconfigurer(request).versions.file_text())


def _names(doc: Document) -> dict[str, list[str]]:
    """What a choice offers now: configured buses, meters and accounting units; the industries
    and methods of the method library."""
    from shared.accounting.methods import MethodLibrary
    methods = MethodLibrary.default()
    return {'bus': [key_of('bus', e) for e in doc.entries('bus')],
            'meter': [key_of('meter', e) for e in doc.entries('meter')],
            'unit': [key_of('accounting_unit', e) for e in doc.entries('accounting_unit')],
            'industry': sorted(methods.industries), 'method': list(methods.methods)}


def _protocol(section: str, doc: Document, chosen: dict) -> str | None:
    """The protocol whose fields a form shows: the bus's own, or that of the meter's bus."""
    from firmware.drivers.registry import PROTOCOLS
    if section in WITHOUT_PROTOCOL:
        return None
    if section == 'bus':
        name = chosen.get('protocol')
    else:
        meter = doc.find('meter', str(chosen.get('meter', ''))) if section == 'point' else None
        bus = doc.find('bus', str(meter.get('bus') if meter else chosen.get('bus', '')))
        name = bus.get('protocol') if bus else None
    return name if name in PROTOCOLS else None


def base_context(request: web.Request) -> dict:
    """What every page of the gateway's frame shows: its status and configuration version."""
    gw = request.app[GATEWAY]
    return {'status': gw.status(), 'config': gw.reconfigurer.status() if gw.reconfigurer else None}


@needs('admin')
async def overview(request: web.Request) -> web.StreamResponse:
    doc = _document(request)
    buses = []
    for bus in doc.entries('bus'):
        meters = []
        for meter in doc.entries('meter'):
            if meter.get('bus') == bus.get('name'):
                points = [p for p in doc.entries('point') if p.get('meter') == meter.get('name')]
                meters.append(dict(meter, points=points))
        buses.append(dict(bus, meters=meters))
    return render(request, 'config.html', buses=buses, centres=doc.entries('centre'),
                  pushed={sec: doc.keyed(sec) for sec in ('mqtt', 'opcua', 'hj212')},
                  entity=doc.table('accounting'), units=doc.entries('accounting_unit'),
                  emission_sources=doc.entries('emission_source'),
                  manual=bool(doc.table('manual').get('enabled', False)),
                  versions=_reconfigurer(request).versions.history(10), done=request.query.get('done'),
                  version=request.query.get('version'), **base_context(request))


FIRST = 'point.'      # a new meter's form carries its first point (the loader wants a meter to have one)


def _first_point_fields(section: str, key: str | None, protocol: str | None, doc: Document) -> list:
    if section != 'meter' or key is not None or protocol is None:
        return []
    return [ff for ff in forms.fields_for('point', protocol, _names(doc)) if ff.name != 'meter']


def _form_page(request: web.Request, section: str, key: str | None, doc: Document, chosen: dict,
               values: dict[str, str] | None = None, errors: dict | None = None, http_status: int = 200,
               tried: dict | None = None) -> web.Response:
    protocol = _protocol(section, doc, chosen)
    fields = forms.fields_for(section, protocol, _names(doc)) if protocol or section in WITHOUT_PROTOCOL else []
    first = forms.prefixed(_first_point_fields(section, key, protocol, doc), FIRST)
    rows = forms.rows_for(section)
    if values is None:
        values = forms.to_form(fields, chosen)
        if rows is not None:
            values.update(forms.rows_to_form(rows[0], rows[1], chosen.get(rows[0], [])))
    row_count = 0
    if rows is not None:
        used = [int(k.split('.')[1]) for k in values if k.startswith(rows[0] + '.') and k.split('.')[1].isdigit()]
        row_count = max(used, default=0) + forms.BLANK_ROWS
    from firmware.drivers.registry import PROTOCOLS
    return render(request, 'config_form.html', http_status, section=section, key=key, fields=fields, first=first,
                  rows=rows, row_count=row_count,
                  label_and_help=forms.label_and_help,
                  values=values, errors=errors or {}, protocol=protocol, protocols=list(PROTOCOLS),
                  names=_names(doc), chosen=chosen, why=str(chosen.get('why', '')), tried=tried, **base_context(request))


async def _read_once(request: web.Request, text: str, meter: str, code: str) -> dict:
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


def _section(request: web.Request) -> str:
    section = request.match_info['section']
    if section not in SECTIONS:
        raise web.HTTPNotFound()
    return section


@needs('admin')
async def form(request: web.Request) -> web.StreamResponse:
    section, key = _section(request), request.match_info.get('key')
    doc = _document(request)
    if key is None:
        chosen = dict(request.query)
    else:
        chosen = doc.find(section, key)
        if chosen is None:
            raise web.HTTPNotFound()
    return _form_page(request, section, key, doc, chosen)


def _translated(request: web.Request, errors: dict) -> dict[str, str]:
    return {name: t(request, e.key, **e.values) if isinstance(e, forms.FormError) else e
            for name, e in errors.items()}


@needs('admin')
async def save(request: web.Request) -> web.StreamResponse:
    """Save a form as the next version; with action=try (a point), read the point once as the
    form describes it instead, and save nothing."""
    section, key = _section(request), request.match_info.get('key')
    posted = {k: str(v) for k, v in (await request.post()).items()}
    doc = _document(request)
    if key is not None and doc.find(section, key) is None:
        raise web.HTTPNotFound()
    protocol = _protocol(section, doc, posted)
    if section not in WITHOUT_PROTOCOL and protocol is None:
        return _form_page(request, section, key, doc, posted, posted,
                          {'form': t(request, 'err_no_protocol_' + section)}, 400)
    fields = forms.fields_for(section, protocol, _names(doc))
    first = _first_point_fields(section, key, protocol, doc)
    values, errors = forms.from_form(fields, posted)
    point, point_errors = forms.from_form(first, forms.under(posted, FIRST)) if first else ({}, {})
    errors.update({FIRST + name: e for name, e in point_errors.items()})
    rows = forms.rows_for(section)
    if rows is not None:
        listed, row_errors = forms.rows_from_form(rows[0], rows[1], posted)
        errors.update(row_errors)
        if listed:
            values[rows[0]] = listed
    if errors:
        return _form_page(request, section, key, doc, posted, posted, _translated(request, errors), 400)
    new_key = doc.put(section, key, values)
    index = [k for k, _ in doc.keyed(section)].index(new_key)
    if first:
        point = dict({'meter': new_key}, **point)
        doc.put('point', None, point)
    trying = posted.get('action') == 'try' and (section == 'point' or bool(first))
    why = posted.get('why', '').strip() or '%s %s %s' % (section, new_key, 'added' if key is None else 'changed')
    try:
        if trying:
            meter, code = (new_key, key_of('point', point)) if first else (str(values.get('meter')), new_key)
            reading = await _read_once(request, doc.text(), meter, code)
            return _form_page(request, section, key, _document(request), posted, posted, tried=reading)
        version, live = await _reconfigurer(request).apply(doc.text(), who(request), why, 'page')
    except GatewayConfigError as e:
        field, message = forms.place_error(str(e), fields, section, index)
        if field == 'form' and first:
            field, message = forms.place_error(str(e), first, 'point', len(doc.entries('point')) - 1)
            field = 'form' if field == 'form' else FIRST + field
        return _form_page(request, section, key, _document(request), posted, posted,
                          {field: t(request, 'err_config', message=message)}, 400)
    request.app[ACCOUNTS].audit(who(request), 'config.%s.%s' % (section, 'add' if key is None else 'change'),
                                {'key': new_key, 'was': key, 'version': version.number, 'live': live, 'why': why})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', version.number))


@needs('admin')
async def remove_page(request: web.Request) -> web.StreamResponse:
    section, key = _section(request), request.match_info['key']
    doc = _document(request)
    if doc.find(section, key) is None:
        raise web.HTTPNotFound()
    return render(request, 'config_remove.html', section=section, key=key, children=doc.children(section, key),
                  **base_context(request))


@needs('admin')
async def remove(request: web.Request) -> web.StreamResponse:
    section, key = _section(request), request.match_info['key']
    posted = await request.post()
    doc = _document(request)
    if doc.find(section, key) is None:
        raise web.HTTPNotFound()
    removed = doc.remove(section, key)
    why = str(posted.get('why', '')).strip() or '%s %s removed' % (section, key)
    try:
        version, live = await _reconfigurer(request).apply(doc.text(), who(request), why, 'page')
    except GatewayConfigError as e:
        return render(request, 'config_remove.html', 400, section=section, key=key,
                      children=removed[1:], error=t(request, 'err_config', message=str(e)), **base_context(request))
    request.app[ACCOUNTS].audit(who(request), 'config.%s.remove' % section,
                                {'key': key, 'removed': removed, 'version': version.number, 'live': live, 'why': why})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', version.number))


def _entity_page(request: web.Request, values: dict | None = None, errors: dict | None = None,
                 http_status: int = 200) -> web.Response:
    fields = [forms.FormField(f.name, f, f.choices) for f in bindings.ENTITY_FIELDS]
    doc = _document(request)
    if values is None:
        values = forms.to_form(fields, doc.table('accounting'))
    return render(request, 'config_form.html', http_status, section='accounting', key=None, fields=fields, first=[],
                  rows=None, row_count=0, label_and_help=forms.label_and_help, values=values, errors=errors or {},
                  protocol=None, protocols=[], names=_names(doc), chosen={}, why='', tried=None,
                  action='/config/accounting', **base_context(request))


@needs('admin')
async def entity_form(request: web.Request) -> web.StreamResponse:
    return _entity_page(request)


@needs('admin')
async def entity_save(request: web.Request) -> web.StreamResponse:
    """The reporting entity and the accounting choices (seed 001 §9.3 a): one version."""
    posted = {k: str(v) for k, v in (await request.post()).items()}
    fields = [forms.FormField(f.name, f, f.choices) for f in bindings.ENTITY_FIELDS]
    values, errors = forms.from_form(fields, posted)
    if errors:
        return _entity_page(request, posted, _translated(request, errors), 400)
    doc = _document(request)
    doc.replace_values('accounting', values, keep=('scenario',))
    try:
        version, live = await _reconfigurer(request).apply(doc.text(), who(request), posted.get('why', '').strip()
                                                           or 'the reporting entity changed', 'page')
    except GatewayConfigError as e:
        field, message = forms.place_error(str(e), fields, 'accounting', None)
        return _entity_page(request, posted, {field: t(request, 'err_config', message=message)}, 400)
    request.app[ACCOUNTS].audit(who(request), 'config.accounting', {'version': version.number})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', version.number))


@needs('admin')
async def manual_switch(request: web.Request) -> web.StreamResponse:
    """Manual entry on or off (seed 001 §11.6): a reading source like the others."""
    enabled = str((await request.post()).get('enabled', '')) == 'on'
    doc = _document(request)
    doc.set_values('manual', {'enabled': enabled})
    try:
        version, live = await _reconfigurer(request).apply(doc.text(), who(request), 'manual entry %s'
                                                           % ('on' if enabled else 'off'), 'page')
    except GatewayConfigError as e:
        return render(request, 'error.html', 400, message=t(request, 'err_config', message=str(e)))
    request.app[ACCOUNTS].audit(who(request), 'config.manual', {'enabled': enabled, 'version': version.number})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', version.number))


def _version(request: web.Request):   # type: ignore[no-untyped-def]
    try:
        number = int(request.match_info['number'])
    except ValueError:
        raise web.HTTPNotFound()
    version = _reconfigurer(request).versions.get(number)
    if version is None:
        raise web.HTTPNotFound()
    return version


@needs('admin')
async def versions_page(request: web.Request) -> web.StreamResponse:
    return render(request, 'versions.html', versions=_reconfigurer(request).versions.history(200), **base_context(request))


@needs('admin')
async def version_page(request: web.Request) -> web.StreamResponse:
    version = _version(request)
    return render(request, 'version.html', version=version,
                  diff=_reconfigurer(request).versions.diff(version.number), **base_context(request))


@needs('admin')
async def version_download(request: web.Request) -> web.StreamResponse:
    version = _version(request)
    gw = request.app[GATEWAY]
    return web.Response(text=version.text, content_type='application/toml', charset='utf-8', headers={
        'Content-Disposition': 'attachment; filename="%s-config-v%d.toml"' % (gw.cfg.id, version.number)})


@needs('admin')
async def rollback(request: web.Request) -> web.StreamResponse:
    version = _version(request)
    reconfigurer = _reconfigurer(request)
    why = 'rollback to version %d' % version.number
    try:
        new, live = await reconfigurer.apply(version.text, who(request), why, 'rollback')
    except GatewayConfigError as e:
        return render(request, 'version.html', 400, version=version, diff=reconfigurer.versions.diff(version.number),
                      error=t(request, 'err_config', message=str(e)), **base_context(request))
    request.app[ACCOUNTS].audit(who(request), 'config.rollback', {'to': version.number, 'version': new.number,
                                                                  'live': live})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', new.number))


@needs('admin')
async def restart(request: web.Request) -> web.StreamResponse:
    reconfigurer = _reconfigurer(request)
    request.app[ACCOUNTS].audit(who(request), 'gateway.restart', {'pending': reconfigurer.status()['pending']})
    reconfigurer.request_restart(who(request))
    return render(request, 'restarting.html', **base_context(request))


SCANS = web.AppKey('tanji_scans', dict)
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
    doc = _document(request)
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


def _running_bus(request: web.Request, name: str):   # type: ignore[no-untyped-def]
    gw = request.app[GATEWAY]
    return next((r for r in (gw.sources.buses if gw.sources else ()) if r.cfg.name == name), None)


@needs('admin')
async def scan_page(request: web.Request) -> web.StreamResponse:
    """The meters found on a DL/T 645-2007 line, and the button that looks for them."""
    name = request.match_info['key']
    bus = _document(request).find('bus', name)
    if bus is None:
        raise web.HTTPNotFound()
    scan = request.app[SCANS].get(name)
    configured = {str(m.get('address')): m['name'] for m in _document(request).entries('meter')
                  if m.get('bus') == name and 'address' in m}
    return render(request, 'scan.html', bus=bus, scannable=bus.get('protocol') == 'dlt645',
                  running=_running_bus(request, name) is not None, scan=scan.status() if scan else None,
                  configured=configured, **base_context(request))


@needs('admin')
async def scan_start(request: web.Request) -> web.StreamResponse:
    name = request.match_info['key']
    bus = _document(request).find('bus', name)
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


def add_routes(app: web.Application, gateway) -> None:   # type: ignore[no-untyped-def]
    app[GATEWAY] = gateway
    app[SCANS] = {}
    app.on_cleanup.append(_stop_scans)
    r = app.router
    r.add_get('/network', network_page)
    r.add_post('/network', network_propose)
    r.add_post('/network/confirm', network_confirm)
    r.add_get('/config/bus/{key}/scan', scan_page)
    r.add_post('/config/bus/{key}/scan', scan_start)
    r.add_get('/config', overview)
    r.add_post('/config/manual', manual_switch)
    r.add_get('/config/accounting', entity_form)
    r.add_post('/config/accounting', entity_save)
    r.add_get('/config/versions', versions_page)
    r.add_get(r'/config/versions/{number:\d+}', version_page)
    r.add_get(r'/config/versions/{number:\d+}.toml', version_download)
    r.add_post(r'/config/versions/{number:\d+}/rollback', rollback)
    r.add_post('/config/restart', restart)
    r.add_get('/config/add/{section}', form)
    r.add_post('/config/add/{section}', save)
    r.add_get('/config/{section}/{key}', form)
    r.add_post('/config/{section}/{key}', save)
    r.add_get('/config/{section}/{key}/remove', remove_page)
    r.add_post('/config/{section}/{key}/remove', remove)
