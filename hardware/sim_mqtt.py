"""A simulated MQTT collector: publishes readings of its meters to a broker with QoS 1,
in the documented JSON or msgpack payload (docs/drivers.md), every `every_s`."""

from __future__ import annotations

import asyncio
import json
import logging

from firmware.drivers import mqtt
from hardware.profiles import Profile
from shared.codec import decimals, mp

log = logging.getLogger('tanji.sim.mqtt')


class SimCollector:
    def __init__(self, host: str, port: int, topic: str, points: list[tuple[str, str, Profile]],
                 every_s: float = 60.0, encoding: str = 'json', client_id: str = 'tanji-sim-collector',
                 clock=None) -> None:
        self.host = host
        self.port = port
        self.topic = topic
        self.points = points                       # (code, unit, profile)
        self.every_s = every_s
        self.encoding = encoding
        self.client_id = client_id
        self.clock = clock
        self.published = 0
        self.acked = 0
        self._pid = 0

    def payload(self, t: float) -> bytes:
        readings = []
        for code, unit, profile in self.points:
            readings.append({'code': code, 't': int(t * 1000), 'unit': unit,
                             'v': decimals.format(profile.register(t), -profile.decimals)})
        doc = {'readings': readings}
        return json.dumps(doc).encode() if self.encoding == 'json' else mp.packb(doc)

    async def publish_once(self, writer, t: float) -> None:
        self._pid = self._pid % 65535 + 1
        writer.write(mqtt.publish(self.topic, self.payload(t), qos=1, packet_id=self._pid))
        await writer.drain()
        self.published += 1

    async def run(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(1.0)
                continue
            parser = mqtt.Parser()
            writer.write(mqtt.connect(self.client_id, 60, clean=True))
            await writer.drain()
            try:
                last_slot = None
                while True:
                    now = self.clock()
                    slot = now // self.every_s
                    if slot != last_slot:
                        last_slot = slot
                        await self.publish_once(writer, slot * self.every_s)
                    try:
                        data = await asyncio.wait_for(reader.read(4096), 0.2)
                    except asyncio.TimeoutError:
                        continue
                    if not data:
                        break
                    for p in parser.feed(data):
                        if p.type == mqtt.PUBACK:
                            self.acked += 1
            except OSError:
                pass
            finally:
                writer.close()
            await asyncio.sleep(1.0)
