"""The gateway's page as an aiohttp application: first set-up and sign-in, the dashboard
(alarms, health, centres with "send now", buses, meters and points with their last
readings and flags), charts, manual entry with review, logs and the audit log (docs/
gateway.md "Local page").  Accounts, sessions, CSRF and language come from shared/web/;
the figures from the running Gateway's own status."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from firmware import health, logbook, summary
from firmware.sources import manual as manual_inbox
from firmware.web import chart, commissioning, configure, instruments, network_page
from firmware.web.context import GATEWAY
from firmware.web.review import CORRECTION, FIELDS, Reviews, ReviewError
from shared import civil
from shared.accounting.exact import present
from shared.web import manage, signin
from shared.web.accounts import Accounts
from shared.web.http import ACCOUNTS, TEMPLATES, add_static, needs, page_middleware, render, templates, who

HERE = Path(__file__).resolve().parent
REVIEWS = web.AppKey('tanji_reviews', Reviews)


def _points(status: dict) -> list[dict]:
    return [dict(p, key=key) for key, p in sorted(summary.points(status).items())]


@needs('viewer')
async def dashboard(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    status = gw.status()
    durable = status.get('durable_seq', -1)
    centres = [dict(c, backlog=max(0, durable - c.get('cursor', -1))) for c in status.get('centres', [])]
    buses = [s for s in status.get('sources', []) if 'bus' in s]
    return render(request, 'dashboard.html', status=status, centres=centres, buses=buses, points=_points(status),
                  health=health.figures(gw.cfg.data_dir), sent=request.query.get('sent'),
                  emissions=await _emissions(gw), present=present)


async def _emissions(gw) -> dict | None:   # type: ignore[no-untyped-def]
    """Today's and this month's live emissions, computed off the loop (exact arithmetic)."""
    if gw.emissions is None:
        return None
    out = {}
    now_ms = int(gw.clock.now() * 1000)
    for period in ('today', 'month'):
        out[period] = gw.emissions.fresh(period)
        if out[period] is None:
            bound, since = gw.emissions.bind(period, now_ms)
            out[period] = await asyncio.to_thread(gw.emissions.compute, period, bound, since)
    out['left_out'] = gw.emissions.left_out
    return out


@needs('viewer')
async def boundary(request: web.Request) -> web.StreamResponse:
    """The accounting boundary drawn (seed 001 §9.3 f): the entity, its units, their sources and
    the points they read, each with this month's live emissions."""
    gw = request.app[GATEWAY]
    emissions = await _emissions(gw)
    month = emissions['month'] if emissions else None
    sources = {s['id']: s for s in (month or {}).get('sources', [])}
    codes = {src['id']: src['meter']['code'] for src in gw.emissions.sources} if gw.emissions else {}
    return render(request, 'boundary.html', status=gw.status(), month=month, sources=sources, codes=codes,
                  present=present)


