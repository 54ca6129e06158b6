"""Live emissions on the gateway (issue 15, items 3 and 6): the tally keeps what accounting
needs of a month of readings, the shared engine computes from it exactly what it computes
from every reading, a manual entry shows the emissions it causes before and after its
approval, and a scenario the gateway cannot use stops its start with the setting named."""

from __future__ import annotations

import json
import re
import time

import pytest

from firmware.emissions import LiveEmissions, load
from firmware.settings import GatewayConfigError
from firmware.tally import Tally, day_start_ms, month_start_ms
from gateway_process import energy_codes
from page_helpers import Browserless, running_page, signed_in
from shared import civil
from shared.accounting.engine import Engine
from shared.codec.flags import FLAG_MISSING, FLAG_ROLLOVER

OFFSET = 8 * 3600
ENERGY = energy_codes(1)[0]
COAL = '080100202001'          # cement · bituminous coal · consumption in period (an amount)


def _scenario(tmp_path, gateway='GW-FAULT'):
    doc = {'name': 'live', 'reporting_year': 2026, 'sources': [
        {'id': 'incomer', 'method': 'purchased_electricity', 'meter': {'gateway': gateway, 'code': ENERGY}},
        {'id': 'kiln-coal', 'method': 'fuel_combustion', 'industry': '08', 'fuel': 'bituminous_coal',
         'meter': {'gateway': gateway, 'code': COAL}},
        {'id': 'other-site', 'method': 'purchased_electricity', 'meter': {'gateway': 'GW-OTHER', 'code': ENERGY}},
        {'id': 'boiler-gas', 'method': 'fuel_combustion', 'industry': '08', 'fuel': 'natural_gas',
         'activity': {'value': '12', 'unit': '10^4 Nm3'}}],
        'boundary': {'name': 'plant', 'kind': 'organisation',
                     'sources': ['incomer', 'kiln-coal', 'other-site', 'boiler-gas']}}
    path = tmp_path / 'scenario.json'
    path.write_text(json.dumps(doc))
    return path


def test_the_tally_keeps_what_accounting_needs_and_the_engine_agrees_with_every_reading(tmp_path):
    """Three days of minute readings with a rollover: the tally's few entries give the
    engine the same exact total as all 4,320 readings."""
    t0 = month_start_ms(civil.days_from_civil(2026, 12, 1) * 86400_000, OFFSET) + 5 * 60_000
    tally = Tally(OFFSET, str(tmp_path / 'tally.json'))
    every = []
    register = 999_000_00                           # 999000.00 kWh, 6 digits: rolls over on day 2
    for i in range(3 * 1440):
        ts = t0 + i * 60_000
        register += 37 + i % 5                      # 0.37..0.41 kWh a minute
        flags = 0
        if register >= 1_000_000_00:
            register -= 1_000_000_00
            flags = FLAG_ROLLOVER
        tally.add(int(ENERGY), ts, register, -2, flags, 'kWh')
        every.append([ts, '%d.%02d' % divmod(register, 100), flags])
    tally.add(int(ENERGY), t0 + 4320 * 60_000, None, 0, FLAG_MISSING, 'kWh')   # a missing one is not kept
    kept, unit = tally.readings(ENERGY, 0)
    assert unit == 'kWh' and len(kept) <= 4 * 2 + 2         # first and last of 4 local days, the rollover and the one before

    def total(readings):
        return Engine().evaluate({'reporting_year': 2026, 'sources': [{
            'id': 'e', 'method': 'purchased_electricity',
            'activity': {'readings': readings, 'unit': 'kWh', 'register_digits': 6}}]})['sources'][0]['co2e_exact']
    assert total(kept) == total(every)
    # today: the baseline is yesterday's last reading, so today's increments alone count
    day3 = day_start_ms(t0 + 2 * 86400_000, OFFSET)
    today, _ = tally.readings(ENERGY, day3)
    assert today[0][0] < day3 <= today[1][0]
    assert total(today) == total([r for r in every if r[0] >= day3 - 60_000])
    tally.write(tally.snapshot())
    again = Tally(OFFSET, str(tmp_path / 'tally.json'))
    assert again.readings(ENERGY, 0) == (kept, 'kWh')
    again.prune(t0 + 62 * 86400_000)                # two months on: December is forgotten
    assert again.readings(ENERGY, 0) == ([], 'kWh')


