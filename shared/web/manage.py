"""Accounts on the page, the same for the gateway's page and the console: an administrator
adds accounts, changes their role, resets a password, disables and enables them (the
last administrator stays one); everyone changes their own password, proving the old one.
Password hashing runs in the worker thread signin.py keeps for it, never on the loop."""

from __future__ import annotations

from aiohttp import web

from shared.web.accounts import ROLES, AccountError
from shared.web.http import ACCOUNTS, needs, render, who
from shared.web.signin import hashing


def _page(request: web.Request, http_status: int = 200, errors: dict | None = None, form: dict | None = None,
          done: str | None = None) -> web.Response:
    return render(request, 'accounts.html', http_status, accounts=request.app[ACCOUNTS].list(), roles=ROLES,
                  errors=errors or {}, form=form or {'name': '', 'role': 'viewer'}, done=done or
                  request.query.get('done'))


@needs('admin')
async def accounts_page(request: web.Request) -> web.StreamResponse:
    return _page(request)


@needs('admin')
async def add_account(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items()}
    shown = {'name': form.get('name', ''), 'role': form.get('role', 'viewer')}
    if form.get('password', '') != form.get('password_again', ''):
        return _page(request, 400, {'password_again': 'mismatch'}, shown)
    try:
        await hashing(request, request.app[ACCOUNTS].create, shown['name'], form.get('password', ''),
                      shown['role'], who(request))
    except AccountError as e:
        return _page(request, 400, {e.field: e.message}, shown)
    raise web.HTTPSeeOther('/accounts?done=account_added')


@needs('admin')
async def change_account(request: web.Request) -> web.StreamResponse:
    """One change to one account: role, password, disable or enable (the path says which)."""
    name, change = request.match_info['name'], request.match_info['change']
    form = {k: str(v) for k, v in (await request.post()).items()}
    accounts = request.app[ACCOUNTS]
    try:
        if change == 'role':
            accounts.set_role(name, form.get('role', ''), who(request))
        elif change == 'password':
            if form.get('password', '') != form.get('password_again', ''):
                raise AccountError('password_again', 'mismatch')
            await hashing(request, accounts.set_password, name, form.get('password', ''), who(request))
        else:
            accounts.set_disabled(name, change == 'disable', who(request))
    except AccountError as e:
        return _page(request, 400, {'%s-%s' % (name, e.field): e.message})
    raise web.HTTPSeeOther('/accounts?done=account_' + change)


@needs('viewer')
async def password_page(request: web.Request) -> web.StreamResponse:
    return render(request, 'password.html', errors={}, done=request.query.get('done'))


@needs('viewer')
async def change_own_password(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items()}
    accounts, name = request.app[ACCOUNTS], who(request)
    if not await hashing(request, accounts.verify, name, form.get('current', '')):
        accounts.audit(name, 'account.password_refused', {'why': 'the current password was wrong'})
        return render(request, 'password.html', 400, errors={'current': 'bad_current'}, done=None)
    if form.get('password', '') != form.get('password_again', ''):
        return render(request, 'password.html', 400, errors={'password_again': 'mismatch'}, done=None)
    try:
        await hashing(request, accounts.set_password, name, form.get('password', ''), name)
    except AccountError as e:
        return render(request, 'password.html', 400, errors={e.field: e.message}, done=None)
    raise web.HTTPSeeOther('/signin')          # every session of the account ended with the change


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get('/accounts', accounts_page)
    r.add_post('/accounts', add_account)
    r.add_post(r'/accounts/{name}/{change:role|password|disable|enable}', change_account)
    r.add_get('/password', password_page)
    r.add_post('/password', change_own_password)
