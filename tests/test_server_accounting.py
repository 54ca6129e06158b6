"""Accounting at the server: libraries published for gateways, scenarios bound to
meters, results by period, boundary node and scope from stored signed readings,
factor versions kept unless recalculation is asked for (SQLite and PostgreSQL)."""

from __future__ import annotations

from portable_helpers import ENERGY, UNITS
from shared import civil
from shared.accounting.exact import Q
from shared.codec import frame
from shared.codec import flags

DAY0 = (civil.days_from_civil(2026, 11, 1) * 86400 - 8 * 3600) * 1000     # 2026-11-01 00:00 Beijing
# no grid factor is published for 2026 reporting yet: the operator records a provisional one
GRID_2026 = {'id': 'grid/national/ets/2026', 'kind': 'grid', 'subject': 'national', 'series': 'ets',
             'value': '0.5703', 'unit': 'tCO2/MWh', 'applies': [2026, 2026], 'origin': 'user',
             'source': 'provisional: the 2023-2025 value until the MEE notice for 2026'}


def _hourly_register(gw, hours: int) -> bytes:
    """An energy register read every hour from 2026-11-01 00:00: 50 kWh an hour, one reading
    missing (flagged), so a day's increment is exactly 50 kWh per hour step."""
    records = []
    for i in range(hours):
        if i == 30:
            records.append(frame.Record(i, ENERGY, DAY0 + i * 3600000, None, 0, flags.FLAG_MISSING))
        else:
            records.append(frame.Record(i, ENERGY, DAY0 + i * 3600000, 100_000_000 + 5000 * i, -2, 0))
    return frame.encode(gw.id, records, UNITS, gw.key.sign)


SCENARIO = {
    'name': 'plant', 'gwp': 'AR5',
    'boundary': {'name': 'Enterprise', 'children': [{'name': 'Line 1', 'sources': ['feeder']},
                                                    {'name': 'Boilers', 'sources': ['gas']}]},
    'sources': [
        {'id': 'feeder', 'method': 'purchased_electricity', 'industry': '08',
         'meter': {'gateway': 'gw-a', 'code': ENERGY, 'register_digits': 6}},
        {'id': 'gas', 'method': 'fuel_combustion', 'industry': '08', 'fuel': 'natural_gas',
         'activity': {'value': '1', 'unit': '10^4 Nm3'}}],
}


async def _put(harness, name, doc, role='admin'):
    headers = {'Authorization': 'Bearer ' + harness.tokens[role]}
    async with harness.session.put(harness.url + '/api/v1/accounting/scenarios/' + name, json=doc,
                                   headers=headers) as r:
        return r.status, await r.json()


async def test_results_by_period_node_and_scope_from_stored_readings(harness):
    status, doc = await harness.post_frame(_hourly_register(harness.gateways['gw-a'], 48))
    assert status == 200, doc
    assert (await harness.post_json('/api/v1/accounting/factors', GRID_2026))[0] == 201
    assert (await _put(harness, 'plant', SCENARIO, role='operator'))[0] == 403
    status, doc = await _put(harness, 'plant', SCENARIO)
    assert (status, doc['version']) == (201, 1)

    status, day1 = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-01')
    assert status == 200, day1
    feeder = {s['id']: s for s in day1['sources']}['feeder']
    # 24 readings on the first day, no baseline before it: 23 steps × 50 kWh = 1.15 MWh × 0.5703
    assert feeder['activity']['value'] == '1.15' and feeder['activity']['readings'] == 24
    assert Q.from_ratio(feeder['co2e_exact']) == Q.of('1.15') * Q.of('0.5703')
    status, day2 = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-02')
    feeder2 = {s['id']: s for s in day2['sources']}['feeder']
    # the last reading of day 1 is the baseline (1 + 24 records of the day, one of them missing and
    # skipped, not taken as zero): the register moved 24 × 50 kWh = 1.2 MWh
    assert feeder2['activity']['value'] == '1.2' and feeder2['activity']['readings'] == 25

    status, line = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-02',
                                     node='Line 1', scope='2')
    assert [s['id'] for s in line['sources']] == ['feeder'] and line['boundary']['name'] == 'Line 1'
    assert Q.of(line['totals']['scope2_net_t']) == Q.of('1.2') * Q.of('0.5703')
    status, doc = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-13')
    assert (status, doc['error']) == (400, 'bad_query')
    status, doc = await harness.get('/api/v1/accounting/results', scenario='nope', period='2025')
    assert status == 404


async def test_factor_update_keeps_old_version_until_recalculation(harness):
    await harness.post_frame(_hourly_register(harness.gateways['gw-a'], 48))
    await harness.post_json('/api/v1/accounting/factors', GRID_2026)
    await _put(harness, 'plant', SCENARIO)
    _, first = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-02')
    assert first['factors_used']['grid/national/ets/2026'] == 1
    status, ref = await harness.post_json('/api/v1/accounting/factors', dict(GRID_2026, value='0.6',
                                                                            source='the MEE notice for 2026'))
    assert (status, ref['version']) == (201, 2)
    _, again = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-02')
    assert again['factors_used'] == first['factors_used'] and again['totals'] == first['totals']
    _, recalc = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-02',
                                  recalculate='1')
    assert recalc['factors_used']['grid/national/ets/2026'] == 2
    feeder = {s['id']: s for s in recalc['sources']}['feeder']
    assert Q.from_ratio(feeder['co2e_exact']) == Q.of('1.2') * Q.of('0.6')
    _, audit = await harness.get('/api/v1/audit', role='admin')
    assert {'accounting.factor', 'accounting.scenario'} <= {a['action'] for a in audit['audit']}


