"""Configuration through the page against a running `tanji gateway run` (issue 15, item 4):
a point added through the form is read and delivered without interrupting delivery, a
mistake is refused next to its field with nothing written, a version rolled back, a
centre change waits for the restart the page offers, and only an admin configures."""

from __future__ import annotations

import re
import time

import pytest

from gateway_process import energy_codes
from page_helpers import Browserless, errors_of, running_page, signed_in

ADMIN_PASSWORD = 'correct horse 1'
CODES = energy_codes(4)


@pytest.fixture
def page(tmp_path):
    with running_page(tmp_path, [('admin', ADMIN_PASSWORD), ('olga', 'operator pass 2', 'operator')],
                      meters=True) as p:
        yield p



def _points(status: dict) -> set[str]:
    return {key for s in status['sources'] for key in s.get('points', {})}


def _wait_code(page, code: str, timeout_s: float = 60) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = [r for r in page.platform.records() if '%012d' % int(r[1]) == code]
        if rows:
            return rows
        time.sleep(0.5)
    raise AssertionError('no reading of %s reached the platform' % code)


def test_a_point_added_on_the_page_is_read_and_delivered_without_a_restart(page):
    admin = signed_in(page.port, 'admin', ADMIN_PASSWORD)
    status, _, form = admin.request('GET', '/config/add/point?meter=m1')
    assert status == 200 and 'name="register.address"' in form and '寄存器地址' in form   # the descriptor's fields
    before = page.gateway.wait_status(lambda s: s['durable_seq'] > 5)
    token = admin.csrf('/config')
    status, headers, text = admin.request('POST', '/config/add/point', {
        'csrf': token, 'meter': 'm1', 'code': CODES[3], 'unit': 'kWh', 'every': '1', 'register.address': '0',
        'register.type': 'u32', 'register.scale': '0.01', 'why': 'the new kiln feeder'})
    assert status == 303 and headers['location'] == '/config?done=live&version=2', (status, errors_of(text))
    _, _, overview = admin.request('GET', headers['location'])
    assert '已生效' in overview and CODES[3] in overview
    after = page.gateway.wait_status(lambda s: 'm1/' + CODES[3] in _points(s))
    assert after['config'] == {'version': 2, 'pending': None}
    assert page.gateway.proc.poll() is None and after['durable_seq'] > before['durable_seq']
    log = page.gateway.log()
    assert log.count('local page on') == 1 and 'configuration version 2 by admin (page)' in log
    assert 'reading sources restarted with the new configuration: 1 bus(es), 1 meter(s), 4 polled point(s)' in log
    # delivery went on: the centre task was never restarted, and the new point's readings arrive
    token = admin.csrf('/')
    admin.request('POST', '/centres/platform/send', {'csrf': token})
    rows = _wait_code(page, CODES[3])
    assert rows[0][2] >= after['time'] * 1000 - 30_000          # read after the change, not before
    _, _, version = admin.request('GET', '/config/versions/2')
    assert '+code = &#34;%s&#34;' % CODES[3] in version or '+code = "%s"' % CODES[3] in version
    assert 'the new kiln feeder' in version
    _, _, audit = admin.request('GET', '/audit')
    assert 'config.point.add' in audit


def test_a_mistake_is_refused_next_to_its_field_and_nothing_is_written(page):
    admin = signed_in(page.port, 'admin', ADMIN_PASSWORD)
    config_before = page.config.read_text()
    token = admin.csrf('/config')
    status, _, text = admin.request('POST', '/config/add/point', {
        'csrf': token, 'meter': 'm1', 'code': CODES[3], 'unit': 'kWh', 'every': 'often', 'register.address': 'zero',
        'register.type': 'u32'})
    errors = errors_of(text)
    assert status == 400 and set(errors) == {'every', 'register.address'}, errors
    assert '应为数字' in errors['every'] and '应为整数' in errors['register.address']
    assert 'value="often"' in text                                # what was typed stays in the form
    # the loader's own check: a unit the code cannot have, said next to the unit
    status, _, text = admin.request('POST', '/config/add/point', {
        'csrf': token, 'meter': 'm1', 'code': CODES[3], 'unit': 't', 'register.address': '0'})
    errors = errors_of(text)
    assert status == 400 and list(errors) == ['unit'] and '未保存' in errors['unit'] and 'kWh' in errors['unit']
    # a code another point already has: said above the form, in full
    status, _, text = admin.request('POST', '/config/add/point', {
        'csrf': token, 'meter': 'm1', 'code': CODES[0], 'unit': 'kWh', 'register.address': '0'})
    assert status == 400 and CODES[0] in errors_of(text).get('form', '') + errors_of(text).get('code', '')
    status, _, text = admin.request('POST', '/config/add/bus', {'csrf': token, 'protocol': 'dlt645', 'name': 'rs485',
                                                                 'port': '/dev/ttyS1', 'baud': 'fast'})
    assert status == 400 and set(errors_of(text)) == {'baud'}
    assert page.config.read_text() == config_before
    assert page.gateway.wait_status(lambda s: s['config'] is not None)['config'] == {'version': 1, 'pending': None}
    assert 'Traceback' not in page.gateway.log()


