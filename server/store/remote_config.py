"""Configurations staged at the platform for a gateway, and what the gateway made of each
(docs/protocol.md §12): staged, offered (sent with the answer to a health report),
applied, refused, reverted."""

from __future__ import annotations

from server.db import Connection

STATES = ('staged', 'offered', 'on_probation', 'applied', 'refused', 'reverted')
FINAL = ('applied', 'refused', 'reverted')


def next_number(conn: Connection, gw_id: int) -> int:
    row = conn.one('SELECT MAX(number) AS n FROM gateway_config WHERE gw = ?', (gw_id,))
    return (row.n or 0) + 1 if row is not None else 1


def stage(conn: Connection, gw_id: int, number: int, body: str, signature: str, who: str, now_ms: int) -> None:
    """A new staged configuration; one still waiting for the gateway is superseded (refused by the platform)."""
    conn.execute("UPDATE gateway_config SET state = 'refused', reason = ?, state_at = ? WHERE gw = ? AND "
                 "state IN ('staged', 'offered')", ('superseded by number %d before the gateway took it' % number,
                                                    now_ms, gw_id))
    conn.execute('INSERT INTO gateway_config (gw, number, body, signature, staged_by, staged_at, state, state_at) '
                 "VALUES (?, ?, ?, ?, ?, ?, 'staged', ?)", (gw_id, number, body, signature, who, now_ms, now_ms))


def waiting(conn: Connection, gw_id: int):   # type: ignore[no-untyped-def]
    """The configuration to offer the gateway now, if any."""
    return conn.one("SELECT number, body, signature, state FROM gateway_config WHERE gw = ? AND state IN "
                    "('staged', 'offered') ORDER BY number DESC LIMIT 1", (gw_id,))


def set_state(conn: Connection, gw_id: int, number: int, state: str, reason: str | None, version: int | None,
              now_ms: int) -> bool:
    """Record what became of a configuration; False when it was already in that state (nothing new)."""
    row = conn.one('SELECT state, reason FROM gateway_config WHERE gw = ? AND number = ?', (gw_id, number))
    if row is None or (row.state == state and row.reason == reason):
        return False
    conn.execute('UPDATE gateway_config SET state = ?, reason = ?, version = ?, state_at = ? WHERE gw = ? AND '
                 'number = ?', (state, reason, version, now_ms, gw_id, number))
    return True


def history(conn: Connection, gw_id: int, limit: int = 50) -> list:
    return conn.query('SELECT number, staged_by, staged_at, state, reason, version, state_at, body FROM gateway_config '
                      'WHERE gw = ? ORDER BY number DESC LIMIT ?', (gw_id, limit))
