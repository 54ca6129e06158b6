"""Accounting at the platform (docs/accounting.md "Server"): the factor and method
libraries it publishes (gateways download them online or import them from a file,
seed 001 §11.4), scenarios bound to gateways' meters, and results by period,
boundary node and scope computed from the stored signed readings."""

from __future__ import annotations

from aiohttp import web

from server import views
from server.db import Connection
from server.http import BadQuery, actor, json_body, json_error, json_response, now_ms, requires, server_of
from server.store import StoreError, tokens
from server.store import accounting as kept
from shared import civil
from shared.accounting import binding
from shared.accounting.engine import Engine, ScenarioError
from shared.accounting.scenario import check_shape, utc_offset_s
from shared.accounting.factors import FactorError, FactorLibrary
from shared.accounting.methods import MethodLibrary

MAX_READINGS = 2_000_000          # per meter-bound source and request


def factor_library(conn: Connection) -> FactorLibrary:
    """The published library with this centre's factor records added."""
    lib = FactorLibrary.default()
    docs = kept.factor_docs(conn)
    for doc in docs:
        lib.add(doc)
    if docs:
        lib.version = '%s+%d' % (lib.version, len(docs))
    return lib


def add_factor(conn: Connection, who: str, doc: dict, now: int) -> dict:
    lib = factor_library(conn)
    try:
        f = lib.add(dict({'origin': 'user'}, **doc))
    except (FactorError, TypeError) as e:
        raise StoreError('factor: %s' % e)
    kept.insert_factor(conn, f.id, f.version, f.doc, now)
    tokens.audit(conn, who, 'accounting.factor', f.id, {'version': f.version, 'value': f.value.text(),
                                                        'unit': f.unit, 'origin': f.origin}, now)
    return f.ref()


def put_scenario(conn: Connection, who: str, name: str, doc: dict, now: int) -> int:
    version = kept.put_scenario(conn, name, doc, now)
    tokens.audit(conn, who, 'accounting.scenario', name, {'version': version, 'sources': len(doc['sources'])}, now)
    return version


def _bind_meters(conn: Connection, scenario: dict, since_ms: int, until_ms: int) -> dict:
    """The scenario with each meter-bound source's activity filled from stored records."""
    def fetch(gateway: str, code: str) -> tuple[list, str | None]:
        return (kept.meter_readings(conn, gateway, code, since_ms, until_ms, MAX_READINGS),
                kept.meter_unit(conn, gateway, code))
    return binding.bind_meters(scenario, fetch, since_ms)


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
    doc = await json_body(request)
    ref = await server_of(request).db.write_tx(add_factor, actor(request), doc, now_ms())
    return json_response(ref, 201)


@requires('admin')
async def put_scenario_endpoint(request: web.Request) -> web.Response:
    doc = await json_body(request)
    try:
        check_shape(doc)
    except ScenarioError as e:
        return json_error(422, 'scenario', str(e))
    name = request.match_info['name']
    version = await server_of(request).db.write_tx(put_scenario, actor(request), name, doc, now_ms())
    return json_response({'scenario': name, 'version': version}, 201 if version == 1 else 200)


@requires('operator')
async def list_scenarios(request: web.Request) -> web.Response:
    rows = await server_of(request).db.read(kept.list_scenarios)
    return json_response({'scenarios': [{'name': r.name, 'version': r.version, 'updated': views.iso(r.updated_at)}
                                        for r in rows]})


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
    found = await srv.db.read(kept.get_scenario, q['scenario'])
    if found is None:
        return json_error(404, 'not_found', 'no scenario %s' % q['scenario'])
    scenario, version = found
    try:
        since, until, year = parse_period(q['period'], utc_offset_s(scenario))
    except ScenarioError as e:          # stored before scenarios were checked when stored
        return json_error(422, 'scenario', str(e))
    key = q['period']
    # computed on a reader connection: a long period must not hold the ingest writer
    previous = await srv.db.read(kept.kept_result, q['scenario'], key)
    pin = None
    provisional = (previous or {}).get('provisional_factors') or {}
    if previous is not None and not recalc and previous.get('scenario_version') == version:
        # a provisional factor is never pinned: the factor published for the year replaces it
        pin = {fid: v for fid, v in previous['factors_used'].items() if fid not in provisional}
    try:
        result = await srv.db.read(_compute, scenario, since, until, year, pin)
    except ScenarioError as e:
        return json_error(422, 'scenario', str(e))
    result.update(scenario_version=version, period=key, period_from=views.iso(since), period_to=views.iso(until),
                  computed=views.iso(now_ms()))
    if provisional and result.get('provisional_factors') != provisional:
        # the provisional result is kept beside the one that replaces it
        earlier = previous.pop('earlier_versions', [])
        result['earlier_versions'] = earlier + [previous]
    elif previous is not None and previous.get('earlier_versions'):
        result['earlier_versions'] = previous['earlier_versions']
    await srv.db.write_tx(kept.keep_result, q['scenario'], key, result, now_ms())
    return json_response(_filter(result, q.get('node'), scope))


@requires('operator')
async def evaluate_endpoint(request: web.Request) -> web.Response:
    doc = await json_body(request)
    period = doc.get('period')
    srv = server_of(request)
    try:
        if period is not None:
            if not isinstance(period, str):
                raise BadQuery('period must be YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD')
            since, until, year = parse_period(period, utc_offset_s(doc))
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


