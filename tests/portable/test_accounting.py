"""The accounting engine against hand-worked examples (reference/accounting.md §2-§6).
Each test shows the arithmetic; the engine must agree exactly (rationals, no rounding).
Runs on CPython and MicroPython."""

from portable_helpers import raises
from shared.accounting import processing, rollup
from shared.accounting.engine import Engine, ScenarioError
from shared.accounting.exact import Q
from shared.accounting.factors import FactorLibrary


def _one(source, **scenario):
    doc = {'reporting_year': 2024, 'sources': [source]}
    doc.update(scenario)
    return Engine().evaluate(doc)


def _co2e(source, **scenario):
    return Q.from_ratio(_one(source, **scenario)['sources'][0]['co2e_exact'])


def test_natural_gas_with_defaults():
    # 100 × 10^4 Nm3 × 389.31 GJ/10^4 Nm3 × 15.3 tC/TJ (= 0.0153 tC/GJ) × 0.99 × 44/12
    # = 100 × 389.31 × 0.0153 × 0.99 × 44 / 12 = 2162.188809 tCO2 (21.622 tCO2/10^4 Nm3, reference §3)
    expected = Q(100) * Q.of('389.31') * Q.of('0.0153') * Q.of('0.99') * Q(44, 12)
    assert expected == Q.of('2162.188809')
    src = {'id': 'gas', 'method': 'fuel_combustion', 'fuel': 'natural_gas',
           'activity': {'value': '100', 'unit': '10^4 Nm3'}}
    assert _co2e(src) == expected
    # the same gas in Nm3 is converted exactly
    assert _co2e(dict(src, activity={'value': '1000000', 'unit': 'Nm3'})) == expected
    result = _one(src)
    assert result['factors_used'] == {'ncv/natural_gas': 1, 'cc/natural_gas': 1, 'of/natural_gas': 1,
                                      'tce/natural_gas': 1}
    # 10^6 Nm3 × 1.3300 kgce/Nm3 = 1330 tce
    assert result['sources'][0]['tce'] == '1330'


def test_measured_parameters_override_defaults_with_unit_conversion():
    # NCV measured 38.5 MJ/Nm3 = 385 GJ/10^4 Nm3: 100 × 385 × 0.0153 × 0.99 × 44/12 = 2138.2515
    src = {'id': 'gas', 'method': 'fuel_combustion', 'fuel': 'natural_gas',
           'activity': {'value': '100', 'unit': '10^4 Nm3'},
           'parameters': {'NCV': {'value': '38.5', 'unit': 'MJ/Nm3', 'evidence': 'lab report 2024-07'}}}
    result = _one(src)
    assert Q.of(result['sources'][0]['co2e_t']) == Q.of('2138.2515')
    ncv = result['sources'][0]['parameters']['NCV']
    assert ncv['origin'] == 'given' and ncv['value'] == '385' and ncv['as_given'] == {'value': '38.5',
                                                                                     'unit': 'MJ/Nm3'}
    assert 'ncv/natural_gas' not in result['factors_used']


def test_wrong_or_missing_units_are_refused():
    gas = {'id': 'gas', 'method': 'fuel_combustion', 'fuel': 'natural_gas'}
    e = raises(ScenarioError, _one, dict(gas, activity={'value': '100', 'unit': 't'}))
    assert 't cannot be converted to 10^4 Nm3' in str(e)
    e = raises(ScenarioError, _one, dict(gas, activity={'value': '100'}))
    assert 'unit is missing' in str(e)
    grid = {'id': 'grid', 'method': 'purchased_electricity', 'activity': {'value': '5', 'unit': 'GJ'}}
    assert 'expected MWh' in str(raises(ScenarioError, _one, grid))
    coal = {'id': 'c', 'method': 'fuel_combustion', 'fuel': 'raw_coal', 'activity': {'value': '5', 'unit': 'kt'},
            'parameters': {'NCV': {'value': '20', 'unit': 'GJ'}}}
    assert 'GJ cannot be converted to GJ/t' in str(raises(ScenarioError, _one, coal))
    # kt vs t: converted, not refused (5 kt = 5000 t; 5000 × 20 × 0.02637 × 0.94 × 44/12)
    coal['parameters'] = {'NCV': {'value': '20', 'unit': 'GJ/t'}}
    assert _co2e(coal) == Q(5000) * 20 * Q.of('0.02637') * Q.of('0.94') * Q(44, 12)