def test_a_rollback_is_one_click_and_a_new_version(page):
    admin = signed_in(page.port, 'admin', ADMIN_PASSWORD)
    token = admin.csrf('/config')
    status, headers, text = admin.request('POST', '/config/point/%s/remove' % CODES[2], {'csrf': token, 'why': ''})
    assert status == 303, errors_of(text)
    page.gateway.wait_status(lambda s: 'm1/' + CODES[2] not in _points(s) and s['config']['version'] == 2)
    status, _, text = admin.request('GET', '/config/versions/1')
    assert status == 200 and '回滚到版本 1' in text
    status, headers, _ = admin.request('POST', '/config/versions/1/rollback', {'csrf': admin.csrf('/config')})
    assert status == 303 and headers['location'] == '/config?done=live&version=3'
    page.gateway.wait_status(lambda s: 'm1/' + CODES[2] in _points(s) and s['config']['version'] == 3)
    _, _, listing = admin.request('GET', '/config/versions')
    assert re.search(r'>3</a></td><td>[^<]+</td>\s*<td>admin</td><td>回滚</td><td>rollback to version 1<', listing)
    # rolling back to what runs now changes nothing and makes no version
    status, _, text = admin.request('POST', '/config/versions/3/rollback', {'csrf': admin.csrf('/config')})
    assert status == 400 and 'nothing changed' in text
    assert page.config.read_text() == page.gateway.data_dir.joinpath('config', '000001.toml').read_text()


def test_a_centre_change_waits_for_the_restart_the_page_offers(page):
    admin = signed_in(page.port, 'admin', ADMIN_PASSWORD)
    pid = page.gateway.proc.pid
    token = admin.csrf('/config')
    status, headers, text = admin.request('POST', '/config/centre/platform', {
        'csrf': token, 'name': 'platform', 'url': page.platform.url, 'every_s': '2'})
    assert status == 303 and headers['location'] == '/config?done=restart&version=2', errors_of(text)
    _, _, overview = admin.request('GET', '/config')
    assert '需重启网关后生效' in overview and 'action="/config/restart"' in overview
    page.gateway.wait_status(lambda s: s['config'] == {'version': 1, 'pending': 2})
    status, _, text = admin.request('POST', '/config/restart', {'csrf': admin.csrf('/config')})
    assert status == 200 and '正在重启' in text
    page.gateway.wait_log('local page on', count=2)
    status = page.gateway.wait_status(lambda s: s['config'] == {'version': 2, 'pending': None})
    assert page.gateway.proc.pid == pid and page.gateway.proc.poll() is None
    assert status['centres'][0]['state'] != 'backoff'
    # uploads now every 2 s instead of every hour: the acknowledgement follows on its own
    durable = page.gateway.wait_status(lambda s: s['durable_seq'] > status['durable_seq'] + 3)['durable_seq']
    page.platform.wait_ack(durable, timeout_s=30)
    _, _, audit = signed_in(page.port, 'admin', ADMIN_PASSWORD).request('GET', '/audit')
    assert 'gateway.restart' in audit and 'config.centre.change' in audit


def test_only_an_admin_configures(page):
    operator = signed_in(page.port, 'olga', 'operator pass 2')
    for path in ('/config', '/config/versions', '/config/versions/1', '/config/add/bus', '/config/bus/meters'):
        status, _, _ = operator.request('GET', path)
        assert status == 403, path
    token = operator.csrf('/')
    for path in ('/config/add/point', '/config/versions/1/rollback', '/config/restart', '/config/meter/m1/remove'):
        status, _, _ = operator.request('POST', path, {'csrf': token})
        assert status == 403, path
    anon = Browserless(page.port)
    status, headers, _ = anon.request('GET', '/config')
    assert status == 303 and headers['location'].startswith('/signin')
