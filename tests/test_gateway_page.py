"""The gateway's local page against a running `tanji gateway run` (issue 15, items 1-3):
no page without a session, no default password, CSRF on every change, lock-out, roles,
cookie and header flags, and the audit log."""

from __future__ import annotations

import pytest

from page_helpers import Browserless, PageGateway
from shared.web import accounts as accounts_module
from shared.web import i18n
from shared.web.accounts import AccountError, Accounts

ADMIN_PASSWORD = 'correct horse 1'


@pytest.fixture(scope='module')
def page(tmp_path_factory):
    p = PageGateway(tmp_path_factory.mktemp('page'))
    yield p
    p.stop()


def test_the_first_visit_sets_the_administrator_and_nothing_else_opens(page):
    anon = Browserless(page.port)
    for path in ('/', '/audit', '/status.json', '/signin'):
        status, headers, _ = anon.request('GET', path)
        assert status == 303 and headers['location'].startswith(('/signin', '/setup')), (path, status, headers)
    status, headers, _ = anon.request('GET', '/signin')
    assert headers['location'] == '/setup'                     # no account at all: set one up
    status, _, text = anon.request('GET', '/setup')
    assert status == 200 and '首次设置' in text and 'name="password_again"' in text
    status, _, text = anon.request('POST', '/setup', {'name': 'admin', 'password': 'short', 'password_again': 'short'})
    assert status == 400 and i18n.translate('too_short', 'zh') in text and 'aria-invalid="true"' in text
    status, _, text = anon.request('POST', '/setup', {'name': 'admin', 'password': ADMIN_PASSWORD,
                                                      'password_again': ADMIN_PASSWORD + 'x'})
    assert status == 400 and i18n.translate('mismatch', 'zh') in text
    status, headers, _ = anon.request('POST', '/setup', {'name': 'admin', 'password': ADMIN_PASSWORD,
                                                         'password_again': ADMIN_PASSWORD})
    assert status == 303 and headers['location'] == '/'
    cookie = next(c for c in headers['set-cookie-all'] if c.startswith('tanji_session='))
    assert 'HttpOnly' in cookie and 'SameSite=Strict' in cookie, cookie
    status, _, text = anon.request('GET', '/')
    assert status == 200 and 'admin' in text and '网关状态' in text
    # a second "first" administrator is never made
    other = Browserless(page.port)
    status, headers, _ = other.request('POST', '/setup', {'name': 'mallory', 'password': 'mallory pass 9',
                                                          'password_again': 'mallory pass 9'})
    assert status == 303 and headers['location'] == '/signin'
    assert [a['name'] for a in Accounts(page.gateway.data_dir / 'web' / 'accounts.db').list()] == ['admin']


def test_every_change_needs_the_sessions_csrf_token(page):
    admin = _signed_in(page, 'admin', ADMIN_PASSWORD)
    status, _, text = admin.request('POST', '/centres/platform/send', {})
    assert status == 403 and i18n.translate('csrf_failed', 'zh') in text
    status, _, _ = admin.request('POST', '/centres/platform/send', {'csrf': 'not-the-token'})
    assert status == 403
    token = admin.csrf()
    status, _, _ = admin.request('POST', '/centres/platform/send', {'csrf': token},
                                 headers={'Origin': 'http://evil.example'})
    assert status == 403                                        # a form posted from another site
    status, headers, _ = admin.request('POST', '/centres/platform/send', {'csrf': token})
    assert status == 303 and headers['location'] == '/?sent=platform'
    status, _, text = admin.request('GET', '/?sent=platform&lang=en')
    assert 'Upload to platform requested.' in text
    status, _, text = admin.request('GET', '/audit')
    assert 'centre.send_now' in text and 'csrf.refused' in text
    anon = Browserless(page.port)
    status, _, _ = anon.request('POST', '/centres/platform/send', {'csrf': token})
    assert status == 401                                        # no session: nothing changes
    status, _, _ = anon.request('POST', '/signin', {'name': 'admin', 'password': ADMIN_PASSWORD},
                                headers={'Origin': 'http://evil.example'})
    assert status == 403 and 'tanji_session' not in anon.cookies  # no sign-in from another site's form


def test_a_viewer_sees_but_cannot_change(page):
    made = page.passwd('watcher', 'watcher pass 7', 'viewer')
    assert made.returncode == 0, made.stderr
    viewer = _signed_in(page, 'watcher', 'watcher pass 7')
    status, _, text = viewer.request('GET', '/')
    assert status == 200 and '立即上传' not in text             # no "send now" button for a viewer
    status, _, _ = viewer.request('POST', '/centres/platform/send', {'csrf': viewer.csrf()})
    assert status == 403
    status, _, _ = viewer.request('GET', '/audit')
    assert status == 403


