"""Accounting at the platform (docs/accounting.md "Server"): the factor and method
libraries it publishes (gateways download them online or import them from a file,
seed 001 §11.4), scenarios bound to gateways' meters, and results by period,
boundary node and scope computed from the stored signed readings."""

from __future__ import annotations

import json
import time

from aiohttp import web

from server import store, views
from server.app import actor, json_error, json_response, requires, server_of
from server.db import Connection
from server.views import BadQuery
from shared import civil
from shared.accounting.engine import Engine, ScenarioError
from shared.accounting.factors import FactorError, FactorLibrary
from shared.accounting.methods import MethodLibrary
from shared.codec import decimals

MAX_READINGS = 2_000_000          # per meter-bound source and request


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- storage --------------------------------------------------------------------------------

def factor_library(conn: Connection) -> FactorLibrary:
    lib = FactorLibrary.default()
    rows = conn.query('SELECT doc FROM accounting_factors ORDER BY added_at, id, version')
    for (doc,) in rows:
        lib.add(json.loads(doc))
    if rows:
        lib.version = '%s+%d' % (lib.version, len(rows))
    return lib


def add_factor(conn: Connection, who: str, doc: dict, now_ms: int) -> dict:
    lib = factor_library(conn)
    try:
        f = lib.add(dict({'origin': 'user'}, **doc))
    except (FactorError, TypeError) as e:
        raise store.StoreError('factor: %s' % e)
    conn.execute('INSERT INTO accounting_factors (id, version, doc, added_at) VALUES (?, ?, ?, ?)',
                 [f.id, f.version, json.dumps(f.doc, ensure_ascii=False), now_ms])
    store.audit(conn, who, 'accounting.factor', f.id, {'version': f.version, 'value': f.value.text(),
                                                       'unit': f.unit, 'origin': f.origin}, now_ms)
    return f.ref()


def put_scenario(conn: Connection, who: str, name: str, doc: dict, now_ms: int) -> int:
    row = conn.one('SELECT version FROM accounting_scenarios WHERE name = ?', [name])
    version = (row[0] + 1) if row else 1
    text = json.dumps(doc, ensure_ascii=False)
    if row:
        conn.execute('UPDATE accounting_scenarios SET doc = ?, version = ?, updated_at = ? WHERE name = ?',
                     [text, version, now_ms, name])
    else:
        conn.execute('INSERT INTO accounting_scenarios (name, doc, version, updated_at) VALUES (?, ?, ?, ?)',
                     [name, text, version, now_ms])
    store.audit(conn, who, 'accounting.scenario', name, {'version': version, 'sources': len(doc['sources'])}, now_ms)
    return version


def get_scenario(conn: Connection, name: str) -> tuple[dict, int] | None:
    row = conn.one('SELECT doc, version FROM accounting_scenarios WHERE name = ?', [name])
    return (json.loads(row[0]), row[1]) if row else None


def _value_text(mantissa, fvalue, exp) -> str | None:
    if mantissa is not None:
        return decimals.format(mantissa, exp)
    if fvalue is not None:
        return repr(fvalue)
    return None


def meter_readings(conn: Connection, gateway: str, code: str, since_ms: int, until_ms: int) -> list[list]:
    """[[ts_ms, value text, flags]] of one meter point in [since, until), preceded by the last
    reading before `since` (the baseline of the first increment)."""
    sel = ('SELECT r.ts_ms, r.mantissa, r.fvalue, r.exp, r.flags FROM records r JOIN gateways g ON g.id = r.gw '
           'WHERE g.gateway = ? AND r.code = ? AND r.ts_ms %s ORDER BY r.ts_ms %s LIMIT ?')
    before = conn.query(sel % ('< ?', 'DESC'), [gateway, code, since_ms, 1])
    rows = conn.query(sel % ('>= ? AND r.ts_ms < ?', 'ASC'), [gateway, code, since_ms, until_ms, MAX_READINGS])
    return [[t, _value_text(m, f, e), flags] for t, m, f, e, flags in list(before) + list(rows)]


