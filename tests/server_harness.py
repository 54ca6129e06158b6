"""A real ingest server on loopback HTTP with a real database, and gateways that
sign real frames, for the server tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from portable_helpers import COAL, ENERGY, POWER, UNITS
from server import admin
from server.app import make_app
from server.config import Downstream, ServerConfig
from server.db import Connection, DatabaseURL
from shared.codec import frame, sm2
from shared.codec import flags

CODES = (ENERGY, POWER, COAL)


@dataclass
class Gateway:
    """A simulated gateway whose reading number `seq` is a pure function of seq, so a
    resent range always carries identical records."""
    id: str
    key: sm2.PrivateKey
    t0_ms: int

    def record(self, seq: int) -> frame.Record:
        code = CODES[seq % 3]
        ts = self.t0_ms + seq * 1000
        if code == POWER and seq % 7 == 1:
            return frame.Record(seq, code, ts, None, 0, flags.FLAG_MISSING)
        if code == POWER:
            return frame.Record(seq, code, ts, 4000 + seq % 500, -1, 0)
        return frame.Record(seq, code, ts, 10_000_000 + seq * 17, -2 if code == ENERGY else -3, 0)

    def records(self, first: int, n: int) -> list[frame.Record]:
        return [self.record(s) for s in range(first, first + n)]

    def frame(self, first: int, n: int) -> bytes:
        return frame.encode(self.id, self.records(first, n), UNITS, self.key.sign)


@dataclass
class Harness:
    config: ServerConfig
    server: TestServer
    session: aiohttp.ClientSession
    gateways: dict[str, Gateway]
    tokens: dict[str, str]
    url: str = ''
    extra: dict[str, Any] = field(default_factory=dict)

    async def post_frame(self, raw: bytes, content_type: str = 'application/x-msgpack') -> tuple[int, dict]:
        async with self.session.post(self.url + '/api/v1/frames', data=raw,
                                     headers={'Content-Type': content_type}) as r:
            return r.status, await r.json()

    async def get(self, path: str, role: str | None = 'operator', **params) -> tuple[int, Any]:
        headers = {'Authorization': 'Bearer ' + self.tokens[role]} if role else {}
        async with self.session.get(self.url + path, params=params, headers=headers) as r:
            return r.status, await r.json()

    async def post_json(self, path: str, doc: Any, role: str | None = 'admin') -> tuple[int, Any]:
        headers = {'Authorization': 'Bearer ' + self.tokens[role]} if role else {}
        async with self.session.post(self.url + path, json=doc, headers=headers) as r:
            return r.status, await r.json()

    async def post_raw(self, path: str, data: bytes, content_type: str, role: str | None = 'operator') -> tuple[int, Any]:
        headers = {'Content-Type': content_type}
        if role:
            headers['Authorization'] = 'Bearer ' + self.tokens[role]
        async with self.session.post(self.url + path, data=data, headers=headers) as r:
            return r.status, await r.json()

    def db(self) -> Connection:
        return Connection(DatabaseURL.parse(self.config.db))

    async def close(self) -> None:
        await self.session.close()
        await self.server.close()


def prepare_database(db_url: str, gateways: dict[str, Gateway]) -> dict[str, str]:
    """Enrol the gateways and make one token per role."""
    conn = Connection(DatabaseURL.parse(db_url))
    conn.migrate()
    now = int(time.time() * 1000)
    for gw in gateways.values():
        conn.begin()
        admin.enrol(conn, 'test', gw.id, gw.key.public_key.to_pem(), 'Acme Cement', 'Fuzhou plant', 0, now)
        conn.commit()
    tokens = {}
    for role in admin.ROLES:
        conn.begin()
        tokens[role] = admin.add_token(conn, 'test', 'test-' + role, role, now)
        conn.commit()
    conn.close()
    return tokens


def new_gateways(ids: list[str]) -> dict[str, Gateway]:
    t0_ms = (int(time.time()) // 60 * 60 - 86_400) * 1000
    return {gid: Gateway(gid, sm2.PrivateKey.generate(), t0_ms) for gid in ids}


async def start(db_url: str, gateways: dict[str, Gateway] | None = None,
                downstream: list[Downstream] | None = None, port: int | None = None, **settings) -> Harness:
    gateways = gateways if gateways is not None else new_gateways(['gw-a', 'gw-b'])
    tokens = prepare_database(db_url, gateways)
    config = ServerConfig(db=db_url, downstream=downstream or [], **settings).validate()
    server = TestServer(make_app(config), host='127.0.0.1', port=port)
    await server.start_server()
    session = aiohttp.ClientSession()
    h = Harness(config, server, session, gateways, tokens)
    h.url = str(server.make_url('')).rstrip('/')
    return h
