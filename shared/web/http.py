"""What every page of Tanji shares, on aiohttp: sign-in, sessions and CSRF on top of
shared/web/accounts.py, the language of the page, server-rendered HTML through Jinja2
(autoescaped), security headers, and the static files served by Tanji itself.  The
gateway's page (firmware/web/) and the console build on this one module.

A page handler is marked with `needs(role)`; without a live session a GET is sent to the
sign-in page and anything else answered 401; a session without the role gets 403.
Every request that changes something (any method but GET and HEAD) must carry the
session's CSRF token (form field `csrf` or header `X-CSRF-Token`) and, when the browser
sends one, an Origin of this host."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from shared import civil
from shared.web import i18n
from shared.web.accounts import Accounts, Session

log = logging.getLogger('tanji.web')
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACCOUNTS = web.AppKey('tanji_accounts', Accounts)
TEMPLATES = web.AppKey('tanji_templates', jinja2.Environment)
SESSION = web.RequestKey('tanji_session', Session)
LANG = web.RequestKey('tanji_lang', str)
COOKIE = 'tanji_session'
LANG_COOKIE = 'tanji_lang'
SHARED_TEMPLATES = Path(__file__).resolve().parent / 'templates'
STATIC = Path(__file__).resolve().parent / 'static'
SAFE_METHODS = ('GET', 'HEAD')
PUBLIC_BODY_LIMIT = 16 * 1024      # what a form without a session (sign-in, set-up) may send; uploads need one
HEADERS = {
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
}


def needs(role: str) -> Callable[[Handler], Handler]:
    """Mark a page handler as needing a session of this role (viewer < operator < admin)."""
    def mark(handler: Handler) -> Handler:
        handler.tanji_page_role = role  # type: ignore[attr-defined]
        return handler
    return mark


def public(handler: Handler) -> Handler:
    """Mark a page handler as open without a session (sign-in, first set-up, static files)."""
    handler.tanji_page_role = None  # type: ignore[attr-defined]
    return handler


def size(n: float | None) -> str:
    """Bytes for people: 1.5 GiB, 730 KiB."""
    if n is None:
        return '–'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(n) < 1024 or unit == 'GiB':
            return ('%d %s' if unit == 'B' else '%.1f %s') % (n, unit)
        n /= 1024
    return '%.1f TiB' % n


def duration(seconds: float | None) -> str:
    """12 d 3 h, 3 h 20 min, 45 s."""
    if seconds is None:
        return '–'
    s = int(seconds)
    if s >= 86400:
        return '%d d %d h' % (s // 86400, s % 86400 // 3600)
    if s >= 3600:
        return '%d h %d min' % (s // 3600, s % 3600 // 60)
    if s >= 60:
        return '%d min %d s' % (s // 60, s % 60)
    return '%d s' % s


def templates(*directories: Path, utc_offset_s: int = 8 * 3600) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(d) for d in directories] + [str(SHARED_TEMPLATES)]),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters['size'] = size
    env.filters['duration'] = duration
    env.filters['timestamp'] = lambda at: civil.local_iso(int(at * 1000), utc_offset_s).replace('T', ' ')
    env.filters['local_ms'] = lambda ms: civil.local_iso(int(ms), utc_offset_s).replace('T', ' ')
    return env


def lang_of(request: web.Request) -> str:
    asked = request.query.get('lang')
    if asked in i18n.LANGS:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in i18n.LANGS else i18n.DEFAULT


def session_of(request: web.Request) -> Session | None:
    return request.get(SESSION)


def who(request: web.Request) -> str:
    s = session_of(request)
    return s.name if s else 'anonymous'


def t(request: web.Request, key: str, **values: object) -> str:
    return i18n.translate(key, request.get(LANG, i18n.DEFAULT), **values)


def render(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    lang = request.get(LANG, i18n.DEFAULT)
    session = session_of(request)
    other = 'en' if lang == 'zh' else 'zh'
    switch = request.path + '?' + '&'.join(['%s=%s' % (k, quote(v)) for k, v in request.query.items() if k != 'lang']
                                           + ['lang=' + other])
    html = request.app[TEMPLATES].get_template(template).render(
        t=lambda key, **v: i18n.translate(key, lang, **v), lang=lang, session=session,
        csrf=session.csrf if session else '', lang_switch=switch, **context)
    return web.Response(text=html, status=http_status, content_type='text/html', charset='utf-8')


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get('Origin')
    if origin is None:          # not every browser sends one on a same-origin form; the token decides then
        return True
    try:
        return urlsplit(origin).netloc == request.host
    except ValueError:
        return False


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    if not _same_origin(request):
        return False
    token = request.headers.get('X-CSRF-Token')
    if token is None and request.content_type in ('application/x-www-form-urlencoded', 'multipart/form-data'):
        token = (await request.post()).get('csrf')
    return isinstance(token, str) and secrets.compare_digest(token, session.csrf)


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[LANG] = lang_of(request)
    session = request.app[ACCOUNTS].session(request.cookies.get(COOKIE, ''))
    if session is not None:
        request[SESSION] = session
    role = getattr(handler, 'tanji_page_role', 'admin')     # a handler not marked is an admin's
    if request.method not in SAFE_METHODS and session is None and request.can_read_body and (
            request.content_length is None or request.content_length > PUBLIC_BODY_LIMIT):
        # nobody signed in sends more than a sign-in form: refused before a byte of it is read
        return _finish(request, render(request, 'error.html', 413, message=t(request, 'too_large')))
    if role is not None:
        if session is None:
            if request.method in SAFE_METHODS:
                raise web.HTTPSeeOther('/signin?next=' + quote(request.path_qs))
            response: web.StreamResponse = render(request, 'error.html', 401, message=t(request, 'signin_title'))
            return _finish(request, response)
        if not session.may(role):
            return _finish(request, render(request, 'error.html', 403, message=t(request, 'forbidden')))
    if request.method not in SAFE_METHODS and (not _same_origin(request) or session is not None
                                               and not await _csrf_ok(request, session)):
        # a session's change without its token, or any form (a sign-in too) posted from another site
        request.app[ACCOUNTS].audit(session.name if session else 'anonymous', 'csrf.refused',
                                    {'path': request.path, 'origin': request.headers.get('Origin', '')})
        return _finish(request, render(request, 'error.html', 403, message=t(request, 'csrf_failed')))
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = render(request, 'error.html', 404, message=t(request, 'not_found'))
    except web.HTTPException:
        raise
    except Exception:
        log.exception('internal error on %s %s', request.method, request.path)
        response = render(request, 'error.html', 500, message=t(request, 'internal_error'))
    return _finish(request, response)


def _finish(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    if 'lang' in request.query and request.query['lang'] in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, request.query['lang'], max_age=365 * 86400, samesite='Strict', path='/')
    return response


def start_session(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(COOKIE, session.token, httponly=True, samesite='Strict', path='/',
                        secure=request.secure)


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path='/')


@public
async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info['name']
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={'Cache-Control': 'max-age=3600'})


def add_static(router: web.UrlDispatcher) -> None:
    router.add_get('/static/{name}', static_file)