def _bind_meters(conn: Connection, scenario: dict, since_ms: int, until_ms: int) -> dict:
    """The scenario with each meter-bound source's activity filled from stored records."""
    sources = []
    for src in scenario.get('sources', []):
        meter = src.get('meter') if isinstance(src, dict) else None
        if meter:
            if not isinstance(meter, dict) or not meter.get('gateway') or not meter.get('code'):
                raise ScenarioError('source %s: meter needs "gateway" and "code"' % src.get('id'))
            readings = meter_readings(conn, meter['gateway'], meter['code'], since_ms, until_ms)
            unit_row = conn.one('SELECT r.unit FROM records r JOIN gateways g ON g.id = r.gw WHERE g.gateway = ? '
                                'AND r.code = ? LIMIT 1', [meter['gateway'], meter['code']])
            activity = {'readings': readings, 'unit': meter.get('unit') or (unit_row[0] if unit_row else None)}
            for key in ('register_digits', 'multiplier', 'max_per_hour'):
                if key in meter:
                    activity[key] = meter[key]
            src = dict(src, activity=activity)
        sources.append(src)
    return dict(scenario, sources=sources)


def parse_period(text: str, utc_offset_s: int) -> tuple[int, int, int]:
    """'2025' | '2025-Q1' | '2025-03' | '2025-03-05' -> (from ms, to ms, reporting year), local time."""
    try:
        y = int(text[:4])
        if len(text) == 4:
            a, b = (y, 1, 1), (y + 1, 1, 1)
        elif len(text) == 7 and text[4:6] == '-Q' and text[6] in '1234':
            q = int(text[6])
            a = (y, 3 * q - 2, 1)
            b = (y, 3 * q + 1, 1) if q < 4 else (y + 1, 1, 1)
        elif len(text) == 7 and text[4] == '-':
            m = int(text[5:7])
            if not 1 <= m <= 12:
                raise ValueError
            a, b = (y, m, 1), ((y, m + 1, 1) if m < 12 else (y + 1, 1, 1))
        elif len(text) == 10 and text[4] == '-' and text[7] == '-':
            days = civil.days_from_civil(y, int(text[5:7]), int(text[8:10]))
            a, b = civil.civil_from_days(days), civil.civil_from_days(days + 1)
        else:
            raise ValueError
    except ValueError:
        raise BadQuery('period must be YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD, not %r' % text)
    ms = lambda d: (civil.days_from_civil(*d) * 86400 - utc_offset_s) * 1000  # noqa: E731
    return ms(a), ms(b), y


def _compute(conn: Connection, scenario: dict, since_ms: int, until_ms: int, year: int, pin: dict | None) -> dict:
    bound = _bind_meters(conn, dict(scenario, reporting_year=year), since_ms, until_ms)
    return Engine(factor_library(conn), MethodLibrary.default()).evaluate(bound, pin=pin)


def _filter(result: dict, node: str | None, scope: int | None) -> dict:
    out = dict(result)
    if node is not None:
        def find(n):
            if n['name'] == node:
                return n
            for c in n['children']:
                hit = find(c)
                if hit is not None:
                    return hit
            return None
        hit = find(result['boundary']) if result.get('boundary') else None
        if hit is None:
            raise BadQuery('no boundary node named %r' % node)
        out['boundary'] = hit
        ids = set()

        def collect(n):
            ids.update(n['sources'])
            for c in n['children']:
                collect(c)
        collect(hit)
        out['sources'] = [s for s in result['sources'] if s['id'] in ids]
    if scope is not None:
        out['sources'] = [s for s in out['sources'] if s['scope'] == scope]
        key = 'scope1_t' if scope == 1 else 'scope2_net_t'
        out['totals'] = {key: result['totals'][key], 'uncertainty': result['totals']['uncertainty']['scope%d' % scope]}
    return out


# -- endpoints ---------------------------------------------------------------------------------

async def _json(request: web.Request) -> dict:
    from server.api import _json_body
    return await _json_body(request)


@requires('operator')
async def libraries(request: web.Request) -> web.Response:
    lib = await server_of(request).db.read(factor_library)
    methods = MethodLibrary.default()
    return json_response({'factors': {'library': lib.name, 'version': lib.version, 'records': len(lib.records),
                                      'href': '/api/v1/accounting/libraries/factors'},
                          'methods': {'library': methods.name, 'version': methods.version,
                                      'methods': len(methods.methods), 'href': '/api/v1/accounting/libraries/methods'}})


@requires('operator')
async def factor_file(request: web.Request) -> web.Response:
    lib = await server_of(request).db.read(factor_library)
    return json_response(lib.to_json())


@requires('operator')
async def method_file(request: web.Request) -> web.Response:
    return json_response(MethodLibrary.default().to_json())


@requires('admin')
async def post_factor(request: web.Request) -> web.Response:
    doc = await _json(request)
    ref = await server_of(request).db.write_tx(add_factor, actor(request), doc, _now_ms())
    return json_response(ref, 201)


