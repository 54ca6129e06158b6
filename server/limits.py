"""What one source may cost the centre (issue 14): token buckets per address and per
gateway answering 429 with Retry-After, and a cap on the connections one address may
hold open.  All checks are dictionary lookups, made before any other work.

Three budgets, each `[server]` settings (docs/server.md "Limits"):
    requests per address      every request counts
    refusals per address      each refused request (4xx) counts; when spent, the address is
                              refused everything until it refills — refusals are where an
                              attacker makes the centre work (signatures, decodes) for nothing
    forgeries per gateway     each upload naming the gateway whose signature fails counts;
                              when spent, uploads naming it are refused before their signature
                              is checked until it refills, so a flood of forgeries naming a
                              victim costs the centre no signature checks, and the victim
                              nothing but delay; its own uploads never count
A gateway that meets a 429 waits Retry-After and resends: delay, never loss."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Callable


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

    def __init__(self, requests_per_s: float, refusals_per_s: float, forgeries_per_gateway_s: float,
                 connections_per_address: int, exempt: list[str] | tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.exempt_networks = [ipaddress.ip_network(n, strict=False) for n in exempt]
        self._exempt: dict[str, bool] = {}
        self.requests = Buckets(requests_per_s, requests_per_s * 2, clock)
        self.refusals = Buckets(refusals_per_s, refusals_per_s * 5, clock)
        self.forgeries = Buckets(forgeries_per_gateway_s, forgeries_per_gateway_s * 4, clock)
        self.connections_per_address = connections_per_address
        self.open: dict[str, int] = {}
        self.counters = {'limited_requests': 0, 'limited_uploads': 0, 'limited_connections': 0, 'held_connections': 0}

    @classmethod
    def of(cls, config) -> 'Limits':       # type: ignore[no-untyped-def]
        return cls(config.requests_per_address_s, config.refusals_per_address_s, config.forgeries_per_gateway_s,
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

    def spent(self, address: str) -> float:
        """Seconds until the address may be heard again, 0.0 when it may now: its refusal
        budget is spent.  Checked when it connects, before a byte of its request is read."""
        if self.exempt(address):
            return 0.0
        wait = self.refusals.wait(address)
        if wait:
            self.counters['held_connections'] += 1
        return wait

    def refused(self, address: str) -> None:
        self.refusals.take(address)

    def admit_gateway(self, gateway: str) -> float:
        """0.0 to go on, else seconds to wait: uploads naming this gateway failed too often."""
        wait = self.forgeries.wait(gateway)
        if wait:
            self.counters['limited_uploads'] += 1
        return wait

    def forged(self, gateway: str) -> None:
        self.forgeries.take(gateway)

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