def test_coal_element_carbon_from_laboratory_and_default():
    # C_ar = C_ad × (100 − M_ar) / (100 − M_ad) = 60 × 92 / 98 % = 0.56326...; OF 0.99
    # E = 1000 t × 5520/9800 × 0.99 × 44/12 = 24,045,120,000 / 11,760,000 = 2044.653061...
    src = {'id': 'boiler', 'method': 'coal_element_carbon', 'industry': '01', 'fuel': 'bituminous_coal',
           'activity': {'value': '1000', 'unit': 't'},
           'parameters': {'C_ad': {'value': '60', 'unit': '%'}, 'M_ar': {'value': '8', 'unit': '%'},
                          'M_ad': {'value': '2', 'unit': '%'}}}
    assert _co2e(src) == Q(24045120000, 11760000)
    # no valid carbon test: C_ar = NCV_ar × 0.03085 tC/GJ (June 2022 notice, data 2021 on)
    # = 20 × 0.03085 = 0.617; E = 1000 × 0.617 × 0.99 × 44/12 = 2239.71
    no_lab = dict(src, parameters={'NCV_ar': {'value': '20', 'unit': 'GJ/t'}})
    assert _co2e(no_lab) == Q.of('2239.71')
    # for 2020 data the 2021 edition's 0.03356 applies: 1000 × 20 × 0.03356 × 0.99 × 44/12 = 2436.456
    assert _co2e(no_lab, reporting_year=2020) == Q.of('2436.456')


def test_carbonate_clinker_and_raw_meal():
    # 500 t CaCO3 at 95 %: 500 × 0.95 × 0.4397 × 1 = 208.8575
    assert _co2e({'id': 'lime', 'method': 'carbonate', 'carbonate': 'caco3',
                  'activity': {'value': '500', 'unit': 't'}, 'parameters': {'PUR': {'value': '95', 'unit': '%'}}}) \
        == Q.of('208.8575')
    # 10 kt clinker, CaO 65 % of which 0.5 % not from carbonates, MgO 1.5 %, 200 t kiln-head dust:
    # (10000 + 200) × ((0.65 − 0.005) × 44/56 + 0.015 × 44/40) = 10200 × (0.645 × 11/14 + 0.0165)
    clinker = {'id': 'kiln', 'method': 'clinker_process', 'industry': '08',
               'activity': {'value': '10', 'unit': 'kt'},
               'parameters': {'FR1': {'value': '65', 'unit': '%'}, 'FR1_0': {'value': '0.5', 'unit': '%'},
                              'FR2': {'value': '1.5', 'unit': '%'}, 'Q_ckd': {'value': '200', 'unit': 't'}}}
    assert _co2e(clinker) == Q(10200) * (Q.of('0.645') * Q(11, 14) + Q.of('0.0165'))
    # 16 kt raw meal × 0.2 % non-fuel carbon × 44/12 = 117.333...
    assert _co2e({'id': 'meal', 'method': 'rawmeal_nonfuel_carbon', 'industry': '08',
                  'activity': {'value': '16000', 'unit': 't'}, 'parameters': {'FR0': {'value': '0.2', 'unit': '%'}}}) \
        == Q(16000) * Q(2, 1000) * Q(44, 12)
    # default clinker factor, set 1 (Portland 0.535): 10000 × 0.535 = 5350
    assert _co2e({'id': 'k', 'method': 'clinker_default_ef', 'clinker': 'portland',
                  'activity': {'value': '10000', 'unit': 't'}}, regime='set1') == Q(5350)


