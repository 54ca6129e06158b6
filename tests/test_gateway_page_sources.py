"""The pushed sources through the page (issue 15, item 4): an MQTT broker, an OPC UA server
with its nodes and an HJ 212 listener with its mapping, as rows of a form; a row's
mistake beside its cell; manual entry switched on and off; each a version applied live."""

from __future__ import annotations

import tomllib

import pytest

from gateway_process import energy_codes
from page_helpers import errors_of, running_page, signed_in

ADMIN = ('admin', 'admin password 1')
CODES = energy_codes(6)


@pytest.fixture
def page(tmp_path):
    with running_page(tmp_path, [ADMIN], meters=True) as p:
        yield p



def _sources(status: dict) -> list[dict]:
    return [s for s in status['sources'] if 'mqtt' in s or 'opcua' in s or 'hj212' in s or 'manual' in s]


def test_pushed_sources_are_rows_of_forms_applied_live(page, mosquitto):
    admin = signed_in(page.port, *ADMIN)
    token = admin.csrf('/config')
    _, _, form = admin.request('GET', '/config/add/opcua')
    assert 'name="node.3.code"' in form                                  # three blank rows to fill
    status, _, text = admin.request('POST', '/config/add/opcua', {
        'csrf': token, 'url': 'opc.tcp://127.0.0.1:4/', 'node.1.node': 'ns=2;s=Kiln1.Feed', 'node.1.code': CODES[3],
        'node.1.unit': 'kWh', 'node.1.mode': 'read', 'node.1.every': 'often'})
    assert status == 400 and list(errors_of(text)) == ['node.1.every'], errors_of(text)
    status, headers, text = admin.request('POST', '/config/add/opcua', {
        'csrf': token, 'url': 'opc.tcp://127.0.0.1:4/', 'node.1.node': 'ns=2;s=Kiln1.Feed', 'node.1.code': CODES[3],
        'node.1.unit': 'kWh', 'node.1.mode': 'read', 'node.1.every': '60', 'node.2.node': 'ns=2;s=Kiln1.Power',
        'node.2.code': CODES[4], 'node.2.unit': 'kWh', 'node.3.node': '', 'node.3.code': ''})
    assert status == 303 and 'done=live' in headers['location'], errors_of(text)
    doc = tomllib.loads(page.config.read_text())
    assert [n['code'] for n in doc['opcua'][0]['node']] == [CODES[3], CODES[4]]
    assert '[[opcua.node]]' in page.config.read_text()                # written as the docs write it
    status, headers, text = admin.request('POST', '/config/add/mqtt', {
        'csrf': token, 'host': '127.0.0.1', 'port': str(mosquitto.port), 'topics': 'plant/+/readings, plant/manual'})
    assert status == 303, errors_of(text)
    status, headers, text = admin.request('POST', '/config/add/hj212', {
        'csrf': token, 'listen': '127.0.0.1:0', 'map.1.cn': '2061', 'map.1.pollutant': 'a21026', 'map.1.field': 'Avg',
        'map.1.code': CODES[5], 'map.1.unit': 'kWh'})
    assert status == 400 and 'listen' in str(errors_of(text))              # port 0: the loader's own check
    s = page.gateway.wait_status(lambda s: any('mqtt' in x for x in s['sources']) and any(
        'opcua' in x for x in s['sources']))
    assert s['config']['pending'] is None and page.gateway.proc.poll() is None
    _, _, overview = admin.request('GET', '/config')
    assert 'opc.tcp://127.0.0.1:4/' in overview and '2 项' in overview and 'plant/+/readings' in overview
    # edit the broker's topics, then switch manual entry on: each a version, live
    status, _, _ = admin.request('POST', '/config/mqtt/1', {'csrf': token, 'host': '127.0.0.1',
                                                            'port': str(mosquitto.port), 'topics': 'plant/#'})
    assert status == 303 and tomllib.loads(page.config.read_text())['mqtt'][0]['topics'] == ['plant/#']
    status, headers, _ = admin.request('POST', '/config/manual', {'csrf': token, 'enabled': 'on'})
    assert status == 303 and 'done=live' in headers['location']
    page.gateway.wait_status(lambda s: any('manual' in x for x in s['sources']))
    assert admin.request('GET', '/manual')[0] == 200 and '人工录入已开启' in admin.request('GET', '/config')[2]
    status, _, _ = admin.request('POST', '/config/opcua/1/remove', {'csrf': token, 'why': 'the server moved'})
    assert status == 303 and 'opcua' not in tomllib.loads(page.config.read_text())
