"""Signed frames and their records: storing a batch with its acks, and reading back.

Records are keyed by (gateway, sequence number), so a resent or overlapping
frame never stores a record twice (docs/protocol.md §7).  A record that comes
back with the same sequence number but different content is kept as it was
first stored and counted as a conflict.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field

from server.db import Connection
from server.interleaving import Interleaved, interleaved
from shared.codec import frame as framing


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
    interleaved: list = field(default_factory=list)    # server/interleaving.Interleaved of this frame's new records


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


def _split(value) -> tuple[int | None, float | None]:
    """A record value as the (mantissa, fvalue) columns."""
    if isinstance(value, float):
        return None, value
    return value, None


def _content(code: str, ts_ms: int, mantissa: int | None, fvalue: float | None, exp: int, flags: int) -> tuple:
    return (code, ts_ms) + _normal(mantissa, fvalue, exp) + (flags,)


def same_record(a: framing.Record, b: framing.Record) -> bool:
    """Same reading, whatever exponent each frame scaled its value to."""
    return a.seq == b.seq and _content(a.code, a.ts_ms, *_split(a.value), a.exp, a.flags) == \
        _content(b.code, b.ts_ms, *_split(b.value), b.exp, b.flags)


# the columns of a record as inserted; rows are built as plain tuples (the hot path of
# ingest) and read by name through _RecordInsert where they are looked at
_RecordInsert = namedtuple('_RecordInsert', ('gw', 'seq', 'code', 'ts_ms', 'mantissa', 'fvalue', 'exp', 'flags',
                                             'unit', 'frame', 'idx'))
INSERT_RECORD = ('INSERT INTO records (%s) VALUES (%s) ON CONFLICT (gw, seq) DO NOTHING'
                 % (', '.join(_RecordInsert._fields), ', '.join('?' * len(_RecordInsert._fields))))


def _record_row(gw_id: int, rec: framing.Record, unit: str, frame_id: int, index: int) -> tuple:
    v = rec.value
    if type(v) is float:
        return (gw_id, rec.seq, rec.code, rec.ts_ms, None, v, rec.exp, rec.flags, unit, frame_id, index)
    return (gw_id, rec.seq, rec.code, rec.ts_ms, v, None, rec.exp, rec.flags, unit, frame_id, index)


def _count_conflicts(conn: Connection, gw_id: int, rows: list[tuple], frame_id: int, now_ms: int) -> int:
    rows = [_RecordInsert._make(r) for r in rows]
    stored = {r.seq: r for r in conn.query(
        'SELECT seq, code, ts_ms, mantissa, fvalue, exp, flags, frame FROM records WHERE gw = ? AND seq BETWEEN ? AND ?',
        (gw_id, rows[0].seq, rows[-1].seq))}
    conflicts = []
    for row in rows:
        old = stored.get(row.seq)
        if old is None or old.frame == frame_id:
            continue
        if _content(old.code, old.ts_ms, old.mantissa, old.fvalue, old.exp, old.flags) != \
                _content(row.code, row.ts_ms, row.mantissa, row.fvalue, row.exp, row.flags):
            conflicts.append((gw_id, row.seq, frame_id, now_ms))
    if conflicts:
        conn.executemany('INSERT INTO conflicts (gw, seq, frame, at) VALUES (?, ?, ?, ?)', conflicts)
    return len(conflicts)


def _note_interleaved(conn: Connection, gw_id: int, x: Interleaved, now_ms: int) -> None:
    if conn.execute('UPDATE interleaved_codes SET frames = frames + 1, drops = drops + ?, steps = steps + ?, '
                    'low = ?, high = ?, last_at = ? WHERE gw = ? AND code = ?',
                    (x.drops, x.steps, '%.6g' % x.low, '%.6g' % x.high, now_ms, gw_id, x.code)).rowcount == 0:
        conn.execute('INSERT INTO interleaved_codes (gw, code, frames, drops, steps, low, high, first_at, last_at) '
                     'VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)',
                     (gw_id, x.code, x.drops, x.steps, '%.6g' % x.low, '%.6g' % x.high, now_ms, now_ms))


def _merge_range(conn: Connection, table: str, gw_id: int, first: int, last: int, cause: str | None = None) -> None:
    """Add first..last to a table of disjoint ranges (per cause, when the table has one),
    merging with every range it touches."""
    where = 'gw = ? AND first <= ? AND last >= ?' + ('' if cause is None else ' AND cause = ?')
    args: tuple = (gw_id, last + 1, first - 1) + (() if cause is None else (cause,))
    touching = conn.query('SELECT first, last FROM %s WHERE %s' % (table, where), args)
    if touching:
        conn.execute('DELETE FROM %s WHERE %s' % (table, where), args)
        first = min([first] + [r.first for r in touching])
        last = max([last] + [r.last for r in touching])
    if cause is None:
        conn.execute('INSERT INTO %s (gw, first, last) VALUES (?, ?, ?)' % table, (gw_id, first, last))
    else:
        conn.execute('INSERT INTO %s (gw, cause, first, last) VALUES (?, ?, ?, ?)' % table, (gw_id, cause, first, last))


def _advance_ack(conn: Connection, gw: '_GatewayState', first: int, last: int) -> None:
    """Move the gateway's ack after storing first..last: to the end of the gap-free run,
    taking in (and removing) every pending range it reaches."""
    if first > gw.ack + 1:
        _merge_range(conn, 'pending_ranges', gw.id, first, last)
        gw.pending = True
        return
    gw.ack = max(gw.ack, last)
    if not gw.pending:
        return  # nothing is held beyond a gap, so no pending range can join
    while True:
        bound = gw.ack + 1
        ranges = conn.query('SELECT first, last FROM pending_ranges WHERE gw = ? AND first <= ?', (gw.id, bound))
        if not ranges:
            return
        conn.execute('DELETE FROM pending_ranges WHERE gw = ? AND first <= ?', (gw.id, bound))
        gw.ack = max(gw.ack, max(r.last for r in ranges))


@dataclass
class _GatewayState:
    """One gateway's counters while a batch is written; saved once per batch."""
    id: int
    ack: int
    last_seq: int
    revoked: bool
    pending: bool                  # whether ranges are held beyond a gap
    frames: int = 0
    records: int = 0
    conflicts: int = 0
    last_frame_at: int = 0