def test_electricity_series_and_years():
    src = {'id': 'grid', 'method': 'purchased_electricity', 'activity': {'value': '5000', 'unit': 'MWh'}}
    # ETS series for 2024: 0.5703 tCO2/MWh (MEE Feb 2023 notice, 2023-2025): 5000 × 0.5703 = 2851.5
    assert _co2e(src) == Q.of('2851.5')
    # statistical series, data year Y-2 = 2022: 0.5366 kgCO2/kWh = 0.5366 tCO2/MWh: 2683
    assert _co2e(src, grid={'series': 'statistical'}) == Q(2683)
    # issue 13, item 8: 2026 has no published factor yet: the most recent one, marked provisional in the
    # result, so that real-time figures exist (recomputed when the 2026 factor is added)
    r = _one(src, reporting_year=2026, grid={'series': 'statistical'})
    grid = r['sources'][0]['parameters']['EF']['factor']
    assert (grid['id'], grid['status'], grid['provisional_for']) == ('grid/national/statistical/2022', 'provisional',
                                                                       2026)
    assert r['provisional_factors'] == {'grid/national/statistical/2022': 1}
    assert any('used provisionally' in w for w in r['warnings'])
    assert Q.of(r['sources'][0]['co2e_t']) == Q(2683)
    # a year before any record is still refused, not guessed
    e = raises(ScenarioError, lambda: _one(src, reporting_year=2010))
    assert 'no grid factor' in str(e) and '2010' in str(e)


def test_a_users_grid_factor_for_other_years_is_named_when_passed_over():
    """Issue 13, item 7: it silently fell back to the library's factor."""
    src = {'id': 'grid', 'method': 'purchased_electricity', 'activity': {'value': '5000', 'unit': 'MWh'}}
    own = {'id': 'grid/national/ets/own', 'kind': 'grid', 'subject': 'national', 'series': 'ets', 'value': '0.55',
           'unit': 'tCO2/MWh', 'applies': [2022, 2022], 'source': 'our contract'}
    r = _one(src, reporting_year=2024, factors=[own])
    assert r['sources'][0]['parameters']['EF']['factor']['id'] == 'grid/national/ets/2022'
    assert any('user record grid/national/ets/own applies to 2022..2022, not to 2024' in w for w in r['warnings'])


def test_negative_consumption_and_calorific_value_are_refused():
    """Issue 13, item 7: they gave silent negative emissions."""
    coal = {'id': 'kiln', 'method': 'fuel_combustion', 'fuel': 'bituminous_coal',
            'activity': {'value': '-100', 'unit': 't'}}
    e = raises(ScenarioError, lambda: _one(coal))
    assert 'source kiln.activity: -100 t is negative' in str(e)
    e = raises(ScenarioError, lambda: _one(dict(coal, activity={'value': '100', 'unit': 't'},
                                                parameters={'NCV': {'value': '-20', 'unit': 'GJ/t'}})))
    assert 'parameters.NCV: -20 GJ/t is negative' in str(e)
    e = raises(ScenarioError, lambda: _one({'id': 'grid', 'method': 'purchased_electricity',
                                            'activity': {'value': '-5', 'unit': 'MWh'}}))
    assert 'is negative' in str(e)
    # exports stay negative by design: their own method, a positive amount
    r = _one({'id': 'out', 'method': 'exported_electricity', 'activity': {'value': '1000', 'unit': 'MWh'}})
    assert Q.of(r['sources'][0]['co2e_t']) == Q.of('-570.3')


def test_a_coal_without_a_coefficient_of_its_own_gets_standard_coal_from_its_calorific_value():
    """Issue 13, item 8: bituminous coal had no standard-coal figure (GB/T 2589: 1 kgce = 29 307 kJ)."""
    r = _one({'id': 'kiln', 'method': 'fuel_combustion', 'fuel': 'bituminous_coal',
              'activity': {'value': '1000', 'unit': 't'}, 'parameters': {'NCV': {'value': '23.5', 'unit': 'GJ/t'}}})
    s = r['sources'][0]
    assert abs(float(Q.of(s['tce'])) - 1000 * 23.5 / 29.307) < 1e-5 and 'GB/T 2589' in s['tce_basis']
    assert not any('standard-coal' in w for w in r['warnings'])


