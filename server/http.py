"""What every route of the server's HTTP API shares: the running Server a request
belongs to, JSON answers and errors, the role a route needs (checked by the
auth middleware against API tokens), the error middleware that turns every
refusal into a 4xx `{"error", "detail"}`, and reading request bodies and query
parameters."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from server import admin
from server.config import ServerConfig
from server.dbthreads import DatabaseThreads
from server.fanout import Fanout
from server.ingest import Ingest, Rejected
from server.limits import Limits, retry_after
from server.envelope import PREFIX_BYTES
from server.refusals import RefusalLog
from server.store import StoreError, tokens
from shared.codec.text import ascii_int

log = logging.getLogger('tanji.server')

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_BODY_LIMIT = 1 << 20
JSON_DEPTH_MAX = 64
MS_LIMIT = 10_000 * 366 * 86_400_000     # times in ms: 1970 ± 10,000 years, well inside 64 bits


class BadQuery(ValueError):
    """A query parameter or request body that cannot be used; the message names it."""


@dataclass
class Server:
    config: ServerConfig
    db: DatabaseThreads
    ingest: Ingest
    fanout: Fanout
    limits: Limits
    started_at: float = field(default_factory=time.time)
    refusals: RefusalLog = field(default_factory=RefusalLog)
    config_key: Any = None          # the SM2 private key that signs staged gateway configurations (server/remote_config.py)


SERVER = web.AppKey('tanji', Server)
ACTOR = web.RequestKey('tanji_actor', str)


def server_of(request: web.Request) -> Server:
    return request.app[SERVER]


def actor(request: web.Request) -> str:
    """Who is acting, for the audit log: token:NAME, or anonymous."""
    return request.get(ACTOR, 'anonymous')


def now_ms() -> int:
    return int(time.time() * 1000)


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


async def read_body(request: web.Request, limit: int,
                    screen: Callable[[bytes], Awaitable[None]] | None = None) -> bytes:
    """The body, within `limit` bytes and the server's body_timeout_s (a slow sender holds a
    connection and a descriptor for no longer than that).  `screen` sees the first
    PREFIX_BYTES first and may refuse before the rest is read."""
    if request.content_length is not None and request.content_length > limit:
        raise Rejected('too_large', 'frame of %d bytes exceeds the limit of %d' % (request.content_length, limit))
    timeout = server_of(request).config.body_timeout_s
    try:
        async with asyncio.timeout(timeout or None):
            if screen is None or request.content_length is None:
                data = await request.read()             # a chunked body has no length to check beforehand
                if len(data) > limit:
                    raise Rejected('too_large', 'request body exceeds the limit of %d bytes' % limit)
                return data
            head = await request.content.readexactly(min(PREFIX_BYTES, request.content_length))
            await screen(head)
            rest = await request.content.readexactly(request.content_length - len(head))
            return head + rest
    except web.HTTPRequestEntityTooLarge:
        raise Rejected('too_large', 'request body exceeds the limit of %d bytes' % limit)
    except asyncio.IncompleteReadError:
        raise ConnectionResetError('the body ended before its Content-Length')
    except TimeoutError:
        raise Rejected('slow_body', 'the body did not arrive within %d s' % timeout)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; BadQuery when it is not one."""
    if request.content_type != 'application/json':
        raise BadQuery('send a JSON object with Content-Type: application/json')
    try:
        doc = json.loads(await read_body(request, JSON_BODY_LIMIT))
    except RecursionError:
        raise BadQuery('body is nested deeper than %d levels' % JSON_DEPTH_MAX)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadQuery('body is not JSON: %s' % e)
    if not isinstance(doc, dict):
        raise BadQuery('body must be a JSON object')
    check_json(doc)
    return doc