def _gateway_state(conn: Connection, gateway: str) -> _GatewayState | None:
    row = conn.one('SELECT id, ack, last_seq, revoked_at, EXISTS (SELECT 1 FROM pending_ranges p WHERE p.gw = g.id) '
                   'AS pending FROM gateways g WHERE gateway = ?' + conn.for_update(), (gateway,))
    if row is None:
        return None
    return _GatewayState(row.id, row.ack, row.last_seq, row.revoked_at is not None, bool(row.pending))


def _store_one(conn: Connection, item: Incoming, gw: _GatewayState) -> Stored:
    frame = item.frame
    n = len(frame.records)
    inserted = conn.one('INSERT INTO frames (gw, fingerprint, root, seq_first, seq_last, new_records, received_at, raw) '
                        'VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING RETURNING id',
                        (gw.id, item.fingerprint, frame.root, frame.seq_first, frame.seq_last, n, item.received_at,
                         item.raw))
    new = conflicts = 0
    found: list[Interleaved] = []
    if inserted is not None:
        frame_id = inserted.id
        units = {code: unit for code, _, unit in frame.codes}
        rows = [_record_row(gw.id, rec, units[rec.code], frame_id, i) for i, rec in enumerate(frame.records)]
        new = conn.executemany(INSERT_RECORD, rows)
        if new < n:
            conflicts = _count_conflicts(conn, gw.id, rows, frame_id, item.received_at)
            conn.execute('UPDATE frames SET new_records = ? WHERE id = ?', (new, frame_id))
        found = interleaved(frame.records)
        for x in found:
            _note_interleaved(conn, gw.id, x, item.received_at)
    for first, last in frame.lost_ranges():
        _merge_range(conn, 'lost_ranges', gw.id, first, last)
    for first, last, cause in frame.loss_causes():
        _merge_range(conn, 'lost_causes', gw.id, first, last, cause)
    _advance_ack(conn, gw, frame.seq_first, frame.seq_last)
    gw.last_seq = max(gw.last_seq, frame.seq_last)
    gw.frames += 1
    gw.records += new
    gw.conflicts += conflicts
    gw.last_frame_at = max(gw.last_frame_at, item.received_at)
    return Stored(ack=gw.ack, new_records=new, conflicts=conflicts, interleaved=found if inserted is not None else [])


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


RECORD_SELECT = ('SELECT g.gateway, r.seq, r.code, r.ts_ms, r.mantissa, r.fvalue, r.exp, r.flags, r.unit, '
                 'r.frame, r.idx, f.fingerprint FROM records r JOIN gateways g ON g.id = r.gw '
                 'JOIN frames f ON f.id = r.frame')


def _record_rows(rows: list) -> list[RecordRow]:
    return [RecordRow(**dict(r._asdict(), fingerprint=bytes(r.fingerprint))) for r in rows]


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


def _frame_rows(rows: list) -> list[FrameRow]:
    return [FrameRow(**dict(r._asdict(), fingerprint=bytes(r.fingerprint), root=bytes(r.root), raw=bytes(r.raw)))
            for r in rows]


def get_frame(conn: Connection, frame_id: int) -> FrameRow | None:
    rows = _frame_rows(conn.query(FRAME_SELECT + ' WHERE f.id = ?', (frame_id,)))
    return rows[0] if rows else None


def frame_by_fingerprint(conn: Connection, fingerprint: bytes) -> FrameRow | None:
    rows = _frame_rows(conn.query(FRAME_SELECT + ' WHERE f.fingerprint = ?', (fingerprint,)))
    return rows[0] if rows else None


def frames_by_root(conn: Connection, gateway: str, root: bytes) -> list[FrameRow]:
    return _frame_rows(conn.query(FRAME_SELECT + ' WHERE g.gateway = ? AND f.root = ? ORDER BY f.id', (gateway, root)))


def frames_after(conn: Connection, cursor: int, limit: int) -> list[tuple[int, bytes]]:
    """(id, raw signed frame) of the frames stored after `cursor`, oldest first (the fan-out outbox)."""
    return [(r.id, bytes(r.raw)) for r in conn.query('SELECT id, raw FROM frames WHERE id > ? ORDER BY id LIMIT ?',
                                                      (cursor, limit))]


def last_frame_id(conn: Connection) -> int:
    row = conn.one('SELECT max(id) AS id FROM frames')
    return row.id if row and row.id is not None else 0