def test_net_purchases_heat_from_steam_and_water_recovery_and_non_co2():
    scenario = {'reporting_year': 2024, 'gwp': 'AR5', 'sources': [
        {'id': 'in', 'method': 'purchased_electricity', 'activity': {'value': '5000', 'unit': 'MWh'}},
        {'id': 'out', 'method': 'exported_electricity', 'activity': {'value': '1000', 'unit': 'MWh'}},
        # recovered CO2: 10 × 10^4 Nm3 × 0.995 × 19.77 = 196.71150 deducted
        {'id': 'rec', 'method': 'co2_recovery', 'activity': {'value': '100000', 'unit': 'Nm3'},
         'parameters': {'PUR': {'value': '99.5', 'unit': '%'}}},
        # SF6: 0.01 t × 23500 (AR5) = 235 tCO2e
        {'id': 'gis', 'method': 'non_co2', 'gas': 'SF6', 'activity': {'value': '10', 'unit': 'kg'}}]}
    r = Engine().evaluate(scenario)
    by = {s['id']: Q.of(s['co2e_t']) for s in r['sources']}
    assert by['out'] == Q.of('-570.3') and by['rec'] == Q.of('-196.7115') and by['gis'] == Q(235)
    t = r['totals']
    assert Q.of(t['scope2_net_t']) == Q.of('2281.2') and Q.of(t['scope2_purchased_t']) == Q.of('2851.5')
    assert Q.of(t['scope1_t']) == Q(235) - Q.of('196.7115')
    assert t['by_gas_t']['SF6'] == '0.01'
    # heat from steam: 1000 t × (2800 − 83.74) kJ/kg × 10^-3 = 2716.26 GJ; × 0.11 tCO2/GJ = 298.7886
    steam = {'id': 'steam', 'method': 'purchased_heat', 'activity': {'from': {
        'M_steam': {'value': '1000', 'unit': 't'}, 'h': {'value': '2800', 'unit': 'kJ/kg'}}}}
    r = _one(steam)
    assert r['sources'][0]['activity']['value'] == '2716.26' and _co2e(steam) == Q.of('298.7886')
    # hot water: 500 t × (90 − 20) °C × 4.1868 kJ/(kg·K) × 10^-3 = 146.538 GJ; × 0.11 = 16.11918
    water = {'id': 'hw', 'method': 'purchased_heat', 'activity': {'from': {
        'M_water': {'value': '500', 'unit': 't'}, 'T': {'value': '90', 'unit': 'degC'}}}}
    assert _co2e(water) == Q.of('16.11918')
    # steam mass given as if it were heat: refused
    assert 'cannot be converted' in str(raises(ScenarioError, _one, dict(steam, activity={'value': '1000',
                                                                                         'unit': 't'})))
    # non-CO2 without a GWP set is refused
    assert 'GWP set' in str(raises(ScenarioError, _one, {'id': 'x', 'method': 'non_co2', 'gas': 'CH4',
                                                       'activity': {'value': '1', 'unit': 't'}}))
    # SAR: 0.01 × 23900 = 239
    assert _co2e({'id': 'g', 'method': 'non_co2', 'gas': 'SF6', 'activity': {'value': '0.01', 'unit': 't'}},
                 gwp='SAR') == Q(239)


def test_regional_energy_statistics_model_and_apportionment():
    # seed 002 §5: energy × tce coefficient × CO2 per tce
    # raw coal 1000 t × 0.7143 tce/t × 2.66 = 1900.038; gas 10^6 Nm3 × 1.33 kgce/Nm3 × 1.56 = 2074.8
    coal = {'id': 'c', 'method': 'regional_energy_tce', 'energy': 'raw_coal', 'tce_group': 'coal',
            'activity': {'value': '1000', 'unit': 't'}}
    gas = {'id': 'g', 'method': 'regional_energy_tce', 'energy': 'natural_gas', 'tce_group': 'natural_gas',
           'activity': {'value': '1000000', 'unit': 'Nm3'}}
    assert _co2e(coal) == Q.of('1900.038') and _co2e(gas) == Q.of('2074.8')
    # quarter energy = annual energy × quarter electricity / annual electricity (seed 002 §5.9)
    shares = processing.apportion(Q(1000), {'Q1': 2, 'Q2': 3, 'Q3': 2, 'Q4': 3})
    assert shares == {'Q1': Q(200), 'Q2': Q(300), 'Q3': Q(200), 'Q4': Q(300)}


