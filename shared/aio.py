"""asyncio helpers shared by the gateway and the server (CPython)."""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

T = TypeVar('T')


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """asyncio.wait_for, except that a cancellation is never lost: Python 3.11's
    wait_for returns the result instead when the awaited thing finishes at the moment
    it is cancelled (gh-86296), and a task that loops on it then never stops."""
    if timeout is None:
        return await aw
    async with asyncio.timeout(timeout):
        return await aw


async def cancel_and_wait(tasks: list[asyncio.Task], timeout: float | None = None) -> list[asyncio.Task]:
    """Cancel tasks and wait until each has ended (their exceptions were logged where they
    arose), or until timeout seconds have passed; returns the tasks still running then."""
    for t in tasks:
        t.cancel()
    pending = [t for t in tasks if not t.done()]
    if not pending:
        return []
    done, still = await asyncio.wait(pending, timeout=timeout)
    for t in done:
        if not t.cancelled():
            t.exception()          # retrieved, so asyncio does not report it again at exit
    return list(still)
