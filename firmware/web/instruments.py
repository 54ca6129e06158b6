"""The instrument ledger and calibration on the page (firmware/ledger.py): everyone sees
it; operators and admins keep it (instruments, calibrations with their certificates,
table import); CSV and XLSX export of what the filters select."""

from __future__ import annotations

import asyncio

from aiohttp import web

from firmware.ledger import CERTIFICATE_TYPES, COLUMNS, LEVELS, Ledger, LedgerError
from firmware.web.context import base_context
from shared.web.http import ACCOUNTS, needs, render, t, who

LEDGER = web.AppKey('tanji_ledger', Ledger)
CHANGED = web.AppKey('tanji_ledger_changed', object)      # called after a change: the calibration flags follow at once
FILTERS = ('enterprise', 'region', 'industry', 'level', 'text')
VIEWS = ('all', 'overdue', 'due_this_month', 'due_next_month', 'in_calibration')


def _filters(request: web.Request) -> dict[str, str]:
    return {k: request.query.get(k, '').strip()[:100] for k in FILTERS}


def _errors(request: web.Request, e: LedgerError) -> dict[str, str]:
    return {e.field: t(request, 'err_setting', message=e.message)}


@needs('viewer')
async def ledger_page(request: web.Request) -> web.StreamResponse:
    ledger = request.app[LEDGER]
    filters = _filters(request)
    instruments = ledger.all(filters)
    view = request.query.get('view', 'all')
    lists = ledger.lists(instruments)
    shown = instruments if view not in lists else lists[view]
    every = ledger.all()
    choices = {k: sorted({i.get(k, '') for i in every if i.get(k)}) for k in ('enterprise', 'region', 'industry')}
    return render(request, 'ledger.html', instruments=shown, lists=lists, view=view if view in VIEWS else 'all',
                  views=VIEWS, filters=filters, choices=choices, levels=LEVELS, rates=ledger.rates(instruments),
                  query=request.query_string, done=request.query.get('done'), errors={}, **base_context(request))


def _instrument_page(request: web.Request, number: str | None, values: dict, errors: dict | None = None,
                     http_status: int = 200, calibration_errors: dict | None = None) -> web.Response:
    ledger = request.app[LEDGER]
    shown = ledger.get(number) if number else None
    return render(request, 'instrument.html', http_status, number=number, values=values, columns=COLUMNS,
                  errors=errors or {}, instrument=shown, calibrations=ledger.calibrations(number) if number else [],
                  calibration_errors=calibration_errors or {}, today=ledger.today(),
                  accept=','.join(CERTIFICATE_TYPES), **base_context(request))


@needs('viewer')
async def instrument_page(request: web.Request) -> web.StreamResponse:
    number = request.match_info.get('number')
    if number is None:
        return _instrument_page(request, None, {'state': 'in_use', 'required_count': '1', 'fitted_count': '1'})
    found = request.app[LEDGER].get(number)
    if found is None:
        raise web.HTTPNotFound()
    return _instrument_page(request, number, {c.name: '' if found.get(c.name) is None else str(found[c.name])
                                              for c in COLUMNS})


@needs('operator')
async def save_instrument(request: web.Request) -> web.StreamResponse:
    number = request.match_info.get('number')
    ledger = request.app[LEDGER]
    if number is not None and ledger.get(number) is None:
        raise web.HTTPNotFound()
    values = {k: str(v) for k, v in (await request.post()).items() if k != 'csrf'}
    try:
        doc = ledger.put(values, who(request), number)
    except LedgerError as e:
        return _instrument_page(request, number, values, _errors(request, e), 400)
    request.app[ACCOUNTS].audit(who(request), 'ledger.%s' % ('change' if number else 'add'),
                                {'number': doc['number'], 'was': number})
    request.app[CHANGED]()
    raise web.HTTPSeeOther('/ledger/item/%s?done=saved' % doc['number'])


