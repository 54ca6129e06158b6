"""JSON shapes the operator API returns, and parsing of its query parameters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from server.http import BadQuery
from server.store.frames import RecordRow
from server.store.gateways import Gateway
from shared.codec import flags as quality
from shared.codec import frame as framing


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def parse_time(name: str, text: str) -> int:
    """Milliseconds since 1970 from integer milliseconds or ISO 8601 (naive = UTC)."""
    if re.fullmatch(r'-?\d+', text):
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise BadQuery('%s: %r is neither milliseconds since 1970 nor an ISO 8601 time' % (name, text))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1000)


def parse_code_prefix(text: str) -> str:
    digits = text.replace('-', '')
    if not re.fullmatch(r'\d{1,12}', digits):
        raise BadQuery('code: %r must be 1 to 12 digits (a full code or a prefix, dashes allowed)' % text)
    return digits


def parse_int(name: str, text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadQuery('%s: %r is not an integer' % (name, text))
    if not lo <= value <= hi:
        raise BadQuery('%s must lie in %d..%d' % (name, lo, hi))
    return value


def record_json(r: RecordRow) -> dict[str, Any]:
    """A stored record: exact value text for people, the signed leaf fields for verifiers."""
    return {
        'gateway': r.gateway, 'seq': r.seq, 'code': r.code, 'time': iso(r.ts_ms), 'ts_ms': r.ts_ms,
        'value': r.record().value_text() or None, 'unit': r.unit,
        'flags': r.flags, 'flag_names': quality.flag_names(r.flags),
        'mantissa': r.mantissa, 'float': r.fvalue, 'exp': r.exp if r.mantissa is not None else 0,
        'frame': r.fingerprint.hex(),
    }


def record_from_json(doc: Any) -> framing.Record:
    """The leaf fields of a record as record_json gives them."""
    if not isinstance(doc, dict):
        raise BadQuery('record must be an object')

    def integer(key, default=None):
        v = doc.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool):
            raise BadQuery('record.%s must be an integer' % key)
        return v

    mantissa, fvalue = doc.get('mantissa'), doc.get('float')
    if mantissa is not None and fvalue is not None:
        raise BadQuery('record has both mantissa and float')
    if mantissa is not None:
        value = integer('mantissa')
    elif fvalue is not None:
        if not isinstance(fvalue, (int, float)) or isinstance(fvalue, bool):
            raise BadQuery('record.float must be a number')
        value = float(fvalue)
    else:
        value = None
    code = doc.get('code')
    if not isinstance(code, str):
        raise BadQuery('record.code must be a string')
    exp = integer('exp', 0) if mantissa is not None else 0
    return framing.Record(integer('seq'), code, integer('ts_ms'), value, exp, integer('flags', 0))


def gateway_json(g: Gateway, beyond_gap: int = 0, declared_lost: int = 0) -> dict[str, Any]:
    return {
        'gateway': g.gateway, 'enterprise': g.enterprise, 'site': g.site,
        'public_key': g.public_key.hex(), 'enrolled_at': iso(g.enrolled_at),
        'revoked': g.revoked_at is not None, 'revoked_at': iso(g.revoked_at), 'revoke_reason': g.revoke_reason,
        'ack': g.ack, 'last_seq': g.last_seq, 'received_beyond_gap': beyond_gap,
        'missing': g.missing(beyond_gap), 'declared_lost': declared_lost, 'frames': g.frames, 'records': g.records,
        'last_frame_at': iso(g.last_frame_at), 'signature_failures': g.signature_failures,
        'last_signature_failure_at': iso(g.last_signature_failure_at),
        'rejected_frames': g.rejected_frames, 'conflicts': g.conflicts,
    }
