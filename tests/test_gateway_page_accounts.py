"""Accounts on the page (issue 15, item 2; shared/web/manage.py): an admin adds accounts,
changes roles, resets passwords, disables and enables; the last administrator stays one;
everyone changes their own password by proving the old one; every change is audited
and ends the account's sessions."""

from __future__ import annotations


import pytest

from page_helpers import Browserless, running_page, signed_in

ADMIN = ('admin', 'admin password 1')


@pytest.fixture(scope='module')
def page(tmp_path_factory):
    with running_page(tmp_path_factory.mktemp('accounts'), [ADMIN]) as p:
        yield p


def test_an_admin_adds_an_account_that_then_signs_in_with_its_role(page):
    admin = signed_in(page.port, *ADMIN)
    token = admin.csrf('/accounts')
    status, _, text = admin.request('POST', '/accounts', {'csrf': token, 'name': 'olga', 'role': 'operator',
                                                          'password': 'short', 'password_again': 'short'})
    assert status == 400 and 'id="e-password"' in text and 'value="olga"' in text      # beside its field
    status, headers, _ = admin.request('POST', '/accounts', {'csrf': token, 'name': 'olga', 'role': 'operator',
                                                             'password': 'olga password 1',
                                                             'password_again': 'olga password 1'})
    assert status == 303 and headers['location'] == '/accounts?done=account_added'
    olga = signed_in(page.port, 'olga', 'olga password 1')
    assert olga.request('GET', '/manual')[0] == 200 and olga.request('GET', '/accounts')[0] == 403
    status, _, _ = olga.request('POST', '/accounts', {'csrf': olga.csrf('/'), 'name': 'mallory', 'role': 'admin',
                                                      'password': 'mallory pass 1', 'password_again': 'mallory pass 1'})
    assert status == 403
    # a role change ends her sessions: she signs in again, as a viewer now
    assert admin.request('POST', '/accounts/olga/role', {'csrf': token, 'role': 'viewer'})[0] == 303
    status, headers, _ = olga.request('GET', '/')
    assert status == 303 and headers['location'].startswith('/signin')
    olga = signed_in(page.port, 'olga', 'olga password 1')
    assert olga.request('GET', '/manual')[0] == 403
    _, _, audit = admin.request('GET', '/audit')
    assert 'account.create' in audit and 'account.role' in audit


def test_disable_reset_and_the_last_administrator(page):
    admin = signed_in(page.port, *ADMIN)
    token = admin.csrf('/accounts')
    admin.request('POST', '/accounts', {'csrf': token, 'name': 'ivan', 'role': 'viewer',
                                        'password': 'ivan password 1', 'password_again': 'ivan password 1'})
    ivan = signed_in(page.port, 'ivan', 'ivan password 1')
    assert admin.request('POST', '/accounts/ivan/disable', {'csrf': token})[0] == 303
    assert ivan.request('GET', '/')[0] == 303                           # his session ended
    status, _, _ = Browserless(page.port).request('POST', '/signin', {'name': 'ivan', 'password': 'ivan password 1'})
    assert status == 401
    assert admin.request('POST', '/accounts/ivan/enable', {'csrf': token})[0] == 303
    assert admin.request('POST', '/accounts/ivan/password', {'csrf': token, 'password': 'ivan new pass 2',
                                                             'password_again': 'ivan new pass 2'})[0] == 303
    signed_in(page.port, 'ivan', 'ivan new pass 2')
    for change, form in (('disable', {}), ('role', {'role': 'operator'})):
        status, _, text = admin.request('POST', '/accounts/admin/%s' % change, dict(form, csrf=token))
        assert status == 400 and '至少要保留一个启用的管理员' in text, change
    signed_in(page.port, *ADMIN)


def test_everyone_changes_their_own_password_by_proving_the_old_one(page):
    admin = signed_in(page.port, *ADMIN)
    admin.request('POST', '/accounts', {'csrf': admin.csrf('/accounts'), 'name': 'vera', 'role': 'viewer',
                                        'password': 'vera password 1', 'password_again': 'vera password 1'})
    vera = signed_in(page.port, 'vera', 'vera password 1')
    token = vera.csrf('/password')
    status, _, text = vera.request('POST', '/password', {'csrf': token, 'current': 'not it at all',
                                                         'password': 'vera password 2', 'password_again': 'vera password 2'})
    assert status == 400 and 'id="e-current"' in text and '当前密码不正确' in text
    status, headers, _ = vera.request('POST', '/password', {'csrf': token, 'current': 'vera password 1',
                                                            'password': 'vera password 2',
                                                            'password_again': 'vera password 2'})
    assert status == 303 and headers['location'] == '/signin'
    assert vera.request('GET', '/')[0] == 303                            # signed out by the change
    signed_in(page.port, 'vera', 'vera password 2')
    _, _, audit = admin.request('GET', '/audit')
    assert 'account.password_refused' in audit and 'account.password' in audit
