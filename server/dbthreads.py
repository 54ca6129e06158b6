"""Runs database work off the event loop: one writer thread (so writes are
serialised and batched into group commits) and a few reader threads."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from server.db import Connection, ConnectionPool, DatabaseURL


class DatabaseThreads:
    def __init__(self, url: DatabaseURL, readers: int = 4) -> None:
        self.url = url
        self.pool = ConnectionPool(url)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix='tanji-db-writer')
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix='tanji-db-reader')

    def _call(self, fn: Callable[..., Any], args: tuple) -> Any:
        return fn(self.pool.get(), *args)

    def _call_tx(self, fn: Callable[..., Any], args: tuple) -> Any:
        return self.pool.get().transaction(fn, *args)

    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(conn, *args) in the writer thread; fn manages its own transaction."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._call, fn, args)

    async def write_tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(conn, *args) in the writer thread inside one transaction."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._call_tx, fn, args)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._call, fn, args)

    async def migrate(self) -> int:
        return await self.write(Connection.migrate)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.pool.close_all()
