"""Database connections for the ingest server: SQLite (default) or PostgreSQL.

One schema, written once per engine, applied by numbered migrations.  SQL in
server/store.py is written with `?` placeholders and the SQL both engines share
(ON CONFLICT ... DO NOTHING, RETURNING); `Connection.sql` adapts it.

SQLite runs in WAL mode with synchronous=FULL: a commit is on disk before the
server acknowledges it (docs/server.md, "Durability").
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence


class DatabaseError(Exception):
    """The database URL is unusable or the database cannot be opened."""


SQLITE_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE gateways (
            id INTEGER PRIMARY KEY,
            gateway TEXT NOT NULL UNIQUE,
            public_key BLOB NOT NULL,
            enterprise TEXT NOT NULL,
            site TEXT NOT NULL,
            enrolled_at INTEGER NOT NULL,
            revoked_at INTEGER,
            revoke_reason TEXT,
            ack INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            frames INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            last_frame_at INTEGER,
            signature_failures INTEGER NOT NULL DEFAULT 0,
            last_signature_failure_at INTEGER,
            rejected_frames INTEGER NOT NULL DEFAULT 0,
            conflicts INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE pending_ranges (
            gw INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
            PRIMARY KEY (gw, first)
        ) WITHOUT ROWID""",
        """CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            gw INTEGER NOT NULL REFERENCES gateways(id),
            fingerprint BLOB NOT NULL UNIQUE,
            root BLOB NOT NULL,
            seq_first INTEGER NOT NULL,
            seq_last INTEGER NOT NULL,
            new_records INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            raw BLOB NOT NULL
        )""",
        "CREATE INDEX frames_gw_root ON frames (gw, root)",
        """CREATE TABLE records (
            gw INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            code TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            mantissa INTEGER,
            fvalue REAL,
            exp INTEGER NOT NULL,
            flags INTEGER NOT NULL,
            unit TEXT NOT NULL,
            frame INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            PRIMARY KEY (gw, seq)
        ) WITHOUT ROWID""",
        "CREATE INDEX records_code_time ON records (code, ts_ms)",
        """CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            gw INTEGER NOT NULL, seq INTEGER NOT NULL, frame INTEGER NOT NULL, at INTEGER NOT NULL
        )""",
        """CREATE TABLE centres (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            cursor INTEGER NOT NULL,
            delivered INTEGER NOT NULL DEFAULT 0,
            last_success_at INTEGER,
            last_error TEXT,
            last_error_at INTEGER
        )""",
        """CREATE TABLE fanout_rejects (
            id INTEGER PRIMARY KEY,
            centre TEXT NOT NULL, frame INTEGER NOT NULL, status INTEGER NOT NULL,
            error TEXT NOT NULL, detail TEXT NOT NULL, at INTEGER NOT NULL
        )""",
        """CREATE TABLE tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            token_hash BLOB NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        )""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT NOT NULL, detail TEXT NOT NULL
        )""",
    ],
    [
        # sequence numbers a gateway declared lost (frames with skips, docs/protocol.md §4)
        """CREATE TABLE lost_ranges (
            gw INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
            PRIMARY KEY (gw, first)
        ) WITHOUT ROWID""",
    ],    [
        # accounting (docs/accounting.md): scenarios bound to meters, user and measured factor records
        """CREATE TABLE accounting_scenarios (
            name TEXT PRIMARY KEY, doc TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL
        )""",
        """CREATE TABLE accounting_factors (
            id TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL, added_at INTEGER NOT NULL,
            PRIMARY KEY (id, version)
        )""",
        """CREATE TABLE accounting_results (
            scenario TEXT NOT NULL, period TEXT NOT NULL, doc TEXT NOT NULL, computed_at INTEGER NOT NULL,
            PRIMARY KEY (scenario, period)
        )""",
    ],
]

