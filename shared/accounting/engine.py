"""Accounting (seed 001 §9): single point, boundary and classification, with
intensities (seed 000) and GUM uncertainty (seed 004 §7.4.3).  Portable.

A scenario (docs/accounting.md) binds each source — a meter, a point, a manual
entry or a total — to an industry, a method and the method's parameter slots; the
engine fills each slot from what the scenario gives (converted to the slot's unit
exactly, or refused), else from the factor library (measured > user > default),
else from the method's default or derivation, evaluates the formula exactly, and
rolls the results up the boundary tree and into Scope 1 / Scope 2 and ISO 14064-1
categories.  Every figure names the factor records (id and version) it used.
"""

from shared import civil
from shared.accounting import processing, units
from shared.accounting.exact import Q, ZERO
from shared.accounting.factors import FactorError, FactorLibrary
from shared.accounting.methods import MethodError, MethodLibrary, evaluate

K_EXPANDED = 2            # coverage factor of the expanded uncertainty (about 95 %)


class ScenarioError(ValueError):
    """The scenario cannot be evaluated; the message names the place."""


def _sqrt(x):
    return float(x) ** 0.5


def _q(value, where):
    if value is None:
        raise ScenarioError('%s: a value is required' % where)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ScenarioError('%s: %r is not a number (give decimal text, e.g. "125000.5")' % (where, value))
    try:
        return Q.of(value)
    except (ValueError, TypeError) as e:
        raise ScenarioError('%s: %s' % (where, e))


def _quantity(doc, unit, where):
    """A {value, unit} given in the scenario, converted exactly to `unit`."""
    if not isinstance(doc, dict):
        raise ScenarioError('%s: give {"value": ..., "unit": ...}' % where)
    if not doc.get('unit'):
        raise ScenarioError('%s: the unit is missing (expected %s or a unit convertible to it)' % (where, unit))
    value = _q(doc.get('value'), where)
    try:
        return value * units.factor(doc['unit'], unit)
    except units.UnitError as e:
        raise ScenarioError('%s: %s (expected %s)' % (where, e, unit))


def _time_ms(text, where, utc_offset_s):
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if not isinstance(text, str) or len(text) < 10:
        raise ScenarioError('%s: time %r must be YYYY-MM-DD[Thh:mm[:ss]] local or ms since 1970' % (where, text))
    try:
        y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
        rest = text[11:].split(':') if len(text) > 10 else []
        h = int(rest[0]) if rest else 0
        mi = int(rest[1]) if len(rest) > 1 else 0
        s = int(rest[2]) if len(rest) > 2 else 0
    except ValueError:
        raise ScenarioError('%s: time %r must be YYYY-MM-DD[Thh:mm[:ss]]' % (where, text))
    return (civil.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - utc_offset_s) * 1000


