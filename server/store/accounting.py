"""Accounting at the platform: user and measured factor records, scenarios, kept
results, and the stored readings of a meter point that a scenario is bound to."""

from __future__ import annotations

import json

from server.db import Connection
from shared.codec import decimals
from shared.codec.flags import FLAG_MANUAL


def factor_docs(conn: Connection) -> list[dict]:
    """Every factor record added at this centre, in the order it was added."""
    return [json.loads(r.doc) for r in conn.query('SELECT doc FROM accounting_factors ORDER BY added_at, id, version')]


def insert_factor(conn: Connection, factor_id: str, version: int, doc: dict, now_ms: int) -> None:
    conn.execute('INSERT INTO accounting_factors (id, version, doc, added_at) VALUES (?, ?, ?, ?)',
                 [factor_id, version, json.dumps(doc, ensure_ascii=False), now_ms])


def put_scenario(conn: Connection, name: str, doc: dict, now_ms: int) -> int:
    """Store a scenario under its name; returns its new version (1, 2, ...)."""
    row = conn.one('SELECT version FROM accounting_scenarios WHERE name = ?', [name])
    version = (row.version + 1) if row else 1
    text = json.dumps(doc, ensure_ascii=False)
    if row:
        conn.execute('UPDATE accounting_scenarios SET doc = ?, version = ?, updated_at = ? WHERE name = ?',
                     [text, version, now_ms, name])
    else:
        conn.execute('INSERT INTO accounting_scenarios (name, doc, version, updated_at) VALUES (?, ?, ?, ?)',
                     [name, text, version, now_ms])
    return version


def get_scenario(conn: Connection, name: str) -> tuple[dict, int] | None:
    """(scenario, version), or None."""
    row = conn.one('SELECT doc, version FROM accounting_scenarios WHERE name = ?', [name])
    return (json.loads(row.doc), row.version) if row else None


def list_scenarios(conn: Connection) -> list:
    return conn.query('SELECT name, version, updated_at FROM accounting_scenarios ORDER BY name')


def kept_result(conn: Connection, scenario: str, period: str) -> dict | None:
    row = conn.one('SELECT doc FROM accounting_results WHERE scenario = ? AND period = ?', [scenario, period])
    return json.loads(row.doc) if row else None


def keep_result(conn: Connection, scenario: str, period: str, result: dict, now_ms: int) -> None:
    text = json.dumps(result, ensure_ascii=False)
    if conn.one('SELECT 1 AS held FROM accounting_results WHERE scenario = ? AND period = ?', [scenario, period]):
        conn.execute('UPDATE accounting_results SET doc = ?, computed_at = ? WHERE scenario = ? AND period = ?',
                     [text, now_ms, scenario, period])
    else:
        conn.execute('INSERT INTO accounting_results (scenario, period, doc, computed_at) VALUES (?, ?, ?, ?)',
                     [scenario, period, text, now_ms])


def _value_text(mantissa: int | None, fvalue: float | None, exp: int) -> str | None:
    if mantissa is not None:
        return decimals.format(mantissa, exp)
    if fvalue is not None:
        return repr(fvalue)
    return None


def meter_readings(conn: Connection, gateway: str, code: str, since_ms: int, until_ms: int,
                   limit: int) -> list[list]:
    """[[ts_ms, value text, flags]] of one meter point in [since, until) (at most `limit`),
    preceded by the last reading before `since` (the baseline of the first increment).  Of
    manual readings with one time, the latest supersedes the others (a correction or a
    withdrawal, docs/protocol.md §4)."""
    sel = ('SELECT r.ts_ms, r.mantissa, r.fvalue, r.exp, r.flags FROM records r JOIN gateways g ON g.id = r.gw '
           'WHERE g.gateway = ? AND r.code = ? AND r.ts_ms %s ORDER BY r.ts_ms %s, r.seq %s LIMIT ?')
    before = conn.query(sel % ('< ?', 'DESC', 'DESC'), [gateway, code, since_ms, 1])
    rows = conn.query(sel % ('>= ? AND r.ts_ms < ?', 'ASC', 'ASC'), [gateway, code, since_ms, until_ms, limit])
    out: list[list] = []
    for r in before + rows:
        if out and out[-1][0] == r.ts_ms and out[-1][2] & FLAG_MANUAL and r.flags & FLAG_MANUAL:
            out.pop()
        out.append([r.ts_ms, _value_text(r.mantissa, r.fvalue, r.exp), r.flags])
    return out


def meter_unit(conn: Connection, gateway: str, code: str) -> str | None:
    """The unit a gateway's records of this code carry."""
    row = conn.one('SELECT r.unit FROM records r JOIN gateways g ON g.id = r.gw WHERE g.gateway = ? '
                   'AND r.code = ? LIMIT 1', [gateway, code])
    return row.unit if row else None
