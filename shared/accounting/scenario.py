"""Reading values out of a scenario (docs/accounting.md): exact numbers, quantities
converted to the unit a formula needs, and local times.  Every mistake is a
ScenarioError naming its place in the scenario.  Portable."""

from shared import civil
from shared.accounting import units
from shared.accounting.exact import Q


class ScenarioError(ValueError):
    """The scenario cannot be evaluated; the message names the place."""


def utc_offset_s(doc):
    """The scenario's local time offset in seconds (utc_offset_h, default 8: Beijing)."""
    hours = doc.get('utc_offset_h', 8)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not -12 <= hours <= 14:
        raise ScenarioError('utc_offset_h must be a number of hours from -12 to 14, not %r' % (hours,))
    return int(hours * 3600)


def check_shape(doc):
    """The structure every scenario must have, checked before one is stored or evaluated:
    ScenarioError naming the first place that is wrong."""
    if not isinstance(doc, dict):
        raise ScenarioError('a scenario is a JSON object')
    utc_offset_s(doc)
    for key in ('name', 'gwp', 'regime'):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise ScenarioError('%s must be text' % key)
    year = doc.get('reporting_year')
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100):
        raise ScenarioError('reporting_year must be a year from 2000 to 2100')
    for key in ('grid', 'boundary', 'intensity', 'pin'):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise ScenarioError('%s must be an object' % key)
    if doc.get('factors') is not None and not isinstance(doc['factors'], list):
        raise ScenarioError('factors must be a list of factor records')
    sources = doc.get('sources')
    if not isinstance(sources, list) or not sources:
        raise ScenarioError('sources: at least one source is required')
    for i, src in enumerate(sources):
        if not isinstance(src, dict) or not isinstance(src.get('id'), str) or not src['id']:
            raise ScenarioError('sources[%d]: each source is an object with an "id"' % i)
        if not isinstance(src.get('method'), str):
            raise ScenarioError('source %s: "method" must name a method' % src['id'])
        meter = src.get('meter')
        if meter is not None and (not isinstance(meter, dict) or not isinstance(meter.get('gateway'), str)
                                  or not isinstance(meter.get('code'), str)):
            raise ScenarioError('source %s: meter needs "gateway" and "code" as text' % src['id'])


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


