"""The Tanji ingest server as an aiohttp application (docs/server.md).

Public:     POST /api/v1/frames (the upload exchange; the SM2 signature authenticates)
            GET  /api/v1/health, GET /api/v1/openapi.json
Operator:   records, record proofs, gateway and centre status, fingerprint checks
Admin:      enrol and revoke gateways, tokens, the audit log
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from server import admin, store
from server.config import ServerConfig
from server.db import DatabaseURL
from server.dbthreads import DatabaseThreads
from server.fanout import Fanout
from server.ingest import Ingest, Rejected
from server.views import BadQuery

log = logging.getLogger('tanji.server')

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_CACHE_SECONDS = 10.0


@dataclass
class Server:
    config: ServerConfig
    db: DatabaseThreads
    ingest: Ingest
    fanout: Fanout
    tokens: dict[bytes, tuple[str, str, float]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)


SERVER = web.AppKey('tanji', Server)
ACTOR = web.RequestKey('tanji_actor', str)


def json_response(doc: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=json.dumps(doc, ensure_ascii=False), status=status,
                        content_type='application/json', headers=headers)


def json_error(status: int, code: str, detail: str, headers: dict | None = None) -> web.Response:
    return json_response({'error': code, 'detail': detail}, status, headers)


def requires(role: str) -> Callable[[Handler], Handler]:
    """Mark a handler as needing a token of this role (admin implies operator)."""
    def mark(handler: Handler) -> Handler:
        handler.tanji_role = role  # type: ignore[attr-defined]
        return handler
    return mark


def server_of(request: web.Request) -> Server:
    return request.app[SERVER]


def actor(request: web.Request) -> str:
    return request.get(ACTOR, 'anonymous')


async def _token_identity(srv: Server, token: str) -> tuple[str, str] | None:
    h = admin.token_hash(token)
    hit = srv.tokens.get(h)
    now = time.monotonic()
    if hit is not None and now - hit[2] < TOKEN_CACHE_SECONDS:
        return hit[0], hit[1]
    found = await srv.db.read(store.token_by_hash, h)
    if found is None:
        srv.tokens.pop(h, None)
        return None
    srv.tokens[h] = (found[0], found[1], now)
    return found


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    role = getattr(handler, 'tanji_role', None)
    if role is None:
        return await handler(request)
    header = request.headers.get('Authorization', '')
    if not header.startswith('Bearer '):
        return json_error(401, 'unauthorized', 'send Authorization: Bearer <token>',
                          {'WWW-Authenticate': 'Bearer'})
    identity = await _token_identity(server_of(request), header[7:].strip())
    if identity is None:
        return json_error(401, 'unauthorized', 'unknown or revoked token', {'WWW-Authenticate': 'Bearer'})
    name, have = identity
    if role == 'admin' and have != 'admin':
        return json_error(403, 'forbidden', 'this needs an admin token')
    request[ACTOR] = 'token:%s' % name
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadQuery as e:
        return json_error(400, 'bad_query', str(e))
    except store.StoreError as e:
        return json_error(409, 'conflict', str(e))
    except Rejected as e:
        headers = {'Retry-After': str(e.retry_after)} if e.retry_after is not None else None
        return json_error(e.status, e.code, e.detail, headers)
    except web.HTTPException as e:
        if e.status >= 400:
            return json_error(e.status, 'http_%d' % e.status, e.reason)
        raise
    except Exception:
        log.exception('internal error on %s %s', request.method, request.path)
        return json_error(500, 'internal', 'internal error; the server log has the details')


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Rejected('too_large', 'frame of %d bytes exceeds the limit of %d' % (request.content_length, limit))
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected('too_large', 'request body exceeds the limit of %d bytes' % limit)


async def post_frame(request: web.Request) -> web.Response:
    srv = server_of(request)
    if request.content_type != 'application/x-msgpack':
        raise Rejected('content_type', 'send the frame as Content-Type: application/x-msgpack, not %s'
                       % (request.content_type or 'nothing'))
    raw = await read_body(request, srv.config.max_frame_bytes)
    ack = await srv.ingest.accept(raw)
    return json_response({'ack': ack})


async def health(request: web.Request) -> web.Response:
    srv = server_of(request)
    return json_response({'status': 'ok', 'database': srv.db.url.describe(),
                          'uptime_s': round(time.time() - srv.started_at, 1),
                          'ingest': srv.ingest.counters})


async def _startup(app: web.Application) -> None:
    srv = app[SERVER]
    await srv.db.migrate()
    await srv.ingest.start()
    await srv.fanout.start()


async def _cleanup(app: web.Application) -> None:
    srv = app[SERVER]
    await srv.fanout.stop()
    await srv.ingest.stop()
    srv.db.close()


def make_app(config: ServerConfig) -> web.Application:
    from server import api, openapi  # noqa: cyclic through requires/json helpers
    db = DatabaseThreads(DatabaseURL.parse(config.db))
    ingest = Ingest(db, config)
    app = web.Application(client_max_size=config.max_frame_bytes + 1,
                          middlewares=[error_middleware, auth_middleware])
    app[SERVER] = Server(config, db, ingest, Fanout(db, config, ingest.listen))
    app.router.add_post('/api/v1/frames', post_frame)
    app.router.add_get('/api/v1/health', health)
    app.router.add_get('/api/v1/openapi.json', openapi.serve)
    api.add_routes(app.router)
    from server import accounting
    accounting.add_routes(app.router)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


def ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if not config.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(config.tls_cert, config.tls_key)
    return ctx
