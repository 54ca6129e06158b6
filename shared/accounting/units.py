"""Units of accounting quantities: simple units of shared/units.py and compounds "A/B"
(GJ/t, tC/TJ, tCO2/10^4 Nm3, kgCO2/kWh, kgce/kWh ...).  Conversions are exact powers
of ten; anything else is refused with the reason (reference/accounting.md §8 rule 2)."""

from shared import units as simple
from shared.accounting.exact import Q


class UnitError(ValueError):
    pass


def _split(unit):
    if not isinstance(unit, str) or not unit.strip():
        raise UnitError('a unit is required')
    num, sep, den = unit.partition('/')
    return num.strip(), (den.strip() if sep else None)


def _shift(a, b):
    try:
        return simple.shift(a, b)
    except simple.UnitError:
        raise UnitError('%s cannot be converted to %s' % (a, b))


def factor(from_unit, to_unit):
    """The exact factor that turns a value in from_unit into to_unit; UnitError if none."""
    if from_unit == to_unit:
        return Q(1)
    fn, fd = _split(from_unit)
    tn, td = _split(to_unit)
    if (fd is None) != (td is None):
        raise UnitError('%s cannot be converted to %s' % (from_unit, to_unit))
    try:
        shift = _shift(fn, tn) - (_shift(fd, td) if fd is not None else 0)
    except UnitError:
        raise UnitError('%s cannot be converted to %s' % (from_unit, to_unit))
    return Q(10 ** shift) if shift >= 0 else Q(1, 10 ** -shift)


def convert(value, from_unit, to_unit):
    return Q.of(value) * factor(from_unit, to_unit)
