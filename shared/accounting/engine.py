"""Accounting (seed 001 §9): single point, boundary and classification, with
intensities (seed 000) and GUM uncertainty (seed 004 §7.4.3).  Portable.

A scenario (docs/accounting.md) binds each source — a meter, a point, a manual
entry or a total — to an industry, a method and the method's parameter slots.
For each source the engine takes its activity (shared/accounting/activity.py),
fills the method's other slots (shared/accounting/slots.py: what the scenario
gives, else the factor library — measured > user > default — else the method's
default or derivation), evaluates the formula exactly, and estimates its
uncertainty (shared/accounting/uncertainty.py); then it rolls the results up the
boundary tree and into Scope 1 / Scope 2 and ISO 14064-1 categories.  Every
figure names the factor records (id and version) it used.
"""

from shared.accounting import uncertainty, units
from shared.accounting.activity import activity, derived
from shared.accounting.exact import Q, ZERO
from shared.accounting.factors import FactorError, FactorLibrary
from shared.accounting.methods import MethodError, MethodLibrary, evaluate
from shared.accounting.scenario import ScenarioError, check_shape, number, quantity, utc_offset_s
from shared.accounting.slots import Slots

GJ_PER_TCE = Q.of('29.307')          # 1 kgce = 29 307 kJ (GB/T 2589)


class SourceResult:
    """One source's result: doc as shown, and the exact figures the roll-ups add up."""
    __slots__ = ('doc', 'co2e', 'variance', 'tce', 'gas', 'amount')

    def __init__(self, doc, co2e, variance, tce, gas, amount):
        self.doc = doc
        self.co2e = co2e
        self.variance = variance          # of co2e, t^2
        self.tce = tce                    # standard coal, or None
        self.gas = gas
        self.amount = amount              # of the gas, t

    @property
    def id(self):
        return self.doc['id']


