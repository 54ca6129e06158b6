"""A simulated OPC UA server (asyncua) exposing process values of a kiln line: a coal
feed register (t), the feed rate (t/h) and a kiln temperature, updated every second
with their source timestamps."""

from __future__ import annotations

import asyncio
import logging

from hardware.profiles import Profile

logging.getLogger('asyncua').setLevel(logging.ERROR)


class SimOpcuaServer:
    def __init__(self, url: str, nodes: list[tuple[str, str, Profile]], update_s: float = 1.0, clock=None) -> None:
        """nodes: (string node id in namespace 2, 'register' | 'rate', profile)."""
        self.url = url
        self.nodes = nodes
        self.update_s = update_s
        self.clock = clock
        self.server = None
        self.variables = {}
        self.namespace = None

    async def start(self) -> None:
        from asyncua import Server, ua
        self.server = Server()
        await self.server.init()
        self.server.set_endpoint(self.url)
        self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.namespace = await self.server.register_namespace('urn:tanji:sim')
        plant = await self.server.nodes.objects.add_object(self.namespace, 'Plant')
        for name, kind, profile in self.nodes:
            node_id = ua.NodeId(name, self.namespace)
            self.variables[name] = (await plant.add_variable(node_id, name, 0.0), kind, profile)
        await self.server.start()
        await self._update()
        self._task = asyncio.create_task(self._loop())

    def node_id(self, name: str) -> str:
        return 'ns=%d;s=%s' % (self.namespace, name)

    async def _update(self) -> None:
        from asyncua import ua
        from datetime import datetime, timedelta, timezone
        ms = int(self.clock() * 1000)           # a source time the readings can carry exactly
        t = ms / 1000
        stamp = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
        for var, kind, profile in self.variables.values():
            value = profile.register(t) / 10 ** profile.decimals if kind == 'register' else profile.rate_at(t)
            dv = ua.DataValue(ua.Variant(float(value), ua.VariantType.Double), SourceTimestamp=stamp,
                              ServerTimestamp=stamp)
            await var.write_value(dv)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.update_s)
            await self._update()

    async def stop(self) -> None:
        self._task.cancel()
        await self.server.stop()
