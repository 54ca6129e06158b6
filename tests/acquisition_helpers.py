"""Helpers for driver tests: a reading sink standing in for the gateway's log, a
socat pty pair (for independent peers that open a serial device themselves), and a
bus configuration builder."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

from firmware.clock import RealClock
from firmware.sources.config import BusConfig


class ListSink:
    """What BusRunner and the sources need of the gateway; readings kept in a list."""

    def __init__(self) -> None:
        self.readings: list[tuple] = []

    @property
    def next_seq(self) -> int:
        return len(self.readings)

    @property
    def durable_seq(self) -> int:
        return len(self.readings) - 1

    def add_reading(self, r) -> int:
        self.readings.append(r)
        return len(self.readings) - 1

    async def wait_durable(self, seq: int) -> None:
        return None

    def of(self, code: int) -> list[tuple]:
        return [r for r in self.readings if r[0] == code]


class PtyPair:
    """Two linked ptys from socat: what one side writes, the other reads."""

    def __init__(self, directory: str) -> None:
        self.a = os.path.join(directory, 'pty-a')
        self.b = os.path.join(directory, 'pty-b')
        exe = shutil.which('socat')
        if exe is None:
            raise RuntimeError('socat not found (make sysdeps installs it)')
        self.proc = subprocess.Popen([exe, 'pty,raw,echo=0,link=%s' % self.a, 'pty,raw,echo=0,link=%s' % self.b],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not (os.path.exists(self.a) and os.path.exists(self.b)):
            if time.monotonic() > deadline:
                raise RuntimeError('socat did not create the ptys')
            time.sleep(0.02)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def bus(name: str, protocol: str, meters: dict, points: dict, port: str | None = None, host: str | None = None,
        tcp_port: int | None = None, timeout_s: float = 0.3, retries: int = 1, gap_s: float = 0.005,
        degrade_after: int = 3, probe_s: float = 1.0, probe_max_s: float = 2.0, parity: str = 'N',
        baud: int = 2400, time_sync_s: float = 0.0) -> BusConfig:
    return BusConfig(name, protocol, port=port, host=host, tcp_port=tcp_port, baud=baud, parity=parity,
                     timeout_s=timeout_s, retries=retries, gap_s=gap_s, degrade_after=degrade_after, probe_s=probe_s,
                     probe_max_s=probe_max_s, time_sync_s=time_sync_s, meters=meters, points=points)


async def run_for(coro_factory, seconds: float) -> None:
    task = asyncio.create_task(coro_factory())
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        raise


def clock() -> RealClock:
    return RealClock()