class Engine:
    def __init__(self, factors=None, methods=None):
        self.factors = factors or FactorLibrary.default()
        self.methods = methods or MethodLibrary.default()

    # -- one source (single-point accounting, seed 001 §9.2) ------------------------------------
    def _method(self, src, where, warnings):
        """The source's method, checked against its industry's guideline."""
        try:
            method = self.methods.get(src.get('method'))
        except MethodError as e:
            raise ScenarioError('%s: %s' % (where, e))
        industry = src.get('industry')
        if industry is not None:
            ind = self.methods.industries.get(industry)
            if ind is None:
                raise ScenarioError('%s: industry %r is not registered' % (where, industry))
            if src['method'] not in ind['methods']:
                raise ScenarioError('%s: method %s is not registered for industry %s (%s)' % (
                    where, src['method'], industry, ind['guideline']))
            if not ind['complete']:
                warnings.append('%s: the %s guideline is registered with its structure only; check the '
                                'method and parameters against it' % (src['id'], ind['guideline']))
        return method

    def _activity(self, src, method, slots, warnings):
        """(name, value, how it was found, unit) of the source's activity."""
        where = slots.ctx['where']
        name = [n for n, s in method['inputs'].items() if s.get('role') == 'activity'][0]
        spec = method['inputs'][name]
        doc = src.get('activity')
        if not isinstance(doc, dict):
            raise ScenarioError('%s.activity: give {"value", "unit"} or {"readings", "unit", ...}' % where)
        subject = slots.ctx['subject']
        if '{fu}' in spec['unit']:
            ncv = None
            if subject:
                try:
                    ncv = self.factors.select('ncv', subject, slots.ctx['year'], regime=slots.ctx['regime'])
                except FactorError:
                    ncv = None
            slots.ctx['fu'] = ncv.unit.split('/', 1)[1] if ncv else doc.get('unit')
        if '{au}' in spec['unit']:
            slots.ctx['au'] = doc.get('unit')
        unit = slots.unit(spec['unit'])
        if 'from' in doc:
            value, info = derived(doc['from'], spec, unit, where)
        else:
            value, info = activity(src['id'], doc, unit, where + '.activity', slots.ctx['offset_s'], warnings)
        if value < ZERO:
            raise ScenarioError('%s.activity: %s %s is negative: a consumption or quantity cannot be; exports and '
                                'CO2 recovery are their own methods and take positive amounts' % (
                                    where, value.text(), unit))
        acc = src.get('accuracy_class')
        slots.u[name] = uncertainty.of_accuracy_class(number(acc, where + '.accuracy_class')) if acc is not None \
            else number(src.get('activity_u_rel', '0'), where + '.activity_u_rel')
        return name, value, info, unit

    def _co2e(self, src, method, amount, slots, used):
        """(gas, t CO2e, the GWP record used or None)."""
        gas = method['gas']
        if gas == '{gas}':
            gas = src.get('gas')
            if gas not in ('CH4', 'N2O', 'SF6', 'NF3'):
                raise ScenarioError('%s: "gas" must be CH4, N2O, SF6 or NF3' % slots.ctx['where'])
        if gas == 'CO2':
            return gas, amount, None
        if not slots.ctx['gwp']:
            raise ScenarioError('%s: %s needs a GWP set: give "gwp": "SAR" | "AR4" | "AR5"'
                                % (slots.ctx['where'], gas))
        f = slots.factor('gwp', gas, regime=slots.ctx['gwp'])
        used[f.id] = f.version
        return gas, amount * f.value, f.ref()

    def _tce(self, src, method, values, slots, used, warnings):
        """(standard coal of an energy source, how it was found) (seed 002 §5), or (None, None).
        A fuel without a coefficient of its own (bituminous coal, anthracite, lignite) is
        converted by its calorific value: 1 kgce = 29 307 kJ (GB/T 2589)."""
        energy = method.get('energy')
        if not energy:
            return None, None
        sign = Q.of(energy.get('sign', '1'))
        try:
            f = slots.factor('tce', energy.get('tce_subject') or slots.ctx['subject'])
            in_unit = slots.unit(method['inputs'][energy['input']]['unit'])
            tce = values[energy['input']] * f.value * units.factor(f.unit, 'tce/' + in_unit) * sign
        except (ScenarioError, units.UnitError) as e:
            if 'NCV' in values and not energy.get('tce_subject'):
                return values[energy['input']] * values['NCV'] / GJ_PER_TCE * sign, \
                    'calorific value: NCV / 29.307 GJ per tce (GB/T 2589)'
            warnings.append('%s: no standard-coal figure (%s)' % (src['id'], e))
            return None, None
        used[f.id] = f.version
        return tce, 'factor %s' % f.id

    def _source(self, src, ctx_base, warnings, used):
        sid = src.get('id')
        if not isinstance(sid, str) or not sid:
            raise ScenarioError('sources: every source needs an "id"')
        where = 'source %s' % sid
        method = self._method(src, where, warnings)
        subject_kind = method.get('subject')
        subject = src.get(subject_kind) if subject_kind else None
        if subject_kind and not subject:
            raise ScenarioError('%s: method %s needs "%s" (what it applies to, e.g. natural_gas, caco3, raw_coal)'
                                % (where, src['method'], subject_kind))
        slots = Slots(self.factors, dict(ctx_base, where=where, subject=subject))
        act_name, act_value, act_info, act_unit = self._activity(src, method, slots, warnings)
        values = {act_name: act_value}
        params = {}
        for name, spec in method['inputs'].items():
            if name != act_name:
                slots.fill(name, spec, src, values, used, params)
        try:
            amount = evaluate(method['formula'], values)
        except MethodError as e:
            raise ScenarioError('%s: %s' % (where, e))
        gas, co2e, gwp_ref = self._co2e(src, method, amount, slots, used)
        u_abs = uncertainty.of_source(method['formula'], values, slots.u, amount, co2e)
        tce, tce_basis = self._tce(src, method, values, slots, used, warnings)
        category = method['category']
        cat = self.methods.categories[category]
        doc = {
            'id': sid, 'method': src['method'], 'method_name': method['name'], 'industry': src.get('industry'),
            'category': category, 'scope': cat['scope'], 'iso14064': cat['iso14064'],
            'export': bool(method.get('export')), 'gas': gas,
            'activity': dict(act_info, name=act_name, value=act_value.text(), unit=act_unit),
            'parameters': params, 'emissions_t': {gas: amount.text()}, 'co2e_t': co2e.text(),
            'co2e_exact': co2e.ratio(),
            'gwp': gwp_ref, 'tce': tce.text() if tce is not None else None, 'tce_basis': tce_basis,
            'uncertainty': uncertainty.summary(co2e, u_abs), 'formula': method['formula'],
            'method_source': method['source'],
        }
        return SourceResult(doc, co2e, u_abs ** 2, tce, gas, amount)

    # -- the whole scenario ------------------------------------------------------------------
    def evaluate(self, scenario, pin=None):
        if not isinstance(scenario, dict):
            raise ScenarioError('a scenario is a JSON object')
        year = scenario.get('reporting_year')
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            raise ScenarioError('reporting_year is required (e.g. 2025)')
        check_shape(scenario)
        grid = scenario.get('grid') or {}
        series = grid.get('series', 'ets')
        if series not in ('ets', 'statistical', 'statistical_excl_nonfossil'):
            raise ScenarioError('grid.series must be ets, statistical or statistical_excl_nonfossil')
        gwp = scenario.get('gwp')
        if gwp is not None and gwp not in ('SAR', 'AR4', 'AR5'):
            raise ScenarioError('gwp must be SAR, AR4 or AR5')
        own = scenario.get('factors')
        if own:
            # the scenario's own records apply to this evaluation only, never to the shared library
            lib = FactorLibrary(self.factors.to_json())
            for i, doc in enumerate(own):
                try:
                    lib.add(dict({'origin': 'user'}, **doc))
                except (FactorError, TypeError) as e:
                    raise ScenarioError('factors[%d]: %s' % (i, e))
            return Engine(lib, self.methods).evaluate(dict(scenario, factors=[]), pin)
        pinned = None if scenario.get('recalculate') else (pin or scenario.get('pin'))
        warnings = []
        provisional = {}
        ctx = {'year': year, 'grid_series': series, 'gwp': gwp, 'regime': scenario.get('regime'),
               'offset_s': utc_offset_s(scenario), 'pin': pinned, 'warnings': warnings,
               'provisional': provisional}
        sources = scenario.get('sources')
        if not isinstance(sources, list) or not sources:
            raise ScenarioError('sources: at least one source is required')
        used = {}
        results = []
        ids = set()
        for src in sources:
            if not isinstance(src, dict):
                raise ScenarioError('sources: each source is an object')
            r = self._source(src, ctx, warnings, used)
            if r.id in ids:
                raise ScenarioError('source %s is given twice' % r.id)
            ids.add(r.id)
            results.append(r)
        boundary = _boundary(scenario.get('boundary'), results, warnings)
        totals = Totals(results)
        intensity = _intensity(scenario.get('intensity'), totals.net, totals.tce)
        out = {
            'scenario': scenario.get('name'), 'reporting_year': year,
            'libraries': {'factors': self.factors.version, 'methods': self.methods.version},
            'choices': {'grid_series': series, 'gwp': gwp, 'regime': ctx['regime'], 'pinned': bool(pinned)},
            'sources': [r.doc for r in results], 'totals': totals.doc,
            'boundary': boundary, 'intensity': intensity, 'factors_used': used, 'warnings': warnings,
            'provisional_factors': provisional,
        }
        return out