@needs('operator')
async def send_now(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    name = request.match_info['centre']
    if name not in gw.deliveries:
        raise web.HTTPNotFound()
    gw.send_now(name)
    request.app[ACCOUNTS].audit(who(request), 'centre.send_now', {'centre': name})
    raise web.HTTPSeeOther('/?sent=' + name)


def _day(ms: int, gw) -> str:   # type: ignore[no-untyped-def]
    """The local date of a time, as the form's date fields take it."""
    return civil.local_iso(ms, int(gw.cfg.utc_offset_h * 3600))[:10]


def _manual_enabled(request: web.Request) -> bool:
    sources = request.app[GATEWAY].cfg.sources
    return sources is not None and bool(sources.manual)


async def _manual_page(request: web.Request, http_status: int = 200, form: dict | None = None,
                       errors: dict | None = None, done: str | None = None) -> web.Response:
    gw = request.app[GATEWAY]
    if not _manual_enabled(request):
        return render(request, 'manual.html', enabled=False, status=gw.status(), form={}, errors={}, pending=[],
                      decided=[], entries=[], done=None)
    reviews = request.app[REVIEWS]
    book = manual_inbox.ledger(gw.cfg.data_dir)
    entries = [dict(e, ended_by=book.ended_by.get(e['id'])) for e in book.entries.values() if 'value' in e]
    entries.sort(key=lambda e: e.get('entered_ms', 0), reverse=True)
    correcting = request.query.get('correct')
    if form is None and correcting in book.entries and 'value' in book.entries[correcting]:
        old = book.entries[correcting]           # the correction form starts from the entry it replaces
        form = {'code': old['code'], 'value': old['value'], 'unit': old['unit'], 'evidence': old['evidence'],
                'from': _day(old['from_ms'], gw), 'to': _day(old['to_ms'] - 1, gw), 'corrects': correcting,
                'reason': ''}
    pending = reviews.pending()
    return render(request, 'manual.html', http_status, enabled=True, status=gw.status(),
                  form=form or {k: '' for k in FIELDS + CORRECTION}, errors=errors or {}, pending=pending,
                  decided=reviews.decided(), entries=entries[:100], done=done,
                  utc_offset_s=int(gw.cfg.utc_offset_h * 3600),
                  effects=await asyncio.to_thread(_effects, gw, pending + entries[:100]), present=present)


def _effects(gw, items: list[dict]) -> dict[str, dict]:   # type: ignore[no-untyped-def]
    """What each entry or proposal adds to the emissions of the source bound to its code
    (live accounting), by its id; run in a worker thread (exact arithmetic)."""
    if gw.emissions is None:
        return {}
    year = civil.local_fields(int(gw.clock.now() * 1000), int(gw.cfg.utc_offset_h * 3600))[0]
    out = {}
    for item in items:
        if item.get('value') is None or not item.get('code'):
            continue
        effect = gw.emissions.for_entry(str(item['code']), str(item['value']), str(item.get('unit', '')), year)
        if effect is not None:
            out[item['id']] = effect
    return out


@needs('operator')
async def manual_page(request: web.Request) -> web.StreamResponse:
    return await _manual_page(request, done=request.query.get('done'))


@needs('operator')
async def manual_propose(request: web.Request) -> web.StreamResponse:
    if not _manual_enabled(request):
        raise web.HTTPNotFound()
    form = {k: str(v) for k, v in (await request.post()).items() if k in FIELDS + CORRECTION + ('withdraws',)}
    try:
        proposal = request.app[REVIEWS].propose(form, who(request))
    except ReviewError as e:
        if 'withdraws' in form:
            return await _manual_page(request, 400, errors={'entry-' + form['withdraws']: e.message})
        return await _manual_page(request, 400, dict({k: '' for k in FIELDS + CORRECTION}, **form),
                            {e.field or 'form': e.message})
    request.app[ACCOUNTS].audit(who(request), 'manual.propose', dict(form, proposal=proposal))
    raise web.HTTPSeeOther('/manual?done=proposed')


@needs('operator')
async def manual_decide(request: web.Request) -> web.StreamResponse:
    if not _manual_enabled(request):
        raise web.HTTPNotFound()
    proposal, decision = request.match_info['proposal'], request.match_info['decision']
    reviews = request.app[REVIEWS]
    try:
        if decision == 'approve':
            entry = reviews.approve(proposal, who(request))
            request.app[ACCOUNTS].audit(who(request), 'manual.approve', {'proposal': proposal, 'entry': entry})
        else:
            note = str((await request.post()).get('note', ''))
            reviews.reject(proposal, who(request), note)
            request.app[ACCOUNTS].audit(who(request), 'manual.reject', {'proposal': proposal, 'note': note})
    except ReviewError as e:
        return await _manual_page(request, 400, errors={'review-' + proposal: e.message})
    raise web.HTTPSeeOther('/manual?done=' + decision)


@needs('viewer')
async def chart_page(request: web.Request) -> web.StreamResponse:
    """The last hours of one code (?code=...), or the list of codes to choose from."""
    gw = request.app[GATEWAY]
    codes = ['%012d' % c for c in gw.history.codes()]
    code = request.query.get('code', codes[0] if codes else '')
    drawing = None
    if code in codes:
        number = int(code)
        drawing = chart.svg(gw.history.series(number), gw.history.units.get(number, ''),
                            int(gw.cfg.utc_offset_h * 3600), code)
    elif code:
        raise web.HTTPNotFound()
    return render(request, 'chart.html', status=gw.status(), codes=codes, code=code, drawing=drawing)


def _log_filters(request: web.Request) -> dict:
    q = request.query
    return {'kind': q.get('kind', '') if q.get('kind', '') in logbook.KINDS else '',
            'level': q.get('level', '') if q.get('level', '') in logbook.LEVELS else '',
            'text': q.get('text', '')[:200]}


@needs('operator')
async def logs_page(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    filters = _log_filters(request)
    entries = await asyncio.to_thread(logbook.read, gw.cfg.data_dir, limit=500, **filters)   # megabytes: off the loop
    return render(request, 'logs.html', status=gw.status(), filters=filters, kinds=logbook.KINDS,
                  levels=logbook.LEVELS, entries=entries, query=request.query_string)


@needs('operator')
async def logs_download(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    entries = await asyncio.to_thread(logbook.read, gw.cfg.data_dir, limit=100_000, **_log_filters(request))
    text = ''.join('%s %s %s: %s\n' % (e['at'], e['level'], e['logger'], e['message']) for e in reversed(entries))
    return web.Response(text=text, content_type='text/plain', charset='utf-8', headers={
        'Content-Disposition': 'attachment; filename="%s-log.txt"' % gw.cfg.id})


@needs('admin')
async def audit(request: web.Request) -> web.StreamResponse:
    return render(request, 'audit.html', entries=request.app[ACCOUNTS].audit_log(500))


@needs('viewer')
async def status_json(request: web.Request) -> web.StreamResponse:
    """The same figures as JSON, for the page's live updates."""
    gw = request.app[GATEWAY]
    return web.json_response(dict(gw.status(), health=health.figures(gw.cfg.data_dir)))


def make_app(gateway, accounts: Accounts) -> web.Application:   # type: ignore[no-untyped-def]
    app = web.Application(middlewares=[page_middleware], client_max_size=12 << 20)   # certificates: 10 MB
    app[ACCOUNTS] = accounts
    app[TEMPLATES] = templates(HERE / 'templates', utc_offset_s=int(gateway.cfg.utc_offset_h * 3600))
    app[GATEWAY] = gateway
    app[REVIEWS] = Reviews(accounts.db, gateway.cfg.data_dir, lambda: gateway.cfg.sources,
                           int(gateway.cfg.utc_offset_h * 3600))
    app[TEMPLATES].globals['layout'] = 'gateway_base.html'     # the shared pages (accounts) in the gateway's frame
    signin.add_routes(app)
    manage.add_routes(app)
    add_static(app.router)
    app.router.add_get('/', dashboard)
    app.router.add_post('/centres/{centre}/send', send_now)
    app.router.add_get('/manual', manual_page)
    app.router.add_post('/manual', manual_propose)
    app.router.add_post(r'/manual/{proposal}/{decision:approve|reject}', manual_decide)
    app.router.add_get('/chart', chart_page)
    app.router.add_get('/boundary', boundary)
    app.router.add_get('/logs', logs_page)
    app.router.add_get('/logs.txt', logs_download)
    app.router.add_get('/audit', audit)
    app.router.add_get('/status.json', status_json)
    configure.add_routes(app)
    network_page.add_routes(app)
    commissioning.add_routes(app)
    instruments.add_routes(app, gateway.ledger, gateway.calibration.refresh)
    return app

