"""What a person reads of a gateway's status (status.json): its alarms — every fault it
is in now, each naming what to look at — and a readable summary for `tanji gateway
status`.  The local page (docs/gateway.md) shows the same alarms."""

from __future__ import annotations

import time

from shared import civil

STALE_S = 10.0            # status.json is rewritten every 2 s by a running gateway


def points(status: dict) -> dict[str, dict]:
    """Every point of a status by its key (meter/code), whichever source reads it."""
    out: dict = {}
    for source in status.get('sources', []):
        out.update(source.get('points', {}))
    return out


def alarms(status: dict) -> list[str]:
    """The faults a running gateway is in, one sentence each (empty: all well)."""
    out = []
    if status.get('disk_error'):
        out.append('the log cannot be written: %s (%d readings queued in memory)'
                   % (status['disk_error'], status.get('queued', 0)))
    for c in status.get('centres', []):
        if c.get('consecutive_failures'):
            out.append('centre %s: %s (%d failed attempts, backlog from seq %d)'
                       % (c['centre'], c.get('last_error') or 'failing', c['consecutive_failures'],
                          c.get('cursor', -1) + 1))
    for source in status.get('sources', []):
        if 'bus' in source:
            if source.get('state') == 'down':
                out.append('bus %s is down: %s' % (source['bus'], source.get('down_reason')))
            for meter, m in sorted(source.get('meters', {}).items()):
                if m.get('degraded'):
                    out.append('bus %s: meter %s degraded (%d failed visits in a row)'
                               % (source['bus'], meter, m.get('failures', 0)))
        for key, p in sorted(source.get('points', {}).items()):
            if p.get('last_reason'):
                out.append('point %s: %s' % (key, p['last_reason']))
    for meter, number in sorted((status.get('calibration_overdue') or {}).items()):
        out.append('meter %s: instrument %s is past its calibration due date; its readings are flagged calibration'
                   % (meter, number))
    pending = status.get('network_pending')
    if pending:
        out.append('a network change waits for confirmation from %s:%d; it goes back in %.0f s'
                   % (pending['new'][0], pending['new'][1], pending['left_s']))
    return out


def _age(status: dict, now: float) -> float:
    return now - float(status.get('time', 0))


def text(status: dict, utc_offset_s: int, now: float | None = None) -> str:
    """A readable summary: the gateway, its log, each centre, bus, meter and point, alarms."""
    now = time.time() if now is None else now
    lines = []
    age = _age(status, now)
    written = civil.local_iso(int(float(status.get('time', 0)) * 1000), utc_offset_s)
    if age > STALE_S:
        lines.append('NOT RUNNING? status last written %s (%.0f s ago)' % (written, age))
    else:
        lines.append('running; status of %s' % written)
    counters = status.get('counters', {})
    lines.append('log: durable up to seq %d, oldest seq %d, %d queued'
                 % (status.get('durable_seq', -1), status.get('oldest_seq', -1), status.get('queued', 0)))
    lost = {k: v for k, v in sorted(counters.items()) if v}
    if lost:
        lines.append('counters: %s' % ', '.join('%s %d' % kv for kv in lost.items()))
    durable = status.get('durable_seq', -1)
    for c in status.get('centres', []):
        backlog = max(0, durable - c.get('cursor', -1))
        nxt = c.get('next_attempt_in_s')
        lines.append('centre %s: %s, acknowledged up to seq %d, backlog %d readings%s%s' % (
            c['centre'], c.get('state'), c.get('cursor', -1), backlog,
            '' if nxt is None else ', next attempt in %.0f s' % nxt,
            ', last error: %s' % c['last_error'] if c.get('last_error') else ''))
    by_key = points(status)
    for source in status.get('sources', []):
        if 'bus' in source:
            lines.append('bus %s (%s): %s, %d readings, %d missing, %d timeouts' % (
                source['bus'], source.get('protocol'), source.get('state', 'up'), source.get('readings', 0),
                source.get('missing', 0), source.get('timeouts', 0)))
            for meter, m in sorted(source.get('meters', {}).items()):
                lines.append('  meter %s: %s' % (meter, 'DEGRADED' if m.get('degraded') else 'ok'))
                for key, p in sorted(by_key.items()):
                    if key.startswith(meter + '/'):
                        lines.append('    point %s: %d good, %d missing, %d invalid, %d flagged%s' % (
                            key, p['good'], p['missing'], p['invalid'], p['flagged'],
                            '; now: %s' % p['last_reason'] if p.get('last_reason') else ''))
                        if p.get('last_flagged'):
                            f = p['last_flagged']
                            lines.append('      last flagged %s (%s): %s' % (f['at'], ', '.join(f['flags']),
                                                                           f.get('reason') or 'no reason given'))
        else:
            kind = next((k for k in ('mqtt', 'opcua', 'hj212', 'manual', 'source') if k in source), None)
            if kind is not None:
                rest = ', '.join('%s %s' % (k, v) for k, v in source.items()
                                 if k != kind and isinstance(v, (int, str)) and not isinstance(v, bool))
                lines.append('%s %s: %s' % (kind, source[kind], rest))
    current = alarms(status)
    lines.append('alarms: none' if not current else 'alarms (%d):' % len(current))
    lines.extend('  ALARM ' + a for a in current)
    return '\n'.join(lines)
