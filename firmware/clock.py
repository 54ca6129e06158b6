"""Time for the gateway's asyncio side: the real clock, or an accelerated one for tests
that must cover days of operation in seconds (the partition test)."""

from __future__ import annotations

import asyncio
import time


class RealClock:
    factor = 1.0

    def now(self) -> float:
        return time.time()

    def real_seconds(self, seconds: float) -> float:
        return max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class AcceleratedClock(RealClock):
    """Runs `factor` times faster than real time from `start` (Unix seconds) on."""

    def __init__(self, factor: float, start: float | None = None) -> None:
        self.factor = factor
        self._real0 = time.monotonic()
        self._start = time.time() if start is None else start

    def now(self) -> float:
        return self._start + (time.monotonic() - self._real0) * self.factor

    def real_seconds(self, seconds: float) -> float:
        return max(0.0, seconds / self.factor)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.real_seconds(seconds))
