"""The activity of a source (seed 001 §8.3.2): a total, a meter's register readings
turned into increments, a rule over other activities, or a derivation given by
the method (e.g. heat from steam mass and enthalpy).  Portable."""

from shared.accounting import processing, units
from shared.accounting.exact import ZERO
from shared.accounting.methods import evaluate
from shared.accounting.scenario import ScenarioError, number, quantity, time_ms
from shared.civil import local_iso as iso
from shared.codec.flags import FLAG_CLOCK, FLAG_ROLLOVER


def activity(sid, act, unit, where, offset_s, warnings):
    """An activity: a total, register readings, or a rule over other activities (seed 001
    §8.3.2): add, subtract (first minus the others), multiply (by k), apportion (the share
    weight/total of the first term), integrate (power samples to energy)."""
    if isinstance(act, dict) and 'rule' in act:
        rule = act['rule']
        if rule == 'integrate':
            if not act.get('unit') or '/' in act['unit'] or not act.get('samples'):
                raise ScenarioError('%s: integrate needs "samples" [[time, power]] and the power "unit" (kW, MW)'
                                    % where)
            samples = [(time_ms(t, where, offset_s), number(v, where)) for t, v in act['samples']]
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
        values = [activity(sid, t, unit, '%s.terms[%d]' % (where, i), offset_s, warnings)[0]
                  for i, t in enumerate(terms)]
        if rule == 'add':
            value = processing.add(*values)
        elif rule == 'subtract':
            value = processing.subtract(values[0], *values[1:])
        elif rule == 'multiply':
            value = processing.multiply(values[0], number(act.get('k'), where + '.k'))
        else:
            weights = act.get('weights')
            if not isinstance(weights, dict) or act.get('share') not in (weights or {}):
                raise ScenarioError('%s: apportion needs "weights" {name: weight} and the "share" taken' % where)
            value = processing.apportion(values[0], weights)[act['share']]
        return value, {'origin': 'rule', 'rule': rule, 'terms': [v.text() for v in values]}
    if isinstance(act, dict) and 'readings' in act:
        to_unit = _to_unit(act, unit, where, 'register')
        readings = []
        for i, r in enumerate(act['readings']):
            if not isinstance(r, list) or len(r) not in (2, 3):
                raise ScenarioError('%s.readings[%d]: give [time, value] or [time, value, flags]' % (where, i))
            value = None if r[1] is None else number(r[1], '%s.readings[%d]' % (where, i))
            readings.append((time_ms(r[0], '%s.readings[%d]' % (where, i), offset_s), value,
                             r[2] if len(r) > 2 else 0))
        readings.sort(key=lambda r: r[0])
        digits = act.get('register_digits')
        multiplier = number(act.get('multiplier', '1'), where + '.multiplier')
        max_per_hour = act.get('max_per_hour')
        if max_per_hour is not None:
            max_per_hour = number(max_per_hour, where + '.max_per_hour')
        steps = processing.increments(readings, digits, multiplier, max_per_hour)
        total = ZERO
        rollovers = clock = 0
        for s in steps:
            if s.value is None:
                warnings.append('%s: %s; nothing booked between %s and %s' % (
                    sid, s.reason, iso(s.t0, offset_s), iso(s.t1, offset_s)))
            else:
                total = total + s.value
                rollovers += 1 if s.flag & FLAG_ROLLOVER else 0
                clock += 1 if s.flag & FLAG_CLOCK else 0
        if clock:
            warnings.append('%s: %d readings were stamped by a gateway clock that had just jumped (flag clock): '
                            'their increments are booked, their times are not to be trusted' % (sid, clock))
        return total * to_unit, {'origin': 'meter', 'readings': len(readings), 'register_unit': act['unit'],
                                 'multiplier': multiplier.text(), 'rollovers': rollovers, 'clock_flagged': clock,
                                 'not_booked': sum(1 for s in steps if s.value is None)}
    if isinstance(act, dict) and 'amounts' in act:
        return _amounts(act, unit, where, offset_s)
    return quantity(act, unit, where), {'origin': 'given', 'as_given': {
        'value': act.get('value'), 'unit': act.get('unit')}}

def _to_unit(act, unit, where, what):
    """The exact factor from the unit the values are in to the method's unit."""
    if not act.get('unit'):
        raise ScenarioError('%s: the %s unit is missing' % (where, what))
    try:
        return units.factor(act['unit'], unit)
    except units.UnitError as e:
        raise ScenarioError('%s: %s (expected %s)' % (where, e, unit))


def _amounts(act, unit, where, offset_s):
    """Values that are each the amount of their period (a consumption in period, a manual
    entry): their sum.  Of several with one time, the last supersedes the others (a
    corrected or withdrawn manual entry); invalid or missing ones count nothing."""
    to_unit = _to_unit(act, unit, where, 'amounts\'')
    latest = {}
    for i, r in enumerate(act['amounts']):
        if not isinstance(r, list) or len(r) not in (2, 3):
            raise ScenarioError('%s.amounts[%d]: give [time, value] or [time, value, flags]' % (where, i))
        t = time_ms(r[0], '%s.amounts[%d]' % (where, i), offset_s)
        flags = r[2] if len(r) > 2 else 0
        value = None if r[1] is None or flags & processing.NOT_MEASURED else number(r[1], '%s.amounts[%d]' % (
            where, i))
        latest[t] = value
    booked = [v for v in latest.values() if v is not None]
    return processing.add(*booked) * to_unit, {'origin': 'amounts', 'amounts': len(booked),
                                                 'superseded_or_invalid': len(act['amounts']) - len(booked),
                                                 'unit': act['unit']}


def derived(given, spec, unit, where):
    """Activity computed by one of the method's derivations, e.g. heat from steam mass and
    enthalpy: "activity": {"from": {"M_steam": {...}, "h": {...}}}."""
    if not isinstance(given, dict):
        raise ScenarioError('%s.activity.from: give the inputs of a derivation' % where)
    for alt in spec.get('derive', []):
        if set(alt['inputs']) == set(given):
            values = {k: quantity(given[k], u, '%s.activity.from.%s' % (where, k))
                      for k, u in alt['inputs'].items()}
            value = evaluate(alt['formula'], values)
            return value, {'origin': 'derived', 'how': alt.get('why', ''),
                           'from': {k: {'value': v.text(), 'unit': alt['inputs'][k]} for k, v in values.items()}}
    options = ' or '.join('[%s]' % ', '.join(sorted(alt['inputs'])) for alt in spec.get('derive', []))
    raise ScenarioError('%s.activity.from: %s' % (where, 'give ' + options if options else
                                                   'this activity cannot be derived'))