class Engine:
    def __init__(self, factors=None, methods=None):
        self.factors = factors or FactorLibrary.default()
        self.methods = methods or MethodLibrary.default()

    # -- activity -------------------------------------------------------------------------
    def _activity(self, src, unit, where, offset_s, warnings):
        return self._activity_doc(src['id'], src.get('activity'), unit, where + '.activity', offset_s, warnings)

    def _activity_doc(self, sid, act, unit, where, offset_s, warnings):
        """An activity: a total, register readings, or a rule over other activities (seed 001
        §8.3.2): add, subtract (first minus the others), multiply (by k), apportion (the share
        weight/total of the first term), integrate (power samples to energy)."""
        if isinstance(act, dict) and 'rule' in act:
            rule = act['rule']
            if rule == 'integrate':
                if not act.get('unit') or '/' in act['unit'] or not act.get('samples'):
                    raise ScenarioError('%s: integrate needs "samples" [[time, power]] and the power "unit" (kW, MW)'
                                        % where)
                samples = [(_time_ms(t, where, offset_s), _q(v, where)) for t, v in act['samples']]
                energy = processing.integrate(sorted(samples, key=lambda x: x[0]))      # power unit × h
                try:
                    return energy * units.factor(act['unit'] + 'h', unit), {'origin': 'rule', 'rule': rule,
                                                                            'samples': len(samples)}
                except units.UnitError as e:
                    raise ScenarioError('%s: %s (expected %s)' % (where, e, unit))
            terms = act.get('terms')
            if rule not in ('add', 'subtract', 'multiply', 'apportion') or not isinstance(terms, list) or not terms:
                raise ScenarioError('%s: rule must be add, subtract, multiply, apportion or integrate, with "terms"'
                                    % where)
            values = [self._activity_doc(sid, t, unit, '%s.terms[%d]' % (where, i), offset_s, warnings)[0]
                      for i, t in enumerate(terms)]
            if rule == 'add':
                value = processing.add(*values)
            elif rule == 'subtract':
                value = processing.subtract(values[0], *values[1:])
            elif rule == 'multiply':
                value = processing.multiply(values[0], _q(act.get('k'), where + '.k'))
            else:
                weights = act.get('weights')
                if not isinstance(weights, dict) or act.get('share') not in (weights or {}):
                    raise ScenarioError('%s: apportion needs "weights" {name: weight} and the "share" taken' % where)
                value = processing.apportion(values[0], weights)[act['share']]
            return value, {'origin': 'rule', 'rule': rule, 'terms': [v.text() for v in values]}
        if isinstance(act, dict) and 'readings' in act:
            if not act.get('unit'):
                raise ScenarioError('%s: the register unit is missing' % where)
            try:
                to_unit = units.factor(act['unit'], unit)
            except units.UnitError as e:
                raise ScenarioError('%s: %s (expected %s)' % (where, e, unit))
            readings = []
            for i, r in enumerate(act['readings']):
                if not isinstance(r, list) or len(r) not in (2, 3):
                    raise ScenarioError('%s.readings[%d]: give [time, value] or [time, value, flags]' % (where, i))
                value = None if r[1] is None else _q(r[1], '%s.readings[%d]' % (where, i))
                readings.append((_time_ms(r[0], '%s.readings[%d]' % (where, i), offset_s), value,
                                 r[2] if len(r) > 2 else 0))
            readings.sort(key=lambda r: r[0])
            digits = act.get('register_digits')
            multiplier = _q(act.get('multiplier', '1'), where + '.multiplier')
            max_per_hour = act.get('max_per_hour')
            if max_per_hour is not None:
                max_per_hour = _q(max_per_hour, where + '.max_per_hour')
            steps = processing.increments(readings, digits, multiplier, max_per_hour)
            total = ZERO
            rollovers = 0
            for s in steps:
                if s.value is None:
                    warnings.append('%s: %s; nothing booked between %s and %s' % (
                        sid, s.reason, _iso(s.t0, offset_s), _iso(s.t1, offset_s)))
                else:
                    total = total + s.value
                    rollovers += 1 if s.flag else 0
            return total * to_unit, {'origin': 'meter', 'readings': len(readings), 'register_unit': act['unit'],
                                     'multiplier': multiplier.text(), 'rollovers': rollovers,
                                     'not_booked': sum(1 for s in steps if s.value is None)}
        return _quantity(act, unit, where), {'origin': 'given', 'as_given': {
            'value': act.get('value'), 'unit': act.get('unit')}}

    def _derived_activity(self, given, spec, unit, where):
        """Activity computed by one of the method's derivations, e.g. heat from steam mass and
        enthalpy: "activity": {"from": {"M_steam": {...}, "h": {...}}}."""
        if not isinstance(given, dict):
            raise ScenarioError('%s.activity.from: give the inputs of a derivation' % where)
        for alt in spec.get('derive', []):
            if set(alt['inputs']) == set(given):
                values = {k: _quantity(given[k], u, '%s.activity.from.%s' % (where, k))
                          for k, u in alt['inputs'].items()}
                value = evaluate(alt['formula'], values)
                return value, {'origin': 'derived', 'how': alt.get('why', ''),
                               'from': {k: {'value': v.text(), 'unit': alt['inputs'][k]} for k, v in values.items()}}
        options = ' or '.join('[%s]' % ', '.join(sorted(alt['inputs'])) for alt in spec.get('derive', []))
        raise ScenarioError('%s.activity.from: %s' % (where, 'give ' + options if options else
                                                       'this activity cannot be derived'))

    # -- one source (single-point accounting, seed 001 §9.2) ------------------------------------
    def _resolve_unit(self, spec_unit, ctx):
        out = spec_unit
        for key in ('fu', 'au'):
            if '{%s}' % key in out:
                if ctx.get(key) is None:
                    raise ScenarioError('%s: the activity unit must be given' % ctx['where'])
                out = out.replace('{%s}' % key, ctx[key])
        return out

    def _factor(self, kind, subject, ctx, regime=None, series=None):
        try:
            return self.factors.select(kind, subject, ctx['year'], series=series, regime=regime, pinned=ctx['pin'])
        except FactorError as e:
            raise ScenarioError('%s: %s' % (ctx['where'], e))

    def _slot(self, name, spec, src, ctx, values, used, params_out):
        where = '%s.parameters.%s' % (ctx['where'], name)
        unit = self._resolve_unit(spec['unit'], ctx)
        given = (src.get('parameters') or {}).get(name)
        if given is not None:
            values[name] = _quantity(given, unit, where)
            ctx['u'][name] = _q(given.get('u_rel', '0'), where + '.u_rel') if isinstance(given, dict) else ZERO
            params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'given',
                                'as_given': {'value': given.get('value'), 'unit': given.get('unit')}}
            if given.get('evidence'):
                params_out[name]['evidence'] = given['evidence']
            return
        kind = spec.get('factor')
        if kind:
            subject = spec.get('subject') or src.get(spec.get('subject_param', '')) or ctx['subject']
            if kind == 'grid':
                f = self._factor(kind, subject, ctx, series=ctx['grid_series'])
            elif kind in ('ncv', 'cc', 'of', 'clinker_ef'):
                f = self._factor(kind, subject, ctx, regime=ctx['regime'])
            else:
                f = self._factor(kind, subject, ctx)
            try:
                values[name] = f.value * units.factor(f.unit, unit)
            except units.UnitError as e:
                raise ScenarioError('%s: factor %s is in %s: %s' % (where, f.id, f.unit, e))
            ctx['u'][name] = f.u_rel
            used[f.id] = f.version
            params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'factor', 'factor': f.ref()}
            return
        if 'default' in spec:
            values[name] = Q.of(spec['default'])
            ctx['u'][name] = ZERO
            params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'method default'}
            return
        for alt in spec.get('derive', []):
            inputs = alt['inputs']
            have = (src.get('parameters') or {})
            if all(k in have or (isinstance(v, dict) and v.get('factor')) for k, v in inputs.items()):
                sub = {}
                for k, v in inputs.items():
                    sub_spec = v if isinstance(v, dict) else {'unit': v}
                    self._slot(k, sub_spec, src, ctx, sub, used, params_out)
                values[name] = evaluate(alt['formula'], sub)
                # relative uncertainty of a derived value: quadrature of its inputs' (products dominate)
                ctx['u'][name] = Q.of(repr(_sqrt(sum(float(ctx['u'].get(k, ZERO)) ** 2 for k in inputs))))
                params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'derived',
                                    'how': alt.get('why', '')}
                return
        need = ' or '.join('[%s]' % ', '.join(alt['inputs']) for alt in spec.get('derive', []))
        raise ScenarioError('%s: required (%s, in %s)%s' % (where, spec.get('name', name), unit,
                                                            '; or give ' + need if need else ''))

    def _source(self, src, ctx_base, warnings, used):
        sid = src.get('id')
        if not isinstance(sid, str) or not sid:
            raise ScenarioError('sources: every source needs an "id"')
        where = 'source %s' % sid
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
                                'method and parameters against it' % (sid, ind['guideline']))
        subject_kind = method.get('subject')
        subject = src.get(subject_kind) if subject_kind else None
        if subject_kind and not subject:
            raise ScenarioError('%s: method %s needs "%s" (what it applies to, e.g. natural_gas, caco3, raw_coal)'
                                % (where, src['method'], subject_kind))
        act_name = [n for n, s in method['inputs'].items() if s.get('role') == 'activity'][0]
        act_spec = method['inputs'][act_name]
        ctx = dict(ctx_base, where=where, subject=subject, u={})
        act_doc = src.get('activity')
        if not isinstance(act_doc, dict):
            raise ScenarioError('%s.activity: give {"value", "unit"} or {"readings", "unit", ...}' % where)
        if '{fu}' in act_spec['unit']:
            ncv = None
            if subject:
                try:
                    ncv = self.factors.select('ncv', subject, ctx['year'], regime=ctx['regime'])
                except FactorError:
                    ncv = None
            ctx['fu'] = ncv.unit.split('/', 1)[1] if ncv else act_doc.get('unit')
        if '{au}' in act_spec['unit']:
            ctx['au'] = act_doc.get('unit')
        act_unit = self._resolve_unit(act_spec['unit'], ctx)
        if 'from' in act_doc:
            activity, act_info = self._derived_activity(act_doc['from'], act_spec, act_unit, where)
        else:
            activity, act_info = self._activity(src, act_unit, where, ctx['offset_s'], warnings)
        values = {act_name: activity}
        acc = src.get('accuracy_class')
        ctx['u'][act_name] = (_q(acc, where + '.accuracy_class') / 100 / Q.of(repr(3 ** 0.5))) if acc is not None \
            else _q(src.get('activity_u_rel', '0'), where + '.activity_u_rel')
        params = {}
        for name, spec in method['inputs'].items():
            if name != act_name:
                self._slot(name, spec, src, ctx, values, used, params)
        try:
            amount = evaluate(method['formula'], values)
        except MethodError as e:
            raise ScenarioError('%s: %s' % (where, e))
        gas = method['gas']
        if gas == '{gas}':
            gas = src.get('gas')
            if gas not in ('CH4', 'N2O', 'SF6', 'NF3'):
                raise ScenarioError('%s: "gas" must be CH4, N2O, SF6 or NF3' % where)
        co2e = amount
        gwp_ref = None
        if gas != 'CO2':
            if not ctx['gwp']:
                raise ScenarioError('%s: %s needs a GWP set: give "gwp": "SAR" | "AR4" | "AR5"' % (where, gas))
            f = self._factor('gwp', gas, ctx, regime=ctx['gwp'])
            used[f.id] = f.version
            gwp_ref = f.ref()
            co2e = amount * f.value
        # GUM: u(E)^2 = sum (dE/dx_i * u(x_i))^2, sensitivities taken exactly (the formulas are
        # multilinear: a relative change of one input gives the exact partial effect)
        var = 0.0
        for name, u_rel in ctx['u'].items():
            if not u_rel or name not in values or not values[name]:
                continue
            bumped = dict(values)
            bumped[name] = values[name] * (1 + u_rel)
            var += float(evaluate(method['formula'], bumped) - amount) ** 2
        u_abs = _sqrt(var) * (float(co2e / amount) if amount else 1.0)
        category = method['category']
        cat = self.methods.categories[category]
        energy = method.get('energy')
        tce = None
        if energy:
            tce_subject = energy.get('tce_subject') or subject
            try:
                f = self.factors.select('tce', tce_subject, ctx['year'], pinned=ctx['pin'])
                ein = values[energy['input']]
                in_unit = self._resolve_unit(method['inputs'][energy['input']]['unit'], ctx)
                tce = ein * f.value * units.factor(f.unit, 'tce/' + in_unit) * Q.of(energy.get('sign', '1'))
                used[f.id] = f.version
            except (FactorError, units.UnitError) as e:
                warnings.append('%s: no standard-coal figure (%s)' % (sid, e))
        return {
            'id': sid, 'method': src['method'], 'method_name': method['name'], 'industry': industry,
            'category': category, 'scope': cat['scope'], 'iso14064': cat['iso14064'],
            'export': bool(method.get('export')), 'gas': gas,
            'activity': dict(act_info, name=act_name, value=activity.text(), unit=act_unit),
            'parameters': params, 'emissions_t': {gas: amount.text()}, 'co2e_t': co2e.text(),
            'co2e_exact': co2e.ratio(),
            'gwp': gwp_ref, 'tce': tce.text() if tce is not None else None,
            'uncertainty': _uncertainty(co2e, u_abs), 'formula': method['formula'], 'method_source': method['source'],
            '_co2e': co2e, '_var': u_abs ** 2, '_tce': tce, '_gas': (gas, amount),
        }

    # -- the whole scenario ------------------------------------------------------------------
    def evaluate(self, scenario, pin=None):
        if not isinstance(scenario, dict):
            raise ScenarioError('a scenario is a JSON object')
        year = scenario.get('reporting_year')
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            raise ScenarioError('reporting_year is required (e.g. 2025)')
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
        ctx = {'year': year, 'grid_series': series, 'gwp': gwp, 'regime': scenario.get('regime'),
               'offset_s': int(scenario.get('utc_offset_h', 8) * 3600), 'pin': pinned}
        sources = scenario.get('sources')
        if not isinstance(sources, list) or not sources:
            raise ScenarioError('sources: at least one source is required')
        warnings = []
        used = {}
        results = []
        ids = set()
        for src in sources:
            if not isinstance(src, dict):
                raise ScenarioError('sources: each source is an object')
            r = self._source(src, ctx, warnings, used)
            if r['id'] in ids:
                raise ScenarioError('source %s is given twice' % r['id'])
            ids.add(r['id'])
            results.append(r)
        boundary = _boundary(scenario.get('boundary'), results, warnings)
        totals = _totals(results)
        intensity = _intensity(scenario.get('intensity'), totals['_net'], totals['_tce'])
        out = {
            'scenario': scenario.get('name'), 'reporting_year': year,
            'libraries': {'factors': self.factors.version, 'methods': self.methods.version},
            'choices': {'grid_series': series, 'gwp': gwp, 'regime': ctx['regime'], 'pinned': bool(pinned)},
            'sources': [_public(r) for r in results], 'totals': _public(totals),
            'boundary': boundary, 'intensity': intensity, 'factors_used': used, 'warnings': warnings,
        }
        return out


