"""The upload exchange, health, and the operator and admin endpoints (docs/server.md,
served as OpenAPI at /api/v1/openapi.json).

Public:     POST /api/v1/frames (the SM2 signature authenticates), GET /api/v1/health
Operator:   records, record proofs, gateway and centre status, fingerprint checks
Admin:      enrol and revoke gateways, tokens, the audit log
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from server import admin, registry, remote_config, views
from shared.codec.text import ascii_digits, ascii_int
from server.http import (BadQuery, check_json, actor, json_body, json_error, json_response, now_ms,
                         parse_code_prefix, parse_int, parse_time, read_body, requires, server_of, MS_LIMIT)
from server.envelope import gateway_in_prefix
from server.ingest import Rejected
from server.store import centres, frames, gateways, tokens
from shared.codec import frame as framing
from shared.seal import CONTENT_TYPE as SEALED

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


async def post_frame(request: web.Request) -> web.Response:
    srv = server_of(request)
    sealed = request.content_type == SEALED
    if not sealed and request.content_type != 'application/x-msgpack':
        raise Rejected('content_type', 'send the frame as Content-Type: application/x-msgpack (or %s, sealed), '
                       'not %s' % (SEALED, request.content_type or 'nothing'))
    if not sealed and srv.config.seal_required:
        raise Rejected('content_type', 'this centre takes only sealed frames (%s, docs/protocol.md §10)' % SEALED)
    limited = not srv.limits.exempt(request.remote)

    async def screen(head: bytes) -> None:
        gateway = gateway_in_prefix(head, sealed)
        if gateway is not None:
            await srv.ingest.enrolled(gateway, limited)

    raw = await read_body(request, srv.config.max_frame_bytes, screen)
    ack = await (srv.ingest.accept_sealed(raw, limited) if sealed else srv.ingest.accept(raw, limited))
    return json_response({'ack': ack})


async def get_position(request: web.Request) -> web.Response:
    """A gateway that lost its log asks how far its sequence numbers go (docs/protocol.md §7)."""
    q = request.query
    gateway = q.get('gateway', '')
    try:
        t_ms = ascii_int(q.get('t', ''))
        sig = bytes.fromhex(q.get('sig', ''))
        if not -MS_LIMIT <= t_ms <= MS_LIMIT:
            raise ValueError('t out of range')
    except ValueError:
        raise BadQuery('give gateway, t (Unix ms) and sig (128 hex digits: SM2 r||s over the question)')
    if not gateway or len(gateway) > 64 or len(sig) != 64:
        raise BadQuery('give gateway, t (Unix ms) and sig (128 hex digits: SM2 r||s over the question)')
    return json_response(await server_of(request).ingest.position(gateway, t_ms, sig))


async def health(request: web.Request) -> web.Response:
    """Up or down, nothing more: it needs no token."""
    return json_response({'status': 'ok'})


@requires('operator')
async def server_status(request: web.Request) -> web.Response:
    srv = server_of(request)
    return json_response({'status': 'ok', 'database': srv.db.url.describe(),
                          'uptime_s': round(time.time() - srv.started_at, 1),
                          'ingest': srv.ingest.counters, 'limits': srv.limits.counters})


def _text(doc: dict, key: str, required: bool = True, default: str = '') -> str:
    value = doc.get(key, None if required else default)
    if not isinstance(value, str) or (required and not value):
        raise BadQuery('%s must be a non-empty string' % key)
    return value


@requires('operator')
async def get_records(request: web.Request) -> web.Response:
    q = request.query
    known = {'gateway', 'code', 'point', 'from', 'to', 'limit', 'after'}
    unknown = set(q) - known
    if unknown:
        raise BadQuery('unknown parameter(s) %s; use %s' % (', '.join(sorted(unknown)), ', '.join(sorted(known))))
    code = parse_code_prefix(q['code']) if 'code' in q else None
    point = q.get('point')
    if point is not None and not (len(point) == 3 and ascii_digits(point)):
        raise BadQuery('point must be the 3-digit measuring-point number')
    since = parse_time('from', q['from']) if 'from' in q else None
    until = parse_time('to', q['to']) if 'to' in q else None
    limit = parse_int('limit', q['limit'], 1, MAX_LIMIT) if 'limit' in q else DEFAULT_LIMIT
    after = None
    if 'after' in q:
        parts = q['after'].split(':', 2)
        try:
            after = (ascii_int(parts[0]), parts[1], ascii_int(parts[2])) if len(parts) == 3 else None
        except ValueError:
            after = None
        if after is None or not (-MS_LIMIT <= after[0] <= MS_LIMIT and 0 <= after[2] < 2 ** 63):
            raise BadQuery('after must be the "next" value of a previous page')
    rows = await server_of(request).db.read(frames.query_records, q.get('gateway'), code, point, since, until,
                                           after, limit)
    doc: dict[str, Any] = {'records': [views.record_json(r) for r in rows], 'next': None}
    if len(rows) == limit:
        last = rows[-1]
        doc['next'] = '%d:%s:%d' % (last.ts_ms, last.gateway, last.seq)
    return json_response(doc)


def _seq(request: web.Request) -> int:
    return parse_int('seq', request.match_info['seq'], 0, framing.INT64_MAX)


@requires('operator')
async def get_record_proof(request: web.Request) -> web.Response:
    gateway = request.match_info['gateway']
    seq = _seq(request)
    srv = server_of(request)

    def lookup(conn):
        held = frames.get_record(conn, gateway, seq)
        return None if held is None else (held, registry.record_proof(conn, gateway, seq))

    found = await srv.db.read(lookup)
    if found is None:
        return json_error(404, 'not_found', 'no record %d of gateway %s is stored' % (seq, gateway))
    held, proof = found
    return json_response(dict(proof, record=views.record_json(held)))


def record_from_json(doc: Any) -> framing.Record:
    """The leaf fields of a record as record_json gives them."""
    if not isinstance(doc, dict):
        raise BadQuery('record must be an object')

    def integer(key, default=None):
        v = doc.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool):
            raise BadQuery('record.%s must be an integer' % key)
        return v

    mantissa, fvalue = doc.get('mantissa'), doc.get('float')
    if mantissa is not None and fvalue is not None:
        raise BadQuery('record has both mantissa and float')
    if mantissa is not None:
        value = integer('mantissa')
    elif fvalue is not None:
        if not isinstance(fvalue, (int, float)) or isinstance(fvalue, bool):
            raise BadQuery('record.float must be a number')
        value = float(fvalue)
    else:
        value = None
    code = doc.get('code')
    if not isinstance(code, str):
        raise BadQuery('record.code must be a string')
    exp = integer('exp', 0) if mantissa is not None else 0
    return framing.Record(integer('seq'), code, integer('ts_ms'), value, exp, integer('flags', 0))


@requires('operator')
async def verify_fingerprint(request: web.Request) -> web.Response:
    srv = server_of(request)
    if request.content_type == 'application/x-msgpack':
        raw = await read_body(request, srv.config.max_frame_bytes)
        try:
            decoded = framing.decode(raw, srv.config.max_frame_bytes, srv.config.max_records)
        except framing.FrameError as e:
            raise Rejected(e.code, e.detail)
        return json_response(await srv.db.read(registry.check_frame, decoded))
    doc = await json_body(request)
    gateway = _text(doc, 'gateway')
    record = record_from_json(doc.get('record'))
    proof = doc.get('proof')
    if not isinstance(proof, dict):
        raise BadQuery('proof must be an object {index, size, path, root}')
    try:
        index, size = proof['index'], proof['size']
        path = [bytes.fromhex(h) for h in proof['path']]
        root = bytes.fromhex(proof['root'])
    except (KeyError, TypeError, ValueError) as e:
        raise BadQuery('proof needs index, size, path (hex list) and root (hex): %s' % e)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, size)) or not 0 <= index < size:
        raise BadQuery('proof index and size must be integers with 0 <= index < size')
    if len(root) != 32 or any(len(h) != 32 for h in path):
        raise BadQuery('root and path entries are 32-byte SM3 hashes')
    return json_response(await srv.db.read(registry.check_record, gateway, record, index, size, path, root))


def _gateways_view(conn, name: str | None):
    rows = [views.gateway_json(c) for c in gateways.counted(conn, name)]
    if name is None:
        return rows
    return rows[0] if rows else None


@requires('operator')
async def list_gateways(request: web.Request) -> web.Response:
    return json_response({'gateways': await server_of(request).db.read(_gateways_view, None)})


@requires('operator')
async def get_gateway(request: web.Request) -> web.Response:
    name = request.match_info['gateway']
    doc = await server_of(request).db.read(_gateways_view, name)
    if doc is None:
        return json_error(404, 'not_found', 'no gateway %s is enrolled' % name)
    return json_response(doc)


HEALTH_BODY_LIMIT = 64 * 1024


async def post_health(request: web.Request) -> web.Response:
    """A gateway's signed health report (docs/protocol.md §11): the signature authenticates."""
    srv = server_of(request)
    gateway = request.match_info['gateway']
    try:
        sig = bytes.fromhex(request.headers.get('X-Tanji-Signature', ''))
    except ValueError:
        sig = b''
    if len(sig) != 64:
        raise BadQuery('send X-Tanji-Signature: the 128 hex digits of SM2 r||s over the body')
    if request.content_type != 'application/json':
        raise Rejected('content_type', 'send the report as Content-Type: application/json')
    try:
        framing.check_gateway_id(gateway)
    except framing.FrameError as e:
        raise BadQuery('gateway: %s' % e.detail)
    body = await read_body(request, HEALTH_BODY_LIMIT)
    known = await srv.ingest.authenticate(gateway, body, sig, not srv.limits.exempt(request.remote))
    try:
        report = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadQuery('the report is not JSON: %s' % e)
    check_json(report)
    if not isinstance(report, dict) or report.get('gateway') != gateway:
        raise BadQuery('the report is a JSON object whose "gateway" is the gateway of the path')
    t = report.get('t')
    if not isinstance(t, int) or isinstance(t, bool) or abs(t - now_ms()) > srv.config.max_future_s * 1000:
        raise Rejected('time_range', 'the report must say when it was made ("t", ms) within %d s of the centre '
                                     'clock' % srv.config.max_future_s, gateway=gateway)
    kept, offer = await srv.db.write_tx(_keep_health, known.id, gateway, t, body.decode('utf-8'), report)
    if not kept:
        raise Rejected('time_range', 'a report as new or newer is already kept (a replay?)', gateway=gateway)
    return json_response({'ok': True, 'config': offer})


