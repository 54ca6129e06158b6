"""What the server keeps and how: gateways, signed frames, records, acks,
fan-out cursors, tokens and the audit log.  Every function takes a
server.db.Connection and runs in the calling thread.

Records are keyed by (gateway, sequence number), so a resent or overlapping
frame never stores a record twice (docs/protocol.md §7).  A record that comes
back with the same sequence number but different content is kept as it was
first stored and counted as a conflict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from server.db import Connection
from shared.codec import frame as framing


class StoreError(Exception):
    """An administrative request that cannot be carried out (unknown id, duplicate, ...)."""


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


GATEWAY_COLUMNS = ('id, gateway, public_key, enterprise, site, enrolled_at, revoked_at, revoke_reason, ack, last_seq, '
                   'frames, records, last_frame_at, signature_failures, last_signature_failure_at, rejected_frames, conflicts')


def _gateway(row: Sequence[Any] | None) -> Gateway | None:
    if row is None:
        return None
    values = list(row)
    values[2] = bytes(values[2])
    return Gateway(*values)


# -- gateways -----------------------------------------------------------------

def enrol_gateway(conn: Connection, gateway: str, public_key: bytes, enterprise: str, site: str,
                  first_seq: int, now_ms: int) -> Gateway:
    framing._check_gateway_id(gateway)  # same rule as the frame's gw field
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
    return _gateway(conn.one('SELECT %s FROM gateways WHERE gateway = ?' % GATEWAY_COLUMNS, (gateway,)))


def list_gateways(conn: Connection) -> list[Gateway]:
    return [_gateway(r) for r in conn.query('SELECT %s FROM gateways ORDER BY gateway' % GATEWAY_COLUMNS)]


def _range_sums(conn: Connection, table: str) -> dict[int, int]:
    return {gw: n for gw, n in conn.query('SELECT gw, CAST(sum(last - first + 1) AS BIGINT) FROM %s GROUP BY gw' % table)}


def pending_counts(conn: Connection) -> dict[int, int]:
    """Per gateway id: sequence numbers received (or declared lost) beyond the first gap."""
    return _range_sums(conn, 'pending_ranges')


def lost_counts(conn: Connection) -> dict[int, int]:
    """Per gateway id: sequence numbers the gateway declared lost (its store overflowed)."""
    return _range_sums(conn, 'lost_ranges')


def note_signature_failure(conn: Connection, gateway_id: int, now_ms: int) -> None:
    conn.execute('UPDATE gateways SET signature_failures = signature_failures + 1, last_signature_failure_at = ? '
                 'WHERE id = ?', (now_ms, gateway_id))


def note_rejected_frame(conn: Connection, gateway_id: int) -> None:
    conn.execute('UPDATE gateways SET rejected_frames = rejected_frames + 1 WHERE id = ?', (gateway_id,))


# -- ingest -------------------------------------------------------------------

@dataclass
class Incoming:
    """A decoded frame whose signature has been verified."""
    frame: framing.Frame
    raw: bytes
    fingerprint: bytes
    received_at: int


@dataclass
class Stored:
    ack: int | None = None
    new_records: int = 0
    conflicts: int = 0
    error: str | None = None       # error code when refused inside the transaction
    detail: str = ''


def _normal(mantissa: int | None, fvalue: float | None, exp: int) -> tuple:
    """A value in a form where equal numbers compare equal whatever their exponent."""
    if mantissa is None:
        return (None, fvalue)
    if mantissa == 0:
        return (0, 0)
    while mantissa % 10 == 0:
        mantissa //= 10
        exp += 1
    return (mantissa, exp)


def same_record(a: framing.Record, b: framing.Record) -> bool:
    """Same reading, whatever exponent each frame scaled its value to."""
    def key(r):
        if isinstance(r.value, float):
            return (r.seq, r.code, r.ts_ms, None, r.value, r.flags)
        return (r.seq, r.code, r.ts_ms) + _normal(r.value, None, r.exp) + (r.flags,)
    return key(a) == key(b)


def _record_row(gw_id: int, rec: framing.Record, unit: str, frame_id: int, index: int) -> tuple:
    value = rec.value
    if value is None:
        mantissa, fvalue = None, None
    elif isinstance(value, float):
        mantissa, fvalue = None, value
    else:
        mantissa, fvalue = value, None
    return (gw_id, rec.seq, rec.code, rec.ts_ms, mantissa, fvalue, rec.exp, rec.flags, unit, frame_id, index)


INSERT_RECORD = ('INSERT INTO records (gw, seq, code, ts_ms, mantissa, fvalue, exp, flags, unit, frame, idx) '
                 'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gw, seq) DO NOTHING')


def _count_conflicts(conn: Connection, gw_id: int, rows: list[tuple], frame_id: int, now_ms: int) -> int:
    first, last = rows[0][1], rows[-1][1]
    stored = {r[0]: r[1:] for r in conn.query(
        'SELECT seq, code, ts_ms, mantissa, fvalue, exp, flags, frame FROM records WHERE gw = ? AND seq BETWEEN ? AND ?',
        (gw_id, first, last))}
    conflicts = []
    for row in rows:
        old = stored.get(row[1])
        if old is None or old[6] == frame_id:
            continue
        if (old[0], old[1], _normal(old[2], old[3], old[4]), old[5]) != (row[2], row[3], _normal(row[4], row[5], row[6]), row[7]):
            conflicts.append((gw_id, row[1], frame_id, now_ms))
    if conflicts:
        conn.executemany('INSERT INTO conflicts (gw, seq, frame, at) VALUES (?, ?, ?, ?)', conflicts)
    return len(conflicts)


def _merge_range(conn: Connection, table: str, gw_id: int, first: int, last: int) -> None:
    """Add first..last to a table of disjoint ranges, merging with every range it touches."""
    touching = conn.query('SELECT first, last FROM %s WHERE gw = ? AND first <= ? AND last >= ?' % table,
                          (gw_id, last + 1, first - 1))
    if touching:
        conn.execute('DELETE FROM %s WHERE gw = ? AND first <= ? AND last >= ?' % table, (gw_id, last + 1, first - 1))
        first = min([first] + [r[0] for r in touching])
        last = max([last] + [r[1] for r in touching])
    conn.execute('INSERT INTO %s (gw, first, last) VALUES (?, ?, ?)' % table, (gw_id, first, last))


def _advance_ack(conn: Connection, gw_id: int, ack: int, last_seq: int, first: int, last: int) -> int:
    """The new ack after storing first..last; last_seq is the highest sequence received before."""
    if first > ack + 1:
        _merge_range(conn, 'pending_ranges', gw_id, first, last)
        return ack
    ack = max(ack, last)
    if ack >= last_seq:
        return ack  # nothing was received beyond the ack, so no pending range can join
    while True:
        bound = ack + 1
        ranges = conn.query('SELECT first, last FROM pending_ranges WHERE gw = ? AND first <= ?', (gw_id, bound))
        if not ranges:
            return ack
        conn.execute('DELETE FROM pending_ranges WHERE gw = ? AND first <= ?', (gw_id, bound))
        ack = max(ack, max(r[1] for r in ranges))


@dataclass
class _GatewayState:
    """One gateway's counters while a batch is written; saved once per batch."""
    id: int
    ack: int
    last_seq: int
    revoked: bool
    frames: int = 0
    records: int = 0
    conflicts: int = 0
    last_frame_at: int = 0