async def test_libraries_for_gateways_and_bad_scenarios(harness):
    status, libs = await harness.get('/api/v1/accounting/libraries')
    assert status == 200 and libs['factors']['version'] == '2026.1' and libs['methods']['methods'] >= 10
    status, factors = await harness.get('/api/v1/accounting/libraries/factors')
    assert any(r['id'] == 'ncv/natural_gas' for r in factors['records'])
    status, methods = await harness.get('/api/v1/accounting/libraries/methods')
    assert 'fuel_combustion' in methods['methods']
    status, doc = await harness.post_json('/api/v1/accounting/evaluate', {
        'reporting_year': 2024, 'sources': [{'id': 'x', 'method': 'purchased_electricity',
                                             'activity': {'value': '5', 'unit': 'GJ'}}]}, role='operator')
    assert status == 422 and doc['error'] == 'scenario' and 'expected MWh' in doc['detail']
    status, doc = await harness.post_json('/api/v1/accounting/factors', {'id': 'x', 'kind': 'colour'})
    assert status == 409 and 'factor' in doc['detail']
    status, doc = await _put(harness, 'empty', {'sources': []})
    assert (status, doc['error']) == (422, 'scenario') and 'sources' in doc['detail']


async def test_a_corrected_manual_entry_counts_once_with_its_latest_value(harness):
    """Issue 13, item 5: a manual amount corrected at the gateway (the old value withdrawn —
    manual and invalid — and the new one entered at the same time) books the new value only;
    a withdrawn entry books nothing."""
    manual, withdrawn = flags.FLAG_MANUAL, flags.FLAG_MANUAL | flags.FLAG_INVALID
    coal = '080100202001'                                                  # bituminous coal, consumption in period
    t1, t2 = DAY0 + 86400000 * 10, DAY0 + 86400000 * 20
    records = [frame.Record(0, coal, t1, 81240, -2, manual),          # 812.40 t
               frame.Record(1, coal, t1, 81240, -2, withdrawn),       # corrected: withdrawn ...
               frame.Record(2, coal, t1, 80240, -2, manual),          # ... and 802.40 t entered
               frame.Record(3, coal, t2, 5000, -2, manual),           # 50.00 t
               frame.Record(4, coal, t2, 5000, -2, withdrawn)]        # withdrawn
    status, doc = await harness.post_frame(frame.encode('gw-a', records, {coal: 't'}, harness.gateways['gw-a'].key.sign))
    assert status == 200, doc
    scenario = {'name': 'kiln', 'gwp': 'AR5', 'boundary': {'name': 'Enterprise', 'sources': ['coal']},
                'sources': [{'id': 'coal', 'method': 'fuel_combustion', 'industry': '08', 'fuel': 'bituminous_coal',
                             'meter': {'gateway': 'gw-a', 'code': coal}}]}
    assert (await _put(harness, 'kiln', scenario))[0] == 201
    status, result = await harness.get('/api/v1/accounting/results', scenario='kiln', period='2026-11')
    assert status == 200, result
    activity = result['sources'][0]['activity']
    assert (activity['origin'], Q.of(activity['value']), activity['unit']) == ('amounts', Q.of('802.40'), 't')
    assert (activity['amounts'], activity['superseded_or_invalid']) == (1, 1), activity


async def test_a_provisional_result_is_recomputed_and_kept_when_the_years_factor_is_published(harness):
    """Issue 13, item 8: reporting year 2026 had no grid factor, so no real-time figure.  Now
    the latest published one is used, marked provisional in the result; when the 2026 factor
    is added the result is recomputed with it and the provisional one is kept beside it."""
    status, doc = await harness.post_frame(_hourly_register(harness.gateways['gw-a'], 48))
    assert status == 200, doc
    assert (await _put(harness, 'plant', SCENARIO))[0] == 201
    status, first = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-01')
    assert status == 200, first
    feeder = next(s for s in first['sources'] if s['id'] == 'feeder')
    assert feeder['parameters']['EF']['factor']['status'] == 'provisional'
    assert first['provisional_factors'] == {'grid/national/ets/2022': 1}
    assert (await harness.post_json('/api/v1/accounting/factors', dict(GRID_2026, value='0.6')))[0] == 201
    status, second = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-01')
    assert status == 200, second
    feeder2 = next(s for s in second['sources'] if s['id'] == 'feeder')
    assert feeder2['parameters']['EF']['factor']['id'] == 'grid/national/ets/2026' and not second['provisional_factors']
    assert Q.of(feeder2['co2e_t']) != Q.of(feeder['co2e_t'])
    kept = second['earlier_versions']
    assert len(kept) == 1 and kept[0]['provisional_factors'] == first['provisional_factors']
    assert kept[0]['totals'] == first['totals']
    status, third = await harness.get('/api/v1/accounting/results', scenario='plant', period='2026-11-01')
    assert len(third['earlier_versions']) == 1 and third['totals'] == second['totals']