def test_user_factor_and_versioning():
    lib = FactorLibrary.default()
    engine = Engine(factors=lib)
    src = {'id': 'grid', 'method': 'purchased_electricity', 'activity': {'value': '1000', 'unit': 'MWh'}}
    first = engine.evaluate({'reporting_year': 2024, 'sources': [src]})
    assert first['factors_used']['grid/national/ets/2022'] == 1 and Q.of(first['totals']['total_net_t']) == 570.3
    # the authority revises the factor: a new version of the same record
    lib.add(dict(lib.get('grid/national/ets/2022').doc, value='0.5611', version=2))
    again = engine.evaluate({'reporting_year': 2024, 'sources': [src]}, pin=first['factors_used'])
    assert again['factors_used'] == first['factors_used'] and again['totals'] == first['totals']
    recalc = engine.evaluate({'reporting_year': 2024, 'sources': [src], 'recalculate': True},
                             pin=first['factors_used'])
    assert recalc['factors_used']['grid/national/ets/2022'] == 2 and Q.of(recalc['totals']['total_net_t']) == 561.1
    # a measured value beats the default
    ef = {'id': 'ef/quicklime', 'kind': 'ef', 'subject': 'quicklime', 'value': '0.75', 'unit': 'tCO2/t',
          'source': 'plant laboratory 2024', 'origin': 'measured'}
    r = Engine().evaluate({'reporting_year': 2024, 'factors': [ef], 'sources': [
        {'id': 'lime', 'method': 'direct_ef', 'subject': 'quicklime', 'activity': {'value': '100', 'unit': 't'}}]})
    assert Q.of(r['sources'][0]['co2e_t']) == 75


def test_meter_readings_as_activity():
    # a 6-digit register × CT ratio 100: 999990 -> 000010 wraps (+20), then a replacement (fall to 5)
    readings = [['2024-01-01T00:00', '999980'], ['2024-01-01T01:00', '999990'], ['2024-01-01T02:00', '10'],
                ['2024-01-01T03:00', '40'], ['2024-01-01T04:00', '5'], ['2024-01-01T05:00', '25']]
    src = {'id': 'feeder', 'method': 'purchased_electricity',
           'activity': {'readings': readings, 'unit': 'kWh', 'register_digits': 6, 'multiplier': '100'}}
    r = _one(src)
    # booked: 10 + 20 + 30 (the drop 40 -> 5 is a reset) + 20 = 80 register kWh × 100 = 8000 kWh = 8 MWh
    assert r['sources'][0]['activity']['value'] == '8' and r['sources'][0]['activity']['not_booked'] == 1
    assert Q.of(r['sources'][0]['co2e_t']) == 8 * Q.of('0.5703')
    assert any('reset or replaced' in w for w in r['warnings'])
    # a jump no feeder can deliver (limit 30 kWh an hour at the register, × 100) is not booked
    jump = [['2024-01-01T00:00', '100'], ['2024-01-01T01:00', '120'], ['2024-01-01T02:00', '90120'],
            ['2024-01-01T03:00', '90130']]
    src['activity'] = {'readings': jump, 'unit': 'kWh', 'register_digits': 6, 'multiplier': '100',
                       'max_per_hour': '3000'}
    r = _one(src)
    assert r['sources'][0]['activity']['value'] == '3' and r['sources'][0]['activity']['not_booked'] == 1
    assert any('more than the line can deliver' in w for w in r['warnings'])
    # stamped by a clock that had just jumped (flag 0x80): booked, its short interval not held against it
    clock = [['2024-01-01T00:00', '100'], ['2024-01-01T01:00', '120'], ['2024-01-01T01:01', '150', 0x80],
             ['2024-01-01T02:00', '160']]
    src['activity'] = {'readings': clock, 'unit': 'kWh', 'register_digits': 6, 'multiplier': '100',
                       'max_per_hour': '3000'}
    r = _one(src)
    activity = r['sources'][0]['activity']
    assert (activity['value'], activity['not_booked'], activity['clock_flagged']) == ('6', 0, 1)
    assert any('clock that had just jumped' in w for w in r['warnings'])


def test_boundary_roll_up_and_intensity():
    r = Engine().evaluate({'reporting_year': 2024, 'sources': [
        {'id': 'a', 'method': 'purchased_electricity', 'activity': {'value': '1000', 'unit': 'MWh'}},
        {'id': 'b', 'method': 'purchased_electricity', 'activity': {'value': '3000', 'unit': 'MWh'}},
        {'id': 'c', 'method': 'carbonate', 'carbonate': 'caco3', 'activity': {'value': '100', 'unit': 't'}}],
        'boundary': {'name': 'Enterprise', 'children': [{'name': 'Line 1', 'sources': ['a', 'c']},
                                                        {'name': 'Line 2', 'sources': ['b']}]},
        'intensity': {'output': {'value': '20', 'unit': 'kt'}, 'area': {'value': '10', 'unit': '10^4 m2'}}})
    root = r['boundary']
    assert Q.of(root['total_t']) == Q.of('570.3') * 4 + Q.of('43.97')
    assert [Q.of(c['total_t']) for c in root['children']] == [Q.of('614.27'), Q.of('1710.9')]
    # per unit as given: (2281.2 + 43.97) tCO2 / 20 kt = 116.2585 tCO2/kt; area in m2
    assert r['intensity']['output'] == {'value': '116.2585', 'unit': 'tCO2/kt'}
    assert r['intensity']['area'] == {'value': '0.0232517', 'unit': 'tCO2/m2'}