def _gateway_state(conn: Connection, gateway: str) -> _GatewayState | None:
    row = conn.one('SELECT id, ack, last_seq, revoked_at FROM gateways WHERE gateway = ?' + conn.for_update(),
                   (gateway,))
    return None if row is None else _GatewayState(row[0], row[1], row[2], row[3] is not None)


def _store_one(conn: Connection, item: Incoming, gw: _GatewayState) -> Stored:
    frame = item.frame
    n = len(frame.records)
    inserted = conn.one('INSERT INTO frames (gw, fingerprint, root, seq_first, seq_last, new_records, received_at, raw) '
                        'VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING RETURNING id',
                        (gw.id, item.fingerprint, frame.root, frame.seq_first, frame.seq_last, n, item.received_at,
                         item.raw))
    new = conflicts = 0
    if inserted is not None:
        frame_id = inserted[0]
        units = {code: unit for code, _, unit in frame.codes}
        rows = [_record_row(gw.id, rec, units[rec.code], frame_id, i) for i, rec in enumerate(frame.records)]
        new = conn.executemany(INSERT_RECORD, rows)
        if new < n:
            conflicts = _count_conflicts(conn, gw.id, rows, frame_id, item.received_at)
            conn.execute('UPDATE frames SET new_records = ? WHERE id = ?', (new, frame_id))
    for first, last in frame.lost_ranges():
        _merge_range(conn, 'lost_ranges', gw.id, first, last)
    gw.ack = _advance_ack(conn, gw.id, gw.ack, gw.last_seq, frame.seq_first, frame.seq_last)
    gw.last_seq = max(gw.last_seq, frame.seq_last)
    gw.frames += 1
    gw.records += new
    gw.conflicts += conflicts
    gw.last_frame_at = max(gw.last_frame_at, item.received_at)
    return Stored(ack=gw.ack, new_records=new, conflicts=conflicts)


