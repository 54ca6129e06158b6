"""Reading values out of a scenario (docs/accounting.md): exact numbers, quantities
converted to the unit a formula needs, and local times.  Every mistake is a
ScenarioError naming its place in the scenario.  Portable."""

from shared import civil
from shared.accounting import units
from shared.accounting.exact import Q


class ScenarioError(ValueError):
    """The scenario cannot be evaluated; the message names the place."""


def number(value, where):
    if value is None:
        raise ScenarioError('%s: a value is required' % where)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ScenarioError('%s: %r is not a number (give decimal text, e.g. "125000.5")' % (where, value))
    try:
        return Q.of(value)
    except (ValueError, TypeError) as e:
        raise ScenarioError('%s: %s' % (where, e))


def quantity(doc, unit, where):
    """A {value, unit} given in the scenario, converted exactly to `unit`."""
    if not isinstance(doc, dict):
        raise ScenarioError('%s: give {"value": ..., "unit": ...}' % where)
    if not doc.get('unit'):
        raise ScenarioError('%s: the unit is missing (expected %s or a unit convertible to it)' % (where, unit))
    value = number(doc.get('value'), where)
    try:
        return value * units.factor(doc['unit'], unit)
    except units.UnitError as e:
        raise ScenarioError('%s: %s (expected %s)' % (where, e, unit))


def time_ms(text, where, utc_offset_s):
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