def test_the_log_is_read_filtered_and_downloaded_on_the_page(page):
    admin = _signed_in(page, 'admin', ADMIN_PASSWORD)
    status, _, text = admin.request('GET', '/logs?kind=page')
    assert status == 200 and 'local page on' in text and 'recorded as gateway' not in text
    status, _, text = admin.request('GET', '/logs?kind=storage&lang=en')
    assert 'recorded as gateway GW-FAULT' in text and 'local page on' not in text
    status, headers, text = admin.request('GET', '/logs.txt?kind=page')
    assert status == 200 and headers['content-type'].startswith('text/plain')
    assert 'attachment' in headers['content-disposition'] and 'tanji.web: local page on' in text
    viewer = _signed_in(page, 'watcher', 'watcher pass 7')
    assert viewer.request('GET', '/logs')[0] == 403


def test_five_wrong_passwords_lock_the_account(page):
    assert page.passwd('locky', 'locky pass 77', 'operator').returncode == 0
    anon = Browserless(page.port)
    for _ in range(4):
        status, _, text = anon.request('POST', '/signin', {'name': 'locky', 'password': 'wrong password'})
        assert status == 401 and i18n.translate('bad_credentials', 'zh') in text
    status, _, text = anon.request('POST', '/signin', {'name': 'locky', 'password': 'wrong password'})
    assert status == 401 and i18n.translate('locked', 'zh') in text
    status, _, text = anon.request('POST', '/signin', {'name': 'locky', 'password': 'locky pass 77'})
    assert status == 401 and i18n.translate('locked', 'zh') in text      # even the right one, while locked
    status, _, text = anon.request('POST', '/signin', {'name': 'nobody', 'password': 'whatever 123'})
    assert status == 401 and i18n.translate('bad_credentials', 'zh') in text


def test_pages_carry_security_headers_and_sign_out_ends_the_session(page):
    admin = _signed_in(page, 'admin', ADMIN_PASSWORD)
    status, headers, _ = admin.request('GET', '/')
    assert "default-src 'self'" in headers['content-security-policy'] and headers['x-frame-options'] == 'DENY'
    old = dict(admin.cookies)
    status, headers, _ = admin.request('POST', '/signout', {'csrf': admin.csrf()})
    assert status == 303
    stale = Browserless(page.port)
    stale.cookies = old
    status, headers, _ = stale.request('GET', '/')
    assert status == 303 and headers['location'].startswith('/signin')
    status, headers, _ = stale.request('GET', '/static/../accounts.py')
    assert status in (303, 404)
    status, _, _ = stale.request('GET', '/static/tanji.css')
    assert status == 200