def store_frames(conn: Connection, items: list[Incoming]) -> list[Stored]:
    """Store verified frames in one transaction (group commit); one result per frame.
    Each gateway's row is read (and on PostgreSQL locked) once and written once per batch."""
    conn.begin()
    try:
        states: dict[str, _GatewayState | None] = {}
        results = []
        for item in items:
            name = item.frame.gateway_id
            if name not in states:
                states[name] = _gateway_state(conn, name)
            gw = states[name]
            if gw is None:
                results.append(Stored(error='unknown_gateway', detail='no gateway %s is enrolled' % name))
            elif gw.revoked:
                results.append(Stored(error='revoked_gateway', detail='gateway %s was revoked' % name))
            else:
                results.append(_store_one(conn, item, gw))
        for gw in states.values():
            if gw is not None and gw.frames:
                conn.execute('UPDATE gateways SET ack = ?, last_seq = ?, frames = frames + ?, records = records + ?, '
                             'last_frame_at = ?, conflicts = conflicts + ? WHERE id = ?',
                             (gw.ack, gw.last_seq, gw.frames, gw.records, gw.last_frame_at, gw.conflicts, gw.id))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return results


# -- reading records and frames ---------------------------------------------------

RECORD_SELECT = ('SELECT g.gateway, r.seq, r.code, r.ts_ms, r.mantissa, r.fvalue, r.exp, r.flags, r.unit, '
                 'r.frame, r.idx, f.fingerprint FROM records r JOIN gateways g ON g.id = r.gw '
                 'JOIN frames f ON f.id = r.frame')


@dataclass
class RecordRow:
    gateway: str
    seq: int
    code: str
    ts_ms: int
    mantissa: int | None
    fvalue: float | None
    exp: int
    flags: int
    unit: str
    frame: int
    idx: int
    fingerprint: bytes

    def record(self) -> framing.Record:
        value = self.mantissa if self.mantissa is not None else self.fvalue
        return framing.Record(self.seq, self.code, self.ts_ms, value, self.exp, self.flags)


def _record_rows(rows: list[tuple]) -> list[RecordRow]:
    out = []
    for r in rows:
        values = list(r)
        values[11] = bytes(values[11])
        out.append(RecordRow(*values))
    return out


def code_range(prefix: str) -> tuple[str, str]:
    """Bounds selecting every code that starts with prefix (':' sorts right after '9')."""
    return prefix, prefix + ':'