def _keep_health(conn, gw_id: int, gateway: str, t: int, text: str, report: dict) -> tuple[bool, dict | None]:   # type: ignore[no-untyped-def]
    """Keep the report and, in the same transaction, what it says of a staged configuration and
    the configuration to offer (server/remote_config.py)."""
    now = now_ms()
    if not gateways.put_health(conn, gw_id, t, now, text):
        return False, None
    return True, remote_config.on_health(conn, gw_id, gateway, report, now)


def _health_view(conn, gateway: str | None) -> list[dict]:   # type: ignore[no-untyped-def]
    out = []
    for r in gateways.health(conn, gateway):
        report = json.loads(r.report) if r.report else None
        out.append({'gateway': r.gateway, 'enterprise': r.enterprise, 'site': r.site,
                    'revoked': r.revoked_at is not None, 'reported_at': views.iso(r.reported_at),
                    'received_at': views.iso(r.received_at),
                    'age_s': None if r.received_at is None else round((now_ms() - r.received_at) / 1000),
                    'report': report})
    return out


@requires('operator')
async def get_health(request: web.Request) -> web.Response:
    rows = await server_of(request).db.read(_health_view, request.match_info['gateway'])
    if not rows:
        return json_error(404, 'not_found', 'no gateway %s is enrolled' % request.match_info['gateway'])
    return json_response(rows[0])


