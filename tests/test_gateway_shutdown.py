"""Shutdown is bounded (issue 12, failure 9): a cancellation is never lost, and a task
that will not stop cannot hold the gateway: what is queued is committed and the state
saved within the bound, and the stuck task is named."""

from __future__ import annotations

import asyncio
import time

from firmware import cli
from firmware.config import parse
from firmware.gateway import Gateway
from firmware.lib.reading import Reading
from server_harness import new_gateways
from shared.aio import wait_for


async def _lost_cancellation(wait) -> bool:
    """Whether `wait` returns normally although its task was cancelled at the moment the
    awaited future finished (Python 3.11's asyncio.wait_for does: gh-86296)."""
    fut = asyncio.get_running_loop().create_future()

    async def waiter() -> str:
        await wait(fut, 10)
        return 'went on'

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    fut.set_result(1)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return False
    return True


async def test_a_cancellation_is_never_lost_when_the_awaited_thing_finishes_at_that_moment():
    assert not await _lost_cancellation(wait_for)


async def test_a_task_that_ignores_cancellation_cannot_hold_the_shutdown(tmp_path, monkeypatch):
    key = new_gateways(['GW-STOP'])['GW-STOP'].key
    (tmp_path / 'gw.key').write_text(key.to_pem())
    cfg = parse({'gateway': {'id': 'GW-STOP', 'key': str(tmp_path / 'gw.key'), 'data_dir': str(tmp_path / 'data'),
                             'ring_mb': 3, 'segment_mb': 1},
                 'centre': [{'name': 'platform', 'url': 'http://127.0.0.1:9/api/v1/frames', 'every_s': 60}]})
    gw = Gateway(cfg)
    await gw.start()
    seq = gw.add_reading(Reading('080420101001', int(time.time() * 1000), 12345, -2, 0, 'kWh'))

    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue                      # a driver that swallows its cancellation

    task = asyncio.create_task(stubborn(), name='stubborn-driver')
    await asyncio.sleep(0.1)                  # running, inside its loop
    monkeypatch.setattr(cli, 'SHUTDOWN_S', 1.0)
    try:
        started = time.monotonic()
        stuck = await cli._shutdown(gw, [task], asyncio.Event())
        took = time.monotonic() - started
        assert [t.get_name() for t in stuck] == ['stubborn-driver']
        assert took < 10, took
        assert gw.ring.durable_seq >= seq                 # committed before leaving the stuck task behind
        reopened = Gateway(cfg)
        assert reopened.ring.durable_seq >= seq and reopened.restart_cause == 'restart'
        reopened.close()
    finally:
        released.set()
        await task
