"""Enrolled gateways: identity, public key, and the counters the operator sees."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

from server.db import Connection
from server.store import StoreError
from shared.codec import frame as framing


@dataclass
class Gateway:
    id: int
    gateway: str
    public_key: bytes
    enterprise: str
    site: str
    enrolled_at: int
    revoked_at: int | None
    revoke_reason: str | None
    ack: int
    last_seq: int
    frames: int
    records: int
    last_frame_at: int | None
    signature_failures: int
    last_signature_failure_at: int | None
    rejected_frames: int
    conflicts: int

    def missing(self, pending: int) -> int:
        """Sequence numbers between the ack and the highest received that are still missing."""
        return max(self.last_seq - self.ack - pending, 0)


_SELECT = 'SELECT %s FROM gateways' % ', '.join(f.name for f in fields(Gateway))


def _gateway(row) -> Gateway | None:
    if row is None:
        return None
    return Gateway(**dict(row._asdict(), public_key=bytes(row.public_key)))


def enrol_gateway(conn: Connection, gateway: str, public_key: bytes, enterprise: str, site: str,
                  first_seq: int, now_ms: int) -> Gateway:
    framing.check_gateway_id(gateway)  # same rule as the frame's gw field
    if get_gateway(conn, gateway) is not None:
        raise StoreError('gateway %s is already enrolled' % gateway)
    if first_seq < 0:
        raise StoreError('the first sequence number cannot be negative')
    conn.execute('INSERT INTO gateways (gateway, public_key, enterprise, site, enrolled_at, ack, last_seq) '
                 'VALUES (?, ?, ?, ?, ?, ?, ?)',
                 (gateway, public_key, enterprise, site, now_ms, first_seq - 1, first_seq - 1))
    return get_gateway(conn, gateway)


def revoke_gateway(conn: Connection, gateway: str, reason: str, now_ms: int) -> Gateway:
    gw = get_gateway(conn, gateway)
    if gw is None:
        raise StoreError('no gateway %s is enrolled' % gateway)
    if gw.revoked_at is not None:
        raise StoreError('gateway %s was already revoked' % gateway)
    conn.execute('UPDATE gateways SET revoked_at = ?, revoke_reason = ? WHERE id = ?', (now_ms, reason, gw.id))
    return get_gateway(conn, gateway)


def get_gateway(conn: Connection, gateway: str) -> Gateway | None:
    return _gateway(conn.one(_SELECT + ' WHERE gateway = ?', (gateway,)))


def list_gateways(conn: Connection) -> list[Gateway]:
    return [_gateway(r) for r in conn.query(_SELECT + ' ORDER BY gateway')]


def _range_sums(conn: Connection, table: str) -> dict[int, int]:
    return {r.gw: r.n for r in conn.query(
        'SELECT gw, CAST(sum(last - first + 1) AS BIGINT) AS n FROM %s GROUP BY gw' % table)}


def pending_counts(conn: Connection) -> dict[int, int]:
    """Per gateway id: sequence numbers received (or declared lost) beyond the first gap."""
    return _range_sums(conn, 'pending_ranges')


def lost_counts(conn: Connection) -> dict[int, int]:
    """Per gateway id: sequence numbers the gateway declared lost (its store overflowed)."""
    return _range_sums(conn, 'lost_ranges')


def lost_by_cause(conn: Connection) -> dict[int, dict[str, int]]:
    """Per gateway id: declared-lost sequence numbers by the cause the gateway gave."""
    out: dict[int, dict[str, int]] = {}
    for r in conn.query('SELECT gw, cause, CAST(sum(last - first + 1) AS BIGINT) AS n FROM lost_causes '
                        'GROUP BY gw, cause'):
        out.setdefault(r.gw, {})[r.cause] = r.n
    return out


class Reused(NamedTuple):
    """Stored sequence numbers a gateway sent again with different content."""
    count: int
    first: int
    last: int
    last_at: int


class Counted(NamedTuple):
    """A gateway with its range counts: numbers received beyond the first gap, numbers
    declared lost, and those by cause; and its reused numbers, if any."""
    gateway: Gateway
    beyond_gap: int
    declared_lost: int
    lost_by_cause: dict[str, int]
    reused: Reused | None = None
    interleaved: list = []             # rows of interleaved_codes: register codes alternating between levels


def counted(conn: Connection, name: str | None = None) -> list[Counted]:
    """Every gateway (or the one named) with its range counts and reused numbers."""
    found = list_gateways(conn) if name is None else [g for g in [get_gateway(conn, name)] if g is not None]
    pending, lost, causes = pending_counts(conn), lost_counts(conn), lost_by_cause(conn)
    reused = {r.gw: Reused(r.n, r.lo, r.hi, r.last_at) for r in conn.query(
        'SELECT gw, count(*) AS n, min(seq) AS lo, max(seq) AS hi, max(at) AS last_at FROM conflicts GROUP BY gw')}
    mixed: dict[int, list] = {}
    for r in conn.query('SELECT gw, code, frames, drops, steps, low, high, last_at FROM interleaved_codes '
                        'ORDER BY gw, code'):
        mixed.setdefault(r.gw, []).append(r)
    return [Counted(g, pending.get(g.id, 0), lost.get(g.id, 0), causes.get(g.id, {}), reused.get(g.id),
                    mixed.get(g.id, [])) for g in found]


def note_failures(conn: Connection, failures: dict[int, list[int]]) -> None:
    """Add failures counted in memory: {gateway row id: [signature failures, refused frames,
    time of the last signature failure in ms or 0]}, one statement per gateway."""
    for gateway_id, (signature, refused, last_at) in sorted(failures.items()):
        conn.execute('UPDATE gateways SET signature_failures = signature_failures + ?, rejected_frames = '
                     'rejected_frames + ?, last_signature_failure_at = COALESCE(?, last_signature_failure_at) '
                     'WHERE id = ?', (signature, refused, last_at or None, gateway_id))


def put_health(conn: Connection, gw_id: int, reported_at: int, received_at: int, report: str) -> bool:
    """Keep a gateway's health report if it is newer than the one kept; False for an older or
    repeated one (a replay)."""
    row = conn.one('SELECT reported_at FROM gateway_health WHERE gw = ?', (gw_id,))
    if row is None:
        conn.execute('INSERT INTO gateway_health (gw, reported_at, received_at, report) VALUES (?, ?, ?, ?)',
                     (gw_id, reported_at, received_at, report))
        return True
    if reported_at <= row.reported_at:
        return False
    conn.execute('UPDATE gateway_health SET reported_at = ?, received_at = ?, report = ? WHERE gw = ?',
                 (reported_at, received_at, report, gw_id))
    return True


def health(conn: Connection, gateway: str | None = None) -> list:
    """(gateway, enterprise, site, revoked_at, reported_at, received_at, report) of one gateway or all,
    with None where a gateway has not reported yet."""
    where, params = ('WHERE g.gateway = ?', (gateway,)) if gateway is not None else ('', ())
    return conn.query('SELECT g.gateway, g.enterprise, g.site, g.revoked_at, h.reported_at, h.received_at, h.report '
                      'FROM gateways g LEFT JOIN gateway_health h ON h.gw = g.id %s ORDER BY g.gateway' % where,
                      params)
