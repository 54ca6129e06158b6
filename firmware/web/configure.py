"""The page's configuration: every section edited through forms made from the descriptors
(firmware/web/forms.py), each saved change a new version of the configuration
(firmware/versions.py) applied by the running gateway's Reconfigurer, live where the
change allows; the versions with who, when, why and a diff, one-click rollback, and the
restart a version may wait for.  Admins only: a configuration decides what is measured
and where it goes.  The Network form is network_page.py, commissioning commissioning.py."""

from __future__ import annotations

from aiohttp import web

from firmware import bindings
from firmware.confedit import SECTIONS, Document, key_of
from firmware.settings import GatewayConfigError
from firmware.web import commissioning, forms
from firmware.web.context import GATEWAY, base_context, document_of, reconfigurer_of
from shared.web.http import ACCOUNTS, needs, render, t, who

WITHOUT_PROTOCOL = ('centre', 'mqtt', 'opcua', 'hj212', 'accounting_unit', 'emission_source')   # their form is theirs


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


@needs('admin')
async def overview(request: web.Request) -> web.StreamResponse:
    doc = document_of(request)
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
                  versions=reconfigurer_of(request).versions.history(10), done=request.query.get('done'),
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


def _section(request: web.Request) -> str:
    section = request.match_info['section']
    if section not in SECTIONS:
        raise web.HTTPNotFound()
    return section


@needs('admin')
async def form(request: web.Request) -> web.StreamResponse:
    section, key = _section(request), request.match_info.get('key')
    doc = document_of(request)
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
    doc = document_of(request)
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
            reading = await commissioning.read_once(request, doc.text(), meter, code)
            return _form_page(request, section, key, document_of(request), posted, posted, tried=reading)
        version, live = await reconfigurer_of(request).apply(doc.text(), who(request), why, 'page')
    except GatewayConfigError as e:
        field, message = forms.place_error(str(e), fields, section, index)
        if field == 'form' and first:
            field, message = forms.place_error(str(e), first, 'point', len(doc.entries('point')) - 1)
            field = 'form' if field == 'form' else FIRST + field
        return _form_page(request, section, key, document_of(request), posted, posted,
                          {field: t(request, 'err_config', message=message)}, 400)
    request.app[ACCOUNTS].audit(who(request), 'config.%s.%s' % (section, 'add' if key is None else 'change'),
                                {'key': new_key, 'was': key, 'version': version.number, 'live': live, 'why': why})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', version.number))


@needs('admin')
async def remove_page(request: web.Request) -> web.StreamResponse:
    section, key = _section(request), request.match_info['key']
    doc = document_of(request)
    if doc.find(section, key) is None:
        raise web.HTTPNotFound()
    return render(request, 'config_remove.html', section=section, key=key, children=doc.children(section, key),
                  **base_context(request))


@needs('admin')
async def remove(request: web.Request) -> web.StreamResponse:
    section, key = _section(request), request.match_info['key']
    posted = await request.post()
    doc = document_of(request)
    if doc.find(section, key) is None:
        raise web.HTTPNotFound()
    removed = doc.remove(section, key)
    why = str(posted.get('why', '')).strip() or '%s %s removed' % (section, key)
    try:
        version, live = await reconfigurer_of(request).apply(doc.text(), who(request), why, 'page')
    except GatewayConfigError as e:
        return render(request, 'config_remove.html', 400, section=section, key=key,
                      children=removed[1:], error=t(request, 'err_config', message=str(e)), **base_context(request))
    request.app[ACCOUNTS].audit(who(request), 'config.%s.remove' % section,
                                {'key': key, 'removed': removed, 'version': version.number, 'live': live, 'why': why})
    raise web.HTTPSeeOther('/config?done=%s&version=%d' % ('live' if live else 'restart', version.number))


def _entity_page(request: web.Request, values: dict | None = None, errors: dict | None = None,
                 http_status: int = 200) -> web.Response:
    fields = [forms.FormField(f.name, f, f.choices) for f in bindings.ENTITY_FIELDS]
    doc = document_of(request)
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
    doc = document_of(request)
    doc.replace_values('accounting', values, keep=('scenario',))
    try:
        version, live = await reconfigurer_of(request).apply(doc.text(), who(request), posted.get('why', '').strip()
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
    doc = document_of(request)
    doc.set_values('manual', {'enabled': enabled})
    try:
        version, live = await reconfigurer_of(request).apply(doc.text(), who(request), 'manual entry %s'
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
    version = reconfigurer_of(request).versions.get(number)
    if version is None:
        raise web.HTTPNotFound()
    return version


@needs('admin')
async def versions_page(request: web.Request) -> web.StreamResponse:
    return render(request, 'versions.html', versions=reconfigurer_of(request).versions.history(200), **base_context(request))


@needs('admin')
async def version_page(request: web.Request) -> web.StreamResponse:
    version = _version(request)
    return render(request, 'version.html', version=version,
                  diff=reconfigurer_of(request).versions.diff(version.number), **base_context(request))


@needs('admin')
async def version_download(request: web.Request) -> web.StreamResponse:
    version = _version(request)
    gw = request.app[GATEWAY]
    return web.Response(text=version.text, content_type='application/toml', charset='utf-8', headers={
        'Content-Disposition': 'attachment; filename="%s-config-v%d.toml"' % (gw.cfg.id, version.number)})


@needs('admin')
async def rollback(request: web.Request) -> web.StreamResponse:
    version = _version(request)
    reconfigurer = reconfigurer_of(request)
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
    reconfigurer = reconfigurer_of(request)
    request.app[ACCOUNTS].audit(who(request), 'gateway.restart', {'pending': reconfigurer.status()['pending']})
    reconfigurer.request_restart(who(request))
    return render(request, 'restarting.html', **base_context(request))


def add_routes(app: web.Application) -> None:
    r = app.router
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
