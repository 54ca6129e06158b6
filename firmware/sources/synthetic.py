"""Synthetic meters: deterministic readings at a set rate, for tests, benchmarks and
the demo where no meter is attached.  Reading number k (the log's sequence number)
is a pure function of k, so after a power cut the source resumes exactly where the
log's durable sequence ends and a checker can recompute every value."""

from __future__ import annotations

import asyncio

from firmware.lib.reading import Reading
from shared.codec import codes


class SyntheticMeters:
    def __init__(self, points: int = 500, t0_ms: int = 0, step_ms: int = 1, rate_per_s: float = 1000.0,
                 industry: str = '08', activity: str = '04', source: str = '201', parameter: str = '01',
                 unit: str = 'kWh') -> None:
        if not 1 <= points <= 999:
            raise ValueError('synthetic meters: 1 to 999 points')
        tables = codes.tables()
        self.codes = [int(tables.encode(industry, activity, source, parameter, p + 1)) for p in range(points)]
        self.points = points
        self.t0_ms = t0_ms
        self.step_ms = step_ms
        self.rate_per_s = rate_per_s
        self.unit = unit

    def reading(self, k: int) -> Reading:
        """Reading number k: each point's register grows by its point number every round."""
        point = k % self.points
        return Reading(self.codes[point], self.t0_ms + k * self.step_ms, 1_000_000 + (k // self.points) * (point + 1),
                -2, 0, self.unit)

    async def run(self, gateway, clock) -> None:
        """Append readings to the gateway's log at rate_per_s of clock time, from its next sequence number."""
        last = clock.monotonic()
        owed = 0.0
        while True:
            await asyncio.sleep(0.01)           # real time: an accelerated clock must not make this spin
            now = clock.monotonic()
            owed += self.rate_per_s * (now - last)
            last = now
            n = int(owed)
            owed -= n
            for _ in range(n):
                if gateway.add_reading(self.reading(gateway.next_seq)) is None:
                    break