POSTGRES_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE gateways (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            gateway TEXT NOT NULL UNIQUE,
            public_key BYTEA NOT NULL,
            enterprise TEXT NOT NULL,
            site TEXT NOT NULL,
            enrolled_at BIGINT NOT NULL,
            revoked_at BIGINT,
            revoke_reason TEXT,
            ack BIGINT NOT NULL,
            last_seq BIGINT NOT NULL,
            frames BIGINT NOT NULL DEFAULT 0,
            records BIGINT NOT NULL DEFAULT 0,
            last_frame_at BIGINT,
            signature_failures BIGINT NOT NULL DEFAULT 0,
            last_signature_failure_at BIGINT,
            rejected_frames BIGINT NOT NULL DEFAULT 0,
            conflicts BIGINT NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE pending_ranges (
            gw BIGINT NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL,
            PRIMARY KEY (gw, first)
        )""",
        """CREATE TABLE frames (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            gw BIGINT NOT NULL REFERENCES gateways(id),
            fingerprint BYTEA NOT NULL UNIQUE,
            root BYTEA NOT NULL,
            seq_first BIGINT NOT NULL,
            seq_last BIGINT NOT NULL,
            new_records BIGINT NOT NULL,
            received_at BIGINT NOT NULL,
            raw BYTEA NOT NULL
        )""",
        "CREATE INDEX frames_gw_root ON frames (gw, root)",
        """CREATE TABLE records (
            gw BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            code TEXT NOT NULL,
            ts_ms BIGINT NOT NULL,
            mantissa BIGINT,
            fvalue DOUBLE PRECISION,
            exp INTEGER NOT NULL,
            flags INTEGER NOT NULL,
            unit TEXT NOT NULL,
            frame BIGINT NOT NULL,
            idx INTEGER NOT NULL,
            PRIMARY KEY (gw, seq)
        )""",
        "CREATE INDEX records_code_time ON records (code, ts_ms)",
        """CREATE TABLE conflicts (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            gw BIGINT NOT NULL, seq BIGINT NOT NULL, frame BIGINT NOT NULL, at BIGINT NOT NULL
        )""",
        """CREATE TABLE centres (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            cursor BIGINT NOT NULL,
            delivered BIGINT NOT NULL DEFAULT 0,
            last_success_at BIGINT,
            last_error TEXT,
            last_error_at BIGINT
        )""",
        """CREATE TABLE fanout_rejects (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            centre TEXT NOT NULL, frame BIGINT NOT NULL, status INTEGER NOT NULL,
            error TEXT NOT NULL, detail TEXT NOT NULL, at BIGINT NOT NULL
        )""",
        """CREATE TABLE tokens (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            token_hash BYTEA NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        )""",
        """CREATE TABLE audit (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT NOT NULL, detail TEXT NOT NULL
        )""",
    ],
    [
        """CREATE TABLE lost_ranges (
            gw BIGINT NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL,
            PRIMARY KEY (gw, first)
        )""",
    ],    [
        """CREATE TABLE accounting_scenarios (
            name TEXT PRIMARY KEY, doc TEXT NOT NULL, version BIGINT NOT NULL, updated_at BIGINT NOT NULL
        )""",
        """CREATE TABLE accounting_factors (
            id TEXT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL, added_at BIGINT NOT NULL,
            PRIMARY KEY (id, version)
        )""",
        """CREATE TABLE accounting_results (
            scenario TEXT NOT NULL, period TEXT NOT NULL, doc TEXT NOT NULL, computed_at BIGINT NOT NULL,
            PRIMARY KEY (scenario, period)
        )""",
    ],
]


@dataclass(frozen=True)
class DatabaseURL:
    engine: str          # 'sqlite' or 'postgresql'
    target: str          # file path for SQLite, libpq conninfo/URL for PostgreSQL

    @classmethod
    def parse(cls, url: str) -> 'DatabaseURL':
        if url.startswith(('postgresql://', 'postgres://')):
            return cls('postgresql', url)
        if url.startswith('sqlite:///'):
            return cls('sqlite', url[len('sqlite:///'):] or ':memory:')
        if '://' in url:
            raise DatabaseError('unsupported database URL %r: use a file path, sqlite:///PATH or postgresql://...' % url)
        return cls('sqlite', url)

    def describe(self) -> str:
        if self.engine == 'sqlite':
            return 'SQLite %s' % self.target
        return 'PostgreSQL'


class Connection:
    """One DB-API connection plus the engine's SQL dialect. Use from one thread at a time."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.engine = url.engine
        if url.engine == 'sqlite':
            self._conn = self._open_sqlite(url.target)
        else:
            self._conn = self._open_postgres(url.target)

    @staticmethod
    def _open_sqlite(path: str) -> sqlite3.Connection:
        if path != ':memory:':
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise DatabaseError('directory %s of the SQLite database does not exist' % parent)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute('PRAGMA journal_mode=WAL')
            conn.execute('PRAGMA synchronous=FULL')
            conn.execute('PRAGMA foreign_keys=ON')
        except sqlite3.Error as e:
            raise DatabaseError('cannot open SQLite database %s: %s' % (path, e))
        return conn

    @staticmethod
    def _open_postgres(target: str):
        try:
            import psycopg
        except ImportError:
            raise DatabaseError('PostgreSQL needs the psycopg package (pip install "tanji[server]")')
        try:
            return psycopg.connect(target, autocommit=True)
        except psycopg.Error as e:
            raise DatabaseError('cannot connect to PostgreSQL: %s' % ' '.join(str(e).split()))

    def sql(self, text: str) -> str:
        if self.engine == 'postgresql':
            return text.replace('?', '%s')
        return text

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self.sql(text), params)

    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self._conn.execute(self.sql(text), params).fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple | None:
        return self._conn.execute(self.sql(text), params).fetchone()

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run text for every row; returns how many rows it changed."""
        if self.engine == 'sqlite':
            before = self._conn.total_changes
            self._conn.executemany(text, rows)
            return self._conn.total_changes - before
        with self._conn.cursor() as cur:
            cur.executemany(self.sql(text), rows)
            return max(cur.rowcount, 0)

    def begin(self) -> None:
        self._conn.execute('BEGIN IMMEDIATE' if self.engine == 'sqlite' else 'BEGIN')

    def commit(self) -> None:
        self._conn.execute('COMMIT')

    def rollback(self) -> None:
        try:
            self._conn.execute('ROLLBACK')
        except Exception:
            pass

    def transaction(self, fn, *args):
        """fn(self, *args) inside one transaction: committed on return, rolled back on any exception."""
        self.begin()
        try:
            result = fn(self, *args)
            self.commit()
        except BaseException:
            self.rollback()
            raise
        return result

    def for_update(self) -> str:
        """Row-lock suffix for a SELECT inside a write transaction."""
        return ' FOR UPDATE' if self.engine == 'postgresql' else ''

    def close(self) -> None:
        self._conn.close()

    def migrate(self) -> int:
        """Apply missing migrations; returns the schema version."""
        migrations = SQLITE_MIGRATIONS if self.engine == 'sqlite' else POSTGRES_MIGRATIONS
        self.execute('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
        row = self.one('SELECT max(version) FROM schema_version')
        current = row[0] if row and row[0] is not None else 0
        if current > len(migrations):
            raise DatabaseError('database schema version %d is newer than this Tanji (%d)' % (current, len(migrations)))
        for version in range(current + 1, len(migrations) + 1):
            self.begin()
            try:
                for statement in migrations[version - 1]:
                    self.execute(statement)
                self.execute('INSERT INTO schema_version (version) VALUES (?)', (version,))
                self.commit()
            except Exception:
                self.rollback()
                raise
        return len(migrations)


class ConnectionPool:
    """One connection per thread, opened on first use."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()

    def get(self) -> Connection:
        conn = getattr(self._local, 'conn', None)
        if conn is None:
            conn = Connection(self.url)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close_all(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:
                    pass
            self._all.clear()
