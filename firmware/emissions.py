"""Live emissions on the gateway (issue 15, item 3): the enterprise's scenario
(docs/accounting.md), its sources bound to this gateway's own codes, evaluated by the
shared accounting engine over the gateway's tally of its readings for today or this
month, and what one manual entry adds.  The platform's figures stay the authoritative
ones; these are the same engine on the same signed readings, seen at the gateway.

    [accounting]
    scenario = "/etc/tanji/scenario.json"      # sources with "meter": {"gateway": <this id>, "code": ...}
    libraries = "/var/lib/tanji/libraries"     # optional: factors.json / methods.json pulled or imported

or the bindings and the boundary in the configuration itself (firmware/bindings.py).

Sources bound to another gateway's meters, and sources with an activity given as a
total, are left out of the live view and counted as such."""

from __future__ import annotations

import json
import logging
import os
import time

from firmware import bindings
from firmware.settings import GatewayConfigError
from firmware.tally import Tally, day_start_ms, month_start_ms
from shared import civil
from shared.accounting import binding
from shared.accounting.engine import Engine, ScenarioError
from shared.accounting.factors import FactorError, FactorLibrary
from shared.accounting.methods import MethodError, MethodLibrary
from shared.accounting.scenario import check_shape

log = logging.getLogger('tanji.accounting')

PERIODS = ('today', 'month')
CACHE_S = 10.0


def _json(path: str, what: str) -> dict:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except OSError as e:
        raise GatewayConfigError('accounting.%s: cannot read %s: %s' % (what, path, e.strerror))
    except ValueError as e:
        raise GatewayConfigError('accounting.%s: %s is not valid JSON: %s' % (what, path, e))


def load(doc: dict, gateway_id: str) -> tuple[dict, Engine, dict]:
    """The checked scenario, an engine with its libraries, and what was left out; GatewayConfigError
    naming the setting otherwise (the configuration loader calls this).  `doc` holds the
    configuration's [accounting], [[accounting_unit]] and [[emission_source]]: the scenario is
    a JSON file (accounting.scenario) or those sections (firmware/bindings.py)."""
    section = doc.get('accounting') or {}
    if not isinstance(section, dict):
        raise GatewayConfigError('[accounting] must be a table')
    factors, methods = FactorLibrary.default(), MethodLibrary.default()
    directory = section.get('libraries')
    if directory is not None:
        if not isinstance(directory, str) or not os.path.isdir(directory):
            raise GatewayConfigError('accounting.libraries: %r is not a directory' % (directory,))
        try:
            if os.path.exists(os.path.join(directory, 'factors.json')):
                factors = FactorLibrary(_json(os.path.join(directory, 'factors.json'), 'libraries'))
            if os.path.exists(os.path.join(directory, 'methods.json')):
                methods = MethodLibrary(_json(os.path.join(directory, 'methods.json'), 'libraries'))
        except (FactorError, MethodError, TypeError, KeyError) as e:
            raise GatewayConfigError('accounting.libraries %s: %s' % (directory, e))
    if section.get('scenario') is not None:
        if not isinstance(section['scenario'], str) or set(section) - {'scenario', 'libraries'} or \
                doc.get('accounting_unit') or doc.get('emission_source'):
            raise GatewayConfigError('accounting.scenario names a scenario file: then [accounting] takes only '
                                     'libraries besides, and no [[accounting_unit]] or [[emission_source]]')
        where = 'accounting.scenario %s' % section['scenario']
        scenario = _json(section['scenario'], 'scenario')
    else:
        where = 'the accounting sections'
        scenario = bindings.scenario(doc, gateway_id, methods)
    try:
        check_shape(scenario)
    except ScenarioError as e:
        raise GatewayConfigError('%s: %s' % (where, e))
    here, elsewhere, given = [], [], []
    for src in scenario['sources']:
        try:
            meter = binding.meter_of(src)
        except ScenarioError as e:
            raise GatewayConfigError('accounting.scenario: %s' % e)
        (here if meter and meter['gateway'] == gateway_id else elsewhere if meter else given).append(src['id'])
    if not here:
        raise GatewayConfigError('%s: no source is bound to this gateway (%s); bind one with '
                                 '"meter": {"gateway": "%s", "code": ...}' % (where, gateway_id, gateway_id))
    left_out = {'other_gateways': elsewhere, 'given_totals': given}
    return scenario, Engine(factors, methods), left_out


