"""The accounting bindings and the boundary through the page (issue 15, item 4; seed 001
§9.2 a–c, §9.3 a–f): the entity, its accounting units and its emission sources bound to
the gateway's points, checked against the method library beside the field, each a
version applied live; the live emissions and the boundary view follow at once."""

from __future__ import annotations

import re
import time
import tomllib

import pytest

from gateway_process import energy_codes
from page_helpers import errors_of, running_page, signed_in

ADMIN = ('admin', 'admin password 1')
ENERGY = energy_codes(1)[0]
COAL = '080100202001'


@pytest.fixture
def page(tmp_path):
    with running_page(tmp_path, [ADMIN], meters=True, manual=True) as p:
        yield p



def test_bindings_and_boundary_are_configured_on_the_page_and_followed_live(page):
    admin = signed_in(page.port, *ADMIN)
    token = admin.csrf('/config')
    status, headers, text = admin.request('POST', '/config/accounting', {
        'csrf': token, 'name': '闽东水泥有限公司', 'credit_code': '91350900MA2XXXXXX1', 'gwp': 'AR5'})
    assert status == 303 and 'done=live' in headers['location'], errors_of(text)
    status, _, text = admin.request('POST', '/config/add/accounting_unit', {'csrf': token, 'name': 'clinker-line-1',
                                                                            'kind': 'production line'})
    assert status == 303, errors_of(text)
    source = {'csrf': token, 'id': 'incomer', 'unit': 'clinker-line-1', 'industry': '08',
              'method': 'carbonate', 'code': ENERGY}
    status, _, text = admin.request('POST', '/config/add/emission_source', source)
    errors = errors_of(text)
    assert status == 400 and list(errors) == ['method'] and 'purchased_electricity' in errors['method'], errors
    status, headers, text = admin.request('POST', '/config/add/emission_source',
                                          dict(source, method='purchased_electricity'))
    assert status == 303 and 'done=live' in headers['location'], errors_of(text)
    # fuel needs its subject; a given parameter must be one of the method's inputs
    coal = {'csrf': token, 'id': 'kiln-coal', 'unit': 'clinker-line-1', 'industry': '08',
            'method': 'fuel_combustion', 'code': COAL, 'parameter.1.name': 'NCV', 'parameter.1.value': '23.35',
            'parameter.1.unit': 'GJ/t', 'parameter.1.evidence': 'lab report 2026-11'}
    status, _, text = admin.request('POST', '/config/add/emission_source', coal)
    assert status == 400 and 'subject' in errors_of(text), errors_of(text)
    status, _, text = admin.request('POST', '/config/add/emission_source',
                                    dict(coal, subject='bituminous_coal', **{'parameter.1.name': 'calorific'}))
    assert status == 400 and 'NCV' in str(errors_of(text)), errors_of(text)
    status, headers, text = admin.request('POST', '/config/add/emission_source', dict(coal, subject='bituminous_coal'))
    assert status == 303 and 'done=live' in headers['location'], errors_of(text)
    doc = tomllib.loads(page.config.read_text())
    assert doc['emission_source'][1]['parameter'] == [{'name': 'NCV', 'value': '23.35', 'unit': 'GJ/t',
                                                       'evidence': 'lab report 2026-11'}]
    assert '[[emission_source.parameter]]' in page.config.read_text()
    assert page.gateway.wait_status(lambda s: s['config'] is not None)['config']['pending'] is None
    assert 'live accounting: scenario 闽东水泥有限公司, 2 source(s) bound here' in page.gateway.log()

    deadline = time.monotonic() + 60               # the energy register grows: the boundary adds it up
    while True:
        _, _, view = admin.request('GET', '/boundary')
        m = re.search(r'<strong>clinker-line-1</strong>.*?<span class="btotal">([\d.]+) t</span>', view, re.S)
        if m and float(m.group(1)) > 0:
            break
        assert time.monotonic() < deadline, view[view.find('<main'):][:3000]
        time.sleep(2)
    assert '<strong>闽东水泥有限公司</strong>' in view and '<span>incomer</span>' in view and ENERGY in view
    # renaming the unit takes its sources along; the boundary follows
    status, _, text = admin.request('POST', '/config/accounting_unit/clinker-line-1', {
        'csrf': token, 'name': 'kiln-1', 'kind': 'production line'})
    assert status == 303, errors_of(text)
    assert {s['unit'] for s in tomllib.loads(page.config.read_text())['emission_source']} == {'kiln-1'}
    _, _, view = admin.request('GET', '/boundary')
    assert '<strong>kiln-1</strong>' in view
