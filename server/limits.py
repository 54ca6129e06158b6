"""What one source may cost the centre (issue 14): token buckets per address and per
gateway answering 429 with Retry-After, and a cap on the connections one address may
hold open.  All checks are dictionary lookups, made before any other work.

Three budgets, each `[server]` settings (docs/server.md "Limits"):
    requests per address      every request counts
    refusals per address      each refused request (4xx) counts; when spent, the address is
                              refused everything until it refills — refusals are where an
                              attacker makes the centre work (signatures, decodes) for nothing
    frames per gateway        each upload naming the gateway counts, before its signature is
                              checked, so a flood naming a victim costs it nothing but delay
A gateway that meets a 429 waits Retry-After and resends: delay, never loss."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from typing import Callable

from aiohttp import web

log = logging.getLogger('tanji.server.limits')

MAX_KEYS = 100_000      # buckets kept before the idle (full) ones are dropped


class Buckets:
    """Token buckets by key: `rate` tokens a second, at most `burst` saved up.  A key
    not seen is full.  take() answers 0.0 when a token was taken, else the seconds until
    one will be there (nothing is taken then)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.clock = clock
        self._level: dict[object, tuple[float, float]] = {}     # key -> (tokens, at)

    def _now_level(self, key: object, now: float) -> float:
        tokens, at = self._level.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: object) -> float:
        """Seconds until `key` has a token (0.0 when it has one now); takes nothing."""
        if self.rate <= 0:
            return 0.0
        tokens = self._now_level(key, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: object) -> float:
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens = self._now_level(key, now)
        if tokens < 1.0:
            return (1.0 - tokens) / self.rate
        if len(self._level) >= MAX_KEYS and key not in self._level:
            self._prune(now)
        self._level[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [k for k, (tokens, at) in self._level.items() if tokens + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._level[k]
        if len(self._level) >= MAX_KEYS:        # more busy sources than we keep: forget the oldest half
            for k in sorted(self._level, key=lambda k: self._level[k][1])[:MAX_KEYS // 2]:
                del self._level[k]


def retry_after(seconds: float) -> int:
    """Whole seconds for the Retry-After header, at least 1."""
    return max(1, math.ceil(seconds))


class Limits:
    """The budgets of one running server (see the module's text)."""

    def __init__(self, requests_per_s: float, refusals_per_s: float, frames_per_gateway_s: float,
                 connections_per_address: int, exempt: list[str] | tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.exempt_networks = [ipaddress.ip_network(n, strict=False) for n in exempt]
        self._exempt: dict[str, bool] = {}
        self.requests = Buckets(requests_per_s, requests_per_s * 2, clock)
        self.refusals = Buckets(refusals_per_s, refusals_per_s * 5, clock)
        self.frames = Buckets(frames_per_gateway_s, frames_per_gateway_s * 4, clock)
        self.connections_per_address = connections_per_address
        self.open: dict[str, int] = {}
        self.counters = {'limited_requests': 0, 'limited_frames': 0, 'limited_connections': 0}

    @classmethod
    def of(cls, config) -> 'Limits':       # type: ignore[no-untyped-def]
        return cls(config.requests_per_address_s, config.refusals_per_address_s, config.frames_per_gateway_s,
                   config.connections_per_address, config.limits_exempt)

    def exempt(self, address: str | None) -> bool:
        """Whether the address lies in a network the limits do not apply to (limits_exempt)."""
        if not address or not self.exempt_networks:
            return False
        known = self._exempt.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
                known = any(ip in net for net in self.exempt_networks)
            except ValueError:
                known = False
            if len(self._exempt) > MAX_KEYS:
                self._exempt.clear()
            self._exempt[address] = known
        return known

    def admit(self, address: str) -> float:
        """0.0 to go on, else seconds to wait: the address has spent its refusals or its requests."""
        wait = self.refusals.wait(address) or self.requests.take(address)
        if wait:
            self.counters['limited_requests'] += 1
        return wait

    def refused(self, address: str) -> None:
        self.refusals.take(address)

    def admit_frame(self, gateway: str) -> float:
        wait = self.frames.take(gateway)
        if wait:
            self.counters['limited_frames'] += 1
        return wait

    def connection_opened(self, address: str) -> bool:
        """False when the address already holds its share of connections (the new one is turned away)."""
        n = self.open.get(address, 0)
        if self.connections_per_address and not self.exempt(address) and n >= self.connections_per_address:
            self.counters['limited_connections'] += 1
            return False
        self.open[address] = n + 1
        return True

    def connection_closed(self, address: str) -> None:
        n = self.open.get(address, 0) - 1
        if n > 0:
            self.open[address] = n
        else:
            self.open.pop(address, None)


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info('peername')
    return peer[0] if isinstance(peer, tuple) and peer else str(peer)


TOO_MANY_CONNECTIONS = (b'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\n'
                        b'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s')


class LimitedServer(web.Server):
    """aiohttp's connection manager, turning away an address's connections beyond its share
    with a 429 written before the request is read."""

    def __init__(self, *args, limits: Limits, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._counted: dict[object, str] = {}

    def connection_made(self, handler, transport) -> None:   # type: ignore[no-untyped-def]
        super().connection_made(handler, transport)
        address = _address(transport)
        if not self.limits.connection_opened(address):
            body = (b'{"error": "busy", "detail": "this address holds %d connections already, the most '
                    b'one address may hold; reuse one"}' % self.limits.connections_per_address)
            transport.write(TOO_MANY_CONNECTIONS % (len(body), body))
            # closed on the next turn: the handler's own start-up, which follows this call, expects it open
            asyncio.get_running_loop().call_soon(transport.close)
            return
        self._counted[handler] = address

    def connection_lost(self, handler, exc=None) -> None:   # type: ignore[no-untyped-def]
        address = self._counted.pop(handler, None)
        if address is not None:
            self.limits.connection_closed(address)
        super().connection_lost(handler, exc)


class LimitedRunner(web.AppRunner):
    """An AppRunner whose server counts connections per address."""

    def __init__(self, app: web.Application, limits: Limits, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        limited = LimitedServer(server.request_handler, request_factory=server.request_factory,
                                handler_cancellation=server.handler_cancellation,
                                loop=server._loop, limits=self.limits, **server._kwargs)
        return limited
