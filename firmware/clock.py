"""Time for the gateway's asyncio side.  Two clocks, each for its own job:

- now(): wall time, Unix seconds: stamps readings and picks times of day
  (upload times, polling slots on the minute);
- monotonic(): never jumps: every wait, interval, timeout and backoff.

A wall clock set by hand or stepped by NTP jumps; JumpDetector notices it by
the change of wall minus monotonic.  The accelerated clock lets tests cover
days of operation in seconds (the partition test); the shifted clock lets
tests move one gateway's wall clock without touching the machine's."""

from __future__ import annotations

import asyncio
import time

JUMP_S = 2.0          # a step of the wall clock against the monotonic one larger than this is a jump


class RealClock:
    factor = 1.0

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

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

    def monotonic(self) -> float:
        return self.now()

    def real_seconds(self, seconds: float) -> float:
        return max(0.0, seconds / self.factor)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.real_seconds(seconds))


class ShiftedClock(RealClock):
    """The machine's wall clock plus the number of seconds written in a file (re-read at
    most every 0.1 s; a missing or empty file is 0): a test rig sets one gateway's
    clock with it, the way a person or NTP would, without touching the machine's."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0.0
        self._read_at = -1.0

    def now(self) -> float:
        mono = time.monotonic()
        if mono - self._read_at >= 0.1:
            self._read_at = mono
            try:
                with open(self.path) as f:
                    text = f.read().strip()
                self._offset = float(text) if text else 0.0
            except (OSError, ValueError):
                self._offset = 0.0
        return time.time() + self._offset


def clock_for(offset_file: str | None = None) -> RealClock:
    return ShiftedClock(offset_file) if offset_file else RealClock()


class JumpDetector:
    """Notices steps of the wall clock: check() returns the size of a jump since the
    previous check (seconds, + forward), or 0.0."""

    def __init__(self, clock: RealClock, threshold_s: float = JUMP_S) -> None:
        self.clock = clock
        self.threshold_s = threshold_s
        self._offset = clock.now() - clock.monotonic()

    def check(self) -> float:
        offset = self.clock.now() - self.clock.monotonic()
        delta = offset - self._offset
        self._offset = offset           # NTP's slow slewing never adds up to a jump
        return delta if abs(delta) > self.threshold_s else 0.0


