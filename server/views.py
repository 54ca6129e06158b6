"""JSON shapes the operator API and the CLI show."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.store.frames import RecordRow
from server.store.gateways import Counted
from shared.codec import flags as quality


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def record_json(r: RecordRow) -> dict[str, Any]:
    """A stored record: exact value text for people, the signed leaf fields for verifiers."""
    return {
        'gateway': r.gateway, 'seq': r.seq, 'code': r.code, 'time': iso(r.ts_ms), 'ts_ms': r.ts_ms,
        'value': r.record().value_text() or None, 'unit': r.unit,
        'flags': r.flags, 'flag_names': quality.flag_names(r.flags),
        'mantissa': r.mantissa, 'float': r.fvalue, 'exp': r.exp if r.mantissa is not None else 0,
        'frame': r.fingerprint.hex(),
    }


def gateway_json(c: Counted) -> dict[str, Any]:
    g, beyond_gap = c.gateway, c.beyond_gap
    return {
        'gateway': g.gateway, 'enterprise': g.enterprise, 'site': g.site,
        'public_key': g.public_key.hex(), 'enrolled_at': iso(g.enrolled_at),
        'revoked': g.revoked_at is not None, 'revoked_at': iso(g.revoked_at), 'revoke_reason': g.revoke_reason,
        'ack': g.ack, 'last_seq': g.last_seq, 'received_beyond_gap': beyond_gap,
        'missing': g.missing(beyond_gap), 'declared_lost': c.declared_lost,
        'declared_lost_by_cause': c.lost_by_cause, 'frames': g.frames, 'records': g.records,
        'last_frame_at': iso(g.last_frame_at), 'signature_failures': g.signature_failures,
        'last_signature_failure_at': iso(g.last_signature_failure_at),
        'rejected_frames': g.rejected_frames, 'conflicts': g.conflicts, 'alarms': _alarms(c),
    }


def _alarms(c: Counted) -> list[str]:
    """What a person must look at for this gateway, one sentence each."""
    out = []
    if c.reused is not None:
        r = c.reused
        out.append('sequence numbers reused: %d stored numbers in %d..%d came again with different content (last at '
                   '%s); the values first received are kept; check the gateway\'s data directory (wiped, or shared '
                   'with another gateway?)' % (r.count, r.first, r.last, iso(r.last_at)))
    for x in c.interleaved:
        out.append('code %s alternates between levels (%s to %s; it fell at %d of %d steps in %d frames, last at %s): '
                   'two meters under one code? its readings cannot be used as one register; check the gateway\'s '
                   'configuration' % (x.code, x.low, x.high, x.drops, x.steps, x.frames, iso(x.last_at)))
    return out