@needs('operator')
async def record_calibration(request: web.Request) -> web.StreamResponse:
    number = request.match_info['number']
    ledger = request.app[LEDGER]
    instrument = ledger.get(number)
    if instrument is None:
        raise web.HTTPNotFound()
    form = await request.post()
    upload = form.get('certificate')
    certificate = (upload.filename, upload.file.read()) if isinstance(upload, web.FileField) and upload.filename \
        else None
    fields = {k: str(form.get(k, '')) for k in ('date', 'result', 'certificate_no', 'basis')}
    try:
        await asyncio.to_thread(ledger.calibrate, number, fields['date'], fields['result'], fields['certificate_no'],
                                fields['basis'], who(request), certificate)
    except LedgerError as e:
        values = {c.name: '' if instrument.get(c.name) is None else str(instrument[c.name]) for c in COLUMNS}
        return _instrument_page(request, number, values, http_status=400,
                                calibration_errors=dict(_errors(request, e), form=fields))
    request.app[ACCOUNTS].audit(who(request), 'ledger.calibration', dict(fields, number=number,
                                                                          certificate=bool(certificate)))
    request.app[CHANGED]()
    raise web.HTTPSeeOther('/ledger/item/%s?done=calibrated' % number)


@needs('viewer')
async def certificate(request: web.Request) -> web.StreamResponse:
    try:
        found = request.app[LEDGER].certificate(request.match_info['number'], int(request.match_info['id']))
    except (ValueError, OSError):
        found = None
    if found is None:
        raise web.HTTPNotFound()
    name, data = found
    ext = name[name.rfind('.'):]
    return web.Response(body=data, content_type=CERTIFICATE_TYPES.get(ext, 'application/octet-stream'),
                        headers={'Content-Disposition': 'attachment; filename="%s"' % name})


@needs('viewer')
async def export(request: web.Request) -> web.StreamResponse:
    ledger = request.app[LEDGER]
    instruments = ledger.all(_filters(request))
    kind = request.match_info['kind']
    if kind == 'xlsx':
        body = await asyncio.to_thread(ledger.export_xlsx, instruments)
        content_type = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
    else:
        body, content_type = ledger.export_csv(instruments), 'text/csv'
    return web.Response(body=body, content_type=content_type, headers={
        'Content-Disposition': 'attachment; filename="instrument-ledger-%s.%s"' % (ledger.today(), kind)})


@needs('operator')
async def import_table(request: web.Request) -> web.StreamResponse:
    ledger = request.app[LEDGER]
    upload = (await request.post()).get('table')
    if not isinstance(upload, web.FileField) or not upload.filename:
        error = LedgerError('file', 'choose a .csv or .xlsx file')
    else:
        try:
            count = await asyncio.to_thread(ledger.import_file, upload.filename, upload.file.read(), who(request))
        except LedgerError as e:
            error = e
        else:
            request.app[ACCOUNTS].audit(who(request), 'ledger.import', {'file': upload.filename, 'instruments': count})
            request.app[CHANGED]()
            raise web.HTTPSeeOther('/ledger?done=imported&count=%d' % count)
    instruments = ledger.all()
    return render(request, 'ledger.html', 400, instruments=instruments, lists=ledger.lists(instruments), view='all',
                  views=VIEWS, filters={k: '' for k in FILTERS}, choices={'enterprise': [], 'region': [],
                                                                          'industry': []},
                  levels=LEVELS, rates=ledger.rates(instruments), query='', done=None,
                  errors={'table': t(request, 'err_setting', message=error.message)}, **base_context(request))


def add_routes(app: web.Application, ledger: Ledger, changed) -> None:   # type: ignore[no-untyped-def]
    app[LEDGER] = ledger
    app[CHANGED] = changed
    r = app.router
    r.add_get('/ledger', ledger_page)
    r.add_get(r'/ledger.{kind:csv|xlsx}', export)
    r.add_post('/ledger/import', import_table)
    r.add_get('/ledger/add', instrument_page)
    r.add_post('/ledger/add', save_instrument)
    r.add_get('/ledger/item/{number}', instrument_page)
    r.add_post('/ledger/item/{number}', save_instrument)
    r.add_post('/ledger/item/{number}/calibration', record_calibration)
    r.add_get(r'/ledger/item/{number}/certificate/{id:\d+}', certificate)
