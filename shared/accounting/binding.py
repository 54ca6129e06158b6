"""Binding a scenario's meter sources to readings (docs/accounting.md "Server"): each source
with `"meter": {"gateway": ..., "code": ...}` gets its activity from that point's readings
of the period — a register's readings (the increments are booked), or, for a code whose
values are each the amount of their period (a manual entry, an hourly amount), their sum.
The platform fetches the readings from its store, the gateway from its own tally.  Portable."""

from shared.accounting.scenario import ScenarioError
from shared.codec import codes

PASSED_ON = ('register_digits', 'multiplier', 'max_per_hour')


def reading_kind(code):
    """'register', 'amount', ... as the code's tables say; None for a code they do not know."""
    try:
        return codes.tables().reading_kind(str(code))
    except codes.CodeError:
        return None


def meter_of(src):
    """A source's meter binding, checked; None when it has none."""
    meter = src.get('meter') if isinstance(src, dict) else None
    if not meter:
        return None
    if not isinstance(meter, dict) or not meter.get('gateway') or not meter.get('code'):
        raise ScenarioError('source %s: meter needs "gateway" and "code"' % src.get('id'))
    return meter


def activity(meter, readings, unit, since_ms):
    """A meter source's activity from its readings [[ts_ms, value text or None, flags], ...]
    of the period, preceded by the last one before it (the first increment's baseline)."""
    unit = meter.get('unit') or unit
    if reading_kind(meter['code']) == 'amount':          # each value the amount of its period: summed
        act = {'amounts': [r for r in readings if r[0] >= since_ms], 'unit': unit}
    else:
        act = {'readings': readings, 'unit': unit}
    for key in PASSED_ON:
        if key in meter:
            act[key] = meter[key]
    return act


def bind_meters(scenario, fetch, since_ms):
    """The scenario with each meter source's activity filled: fetch(gateway, code) -> (readings,
    unit) as activity() takes them."""
    sources = []
    for src in scenario.get('sources', []):
        meter = meter_of(src)
        if meter:
            readings, unit = fetch(meter['gateway'], meter['code'])
            src = dict(src, activity=activity(meter, readings, unit, since_ms))
        sources.append(src)
    return dict(scenario, sources=sources)