def test_processing_daily_settlement_roll_up_and_gap_filling():
    day = 86400000
    t0 = (19723 * 86400 - 8 * 3600) * 1000            # 2024-01-01 00:00 Beijing
    readings = [(t0 + i * day // 4, Q(100 + 10 * i), 0) for i in range(12)]   # 3 days, 4 readings a day
    days = processing.settle_daily(readings)
    assert sorted(days) == ['2024-01-01', '2024-01-02', '2024-01-03']
    assert [days[d].increment for d in sorted(days)] == [Q(30), Q(40), Q(40)]
    assert days['2024-01-02'].max == Q(170) and days['2024-01-02'].min == Q(140)
    month = processing.roll_up(days, 'month')['2024-01']
    assert month.increment == Q(110) and month.readings == 12
    assert list(processing.roll_up(days, 'quarter')) == ['2024-Q1']
    filled, log = processing.fill_gaps({'2024-01-01': Q(10), '2024-01-02': None, '2024-01-03': None,
                                        '2024-01-04': Q(40), '2024-01-09': None})
    assert filled['2024-01-02'] == Q(20) and filled['2024-01-03'] == Q(30) and filled['2024-01-09'] is None
    assert [x['filled'] for x in log] == [True, True, False] and log[0]['flag'] == 'estimated'
    near, _ = processing.fill_gaps({'2024-01-01': Q(10), '2024-01-02': None, '2024-01-04': Q(40)}, 'nearest')
    assert near['2024-01-02'] == Q(10)
    # power to energy: 2 kW for 30 min then ramp to 4 kW over 30 min = 1 + 1.5 = 2.5 kWh
    assert processing.integrate([(0, Q(2)), (1800000, Q(2)), (3600000, Q(4))]) == Q(5, 2)
    assert not processing.plausible_against_history(Q(2001), [Q(900), Q(1000)])
    assert processing.plausible_against_history(Q(2000), [Q(900), Q(1000)])


def test_roll_up_consistency_violations_are_reported():
    tree = {'name': 'Province', 'level': 'province', 'value': '1000', 'children': [
        {'name': 'City A', 'level': 'city', 'value': '600', 'children': [
            {'name': 'Park 1', 'value': '300'}, {'name': 'Park 2', 'value': '298'}]},
        {'name': 'City B', 'level': 'city', 'value': '420', 'children': [
            {'name': 'Park 3', 'value': '400'}, {'name': 'Park 4', 'value': None}]}]}
    total, checks = rollup.check_tree(tree)
    by = {c['node']: c for c in checks}
    assert by['Province/City A']['consistent']                     # 598 vs 600: 0.33 % < 0.5 %
    assert not by['Province/City B']['consistent']                 # a park missing, 400 vs 420
    assert any('completeness' in v for v in by['Province/City B']['violations'])
    assert not by['Province']['consistent']                        # 1020 vs 1000: 2 %
    m = rollup.metrics(checks)
    assert m['consistency_rate']['value_percent'] == '33.33' and not m['consistency_rate']['met']
    # time: days summed into the month against an invoice figure
    days = processing.settle_daily([((19723 * 86400 - 28800) * 1000 + i * 43200000, Q(i), 0) for i in range(8)])
    rolled, time_checks = rollup.check_time(days, {'2024-01': Q(7)})
    assert rolled['2024-01'].increment == 7 and time_checks[0]['consistent']
    assert rollup.fluctuation(Q(106), [Q(100), Q(100)])[1] is False


def test_integer_fast_path_settles_like_the_exact_one():
    t0 = (19723 * 86400 - 8 * 3600) * 1000
    rows = []
    value = 99990000                                    # 999900.00 kWh on a 6-digit register
    for i in range(3 * 96):                             # 3 days of 15-minute readings
        value = (value + 1234 + i % 7) % 10 ** 8
        flags = 1 if i == 50 else 0
        if i == 200:                                    # a replacement: the register restarts
            value = 1000
            flags = 0
        rows.append((t0 + i * 900000, value if flags == 0 else None, flags))
    fast = processing.settle_daily_mantissas(rows, -2, digits=6, multiplier=Q(80))
    exact = processing.settle_daily([(t, None if m is None else Q.from_decimal(m, -2), f) for t, m, f in rows],
                                    digits=6, multiplier=Q(80))
    assert sorted(fast) == sorted(exact)
    for day in fast:
        a, b = fast[day], exact[day]
        assert (a.increment, a.max, a.min, a.readings, a.rejected) == (b.increment, b.max, b.min, b.readings,
                                                                       b.rejected), day
    assert sum(s.rejected for s in fast.values()) == 1           # the replacement, not booked


def test_activity_rules_add_subtract_multiply_apportion_integrate():
    # seed 001 §8.3.2: the kiln's electricity = main incomer − office sub-meter − a readings-based sub-meter
    main = {'value': '5000', 'unit': 'MWh'}
    office = {'value': '120000', 'unit': 'kWh'}
    lab = {'readings': [['2024-01-01T00:00', '100'], ['2024-12-31T00:00', '180']], 'unit': 'MWh'}
    src = {'id': 'kiln', 'method': 'purchased_electricity',
           'activity': {'rule': 'subtract', 'terms': [main, office, lab]}}
    r = _one(src)
    # 5000 − 120 − 80 = 4800 MWh
    assert r['sources'][0]['activity']['value'] == '4800' and r['sources'][0]['activity']['rule'] == 'subtract'
    # the shared transformer's losses apportioned by capacity 3:1:1, the kiln's share
    src['activity'] = {'rule': 'apportion', 'terms': [{'value': '250', 'unit': 'MWh'}],
                       'weights': {'kiln': '3', 'mill': '1', 'office': '1'}, 'share': 'kiln'}
    assert _one(src)['sources'][0]['activity']['value'] == '150'
    src['activity'] = {'rule': 'multiply', 'terms': [main], 'k': '0.35'}
    assert _one(src)['sources'][0]['activity']['value'] == '1750'
    src['activity'] = {'rule': 'add', 'terms': [main, office]}
    assert _one(src)['sources'][0]['activity']['value'] == '5120'
    # power samples to energy: 2 MW for 1 h, then ramp to 4 MW over 1 h: 2 + 3 = 5 MWh
    src['activity'] = {'rule': 'integrate', 'unit': 'MW', 'samples': [['2024-01-01T00:00', '2'],
                                                                      ['2024-01-01T01:00', '2'],
                                                                      ['2024-01-01T02:00', '4']]}
    assert _one(src)['sources'][0]['activity']['value'] == '5'
    src['activity'] = {'rule': 'integrate', 'unit': 't/h', 'samples': [['2024-01-01T00:00', '2']]}
    assert 'integrate needs' in str(raises(ScenarioError, _one, src))


def test_scenario_factors_do_not_change_the_shared_library():
    engine = Engine()
    ef = {'id': 'ef/quicklime', 'kind': 'ef', 'subject': 'quicklime', 'value': '0.75', 'unit': 'tCO2/t',
          'source': 'plant laboratory 2024'}
    doc = {'reporting_year': 2024, 'factors': [ef], 'sources': [
        {'id': 'lime', 'method': 'direct_ef', 'subject': 'quicklime', 'activity': {'value': '100', 'unit': 't'}}]}
    first = engine.evaluate(doc)
    again = engine.evaluate(doc)
    assert first['factors_used'] == again['factors_used'] == {'ef/quicklime': 1}
    assert 'ef/quicklime' not in engine.factors.records


def test_figures_are_rounded_only_for_people_to_their_units_precision():
    from shared.accounting.exact import present
    assert present('0.00105947251641', 'tCO2') == '0.001' and present('12.5', 't') == '12.500'
    assert present('0.0000001', 'tCO2') == '< 0.001'           # not a misleading 0
    assert present('0.0000430', '10^4 Nm3') == '0.0000430'     # to the Nm3's precision
    assert present(Q.of('-3.14159'), 'tCO2') == '-3.142' and present('0.123456', 'fraction') == '0.1235'