class Totals:
    """Scope 1, scope 2 (net of exports), by category and gas, energy, with uncertainty:
    doc as shown; net and tce exact for intensities."""

    def __init__(self, results):
        scope1 = ZERO
        scope2_net = ZERO
        purchased = ZERO
        exported = ZERO
        by_category = {}
        by_gas = {}
        var1 = var2 = 0.0
        tce = ZERO
        for r in results:
            v = r.co2e
            by_category[r.doc['category']] = by_category.get(r.doc['category'], ZERO) + v
            gas, amount = r.gas, r.amount
            by_gas[gas] = by_gas.get(gas, ZERO) + amount
            if r.doc['scope'] == 1:
                scope1 = scope1 + v
                var1 += r.variance
            else:
                scope2_net = scope2_net + v
                var2 += r.variance
                if r.doc['export']:
                    exported = exported + v
                else:
                    purchased = purchased + v
            if r.tce is not None:
                tce = tce + r.tce
        net = scope1 + scope2_net
        self.net, self.tce = net, tce
        self.doc = {
            'scope1_t': scope1.text(), 'scope2_net_t': scope2_net.text(), 'scope2_purchased_t': purchased.text(),
            'exported_t': exported.text(), 'total_net_t': net.text(), 'total_net_exact': net.ratio(),
            'note': 'GB/T 32150: total = scope 1 + purchased − exported electricity and heat (net); GHG Protocol '
                    'reports scope 2 gross (scope2_purchased_t) and exports separately',
            'by_category_t': {k: v.text() for k, v in by_category.items()},
            'by_gas_t': {k: v.text() for k, v in by_gas.items()},
            'iso14064_t': {'1': scope1.text(), '2': scope2_net.text()},
            'tce': tce.text(),
            'uncertainty': {'scope1': uncertainty.summary(scope1, uncertainty.sqrt(var1)), 'scope2': uncertainty.summary(scope2_net, uncertainty.sqrt(var2)),
                            'total': uncertainty.summary(net, uncertainty.sqrt(var1 + var2))},
        }


