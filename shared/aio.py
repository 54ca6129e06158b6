"""asyncio helpers shared by the gateway and the server (CPython)."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(tasks: list[asyncio.Task]) -> None:
    """Cancel tasks and wait until each has ended; their exceptions were logged where they arose."""
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except (asyncio.CancelledError, Exception):
            pass
