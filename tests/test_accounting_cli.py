"""`tanji accounting`: the documented example scenario, pinned factor versions, mistakes
as one line (exit 2), libraries pulled from a running server (online) and imported
from files (offline), seed 001 §11.4."""

from __future__ import annotations

import json

from server_process import REPO, ServerProcess, tanji
from shared.accounting.engine import Engine
from shared.accounting.exact import Q

EXAMPLE = REPO / 'docs' / 'examples' / 'cement-2025.json'


def _evaluate(*args) -> dict:
    return json.loads(tanji('accounting', 'evaluate', *args).stdout)


def test_example_scenario_as_documented():
    r = _evaluate(str(EXAMPLE))
    # the same figures in process: the CLI adds nothing of its own
    same = Engine().evaluate(json.loads(EXAMPLE.read_text()))
    assert r['totals'] == same['totals'] and r['factors_used'] == same['factors_used']
    by = {s['id']: s for s in r['sources']}
    # register 879216.89 − 812345.67 = 66871.22 kWh × CT×PT 1000 = 66871.22 MWh; × 0.5703 (ETS, 2023-2025)
    assert by['main-incomer']['activity']['value'] == '66871.22'
    assert Q.from_ratio(by['main-incomer']['co2e_exact']) == Q.of('66871.22') * Q.of('0.5703')
    # 125000 t × 23.35 GJ/t (measured) × 0.0261 tC/GJ × 0.93 × 44/12
    assert Q.from_ratio(by['kiln-coal']['co2e_exact']) == 125000 * Q.of('23.35') * Q.of('0.0261') * Q.of('0.93') \
        * Q(44, 12)
    assert by['kiln-coal']['parameters']['NCV']['evidence'] == 'lab reports 2025, monthly mean'
    assert Q.from_ratio(r['totals']['total_net_exact']) == sum(
        (Q.from_ratio(s['co2e_exact']) for s in r['sources']), Q(0))
    assert r['boundary']['children'][0]['children'][0]['sources'] == ['kiln-coal', 'kiln-clinker', 'raw-meal']


def test_pinned_versions_and_recalculation(tmp_path):
    first = tmp_path / 'first.json'
    first.write_text(tanji('accounting', 'evaluate', str(EXAMPLE)).stdout)
    lib = json.loads(tanji('accounting', 'factors', '--export').stdout)
    grid = next(r for r in lib['records'] if r['id'] == 'grid/national/ets/2022')
    lib['records'].append(dict(grid, version=2, value='0.6', source='a revised notice'))
    (tmp_path / 'factors.json').write_text(json.dumps(lib))
    pinned = _evaluate(str(EXAMPLE), '--factors', str(tmp_path / 'factors.json'), '--pin', str(first))
    assert pinned['totals'] == json.loads(first.read_text())['totals']
    recalc = _evaluate(str(EXAMPLE), '--factors', str(tmp_path / 'factors.json'), '--pin', str(first),
                       '--recalculate')
    assert recalc['factors_used']['grid/national/ets/2022'] == 2 and recalc['totals'] != pinned['totals']


def test_mistakes_are_one_line_and_exit_2(tmp_path):
    bad = tmp_path / 'bad.json'
    for doc, words in (
            ({'reporting_year': 2025, 'sources': [{'id': 'g', 'method': 'purchased_electricity',
                                                   'activity': {'value': '5'}}]}, 'unit is missing'),
            ({'reporting_year': 2025, 'sources': [{'id': 'g', 'method': 'fuel_combustion', 'fuel': 'natural_gas',
                                                   'activity': {'value': '5', 'unit': 't'}}]},
             't cannot be converted to 10^4 Nm3'),
            ({'sources': []}, 'reporting_year'),
            ({'reporting_year': 2025, 'sources': [{'id': 'x', 'method': 'teleport'}]}, 'no method'),
            ({'reporting_year': 2025, 'sources': [{'id': 'x', 'method': 'clinker_process', 'industry': '01',
                                                   'activity': {'value': '1', 'unit': 't'}}]},
             'not registered for industry 01')):
        bad.write_text(json.dumps(doc))
        r = tanji('accounting', 'evaluate', str(bad), check=False)
        assert r.returncode == 2 and words in r.stderr and r.stderr.count('\n') == 1, (words, r.stderr)
    bad.write_text('{not json')
    r = tanji('accounting', 'evaluate', str(bad), check=False)
    assert r.returncode == 2 and 'not valid JSON' in r.stderr


def test_libraries_pulled_online_and_imported_offline(tmp_path):
    server = ServerProcess(tmp_path)
    try:
        token = tanji('server', 'tokens', 'add', 'gw-lib', '--role', 'operator', '--db', server.db).stdout.strip()
        out = tanji('accounting', 'pull', server.url, '--token', token, '--dir', str(tmp_path / 'online')).stdout
        assert 'tanji-factors 2026.1' in out and 'tanji-methods 2026.1' in out
        r = tanji('accounting', 'pull', server.url, '--token', 'tj_wrong', '--dir', str(tmp_path / 'x'), check=False)
        assert r.returncode == 2 and '401' in r.stderr
    finally:
        server.stop()
    online = _evaluate(str(EXAMPLE), '--libraries', str(tmp_path / 'online'))
    assert online['totals'] == _evaluate(str(EXAMPLE))['totals']
    (tmp_path / 'export.json').write_text(tanji('accounting', 'methods', '--export').stdout)
    assert 'tanji-methods' in tanji('accounting', 'import', str(tmp_path / 'export.json'), '--dir',
                                    str(tmp_path / 'offline')).stdout
    r = tanji('accounting', 'import', str(EXAMPLE), '--dir', str(tmp_path / 'offline'), check=False)
    assert r.returncode == 2 and 'not a Tanji factor or method library' in r.stderr