@requires('operator')
async def get_fleet(request: web.Request) -> web.Response:
    """Every gateway with a summary of its latest health report (the console draws it)."""
    fleet = []
    for row in await server_of(request).db.read(_health_view, None):
        report = row.pop('report') or {}
        row.update(version=report.get('version'), alarms=len(report.get('alarms', [])),
                   backlog=max((c.get('backlog', 0) for c in report.get('centres', [])), default=None),
                   durable_seq=report.get('durable_seq'))
        fleet.append(row)
    return json_response({'gateways': fleet})


@requires('admin')
async def enrol_gateway(request: web.Request) -> web.Response:
    doc = await json_body(request)
    first_seq = doc.get('first_seq', 0)
    if not isinstance(first_seq, int) or isinstance(first_seq, bool):
        raise BadQuery('first_seq must be an integer')
    srv = server_of(request)
    g = await srv.db.write_tx(admin.enrol, actor(request), _text(doc, 'gateway'), _text(doc, 'public_key'),
                              _text(doc, 'enterprise'), _text(doc, 'site'), first_seq, now_ms())
    srv.ingest.keys.forget(g.gateway)
    return json_response(views.gateway_json(gateways.Counted(g, 0, 0, {})), 201)


@requires('admin')
async def revoke_gateway(request: web.Request) -> web.Response:
    doc = await json_body(request)
    srv = server_of(request)
    name = request.match_info['gateway']
    await srv.db.write_tx(admin.revoke, actor(request), name, _text(doc, 'reason'), now_ms())
    srv.ingest.keys.forget(name)
    return json_response(await srv.db.read(_gateways_view, name))