def test_live_emissions_leave_out_other_gateways_and_given_totals_and_count_an_entry(tmp_path):
    live = LiveEmissions('GW-FAULT', {'accounting': {'scenario': str(_scenario(tmp_path))}}, Tally(OFFSET), OFFSET)
    assert live.left_out == {'other_gateways': ['other-site'], 'given_totals': ['boiler-gas']}
    now = civil.days_from_civil(2026, 12, 1) * 86400_000 + 6 * 3600_000
    live.tally.add(int(ENERGY), now - 3600_000, 100000, -2, 0, 'kWh')
    live.tally.add(int(ENERGY), now, 300000, -2, 0, 'kWh')               # 2000 kWh = 2 MWh
    live.tally.add(int(COAL), now - 60_000, 1255, -1, 0x0008, 't')        # 125.5 t, a manual entry
    result = live.evaluate('today', now)
    by_id = {s['id']: s for s in result['sources']}
    assert set(by_id) == {'incomer', 'kiln-coal'}
    assert by_id['incomer']['activity']['value'] == '2' and by_id['incomer']['co2e_t'] == '1.1406'   # 2 MWh x 0.5703
    entry = live.for_entry(COAL, '125.5', 't', 2026)
    assert entry['source'] == 'kiln-coal' and entry['co2e_t'] == by_id['kiln-coal']['co2e_t']
    assert result['totals']['total_net_t'] == '%s' % (Engine().evaluate({'reporting_year': 2026, 'sources': [
        dict({k: v for k, v in s.items() if k != 'meter'}, activity={'value': a, 'unit': u})
        for s, a, u in ((live.sources[0], '2', 'MWh'), (live.sources[1], '125.5', 't'))]})['totals']['total_net_t'])
    assert live.for_entry('080100202009', '1', 't', 2026) is None


def test_a_scenario_the_gateway_cannot_use_is_refused_with_the_setting_named(tmp_path):
    with pytest.raises(GatewayConfigError, match='no source is bound to this gateway'):
        load({'accounting': {'scenario': str(_scenario(tmp_path, gateway='GW-ELSEWHERE'))}}, 'GW-FAULT')
    with pytest.raises(GatewayConfigError, match='accounting.scenario: cannot read'):
        load({'accounting': {'scenario': str(tmp_path / 'missing.json')}}, 'GW-FAULT')
    (tmp_path / 'bad.json').write_text('{"sources": [')
    with pytest.raises(GatewayConfigError, match='is not valid JSON'):
        load({'accounting': {'scenario': str(tmp_path / 'bad.json')}}, 'GW-FAULT')
    with pytest.raises(GatewayConfigError, match=r'\[accounting\] takes only libraries besides'):
        load({'accounting': {'scenario': str(_scenario(tmp_path)), 'factor': 'x'}}, 'GW-FAULT')


@pytest.fixture
def plant(tmp_path):
    extra = '\n[accounting]\nscenario = "%s"\n' % _scenario(tmp_path)
    accounts = [(name, name + ' password 1', role) for name, role in (('admin', 'admin'), ('alice', 'operator'),
                                                                      ('bob', 'operator'))]
    with running_page(tmp_path, accounts, meters=True, manual=True, extra=extra) as p:
        yield p


def _client(page, name: str) -> Browserless:
    return signed_in(page.port, name, name + ' password 1')


def _month_total(html: str) -> str:
    month = html[html.index('本月'):]
    return re.search(r'净排放合计</dt><dd><strong>([^<]+)</strong>', month).group(1)


def test_the_dashboard_shows_live_emissions_and_an_approved_entry_changes_them(plant):
    alice, bob = _client(plant, 'alice'), _client(plant, 'bob')
    deadline = time.monotonic() + 60
    while True:                                   # the rig's energy register grows 1 kWh a second
        _, _, text = alice.request('GET', '/')
        m = re.search(r'<td>incomer<br>.*?<td class="num">([\d.]+) MWh</td>\s*<td class="num">([\d.]+) t</td>', text,
                      re.S)
        if m and float(m.group(2)) > 0:
            break
        assert time.monotonic() < deadline, text[text.find('id="emissions"'):][:3000]
        time.sleep(2)
    assert 'grid/national/ets/2022 v1' in text                     # the factor, by id and version
    assert '1 个由其他网关计量的排放源，1 个以总量给出的排放源' in text
    before = _month_total(text)
    today = civil.local_iso(int(time.time() * 1000), OFFSET)[:10]
    form = {'code': COAL, 'value': '125.5', 'unit': 't', 'from': today, 'to': today, 'evidence': 'INV-1187',
            'csrf': alice.csrf('/manual')}
    assert alice.request('POST', '/manual', form)[0] == 303
    _, _, text = alice.request('GET', '/manual')
    assert '该数值计入 kiln-coal：218.590 tCO2e' in text            # shown before anyone approves it
    proposal = re.search(r'/manual/([0-9a-f]{12})/approve', text).group(1)
    assert bob.request('POST', '/manual/%s/approve' % proposal, {'csrf': bob.csrf('/manual')})[0] == 303
    deadline = time.monotonic() + 60
    while True:
        _, _, text = bob.request('GET', '/')
        if re.search(r'<td>kiln-coal<br>.*?<td class="num">218\.590 t</td>', text, re.S):
            break
        assert time.monotonic() < deadline, text[text.find('id="emissions"'):][:3000]
        time.sleep(2)
    assert float(_month_total(text)) >= float(before) + 218.589