def _iso(ms, offset_s):
    y, mo, d, h, mi, s = civil.local_fields(ms, offset_s)
    return '%04d-%02d-%02dT%02d:%02d:%02d' % (y, mo, d, h, mi, s)


def _uncertainty(value, u_abs):
    out = {'u_t': '%.6g' % u_abs, 'U_t': '%.6g' % (K_EXPANDED * u_abs), 'k': K_EXPANDED}
    if value:
        out['U_rel_percent'] = '%.3g' % (K_EXPANDED * u_abs / abs(float(value)) * 100)
    return out


def _public(d):
    return {k: v for k, v in d.items() if not k.startswith('_')}


def _totals(results):
    scope1 = ZERO
    scope2_net = ZERO
    purchased = ZERO
    exported = ZERO
    by_category = {}
    by_gas = {}
    var1 = var2 = 0.0
    tce = ZERO
    for r in results:
        v = r['_co2e']
        by_category[r['category']] = by_category.get(r['category'], ZERO) + v
        gas, amount = r['_gas']
        by_gas[gas] = by_gas.get(gas, ZERO) + amount
        if r['scope'] == 1:
            scope1 = scope1 + v
            var1 += r['_var']
        else:
            scope2_net = scope2_net + v
            var2 += r['_var']
            if r['export']:
                exported = exported + v
            else:
                purchased = purchased + v
        if r['_tce'] is not None:
            tce = tce + r['_tce']
    net = scope1 + scope2_net
    return {
        'scope1_t': scope1.text(), 'scope2_net_t': scope2_net.text(), 'scope2_purchased_t': purchased.text(),
        'exported_t': exported.text(), 'total_net_t': net.text(), 'total_net_exact': net.ratio(),
        'note': 'GB/T 32150: total = scope 1 + purchased − exported electricity and heat (net); GHG Protocol '
                'reports scope 2 gross (scope2_purchased_t) and exports separately',
        'by_category_t': {k: v.text() for k, v in by_category.items()},
        'by_gas_t': {k: v.text() for k, v in by_gas.items()},
        'iso14064_t': {'1': scope1.text(), '2': scope2_net.text()},
        'tce': tce.text(),
        'uncertainty': {'scope1': _uncertainty(scope1, _sqrt(var1)), 'scope2': _uncertainty(scope2_net, _sqrt(var2)),
                        'total': _uncertainty(net, _sqrt(var1 + var2))},
        '_net': net, '_tce': tce,
    }