def query_records(conn: Connection, gateway: str | None, code_prefix: str | None, point: str | None,
                  since_ms: int | None, until_ms: int | None, after: tuple[int, str, int] | None,
                  limit: int) -> list[RecordRow]:
    where, params = [], []
    if gateway is not None:
        where.append('g.gateway = ?')
        params.append(gateway)
    if code_prefix:
        lo, hi = code_range(code_prefix)
        where.append('r.code >= ? AND r.code < ?')
        params += [lo, hi]
    if point is not None:
        where.append('substr(r.code, 10, 3) = ?')
        params.append(point)
    if since_ms is not None:
        where.append('r.ts_ms >= ?')
        params.append(since_ms)
    if until_ms is not None:
        where.append('r.ts_ms < ?')
        params.append(until_ms)
    if after is not None:
        where.append('(r.ts_ms, g.gateway, r.seq) > (?, ?, ?)')
        params += list(after)
    sql = RECORD_SELECT
    if where:
        sql += ' WHERE ' + ' AND '.join(where)
    sql += ' ORDER BY r.ts_ms, g.gateway, r.seq LIMIT ?'
    params.append(limit)
    return _record_rows(conn.query(sql, params))


def get_record(conn: Connection, gateway: str, seq: int) -> RecordRow | None:
    rows = _record_rows(conn.query(RECORD_SELECT + ' WHERE g.gateway = ? AND r.seq = ?', (gateway, seq)))
    return rows[0] if rows else None


@dataclass
class FrameRow:
    id: int
    gateway: str
    fingerprint: bytes
    root: bytes
    seq_first: int
    seq_last: int
    new_records: int
    received_at: int
    raw: bytes


FRAME_SELECT = ('SELECT f.id, g.gateway, f.fingerprint, f.root, f.seq_first, f.seq_last, f.new_records, '
                'f.received_at, f.raw FROM frames f JOIN gateways g ON g.id = f.gw')


def _frame_rows(rows: list[tuple]) -> list[FrameRow]:
    return [FrameRow(r[0], r[1], bytes(r[2]), bytes(r[3]), r[4], r[5], r[6], r[7], bytes(r[8])) for r in rows]


def get_frame(conn: Connection, frame_id: int) -> FrameRow | None:
    rows = _frame_rows(conn.query(FRAME_SELECT + ' WHERE f.id = ?', (frame_id,)))
    return rows[0] if rows else None


def frame_by_fingerprint(conn: Connection, fingerprint: bytes) -> FrameRow | None:
    rows = _frame_rows(conn.query(FRAME_SELECT + ' WHERE f.fingerprint = ?', (fingerprint,)))
    return rows[0] if rows else None


def frames_by_root(conn: Connection, gateway: str, root: bytes) -> list[FrameRow]:
    return _frame_rows(conn.query(FRAME_SELECT + ' WHERE g.gateway = ? AND f.root = ? ORDER BY f.id', (gateway, root)))


def frames_after(conn: Connection, cursor: int, limit: int) -> list[tuple[int, bytes]]:
    return [(r[0], bytes(r[1])) for r in conn.query('SELECT id, raw FROM frames WHERE id > ? ORDER BY id LIMIT ?',
                                                  (cursor, limit))]


def last_frame_id(conn: Connection) -> int:
    row = conn.one('SELECT max(id) FROM frames')
    return row[0] if row and row[0] is not None else 0


# -- fan-out centres --------------------------------------------------------------

@dataclass
class Centre:
    name: str
    url: str
    cursor: int
    delivered: int
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None


CENTRE_COLUMNS = 'name, url, cursor, delivered, last_success_at, last_error, last_error_at'


def ensure_centre(conn: Connection, name: str, url: str, from_start: bool) -> Centre:
    row = conn.one('SELECT %s FROM centres WHERE name = ?' % CENTRE_COLUMNS, (name,))
    if row is None:
        cursor = 0 if from_start else last_frame_id(conn)
        conn.execute('INSERT INTO centres (name, url, cursor) VALUES (?, ?, ?)', (name, url, cursor))
    elif row[1] != url:
        conn.execute('UPDATE centres SET url = ? WHERE name = ?', (url, name))
    return get_centre(conn, name)


