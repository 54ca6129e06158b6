"""Units that differ by a power of ten, converted exactly on (mantissa, exponent) pairs.

Only conversions inside one family are allowed; anything else (kWh to GJ, m3 to
Nm3, t to Nm3) needs a factor with a source and is refused here.  Portable.
"""

FAMILIES = {
    'electric energy': {'Wh': 0, 'kWh': 3, 'MWh': 6, 'GWh': 9},
    'reactive energy': {'varh': 0, 'kvarh': 3, 'Mvarh': 6},
    'heat': {'J': 0, 'kJ': 3, 'MJ': 6, 'GJ': 9, 'TJ': 12},
    'volume': {'L': -3, 'm3': 0, '10^4 m3': 4},
    'normal volume': {'Nm3': 0, '10^4 Nm3': 4},
    'mass': {'g': -6, 'kg': -3, 't': 0, 'kt': 3, '10^4 t': 4},
    'power': {'W': 0, 'kW': 3, 'MW': 6},
    'reactive power': {'var': 0, 'kvar': 3, 'Mvar': 6},
    'volume flow': {'L/h': -3, 'm3/h': 0},
    'heat rate': {'kW': 3, 'MW': 6},
    # accounting quantities (shared/accounting)
    'CO2 mass': {'kgCO2': -3, 'tCO2': 0, 'ktCO2': 3, '10^4 tCO2': 4},
    'CO2e mass': {'kgCO2e': -3, 'tCO2e': 0, 'ktCO2e': 3, '10^4 tCO2e': 4},
    'carbon mass': {'kgC': -3, 'tC': 0},
    'coal equivalent': {'kgce': -3, 'tce': 0, '10^4 tce': 4},
    'ratio': {'fraction': 0, '%': -2},
    'area': {'m2': 0, '10^4 m2': 4, 'km2': 6},
    'money': {'CNY': 0, '10^4 CNY': 4, '10^8 CNY': 8},
}
_FAMILY_OF = {}
for _family, _units in FAMILIES.items():
    for _unit in _units:
        _FAMILY_OF.setdefault(_unit, _family)


class UnitError(ValueError):
    pass


def family(unit):
    return _FAMILY_OF.get(unit)


def shift(from_unit, to_unit):
    """Exponent shift that converts a value in from_unit into to_unit; UnitError if none exists."""
    if from_unit == to_unit:
        return 0
    f = _FAMILY_OF.get(from_unit)
    if f is None or to_unit not in FAMILIES[f]:
        raise UnitError('cannot convert %s to %s (not the same quantity, or needs a factor)' % (from_unit, to_unit))
    return FAMILIES[f][from_unit] - FAMILIES[f][to_unit]


def convert(value, exp, from_unit, to_unit):
    """(value, exp) of value × 10^exp from_unit in to_unit; floats are scaled, mantissas keep their digits."""
    d = shift(from_unit, to_unit)
    if isinstance(value, float):
        return value * 10.0 ** d, exp
    return value, exp + d
