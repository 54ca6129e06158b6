"""Readings from MQTT collectors (CPython, asyncio; the protocol is
firmware/drivers/mqtt.py).  Persistent session, QoS 1, PUBACK only after the
message's readings are durable in the log; a message that cannot be taken is
refused with its reason in the log, kept in the quarantine directory and
acknowledged, so the broker does not redeliver it forever."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from firmware.drivers import mqtt
from shared.aio import wait_for

log = logging.getLogger('tanji.mqtt')


class MqttSource:
    def __init__(self, cfg, sink, quarantine_dir: str, owners: dict | None = None) -> None:
        """owners: code -> the configured place of this gateway that reads it (a message
        carrying one of those codes is refused)."""
        self.cfg = cfg
        self.sink = sink
        self.quarantine_dir = quarantine_dir
        self.owners = owners or {}
        self.stats = {'messages': 0, 'readings': 0, 'refused': 0, 'connects': 0}
        self.connected = asyncio.Event()
        self._packet_id = 0

    def _quarantine(self, topic: str, payload: bytes, reason: str) -> None:
        os.makedirs(self.quarantine_dir, exist_ok=True)
        name = '%d-%d' % (time.time_ns(), self.stats['refused'])
        with open(os.path.join(self.quarantine_dir, name + '.bin'), 'wb') as f:
            f.write(payload)
        with open(os.path.join(self.quarantine_dir, name + '.txt'), 'w') as f:
            f.write('topic: %s\nreason: %s\n' % (topic, reason))

    async def _session(self) -> None:
        reader, writer = await wait_for(asyncio.open_connection(self.cfg.host, self.cfg.port), 5)
        try:
            writer.write(mqtt.connect(self.cfg.client_id, self.cfg.keepalive_s, clean=False,
                                      username=self.cfg.username, password=self.cfg.password))
            self._packet_id = self._packet_id % 65535 + 1
            writer.write(mqtt.subscribe(self._packet_id, [(t, 1) for t in self.cfg.topics]))
            await writer.drain()
            parser = mqtt.Parser()
            last_sent = asyncio.get_running_loop().time()
            while True:
                try:
                    data = await wait_for(reader.read(65536), self.cfg.keepalive_s / 2)
                except asyncio.TimeoutError:
                    data = None
                now = asyncio.get_running_loop().time()
                if data is None or now - last_sent > self.cfg.keepalive_s / 2:
                    writer.write(mqtt.pingreq())
                    await writer.drain()
                    last_sent = now
                    if data is None:
                        continue
                if not data:
                    raise ConnectionError('broker closed the connection')
                for packet in parser.feed(data):
                    if packet.type == mqtt.CONNACK:
                        _, code = packet.connack()
                        if code:
                            raise ConnectionError('broker refused: %s' % mqtt.CONNACK_REASONS.get(code, code))
                        self.stats['connects'] += 1
                    elif packet.type == mqtt.SUBACK:
                        if 0x80 in packet.body[2:]:
                            raise ConnectionError('broker refused the subscription to %s' % self.cfg.topics)
                        self.connected.set()
                        log.info('mqtt %s:%d subscribed to %s', self.cfg.host, self.cfg.port, self.cfg.topics)
                    elif packet.type == mqtt.PUBLISH:
                        await self._message(packet, writer)
                        last_sent = asyncio.get_running_loop().time()
        except asyncio.CancelledError:
            # an orderly stop: the broker keeps the session (clean=False) and queues QoS 1 messages for us
            writer.write(mqtt.disconnect())
            raise
        finally:
            self.connected.clear()
            writer.close()

    async def _message(self, packet, writer) -> None:
        topic, payload, qos, pid, _, _ = packet.publish()
        self.stats['messages'] += 1
        try:
            readings = mqtt.readings(payload)
            for r in readings:
                place = self.owners.get(int(r.code))
                if place is not None:
                    raise mqtt.PayloadError('code %012d is read by %s of this gateway: a code identifies one '
                                            'monitoring point (seed 001 §7.2)' % (int(r.code), place))
        except mqtt.PayloadError as e:
            self.stats['refused'] += 1
            log.warning('ALARM mqtt: message on %s refused: %s (kept in %s)', topic, e, self.quarantine_dir)
            self._quarantine(topic, payload, str(e))
            readings = []
        last = None
        for r in readings:
            seq = self.sink.add_reading(r)
            if seq is None:
                return                          # the log refuses readings: no PUBACK, the broker keeps it
            last = seq
        self.stats['readings'] += len(readings)
        if last is not None:
            await self.sink.wait_durable(last)
        if qos:
            writer.write(mqtt.puback(pid))
            await writer.drain()

    async def run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionError, asyncio.TimeoutError, mqtt.MqttError) as e:
                log.warning('mqtt %s:%d: %s; reconnecting in %.0f s', self.cfg.host, self.cfg.port, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    def status(self) -> dict:
        return {'mqtt': '%s:%d' % (self.cfg.host, self.cfg.port), **self.stats}
