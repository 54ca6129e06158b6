"""Database connections for the ingest server: SQLite (default) or PostgreSQL.

One schema (server/store/schema.py), rendered for each engine and applied by
numbered migrations.  SQL in server/store/ is written with `?` placeholders and
the SQL both engines share (ON CONFLICT ... DO NOTHING, RETURNING);
`Connection.sql` adapts it.  Rows come back as named tuples: read them by
column name (give computed columns a name with AS).

SQLite runs in WAL mode with synchronous=FULL: a commit is on disk before the
server acknowledges it (docs/server.md, "Durability").
"""

from __future__ import annotations

import sqlite3
import threading
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from server.store import schema


class DatabaseError(Exception):
    """The database URL is unusable or the database cannot be opened."""


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

    def query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row, as named tuples (row.column)."""
        cur = self._conn.execute(self.sql(text), params)
        rows = cur.fetchall()
        if not rows:
            return []
        make = _row_type(text, cur.description)._make
        return [make(r) for r in rows]

    def one(self, text: str, params: Sequence[Any] = ()) -> Any | None:
        """The first row as a named tuple, or None."""
        cur = self._conn.execute(self.sql(text), params)
        row = cur.fetchone()
        return None if row is None else _row_type(text, cur.description)._make(row)

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
        latest = len(schema.MIGRATIONS)
        self.execute('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
        current = self.schema_version()
        if current > latest:
            raise DatabaseError('database schema version %d is newer than this Tanji (%d)' % (current, latest))
        for version in range(current + 1, latest + 1):
            self.begin()
            try:
                for statement in schema.statements(self.engine, version):
                    self.execute(statement)
                self.execute('INSERT INTO schema_version (version) VALUES (?)', (version,))
                self.commit()
            except Exception:
                self.rollback()
                raise
        return latest

    def schema_version(self) -> int:
        row = self.one('SELECT max(version) AS version FROM schema_version')
        return row.version if row and row.version is not None else 0

    def columns(self) -> dict[str, tuple[str, ...]]:
        """Every table of the database with its column names in order (schema_version left out)."""
        if self.engine == 'sqlite':
            names = [r.name for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {n: tuple(c.name for c in self.query('PRAGMA table_info(%s)' % n))
                    for n in names if n != 'schema_version'}
        out: dict[str, list[str]] = {}
        for r in self.query("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
            if r.table_name != 'schema_version':
                out.setdefault(r.table_name, []).append(r.column_name)
        return {n: tuple(c) for n, c in out.items()}


_ROW_TYPES: dict[str, Any] = {}


def _row_type(sql: str, description) -> Any:
    """The named-tuple type of a query's rows, remembered per SQL text (the same text gives
    the same columns)."""
    kind = _ROW_TYPES.get(sql)
    if kind is None:
        if len(_ROW_TYPES) > 4096:
            _ROW_TYPES.clear()
        kind = _ROW_TYPES[sql] = namedtuple('Row', [d[0] for d in description], rename=True)
    return kind


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