def test_accounts_rules(tmp_path, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(accounts_module, 'SCRYPT_N', 1 << 10)          # the rules, not the cost, under test
    store = Accounts(tmp_path / 'a.db', clock=lambda: now[0])
    with pytest.raises(AccountError) as e:
        store.create('op', 'operator pass 1', 'operator', 'test')
    assert (e.value.field, e.value.message) == ('role', 'first_is_admin')
    store.create('root', 'root password 1', 'admin', 'test')
    with pytest.raises(AccountError) as e:
        store.create('root', 'another pass 1', 'viewer', 'test')
    assert e.value.message == 'name_taken'
    with pytest.raises(AccountError) as e:
        store.create('bob', 'aaaaaaaaaaaa', 'viewer', 'test')
    assert e.value.message == 'too_simple'
    session = store.sign_in('root', 'root password 1', '127.0.0.1')
    assert store.session(session.token).name == 'root'
    now[0] += accounts_module.IDLE_S + 1
    assert store.session(session.token) is None                  # idle too long
    session = store.sign_in('root', 'root password 1', '127.0.0.1')
    store.set_password('root', 'root password 2', 'test')
    assert store.session(session.token) is None                  # a new password ends every session
    stored = store.db.execute('SELECT hash FROM accounts').fetchone()[0]
    assert stored.startswith('scrypt$') and 'root password' not in stored
    assert [a['action'] for a in store.audit_log()][:3] == ['account.password', 'signin', 'signin']


def test_every_message_has_both_languages():
    for key, entry in i18n.MESSAGES.items():
        assert set(entry) == set(i18n.LANGS) and all(entry.values()), key


def _signed_in(page, name: str, password: str) -> Browserless:
    client = Browserless(page.port)
    status, headers, text = client.request('POST', '/signin', {'name': name, 'password': password})
    assert status == 303, (status, text[:300])
    return client


def test_one_address_failing_again_and_again_stops_being_heard(tmp_path, monkeypatch):
    """Twenty failures from one address in 15 minutes: it may not try again, and costs no hash."""
    monkeypatch.setattr(accounts_module, 'SCRYPT_N', 1 << 10)
    store = Accounts(tmp_path / 'a.db')
    store.create('root', 'root password 1', 'admin', 'test')
    for i in range(accounts_module.ADDRESS_FAILURES):
        with pytest.raises(AccountError):
            store.sign_in('user%d' % i, 'guess number %d' % i, '192.0.2.9')
    hashed = []
    monkeypatch.setattr(accounts_module, 'check_password', lambda *a: hashed.append(a) or True)
    with pytest.raises(AccountError) as e:
        store.sign_in('root', 'root password 1', '192.0.2.9')
    assert e.value.message == 'locked' and hashed == []
    assert store.sign_in('root', 'root password 1', '192.0.2.10').name == 'root'     # another address may


SAMPLE = {'section': 'bus', 'key': 'meters', 'number': '1', 'name': 'admin', 'change': 'role', 'centre': 'platform',
          'proposal': '0123456789ab', 'decision': 'approve', 'kind': 'csv', 'id': '1'}


def _routes(tmp_path) -> list[tuple[str, str, str | None]]:
    """Every route of the page as (method, a path with sample values, the role it needs): read
    from the application itself, so a page added tomorrow is checked too."""
    import re as _re
    from types import SimpleNamespace

    from firmware.ledger import Ledger
    from firmware.web.app import make_app
    # only to read the router table: the requests go to the running gateway
    reader = SimpleNamespace(cfg=SimpleNamespace(utc_offset_h=8, data_dir=str(tmp_path), sources=None),
                             ledger=Ledger(str(tmp_path)), calibration=SimpleNamespace(refresh=lambda: None))
    app = make_app(reader, Accounts(tmp_path / 'routes.db'))
    out = []
    for route in app.router.routes():
        if route.method == 'HEAD':
            continue
        template = route.resource.canonical
        path = _re.sub(r'\{(\w+)(:[^}]*)?\}', lambda m: SAMPLE.get(m.group(1), 'x'), template)
        out.append((route.method, path, getattr(route.handler, 'tanji_page_role', 'admin')))
    return out


def test_no_page_answers_without_a_session_and_a_viewer_changes_nothing(page, tmp_path):
    routes = _routes(tmp_path)
    assert len(routes) > 30
    anon = Browserless(page.port)
    for method, path, role in routes:
        if role is None:                                        # sign-in, set-up, the style sheet
            continue
        status, headers, _ = anon.request(method, path, {} if method == 'POST' else None)
        if method == 'GET':
            assert status == 303 and headers['location'].startswith('/signin'), (method, path, status)
        else:
            assert status == 401, (method, path, status)
    assert page.passwd('vic', 'viewer pass 8', 'viewer').returncode == 0
    viewer = _signed_in(page, 'vic', 'viewer pass 8')
    token = viewer.csrf()
    for method, path, role in routes:
        if method != 'POST' or role in (None, 'viewer'):        # signing out, one's own password
            continue
        status, _, _ = viewer.request(method, path, {'csrf': token})
        assert status == 403, (method, path, status)
    for method, path, role in routes:                           # what a viewer may see, it sees
        if method == 'GET' and role == 'viewer' and '{' not in path and 'certificate' not in path \
                and not path.startswith('/ledger/item/'):
            assert viewer.request('GET', path)[0] == 200, path


def test_nobody_signed_in_can_make_the_page_read_a_large_body(page):
    import http.client
    for path in ('/signin', '/setup', '/ledger/import'):
        conn = http.client.HTTPConnection('127.0.0.1', page.port, timeout=30)
        try:
            conn.putrequest('POST', path)
            conn.putheader('Content-Type', 'application/x-www-form-urlencoded')
            conn.putheader('Content-Length', str(10 << 20))        # 10 MB announced, none sent
            conn.endheaders()
            r = conn.getresponse()
            assert r.status == 413, (path, r.status)                 # answered before a byte is read
        finally:
            conn.close()
