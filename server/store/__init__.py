"""What the server keeps, by concern; every function takes a server.db.Connection
and runs in the calling thread.

    schema      the tables, described once for SQLite and PostgreSQL
    gateways    enrolled gateways, their keys and counters
    frames      signed frames and their records: storing, acks, queries
    centres     further data centres: fan-out cursors and refusals
    tokens      API tokens and the audit log
    accounting  factor records, scenarios and kept results
"""


class StoreError(Exception):
    """An administrative request that cannot be carried out (unknown id, duplicate, ...)."""
