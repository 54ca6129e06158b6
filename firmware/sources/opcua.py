"""Readings from OPC UA servers (CEMS, energy or production systems) through asyncua
(CPython only).  Nodes are read every period or subscribed to; every value keeps
the server's source timestamp (or server timestamp), so a value that did not
change is never re-stamped as new.  A bad status or a failed read is a missing
reading with its reason; the connection is re-established by itself."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta, timezone

from shared.codec.flags import FLAG_MISSING

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
log = logging.getLogger('tanji.opcua')
logging.getLogger('asyncua').setLevel(logging.WARNING)      # its INFO lines are per publish
logging.getLogger('asyncua.client.client').setLevel(logging.ERROR)   # 'session timeout revised' on every connect

WATCHDOG_S = 5.0


def _ms(dt) -> int | None:
    """Milliseconds since 1970 of an OPC UA time, exactly (float seconds would round some
    times down a millisecond)."""
    if dt is None:
        return None
    if dt.tzinfo is None:                       # OPC UA times are UTC
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - EPOCH) // timedelta(milliseconds=1)


def value_of(variant_value):
    """(value, exponent) for the log: ints stay exact, floats stay floats; None if unusable."""
    v = variant_value
    if isinstance(v, bool):
        return int(v), 0
    if isinstance(v, int):
        return v, 0
    if isinstance(v, float):
        return (v, 0) if math.isfinite(v) else None
    return None


class OpcuaSource:
    def __init__(self, cfg, sink, clock, intake) -> None:
        self.cfg = cfg
        self.sink = sink
        self.clock = clock
        self.intake = intake
        self.stats = {'readings': 0, 'missing': 0, 'notifications': 0, 'connects': 0}
        self.connected = asyncio.Event()
        from firmware.drivers.polled import Point
        self.points = {n.node: Point('opcua:%s' % n.node, n.code, n.unit, n.period_s, n.node) for n in cfg.nodes}

    def _emit(self, node: str, data_value) -> None:
        point = self.points[node]
        ts = _ms(data_value.SourceTimestamp) or _ms(data_value.ServerTimestamp)
        own_clock = ts is None
        if own_clock:
            ts = int(self.clock.now() * 1000)
        status = data_value.StatusCode
        if status is not None and not status.is_good():
            reading = self.intake.missing(point, ts, 'server reports %s' % status.name)
        else:
            v = value_of(data_value.Value.Value if data_value.Value is not None else None)
            if v is None:
                reading = self.intake.missing(point, ts, 'value %r is not a number' % (data_value.Value,))
            else:
                reading = self.intake.measured(point, v[0], v[1], point.unit, ts, own_clock=own_clock)
        self.stats['missing' if reading.flags & FLAG_MISSING else 'readings'] += 1
        self.sink.add_reading(reading)

    def datachange_notification(self, node, val, data) -> None:       # asyncua subscription handler
        self.stats['notifications'] += 1
        self._emit(node.nodeid.to_string(), data.monitored_item.Value)

    async def _poll(self, client, node_cfg) -> None:
        from asyncua import ua
        node = client.get_node(node_cfg.node)
        while True:
            period = node_cfg.period_s
            now = self.clock.now()
            await asyncio.sleep(self.clock.real_seconds(period - now % period))
            try:
                dv = await node.read_attribute(ua.AttributeIds.Value)
                self._emit(node_cfg.node, dv)
            except Exception as e:         # asyncua raises many types: a failed read is a missing reading
                point = self.points[node_cfg.node]
                self.sink.add_reading(self.intake.missing(point, int(self.clock.now() * 1000), 'read failed: %s' % e))
                self.stats['missing'] += 1
                raise

    async def _session(self) -> None:
        from asyncua import Client
        client = Client(self.cfg.url, timeout=4)
        async with client:
            self.stats['connects'] += 1
            tasks = []
            subscribed = [n for n in self.cfg.nodes if n.mode == 'subscribe']
            if subscribed:
                interval = min(n.period_s for n in subscribed) * 1000
                sub = await client.create_subscription(min(interval, 1000), self)
                await sub.subscribe_data_change([client.get_node(n.node) for n in subscribed])
            tasks = [asyncio.create_task(self._poll(client, n)) for n in self.cfg.nodes if n.mode == 'read']
            self.connected.set()
            log.info('opcua %s: %d node(s) subscribed, %d read', self.cfg.url, len(subscribed), len(tasks))
            try:
                while True:
                    for t in tasks:
                        if t.done():
                            t.result()
                    await asyncio.sleep(WATCHDOG_S)
                    await client.nodes.server_state.read_value()      # raises when the server is gone
            finally:
                self.connected.clear()
                for t in tasks:
                    t.cancel()

    async def run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._session()
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning('opcua %s: %s; reconnecting in %.0f s', self.cfg.url, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    def status(self) -> dict:
        return {'opcua': self.cfg.url, **self.stats}
