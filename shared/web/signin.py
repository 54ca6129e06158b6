"""First set-up, sign-in and sign-out: the same for the gateway's page and the console."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from aiohttp import web

from shared.web.accounts import AccountError
from shared.web.http import ACCOUNTS, COOKIE, end_session, needs, public, render, start_session, who


_HASHING = web.AppKey('tanji_hashing', asyncio.Semaphore)


async def hashing(request: web.Request, job, *args):   # type: ignore[no-untyped-def]
    """Run a password hash in a worker thread, one at a time: 16 MiB and a third of a second
    each, never on the event loop the gateway's acquisition shares."""
    async with request.app[_HASHING]:
        return await asyncio.to_thread(job, *args)


def _next(request: web.Request, value: str | None) -> str:
    """Where to go after signing in: a path of this site only, never another host."""
    if value and value.startswith('/') and not value.startswith('//') and not urlsplit(value).netloc:
        return value
    return '/'


@public
async def setup_form(request: web.Request) -> web.StreamResponse:
    if not request.app[ACCOUNTS].empty():
        raise web.HTTPSeeOther('/signin')
    return render(request, 'setup.html', errors={}, name='')


@public
async def setup(request: web.Request) -> web.StreamResponse:
    accounts = request.app[ACCOUNTS]
    if not accounts.empty():            # a second "first" admin is never made
        raise web.HTTPSeeOther('/signin')
    form = await request.post()
    name, password = str(form.get('name', '')), str(form.get('password', ''))
    if password != str(form.get('password_again', '')):
        return render(request, 'setup.html', 400, errors={'password_again': 'mismatch'}, name=name)
    try:
        await hashing(request, accounts.create, name, password, 'admin', 'setup@%s' % request.remote)
        session = await hashing(request, accounts.sign_in, name, password, str(request.remote))
    except AccountError as e:
        return render(request, 'setup.html', 400, errors={e.field: e.message}, name=name)
    response = web.HTTPSeeOther('/')
    start_session(request, response, session)
    raise response


@public
async def signin_form(request: web.Request) -> web.StreamResponse:
    if request.app[ACCOUNTS].empty():
        raise web.HTTPSeeOther('/setup')
    return render(request, 'signin.html', errors={}, name='', next=_next(request, request.query.get('next')))


@public
async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, target = str(form.get('name', '')), _next(request, str(form.get('next', '')))
    try:
        session = await hashing(request, request.app[ACCOUNTS].sign_in, name, str(form.get('password', '')),
                                 str(request.remote))
    except AccountError as e:
        return render(request, 'signin.html', 401, errors={e.field: e.message}, name=name, next=target)
    response = web.HTTPSeeOther(target)
    start_session(request, response, session)
    raise response


@needs('viewer')
async def signout(request: web.Request) -> web.StreamResponse:
    request.app[ACCOUNTS].sign_out(request.cookies.get(COOKIE, ''), who(request))
    response = web.HTTPSeeOther('/signin')
    end_session(response)
    raise response


def add_routes(app: web.Application) -> None:
    app[_HASHING] = asyncio.Semaphore(1)
    router = app.router
    router.add_get('/setup', setup_form)
    router.add_post('/setup', setup)
    router.add_get('/signin', signin_form)
    router.add_post('/signin', signin)
    router.add_post('/signout', signout)