def _boundary(doc, results, warnings):
    """Roll results up the boundary tree (seed 001 §9.3): organisation -> accounting units ->
    industries -> sources; each node totals its own sources and its children."""
    by_id = {r.id: r for r in results}
    placed = set()

    def node(n, path):
        """(public node, total, variance, {scope: total})"""
        if not isinstance(n, dict) or not n.get('name'):
            raise ScenarioError('boundary %s: every node needs a "name"' % '/'.join(path))
        here = path + [n['name']]
        total = ZERO
        var = 0.0
        scopes = {1: ZERO, 2: ZERO}
        kids = []
        for sid in n.get('sources', []):
            r = by_id.get(sid)
            if r is None:
                raise ScenarioError('boundary %s: source %r is not in "sources"' % ('/'.join(here), sid))
            if sid in placed:
                raise ScenarioError('boundary %s: source %s is placed twice' % ('/'.join(here), sid))
            placed.add(sid)
            total = total + r.co2e
            var += r.variance
            scopes[r.doc['scope']] = scopes[r.doc['scope']] + r.co2e
        for c in n.get('children', []):
            child, c_total, c_var, c_scopes = node(c, here)
            kids.append(child)
            total = total + c_total
            var += c_var
            for k in (1, 2):
                scopes[k] = scopes[k] + c_scopes[k]
        public = {'name': n['name'], 'kind': n.get('kind'), 'total_t': total.text(), 'scope1_t': scopes[1].text(),
                  'scope2_t': scopes[2].text(), 'uncertainty': uncertainty.summary(total, uncertainty.sqrt(var)),
                  'sources': list(n.get('sources', [])), 'children': kids}
        return public, total, var, scopes

    if doc is None:
        return None
    root = node(doc, [])[0]
    left = [r.id for r in results if r.id not in placed]
    if left:
        warnings.append('sources outside the boundary (not in its total): %s' % ', '.join(left))
    return root


def _intensity(doc, net, tce):
    """Emissions per unit of output, of value added and of area (seed 000)."""
    if not doc:
        return None
    out = {}
    for key, unit in (('output', None), ('value_added', '10^4 CNY'), ('area', 'm2')):
        d = doc.get(key)
        if d is None:
            continue
        where = 'intensity.%s' % key
        if unit is None:
            if not isinstance(d, dict) or not d.get('unit'):
                raise ScenarioError('%s: the unit is missing' % where)
            unit = d['unit']
        amount = quantity(d, unit, where)
        if not amount:
            raise ScenarioError('%s: must not be zero' % where)
        out[key] = {'value': (net / amount).text(), 'unit': 'tCO2/%s' % unit}
        if tce:
            out[key + '_energy'] = {'value': (tce / amount).text(), 'unit': 'tce/%s' % unit}
    return out
