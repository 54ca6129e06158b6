"""Remote configuration of gateways behind NAT (seed 001 §10.6.3; docs/protocol.md §12):
an admin stages a configuration for a gateway; the platform signs it with its
configuration key and offers it in the answer to the gateway's next signed health
report; the gateway verifies, checks and applies it (or refuses it), keeps it on
probation until it reaches its platform again (else reverts it), and says which in
its following reports.  Every step is in the platform's audit log.

    PUT /api/v1/gateways/{gateway}/config    (admin)    {"toml": "...", "why": "..."}
    GET /api/v1/gateways/{gateway}/config    (operator) what was staged and what became of it"""

from __future__ import annotations

import binascii
import json
import tomllib

from aiohttp import web

from server.http import BadQuery, actor, json_body, json_error, json_response, now_ms, requires, server_of
from server.store import gateways, remote_config as kept, tokens
from shared.codec import sm2

MAX_TOML_BYTES = 256 * 1024


def _stage(conn, gateway: str, text: str, why: str, who: str, key: sm2.PrivateKey, now: int) -> dict:   # type: ignore[no-untyped-def]
    g = gateways.get_gateway(conn, gateway)
    if g is None:
        raise LookupError(gateway)
    if g.revoked_at is not None:
        raise BadQuery('gateway %s is revoked' % gateway)
    number = kept.next_number(conn, g.id)
    body = json.dumps({'gateway': gateway, 'number': number, 'toml': text, 'why': why, 'staged_by': who,
                       'staged_at': now}, ensure_ascii=False, sort_keys=True, separators=(',', ':'))
    signature = binascii.hexlify(key.sign(body.encode('utf-8'))).decode()
    kept.stage(conn, g.id, number, body, signature, who, now)
    tokens.audit(conn, who, 'gateway.config.stage', gateway, {'number': number, 'why': why, 'bytes': len(text)}, now)
    return {'gateway': gateway, 'number': number, 'state': 'staged'}


@requires('admin')
async def put_config(request: web.Request) -> web.Response:
    srv = server_of(request)
    gateway = request.match_info['gateway']
    if srv.config_key is None:
        return json_error(409, 'remote_config_off', 'this platform has no config_key: it cannot sign configurations '
                                                    '(docs/server.md "Remote configuration")')
    doc = await json_body(request)
    text, why = doc.get('toml'), doc.get('why', '')
    if not isinstance(text, str) or not text.strip() or not isinstance(why, str):
        raise BadQuery('send {"toml": the whole gateway configuration as text, "why": why it changes}')
    if len(text.encode('utf-8')) > MAX_TOML_BYTES:
        raise BadQuery('the configuration is larger than %d bytes' % MAX_TOML_BYTES)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadQuery('toml: not valid TOML: %s' % e)
    named = parsed.get('gateway', {}).get('id') if isinstance(parsed.get('gateway'), dict) else None
    if named != gateway:
        raise BadQuery('toml: gateway.id is %r; a configuration staged for %s must be its own' % (named, gateway))
    try:
        staged = await srv.db.write_tx(_stage, gateway, text, why, actor(request), srv.config_key, now_ms())
    except LookupError:
        return json_error(404, 'not_found', 'no gateway %s is enrolled' % gateway)
    return json_response(staged, 201)


def _history(conn, gateway: str) -> list[dict] | None:   # type: ignore[no-untyped-def]
    g = gateways.get_gateway(conn, gateway)
    if g is None:
        return None
    out = []
    for r in kept.history(conn, g.id):
        staged = json.loads(r.body)
        out.append({'number': r.number, 'staged_by': r.staged_by, 'staged_at': r.staged_at, 'why': staged.get('why'),
                    'state': r.state, 'reason': r.reason, 'version': r.version, 'state_at': r.state_at})
    return out


@requires('operator')
async def get_config(request: web.Request) -> web.Response:
    rows = await server_of(request).db.read(_history, request.match_info['gateway'])
    if rows is None:
        return json_error(404, 'not_found', 'no gateway %s is enrolled' % request.match_info['gateway'])
    return json_response({'gateway': request.match_info['gateway'], 'configurations': rows})


def on_health(conn, gw_id: int, gateway: str, report: dict, now: int) -> dict | None:   # type: ignore[no-untyped-def]
    """In the health report's transaction: record what the gateway says became of a staged
    configuration (audited once per change), and the configuration to offer it, if any."""
    said = report.get('remote_config')
    if isinstance(said, dict) and isinstance(said.get('number'), int) and said.get('state') in kept.STATES[2:]:
        reason = said.get('reason') if isinstance(said.get('reason'), str) else None
        version = said.get('version') if isinstance(said.get('version'), int) else None
        if kept.set_state(conn, gw_id, said['number'], said['state'], reason, version, now):
            tokens.audit(conn, 'gateway:%s' % gateway, 'gateway.config.%s' % said['state'], gateway,
                         {'number': said['number'], 'reason': reason, 'version': version}, now)
    offer = kept.waiting(conn, gw_id)
    if offer is None:
        return None
    if offer.state == 'staged':
        kept.set_state(conn, gw_id, offer.number, 'offered', None, None, now)
        tokens.audit(conn, 'platform', 'gateway.config.offered', gateway, {'number': offer.number}, now)
    return {'body': offer.body, 'signature': offer.signature}


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_put('/api/v1/gateways/{gateway}/config', put_config)
    router.add_get('/api/v1/gateways/{gateway}/config', get_config)

