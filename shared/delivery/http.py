"""The upload exchange's sender side over HTTP (CPython, aiohttp): one POST of a
signed frame, its answer classified (shared/delivery/exchange.py).  Used by the
gateway's senders and by the platform's fan-out."""

from __future__ import annotations

import asyncio

import aiohttp

from shared.delivery import exchange

CONTENT_TYPE = 'application/x-msgpack'


async def post_frame(session: aiohttp.ClientSession, url: str, data: bytes) -> exchange.Outcome:
    try:
        async with session.post(url, data=data, headers={'Content-Type': CONTENT_TYPE}) as resp:
            return exchange.classify(resp.status, await resp.read(), resp.headers.get('Retry-After'))
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        return exchange.no_answer('%s: %s' % (type(e).__name__, e))
