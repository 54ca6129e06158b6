"""API tokens (stored as hashes) and the audit log of administrative actions."""

from __future__ import annotations

import json

from server.db import Connection
from server.store import StoreError


def add_token(conn: Connection, name: str, role: str, token_hash: bytes, now_ms: int) -> None:
    if conn.one('SELECT 1 AS held FROM tokens WHERE name = ?', (name,)) is not None:
        raise StoreError('a token named %s exists already' % name)
    conn.execute('INSERT INTO tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)',
                 (name, role, token_hash, now_ms))


def token_by_hash(conn: Connection, token_hash: bytes) -> tuple[str, str] | None:
    """(name, role) of the unrevoked token with this hash."""
    row = conn.one('SELECT name, role FROM tokens WHERE token_hash = ? AND revoked_at IS NULL', (token_hash,))
    return (row.name, row.role) if row else None


def list_tokens(conn: Connection) -> list[dict]:
    return [r._asdict() for r in conn.query('SELECT name, role, created_at, revoked_at FROM tokens ORDER BY name')]


def revoke_token(conn: Connection, name: str, now_ms: int) -> None:
    row = conn.one('SELECT revoked_at FROM tokens WHERE name = ?', (name,))
    if row is None:
        raise StoreError('no token named %s' % name)
    if row.revoked_at is not None:
        raise StoreError('token %s was already revoked' % name)
    conn.execute('UPDATE tokens SET revoked_at = ? WHERE name = ?', (now_ms, name))


def audit(conn: Connection, actor: str, action: str, target: str, detail: dict, now_ms: int) -> None:
    conn.execute('INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)',
                 (now_ms, actor, action, target, json.dumps(detail, sort_keys=True)))


def audit_log(conn: Connection, limit: int = 1000) -> list[dict]:
    rows = conn.query('SELECT at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?', (limit,))
    return [dict(r._asdict(), detail=json.loads(r.detail)) for r in rows]