@requires('admin')
async def put_scenario_endpoint(request: web.Request) -> web.Response:
    doc = await _json(request)
    if not isinstance(doc.get('sources'), list) or not doc['sources']:
        raise BadQuery('a scenario needs a non-empty "sources" list (docs/accounting.md)')
    name = request.match_info['name']
    version = await server_of(request).db.write_tx(put_scenario, actor(request), name, doc, _now_ms())
    return json_response({'scenario': name, 'version': version}, 201 if version == 1 else 200)


@requires('operator')
async def list_scenarios(request: web.Request) -> web.Response:
    rows = await server_of(request).db.read(
        lambda conn: conn.query('SELECT name, version, updated_at FROM accounting_scenarios ORDER BY name'))
    return json_response({'scenarios': [{'name': n, 'version': v, 'updated': views.iso(t)} for n, v, t in rows]})


@requires('operator')
async def results(request: web.Request) -> web.Response:
    q = request.query
    known = {'scenario', 'period', 'node', 'scope', 'recalculate'}
    if set(q) - known:
        raise BadQuery('unknown parameter(s) %s; use %s' % (', '.join(sorted(set(q) - known)), ', '.join(sorted(known))))
    if 'scenario' not in q or 'period' not in q:
        raise BadQuery('scenario and period are required')
    scope = None
    if 'scope' in q:
        if q['scope'] not in ('1', '2'):
            raise BadQuery('scope must be 1 or 2')
        scope = int(q['scope'])
    recalc = q.get('recalculate') in ('1', 'true', 'yes')
    srv = server_of(request)
    found = await srv.db.read(get_scenario, q['scenario'])
    if found is None:
        return json_error(404, 'not_found', 'no scenario %s' % q['scenario'])
    scenario, version = found
    since, until, year = parse_period(q['period'], int(scenario.get('utc_offset_h', 8) * 3600))
    key = q['period']

    def previous_result(conn: Connection) -> dict | None:
        row = conn.one('SELECT doc FROM accounting_results WHERE scenario = ? AND period = ?', [q['scenario'], key])
        return json.loads(row[0]) if row else None

    def keep(conn: Connection, result: dict) -> None:
        text = json.dumps(result, ensure_ascii=False)
        if conn.one('SELECT 1 FROM accounting_results WHERE scenario = ? AND period = ?', [q['scenario'], key]):
            conn.execute('UPDATE accounting_results SET doc = ?, computed_at = ? WHERE scenario = ? AND period = ?',
                         [text, _now_ms(), q['scenario'], key])
        else:
            conn.execute('INSERT INTO accounting_results (scenario, period, doc, computed_at) VALUES (?, ?, ?, ?)',
                         [q['scenario'], key, text, _now_ms()])

    # computed on a reader connection: a long period must not hold the ingest writer
    previous = await srv.db.read(previous_result)
    pin = None
    if previous is not None and not recalc and previous.get('scenario_version') == version:
        pin = previous['factors_used']
    try:
        result = await srv.db.read(_compute, scenario, since, until, year, pin)
    except ScenarioError as e:
        return json_error(422, 'scenario', str(e))
    result.update(scenario_version=version, period=key, period_from=views.iso(since), period_to=views.iso(until),
                  computed=views.iso(_now_ms()))
    await srv.db.write_tx(keep, result)
    return json_response(_filter(result, q.get('node'), scope))


@requires('operator')
async def evaluate_endpoint(request: web.Request) -> web.Response:
    doc = await _json(request)
    period = doc.get('period')
    srv = server_of(request)
    try:
        if period is not None:
            if not isinstance(period, str):
                raise BadQuery('period must be YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD')
            since, until, year = parse_period(period, int(doc.get('utc_offset_h', 8) * 3600))
            result = await srv.db.read(_compute, doc, since, until, year, None)
        else:
            result = await srv.db.read(lambda conn: Engine(factor_library(conn)).evaluate(doc))
    except ScenarioError as e:
        return json_error(422, 'scenario', str(e))
    return json_response(result)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get('/api/v1/accounting/libraries', libraries)
    router.add_get('/api/v1/accounting/libraries/factors', factor_file)
    router.add_get('/api/v1/accounting/libraries/methods', method_file)
    router.add_post('/api/v1/accounting/factors', post_factor)
    router.add_get('/api/v1/accounting/scenarios', list_scenarios)
    router.add_put('/api/v1/accounting/scenarios/{name}', put_scenario_endpoint)
    router.add_get('/api/v1/accounting/results', results)
    router.add_post('/api/v1/accounting/evaluate', evaluate_endpoint)


