"""Readings from CEMS stations speaking HJ 212-2017 (CPython, asyncio; the protocol is
firmware/drivers/hj212.py).  The gateway listens; a station connects and sends
real-time, minute, hour and day data (CN 2011/2051/2061/2031).  A message with a
bad CRC is dropped unanswered (the station resends, HJ 212 §6.6); a message whose
Flag asks for an answer gets the data answer (CN 9014) once its readings are
durable."""

from __future__ import annotations

import asyncio
import logging

from firmware.drivers import hj212
from shared.codec import decimals

log = logging.getLogger('tanji.hj212')


class Hj212Listener:
    def __init__(self, cfg, sink, utc_offset_s: int) -> None:
        self.cfg = cfg
        self.sink = sink
        self.utc_offset_s = utc_offset_s
        self.stats = {'messages': 0, 'readings': 0, 'crc_errors': 0, 'refused': 0, 'acks': 0}
        self.unmapped: set[str] = set()
        self.server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.cfg.host, self.cfg.port)
        log.info('hj212 listening on %s:%d', self.cfg.host, self.cfg.port)

    async def stop(self) -> None:
        for w in list(self._writers):          # stations see the connection close; their handlers end
            w.close()
        await asyncio.sleep(0)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def _check(self, message: hj212.Message) -> str | None:
        if self.cfg.password is not None and message.get('PW') != self.cfg.password:
            return 'wrong password'
        if self.cfg.stations is not None and message.get('MN') not in self.cfg.stations:
            return 'unknown station MN=%s' % message.get('MN')
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info('peername')
        parser = hj212.Parser()
        self._writers.add(writer)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for item in parser.feed(data):
                    if isinstance(item, hj212.HJ212Error):
                        self.stats['crc_errors' if item.code == 'crc' else 'refused'] += 1
                        log.warning('hj212 %s: message dropped: %s', peer, item.reason)
                        continue
                    await self._message(item, writer, peer)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _message(self, message: hj212.Message, writer: asyncio.StreamWriter, peer) -> None:
        self.stats['messages'] += 1
        problem = self._check(message)
        if problem:
            self.stats['refused'] += 1
            log.warning('ALARM hj212 %s: message %s refused: %s', peer, message.get('QN'), problem)
            return
        try:
            readings, unmapped = hj212.readings(message, self.cfg.mapping, self.utc_offset_s, decimals.parse)
        except hj212.HJ212Error as e:
            self.stats['refused'] += 1
            log.warning('ALARM hj212 %s: message %s refused: %s', peer, message.get('QN'), e.reason)
            return
        new = set(unmapped) - self.unmapped
        if new:
            self.unmapped |= new
            log.info('hj212 %s sends fields not mapped to codes: %s', message.get('MN'), ', '.join(sorted(new)))
        last = None
        for r in readings:
            seq = self.sink.add_reading(r)
            if seq is None:
                return                  # log refuses: no answer, the station resends
            last = seq
        self.stats['readings'] += len(readings)
        if last is not None:
            await self.sink.wait_durable(last)
        if message.wants_ack:
            writer.write(hj212.ack(message))
            await writer.drain()
            self.stats['acks'] += 1

    def status(self) -> dict:
        return {'hj212': '%s:%d' % (self.cfg.host, self.cfg.port), **self.stats, 'unmapped': sorted(self.unmapped)}