def _centres_view(conn, senders):
    out = []
    for c in centres.list_centres(conn):
        sender = senders.get(c.name)
        out.append({
            'name': c.name, 'url': c.url, 'cursor': c.cursor, 'backlog_frames': centres.backlog(conn, c.cursor),
            'delivered': c.delivered, 'last_success_at': views.iso(c.last_success_at),
            'last_error': c.last_error, 'last_error_at': views.iso(c.last_error_at),
            'refused_frames': len(centres.fanout_rejects(conn, c.name)),
            'configured': sender is not None, 'sender': sender.status() if sender else None,
        })
    return out


@requires('operator')
async def list_centres(request: web.Request) -> web.Response:
    srv = server_of(request)
    senders = {s.centre.name: s for s in srv.fanout.senders}
    return json_response({'centres': await srv.db.read(_centres_view, senders)})


@requires('operator')
async def list_rejects(request: web.Request) -> web.Response:
    rows = await server_of(request).db.read(centres.fanout_rejects, request.match_info['centre'])
    return json_response({'rejects': [dict(r, at=views.iso(r['at'])) for r in rows]})


@requires('admin')
async def add_token(request: web.Request) -> web.Response:
    doc = await json_body(request)
    token = await server_of(request).db.write_tx(admin.add_token, actor(request), _text(doc, 'name'),
                                                 _text(doc, 'role'), now_ms())
    return json_response({'name': doc['name'], 'role': doc['role'], 'token': token}, 201)


@requires('admin')
async def revoke_token(request: web.Request) -> web.Response:
    srv = server_of(request)
    await srv.db.write_tx(admin.revoke_token, actor(request), request.match_info['name'], now_ms())
    return json_response({'revoked': request.match_info['name']})


@requires('admin')
async def list_tokens(request: web.Request) -> web.Response:
    rows = await server_of(request).db.read(tokens.list_tokens)
    return json_response({'tokens': [dict(r, created_at=views.iso(r['created_at']),
                                          revoked_at=views.iso(r['revoked_at'])) for r in rows]})


@requires('admin')
async def get_audit(request: web.Request) -> web.Response:
    limit = parse_int('limit', request.query.get('limit', '1000'), 1, MAX_LIMIT)
    rows = await server_of(request).db.read(tokens.audit_log, limit)
    return json_response({'audit': [dict(r, at=views.iso(r['at'])) for r in rows]})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post('/api/v1/frames', post_frame)
    router.add_get('/api/v1/frames/position', get_position)
    router.add_get('/api/v1/health', health)
    router.add_get('/api/v1/status', server_status)
    router.add_get('/api/v1/records', get_records)
    router.add_get('/api/v1/records/{gateway}/{seq}/proof', get_record_proof)
    router.add_post('/api/v1/fingerprints/verify', verify_fingerprint)
    router.add_get('/api/v1/gateways', list_gateways)
    router.add_post('/api/v1/gateways', enrol_gateway)
    router.add_get('/api/v1/gateways/{gateway}', get_gateway)
    router.add_post('/api/v1/gateways/{gateway}/revoke', revoke_gateway)
    router.add_post('/api/v1/gateways/{gateway}/health', post_health)
    router.add_get('/api/v1/gateways/{gateway}/health', get_health)
    router.add_get('/api/v1/fleet', get_fleet)
    router.add_get('/api/v1/centres', list_centres)
    router.add_get('/api/v1/centres/{centre}/rejects', list_rejects)
    router.add_get('/api/v1/tokens', list_tokens)
    router.add_post('/api/v1/tokens', add_token)
    router.add_post('/api/v1/tokens/{name}/revoke', revoke_token)
    router.add_get('/api/v1/audit', get_audit)
