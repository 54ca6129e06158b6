"""Commissioning on the page (issue 15, item 5) against a DL/T 645-2007 line of simulated
meters on a pty: the line is searched for meter addresses by shortened addressing while
polling goes on, two meters whose addresses end alike are told apart, and a point is read
once as its form describes it before anything is saved."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from gateway_process import energy_codes
from page_helpers import PageGateway, signed_in
from server_process import REPO

ADMIN_PASSWORD = 'correct horse 1'
ADDRESSES = ['000000000012', '000000001012', '000000000305']     # the first two clash on their last byte
CODES = energy_codes(2)


@pytest.fixture
def line(tmp_path):
    rig = tmp_path / 'rig.toml'
    rig.write_text('[rig]\nname = "line"\ndir = "%s"\n\n[[line]]\nname = "rs485-1"\nprotocol = "dlt645"\nbaud = 0\n'
                   % (tmp_path / 'rig') + ''.join(
                       '\n  [[line.meter]]\n  address = "%s"\n  profile = { rate = 3600.0, start = %d.0, decimals = 2 }\n'
                       % (a, 1000 * (i + 1)) for i, a in enumerate(ADDRESSES)))
    log = open(tmp_path / 'rig.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'rig', 'up', str(rig)], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT)
    link = tmp_path / 'rig' / 'rs485-1'
    deadline = time.monotonic() + 30
    while not link.exists():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / 'rig.log').read_text()
        time.sleep(0.1)
    sources = '''
[[bus]]
name = "rs485"
protocol = "dlt645"
port = "%s"
timeout_ms = 100
retries = 0
gap_ms = 0
time_sync_h = 0

[[meter]]
name = "kiln"
bus = "rs485"
address = "%s"

[[point]]
meter = "kiln"
code = "%s"
unit = "kWh"
every = 1
item = "00010000"
''' % (link, ADDRESSES[0], CODES[0])
    try:
        page = PageGateway(tmp_path, sources=sources)
        try:
            assert page.passwd('admin', ADMIN_PASSWORD).returncode == 0
            yield page
        finally:
            page.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_line_is_searched_for_meters_while_polling_goes_on(line):
    admin = signed_in(line.port, 'admin', ADMIN_PASSWORD)
    _, _, overview = admin.request('GET', '/config')
    assert 'href="/config/bus/rs485/scan"' in overview
    good_before = line.gateway.wait_status(lambda s: _good(s) > 0)
    status, headers, _ = admin.request('POST', '/config/bus/rs485/scan', {'csrf': admin.csrf('/config/bus/rs485/scan')})
    assert status == 303
    deadline = time.monotonic() + 120
    while True:
        _, _, text = admin.request('GET', '/config/bus/rs485/scan')
        if '查找完成' in text or time.monotonic() > deadline:
            break
        assert 'data-live="2"' in text                             # the page follows the search by itself
        time.sleep(1)
    found = re.findall(r'<code>(\d{12})</code>', text)
    assert sorted(found) == sorted(ADDRESSES), text
    assert re.search(r'查找完成：(\d+) 次查询，找到 3 块电表', text)
    probes = int(re.search(r'查找完成：(\d+) 次查询', text).group(1))
    assert probes == 200                                          # 100 last bytes, 100 under the clash on 12
    assert '已配置为仪表 kiln' in text                               # the one configured already is named
    assert 'href="/config/add/meter?bus=rs485&amp;address=000000000305"' in text
    # polling went on during the search
    after = line.gateway.wait_status(lambda s: _good(s) > _good(good_before) + 3)
    assert after['durable_seq'] > good_before['durable_seq']
    assert 'scan done after 200 probes' in line.gateway.log()


def _good(status: dict) -> int:
    return sum(p['good'] for s in status['sources'] for p in s.get('points', {}).values())


def test_a_point_is_read_once_as_its_form_says_before_it_is_saved(line):
    admin = signed_in(line.port, 'admin', ADMIN_PASSWORD)
    _, _, form = admin.request('GET', '/config/add/meter?bus=rs485&address=000000000305')
    assert 'value="000000000305"' in form                         # the scan's link fills the address in
    assert 'name="point.item"' in form and 'name="point.code"' in form       # with its first point
    versions = sorted(p.name for p in (line.gateway.data_dir / 'config').glob('*.json'))
    config = line.config.read_text()
    token = admin.csrf('/config')
    meter = {'csrf': token, 'name': 'dryer', 'bus': 'rs485', 'address': '000000000305', 'point.code': CODES[1],
             'point.unit': 'kWh', 'point.every': '1', 'point.item': '00010000', 'action': 'try'}
    status, _, text = admin.request('POST', '/config/add/meter', meter)
    m = re.search(r'读数：([\d.]+) kWh（数据项 (\d{12})），用时 (\d+) 毫秒。尚未保存。', text)
    assert status == 200 and m, re.findall(r'class="(?:notice|error)"[^>]*>([^<]*)', text)
    assert 3000 <= float(m.group(1)) < 3100 and m.group(2) == CODES[1]     # meter 3 starts at 3000 kWh
    assert 'value="00010000"' in text                             # the form keeps what was typed
    # an address no meter on the line has: the read says so, and still nothing is saved
    status, _, text = admin.request('POST', '/config/add/meter', dict(meter, address='000000009999'))
    failed = re.search(r'<p class="error" role="status">([^<]*)</p>', text)
    assert status == 200 and failed and failed.group(1).startswith('读取失败：'), text
    assert 'no answer within 100 ms' in failed.group(1) and 'value="000000009999"' in text
    assert line.config.read_text() == config
    assert sorted(p.name for p in (line.gateway.data_dir / 'config').glob('*.json')) == versions
    status, headers, text = admin.request('POST', '/config/add/meter', dict(meter, action=''))
    assert status == 303 and 'done=live' in headers['location'], re.findall(r'class="error"[^>]*>([^<]*)', text)
    line.gateway.wait_status(lambda s: 'dryer/' + CODES[1] in {k for x in s['sources'] for k in x.get('points', {})})
    assert 'commissioning read of dryer/%s on bus rs485 by admin' % CODES[1] in line.gateway.log()
    # a second point of the meter, read once from the point's own form
    status, _, text = admin.request('POST', '/config/add/point', {
        'csrf': token, 'meter': 'dryer', 'code': energy_codes(3)[2], 'unit': 'kWh', 'item': '00010000',
        'action': 'try'})
    assert status == 200 and re.search(r'读数：[\d.]+ kWh（数据项 %s）' % energy_codes(3)[2], text), \
        re.findall(r'class="(?:notice|error)"[^>]*>([^<]*)', text)