def _boundary(doc, results, warnings):
    """Roll results up the boundary tree (seed 001 §9.3): organisation -> accounting units ->
    industries -> sources; each node totals its own sources and its children."""
    by_id = {r['id']: r for r in results}
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
            total = total + r['_co2e']
            var += r['_var']
            scopes[r['scope']] = scopes[r['scope']] + r['_co2e']
        for c in n.get('children', []):
            child, c_total, c_var, c_scopes = node(c, here)
            kids.append(child)
            total = total + c_total
            var += c_var
            for k in (1, 2):
                scopes[k] = scopes[k] + c_scopes[k]
        public = {'name': n['name'], 'kind': n.get('kind'), 'total_t': total.text(), 'scope1_t': scopes[1].text(),
                  'scope2_t': scopes[2].text(), 'uncertainty': _uncertainty(total, _sqrt(var)),
                  'sources': list(n.get('sources', [])), 'children': kids}
        return public, total, var, scopes

    if doc is None:
        return None
    root = node(doc, [])[0]
    left = [r['id'] for r in results if r['id'] not in placed]
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
        amount = _quantity(d, unit, where)
        if not amount:
            raise ScenarioError('%s: must not be zero' % where)
        out[key] = {'value': (net / amount).text(), 'unit': 'tCO2/%s' % unit}
        if tce:
            out[key + '_energy'] = {'value': (tce / amount).text(), 'unit': 'tce/%s' % unit}
    return out
