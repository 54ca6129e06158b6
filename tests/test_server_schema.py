"""The schema is described once (server/store/schema.py); both engines must end
with exactly the tables and columns the description names, in its order."""

import pytest

from server.db import Connection, DatabaseURL
from server.store import schema


def test_sqlite_and_postgresql_end_with_the_same_tables_and_columns(tmp_path, pg_cluster):
    if pg_cluster is None:
        pytest.skip('no PostgreSQL server binaries (initdb) found; install Debian\'s postgresql package')
    held = {}
    for url in (str(tmp_path / 'tanji.db'), pg_cluster.new_database()):
        conn = Connection(DatabaseURL.parse(url))
        assert conn.migrate() == len(schema.MIGRATIONS)
        held[conn.engine] = conn.columns()
        conn.close()
    assert held['sqlite'] == held['postgresql'] == schema.tables()


def test_migrating_twice_changes_nothing(tmp_path):
    conn = Connection(DatabaseURL.parse(str(tmp_path / 'tanji.db')))
    conn.migrate()
    before = conn.columns()
    assert conn.migrate() == conn.schema_version() == len(schema.MIGRATIONS)
    assert conn.columns() == before
    conn.close()
