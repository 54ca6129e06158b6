"""Uncertainty of emissions after GUM (seed 004 §7.4.3): standard uncertainties of a
source from its inputs' relative uncertainties with exact sensitivities, summed in
quadrature up the boundary and the scopes, reported expanded with k = 2.  Portable."""

from shared.accounting.exact import Q
from shared.accounting.methods import evaluate

K_EXPANDED = 2            # coverage factor of the expanded uncertainty (about 95 %)


def sqrt(x):
    return float(x) ** 0.5


def of_source(formula, values, u_rel, amount, co2e):
    """Standard uncertainty (t CO2e) of one source: u(E)^2 = sum (dE/dx_i * u(x_i))^2.  The
    formulas are multilinear, so a relative change of one input gives its exact partial effect."""
    var = 0.0
    for name, u in u_rel.items():
        if not u or name not in values or not values[name]:
            continue
        bumped = dict(values)
        bumped[name] = values[name] * (1 + u)
        var += float(evaluate(formula, bumped) - amount) ** 2
    return sqrt(var) * (float(co2e / amount) if amount else 1.0)


def of_derived(inputs, u_rel):
    """Relative uncertainty of a value derived from inputs: quadrature of theirs (products dominate)."""
    return Q.of(repr(sqrt(sum(float(u_rel.get(k, 0)) ** 2 for k in inputs))))


def of_accuracy_class(accuracy_class):
    """Relative standard uncertainty of a meter of that accuracy class (%, rectangular)."""
    return accuracy_class / 100 / Q.of(repr(3 ** 0.5))


def summary(value, u_abs):
    """How a figure's uncertainty is shown: standard, expanded, k, and relative."""
    out = {'u_t': '%.6g' % u_abs, 'U_t': '%.6g' % (K_EXPANDED * u_abs), 'k': K_EXPANDED}
    if value:
        out['U_rel_percent'] = '%.3g' % (K_EXPANDED * u_abs / abs(float(value)) * 100)
    return out
