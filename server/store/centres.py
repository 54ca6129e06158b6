"""Further data centres the platform forwards every stored frame to: each one's
cursor (the last frame it stored), its last error, and the frames it refused."""

from __future__ import annotations

from dataclasses import dataclass, fields

from server.db import Connection
from server.store.frames import last_frame_id


@dataclass
class Centre:
    name: str
    url: str
    cursor: int
    delivered: int
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None


_SELECT = 'SELECT %s FROM centres' % ', '.join(f.name for f in fields(Centre))


def ensure_centre(conn: Connection, name: str, url: str, from_start: bool) -> Centre:
    held = get_centre(conn, name)
    if held is None:
        cursor = 0 if from_start else last_frame_id(conn)
        conn.execute('INSERT INTO centres (name, url, cursor) VALUES (?, ?, ?)', (name, url, cursor))
    elif held.url != url:
        conn.execute('UPDATE centres SET url = ? WHERE name = ?', (url, name))
    return get_centre(conn, name)


def get_centre(conn: Connection, name: str) -> Centre | None:
    row = conn.one(_SELECT + ' WHERE name = ?', (name,))
    return Centre(**row._asdict()) if row else None


def list_centres(conn: Connection) -> list[Centre]:
    return [Centre(**r._asdict()) for r in conn.query(_SELECT + ' ORDER BY name')]


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
    return [r._asdict() for r in conn.query(sql + ' ORDER BY id', params)]


def backlog(conn: Connection, cursor: int) -> int:
    """Frames stored after a centre's cursor, still to be forwarded."""
    return conn.one('SELECT count(*) AS n FROM frames WHERE id > ?', (cursor,)).n