def _pruned(node: dict | None, keep: set) -> dict | None:
    if node is None:
        return None
    return dict(node, sources=[s for s in node.get('sources', []) if s in keep],
                children=[_pruned(c, keep) for c in node.get('children', [])])


class LiveEmissions:
    def __init__(self, gateway_id: str, section: dict, tally: Tally, utc_offset_s: int) -> None:
        self.gateway_id = gateway_id
        self.scenario, self.engine, self.left_out = load(section, gateway_id)
        self.tally = tally
        self.utc_offset_s = utc_offset_s
        self._cache: dict[str, tuple[float, dict]] = {}
        here = [s for s in self.scenario['sources'] if s['id'] not in self.left_out['other_gateways']
                + self.left_out['given_totals']]
        self.sources = here
        self.by_code = {src['meter']['code']: src['id'] for src in here}
        log.info('live accounting: scenario %s, %d source(s) bound here; factor library %s %s, method library %s; '
                 '%d source(s) of other gateways and %d given as totals left out', self.scenario.get('name'),
                 len(here), self.engine.factors.name, self.engine.factors.version, self.engine.methods.version,
                 len(self.left_out['other_gateways']), len(self.left_out['given_totals']))

    def fresh(self, period: str) -> dict | None:
        """The result of `period` computed less than CACHE_S ago, if any."""
        cached = self._cache.get(period)
        return cached[1] if cached is not None and time.monotonic() - cached[0] < CACHE_S else None

    def bind(self, period: str, now_ms: int) -> tuple[dict, int]:
        """The scenario with today's or this month's readings bound (a copy: taken on the loop
        that adds readings, computed elsewhere), and the period's start."""
        since = day_start_ms(now_ms, self.utc_offset_s) if period == 'today' else \
            month_start_ms(now_ms, self.utc_offset_s)
        fetched = {src['id']: self.tally.readings(src['meter']['code'], since) for src in self.sources}
        sources = [src for src in self.sources if fetched[src['id']][0]]       # no reading yet: nothing to account
        keep = {src['id'] for src in sources}
        scenario = dict(self.scenario, sources=sources, reporting_year=civil.local_fields(
            now_ms, self.utc_offset_s)[0], boundary=_pruned(self.scenario.get('boundary'), keep),
            waiting=[src['id'] for src in self.sources if src['id'] not in keep])
        return binding.bind_meters(scenario, lambda gateway, code: fetched[self.by_code[code]], since), since

    def compute(self, period: str, bound: dict, since_ms: int) -> dict:
        """The engine's result (exact arithmetic: run it in a worker thread); {'error': ...} when the
        readings cannot be accounted (a unit the method cannot take, say)."""
        try:
            result = self.engine.evaluate(bound) if bound['sources'] else {'sources': [], 'totals': None}
        except ScenarioError as e:
            log.warning('live accounting of %s cannot be computed: %s', period, e)
            result = {'error': str(e)}
        result['since_ms'] = since_ms
        result['waiting'] = bound['waiting']
        self._cache[period] = (time.monotonic(), result)
        return result

    def evaluate(self, period: str, now_ms: int) -> dict:
        """bind and compute in one (for callers off the loop, and tests)."""
        return self.fresh(period) or self.compute(period, *self.bind(period, now_ms))

    def for_entry(self, code: str, value: str, unit: str, year: int) -> dict | None:
        """What one manual value of `code` adds: the bound source's result with that value as its
        whole activity; None when no source is bound to the code."""
        source = next((s for s in self.sources if s['meter']['code'] == code), None)
        if source is None:
            return None
        src = {k: v for k, v in source.items() if k != 'meter'}
        src['activity'] = {'value': value, 'unit': unit}
        try:
            result = self.engine.evaluate({'name': 'entry', 'reporting_year': year, 'sources': [src],
                                           'gwp': self.scenario.get('gwp'), 'grid': self.scenario.get('grid'),
                                           'regime': self.scenario.get('regime')})
        except ScenarioError as e:
            return {'error': str(e), 'source': source['id']}
        return dict(result['sources'][0], source=source['id'])