def get_centre(conn: Connection, name: str) -> Centre | None:
    row = conn.one('SELECT %s FROM centres WHERE name = ?' % CENTRE_COLUMNS, (name,))
    return Centre(*row) if row else None


def list_centres(conn: Connection) -> list[Centre]:
    return [Centre(*r) for r in conn.query('SELECT %s FROM centres ORDER BY name' % CENTRE_COLUMNS)]


def advance_centre(conn: Connection, name: str, cursor: int, delivered: int, now_ms: int) -> None:
    conn.execute('UPDATE centres SET cursor = ?, delivered = delivered + ?, last_success_at = ? '
                 'WHERE name = ? AND cursor < ?', (cursor, delivered, now_ms, name, cursor))


def note_centre_error(conn: Connection, name: str, error: str, now_ms: int) -> None:
    conn.execute('UPDATE centres SET last_error = ?, last_error_at = ? WHERE name = ?', (error, now_ms, name))


def add_fanout_reject(conn: Connection, centre: str, frame_id: int, status: int, error: str, detail: str,
                      now_ms: int) -> None:
    conn.execute('INSERT INTO fanout_rejects (centre, frame, status, error, detail, at) VALUES (?, ?, ?, ?, ?, ?)',
                 (centre, frame_id, status, error, detail, now_ms))


def fanout_rejects(conn: Connection, centre: str | None = None) -> list[dict]:
    sql = 'SELECT centre, frame, status, error, detail, at FROM fanout_rejects'
    params: tuple = ()
    if centre is not None:
        sql += ' WHERE centre = ?'
        params = (centre,)
    return [dict(zip(('centre', 'frame', 'status', 'error', 'detail', 'at'), r)) for r in conn.query(sql + ' ORDER BY id', params)]


def backlog(conn: Connection, cursor: int) -> int:
    row = conn.one('SELECT count(*) FROM frames WHERE id > ?', (cursor,))
    return row[0]


# -- tokens and audit -------------------------------------------------------------

def add_token(conn: Connection, name: str, role: str, token_hash: bytes, now_ms: int) -> None:
    if conn.one('SELECT 1 FROM tokens WHERE name = ?', (name,)) is not None:
        raise StoreError('a token named %s exists already' % name)
    conn.execute('INSERT INTO tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)',
                 (name, role, token_hash, now_ms))


def token_by_hash(conn: Connection, token_hash: bytes) -> tuple[str, str] | None:
    row = conn.one('SELECT name, role FROM tokens WHERE token_hash = ? AND revoked_at IS NULL', (token_hash,))
    return (row[0], row[1]) if row else None


def list_tokens(conn: Connection) -> list[dict]:
    return [dict(zip(('name', 'role', 'created_at', 'revoked_at'), r))
            for r in conn.query('SELECT name, role, created_at, revoked_at FROM tokens ORDER BY name')]


def revoke_token(conn: Connection, name: str, now_ms: int) -> None:
    row = conn.one('SELECT revoked_at FROM tokens WHERE name = ?', (name,))
    if row is None:
        raise StoreError('no token named %s' % name)
    if row[0] is not None:
        raise StoreError('token %s was already revoked' % name)
    conn.execute('UPDATE tokens SET revoked_at = ? WHERE name = ?', (now_ms, name))


def audit(conn: Connection, actor: str, action: str, target: str, detail: dict, now_ms: int) -> None:
    conn.execute('INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)',
                 (now_ms, actor, action, target, json.dumps(detail, sort_keys=True)))


def audit_log(conn: Connection, limit: int = 1000) -> list[dict]:
    rows = conn.query('SELECT at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?', (limit,))
    return [dict(at=r[0], actor=r[1], action=r[2], target=r[3], detail=json.loads(r[4])) for r in rows]
