"""Roll-ups in time (day -> month -> quarter -> year) and space (meter -> unit ->
enterprise -> park -> city -> province) with the consistency checks and metrics of
seed 002 §6.4 and table 1.  Violations are reported, never hidden or corrected
silently.  Portable."""

from shared.accounting import processing
from shared.accounting.exact import Q, ZERO

TOLERANCE = Q(5, 1000)            # a parent equals its children within 0.5 % (seed 002 §6.4.1 (2), §6.4.2 (2))
MAX_MISSING = Q(1, 100)           # missing share of children at most 1 % (§6.4.1 (1))
MAX_FLUCTUATION = Q(5, 100)       # against the trend, at most 5 % (§6.4.1 (3))
TARGETS = {                       # seed 002 table 1
    'consistency_rate': ('>=', Q(99, 100)),
    'correction_rate': ('<=', Q(5, 100)),
    'anomaly_rate': ('<=', Q(1, 100)),
    'check_success_rate': ('>=', Q(98, 100)),
}


def _relative(a, b):
    if not b:
        return ZERO if not a else None
    return abs(a - b) / abs(b)


def compare(name, reported, children, tolerance=TOLERANCE, expected_children=None):
    """One parent against its children.  reported: the parent's own figure (a main meter,
    a figure from another platform) or None; children: {name: Q or None}."""
    present = {k: v for k, v in children.items() if v is not None}
    missing = sorted(k for k, v in children.items() if v is None)
    if expected_children is not None:
        missing += sorted(set(expected_children) - set(children))
    total = ZERO
    for v in present.values():
        total = total + v
    out = {'node': name, 'children_total': total.text(), 'children': len(present), 'missing': missing,
           'violations': []}
    n_expected = len(present) + len(missing)
    if n_expected and Q(len(missing), n_expected) > MAX_MISSING:
        out['violations'].append('completeness: %d of %d children missing (%s)' % (
            len(missing), n_expected, ', '.join(missing)))
    if reported is not None:
        out['reported'] = reported.text()
        rel = _relative(total, reported)
        out['difference_percent'] = 'n/a' if rel is None else (rel * 100).text(3)
        if rel is None or rel > tolerance:
            out['violations'].append('consistency: children total %s differs from the reported %s by %s %%' % (
                total.text(3), reported.text(3), out['difference_percent']))
    out['consistent'] = not out['violations']
    return out


def check_tree(node, level_names=None, path=()):
    """Checks every node of a space tree {name, level, value?, children: [...]} whose children
    carry values; returns (total of the node, [check results])."""
    children = node.get('children') or []
    here = path + (node['name'],)
    if not children:
        v = node.get('value')
        return (None if v is None else Q.of(v)), []
    results = []
    values = {}
    for c in children:
        total, sub = check_tree(c, level_names, here)
        values[c['name']] = total
        results += sub
    reported = node.get('value')
    check = compare('/'.join(here), None if reported is None else Q.of(reported), values)
    check['level'] = node.get('level')
    results.append(check)
    total = ZERO
    for v in values.values():
        if v is not None:
            total = total + v
    return (Q.of(reported) if reported is not None else total), results


def check_time(daily, reported=None, level='month', expected_days=None):
    """Day settlements {day: Settlement} rolled up to `level`; each period compared with an
    independently reported figure {period: Q} where one exists; missing days counted."""
    rolled = processing.roll_up(daily, level)
    checks = []
    for period in sorted(rolled):
        days = {d: daily[d].increment for d in daily if processing._period_key(d, level) == period}
        expected = [d for d in (expected_days or []) if processing._period_key(d, level) == period]
        checks.append(compare(period, (reported or {}).get(period), days, expected_children=expected or None))
    return rolled, checks


def fluctuation(current, history):
    """seed 002 §6.4.1 (3): the period against the mean of the same periods before; None
    when there is no history, else (relative change, within 5 %)."""
    if not history:
        return None
    mean = ZERO
    for h in history:
        mean = mean + h
    mean = mean / len(history)
    rel = _relative(current, mean)
    return rel, rel is not None and rel <= MAX_FLUCTUATION


def metrics(checks, corrected=0, anomalies=0, total_values=None):
    """Seed 002 table 1 metrics over a set of checks, each against its target."""
    n = len(checks)
    ok = sum(1 for c in checks if c['consistent'])
    total_values = total_values if total_values is not None else n
    out = {}

    def rate(name, num, den):
        if not den:
            return
        value = Q(num, den)
        op, target = TARGETS[name]
        out[name] = {'value_percent': (value * 100).text(2), 'target_percent': (target * 100).text(2),
                     'met': value >= target if op == '>=' else value <= target}

    rate('consistency_rate', ok, n)
    rate('check_success_rate', ok, n)
    rate('correction_rate', corrected, total_values)
    rate('anomaly_rate', anomalies, total_values)
    return out
