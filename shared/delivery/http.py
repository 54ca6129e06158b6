"""The upload exchange's sender side over HTTP (CPython, aiohttp): one POST of a
signed frame, its answer classified (shared/delivery/exchange.py).  Used by the
gateway's senders and by the platform's fan-out."""

from __future__ import annotations

import asyncio
import binascii
import json

import aiohttp

from shared import tls
from shared.delivery import exchange

CONTENT_TYPE = 'application/x-msgpack'


async def post_frame(session: aiohttp.ClientSession, url: str, data: bytes,
                     content_type: str = CONTENT_TYPE) -> exchange.Outcome:
    try:
        async with session.post(url, data=data, headers={'Content-Type': content_type}) as resp:
            return exchange.classify(resp.status, await resp.read(), resp.headers.get('Retry-After'))
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        return exchange.no_answer(tls.explain(e) or '%s: %s' % (type(e).__name__, e))


async def ask_position(session: aiohttp.ClientSession, frames_url: str, gateway_id: str, sign,
                       t_ms: int) -> dict | None:
    """{'ack': N, 'last_seq': M} of this gateway at a centre, or None when it gave no usable answer."""
    sig = binascii.hexlify(sign(exchange.position_message(gateway_id, t_ms))).decode()
    try:
        async with session.get(exchange.position_url(frames_url),
                               params={'gateway': gateway_id, 't': str(t_ms), 'sig': sig}) as resp:
            if resp.status != 200:
                return None
            doc = json.loads(await resp.read())
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), int) for k in ('ack', 'last_seq')):
        return None
    return {'ack': doc['ack'], 'last_seq': doc['last_seq']}