def check_json(doc: Any) -> None:
    """What JSON allows but nothing here can hold: nesting deeper than JSON_DEPTH_MAX,
    integers beyond 64 bits, strings with lone surrogates (not UTF-8)."""
    stack = [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > JSON_DEPTH_MAX:
            raise BadQuery('body is nested deeper than %d levels' % JSON_DEPTH_MAX)
        if isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            try:
                item.encode('utf-8')
            except UnicodeEncodeError:
                raise BadQuery('body holds text that is not valid Unicode (a lone surrogate)')
        elif isinstance(item, int) and not isinstance(item, bool) and not -2 ** 63 <= item < 2 ** 63:
            raise BadQuery('body holds an integer beyond 64 bits: %s...' % str(item)[:20])


def parse_time(name: str, text: str) -> int:
    """Milliseconds since 1970 from integer milliseconds or ISO 8601 (naive = UTC)."""
    if re.fullmatch(r'-?[0-9]+', text):
        value = int(text)
        if not -MS_LIMIT <= value <= MS_LIMIT:
            raise BadQuery('%s: %s ms lies outside the years 1970 ± 10,000' % (name, text))
        return value
    try:
        t = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise BadQuery('%s: %r is neither milliseconds since 1970 nor an ISO 8601 time' % (name, text))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1000)


def parse_code_prefix(text: str) -> str:
    digits = text.replace('-', '')
    if not re.fullmatch(r'[0-9]{1,12}', digits):
        raise BadQuery('code: %r must be 1 to 12 digits (a full code or a prefix, dashes allowed)' % text)
    return digits


def parse_int(name: str, text: str, lo: int, hi: int) -> int:
    try:
        value = ascii_int(text)
    except ValueError:
        raise BadQuery('%s: %r is not an integer' % (name, text))
    if not lo <= value <= hi:
        raise BadQuery('%s must lie in %d..%d' % (name, lo, hi))
    return value


async def _token_identity(srv: Server, token: str) -> tuple[str, str] | None:
    """The token's (name, role), read on every request (one indexed read): a token revoked
    by the API or the command line stops working on the next request, never seconds later."""
    return await srv.db.read(tokens.token_by_hash, admin.token_hash(token))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    role = getattr(handler, 'tanji_role', None)
    if role is None:
        return await handler(request)
    header = request.headers.get('Authorization', '')
    if not header.isascii() or not header.isprintable() or not header.startswith('Bearer '):
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
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The address's budgets (server/limits.py), checked before anything else; each refusal it
    earns is charged to it."""
    srv = server_of(request)
    address = request.remote or ''
    if srv.limits.exempt(address):
        return await handler(request)
    wait = srv.limits.admit(address)
    if wait:
        srv.refusals.note(429, 'busy', address, 'over its request or refusal budget')
        response = json_error(429, 'busy', 'too many requests or refusals from %s; retry after %d s'
                              % (address, retry_after(wait)), {'Retry-After': str(retry_after(wait))})
        response.force_close()          # its body, if any, is not worth reading
        return response
    response = await handler(request)
    if 400 <= response.status < 500 and response.status != 429:
        srv.limits.refused(address)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadQuery as e:
        return json_error(400, 'bad_query', str(e))
    except StoreError as e:
        return json_error(409, 'conflict', str(e))
    except Rejected as e:
        headers = {'Retry-After': str(e.retry_after)} if e.retry_after is not None else None
        who = 'gateway %s at %s' % (e.gateway, request.remote) if e.gateway else str(request.remote)
        server_of(request).refusals.note(e.status, e.code, who, e.detail)
        response = json_error(e.status, e.code, e.detail, headers)
        if not request.content.at_eof():
            response.force_close()          # the rest of the body is not worth waiting for
        return response
    except web.HTTPException as e:
        if e.status >= 400:
            return json_error(e.status, 'http_%d' % e.status, e.reason)
        raise
    except ConnectionResetError:
        # the client went away before its request was complete: its business, not a fault of ours
        server_of(request).refusals.note(400, 'incomplete', str(request.remote),
                                         'the connection closed before the request was complete')
        return json_error(400, 'incomplete', 'the connection closed before the request was complete')
    except Exception:
        log.exception('internal error on %s %s', request.method, request.path)
        return json_error(500, 'internal', 'internal error; the server log has the details')
