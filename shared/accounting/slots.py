"""The parameter slots of a method filled for one source (seed 001 §9.2): from what the
scenario gives (converted exactly to the slot's unit), else from the factor library
(measured > user > default, the reporting year's or the pinned version), else from
the method's default or derivation.  Portable."""

from shared.accounting import units, uncertainty
from shared.accounting.exact import Q, ZERO
from shared.accounting.factors import FactorError
from shared.accounting.methods import evaluate
from shared.accounting.scenario import ScenarioError, number, quantity


class Slots:
    """ctx: where, subject, year, regime, grid_series, pin, and the fuel's and activity's
    units (fu, au) once known; u: each filled slot's relative standard uncertainty."""

    def __init__(self, factors, ctx):
        self.factors = factors
        self.ctx = ctx
        self.u = {}

    def unit(self, spec_unit):
        """A slot's unit with the fuel's and the activity's unit put in ({fu}, {au})."""
        out = spec_unit
        for key in ('fu', 'au'):
            if '{%s}' % key in out:
                if self.ctx.get(key) is None:
                    raise ScenarioError('%s: the activity unit must be given' % self.ctx['where'])
                out = out.replace('{%s}' % key, self.ctx[key])
        return out

    def factor(self, kind, subject, regime=None, series=None):
        """The factor record the library selects for the reporting year (or the pinned version)."""
        try:
            f = self.factors.select(kind, subject, self.ctx['year'], series=series, regime=regime,
                                    pinned=self.ctx['pin'], notes=self.ctx.get('warnings'))
            if f.status == 'provisional' and 'provisional' in self.ctx:
                self.ctx['provisional'][f.id] = f.version
            return f
        except FactorError as e:
            raise ScenarioError('%s: %s' % (self.ctx['where'], e))

    def fill(self, name, spec, src, values, used, params_out):
        """values[name] from what the source gives, else a factor, else the method's default
        or derivation; its relative uncertainty into self.u, the factor into used, the
        parameter as shown into params_out."""
        ctx = self.ctx
        where = '%s.parameters.%s' % (ctx['where'], name)
        unit = self.unit(spec['unit'])
        given = (src.get('parameters') or {}).get(name)
        if given is not None:
            values[name] = quantity(given, unit, where)
            if values[name] < ZERO:
                raise ScenarioError('%s: %s %s is negative: no calorific value, carbon content, oxidation rate or '
                                    'factor can be' % (where, values[name].text(), unit))
            self.u[name] = number(given.get('u_rel', '0'), where + '.u_rel') if isinstance(given, dict) else ZERO
            params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'given',
                                'as_given': {'value': given.get('value'), 'unit': given.get('unit')}}
            if given.get('evidence'):
                params_out[name]['evidence'] = given['evidence']
            return
        kind = spec.get('factor')
        if kind:
            subject = spec.get('subject') or src.get(spec.get('subject_param', '')) or ctx['subject']
            if kind == 'grid':
                f = self.factor(kind, subject, series=ctx['grid_series'])
            elif kind in ('ncv', 'cc', 'of', 'clinker_ef'):
                f = self.factor(kind, subject, regime=ctx['regime'])
            else:
                f = self.factor(kind, subject)
            try:
                values[name] = f.value * units.factor(f.unit, unit)
            except units.UnitError as e:
                raise ScenarioError('%s: factor %s is in %s: %s' % (where, f.id, f.unit, e))
            self.u[name] = f.u_rel
            used[f.id] = f.version
            params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'factor', 'factor': f.ref()}
            return
        if 'default' in spec:
            values[name] = Q.of(spec['default'])
            self.u[name] = ZERO
            params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'method default'}
            return
        for alt in spec.get('derive', []):
            inputs = alt['inputs']
            have = (src.get('parameters') or {})
            if all(k in have or (isinstance(v, dict) and v.get('factor')) for k, v in inputs.items()):
                sub = {}
                for k, v in inputs.items():
                    sub_spec = v if isinstance(v, dict) else {'unit': v}
                    self.fill(k, sub_spec, src, sub, used, params_out)
                values[name] = evaluate(alt['formula'], sub)
                self.u[name] = uncertainty.of_derived(inputs, self.u)
                params_out[name] = {'value': values[name].text(), 'unit': unit, 'origin': 'derived',
                                    'how': alt.get('why', '')}
                return
        need = ' or '.join('[%s]' % ', '.join(alt['inputs']) for alt in spec.get('derive', []))
        raise ScenarioError('%s: required (%s, in %s)%s' % (where, spec.get('name', name), unit,
                                                            '; or give ' + need if need else ''))
