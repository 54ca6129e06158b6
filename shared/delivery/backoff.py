"""Exponential backoff with jitter, one instance per centre.

After the n-th consecutive failure the wait is drawn from
[d/2, d) with d = min(cap, base * factor**(n-1)) ("equal jitter"): never
zero, so a dead centre is not hammered, and spread, so gateways that lost the
same centre at the same moment do not come back in lockstep.
"""

try:
    import random as _random
    _uniform = _random.random
except ImportError:  # pragma: no cover - every MicroPython port we test has random
    import os

    def _uniform():
        return int.from_bytes(os.urandom(4), 'big') / 4294967296.0


class Backoff:
    def __init__(self, base=1.0, cap=300.0, factor=2.0, rand=None):
        if not 0 < base <= cap or factor < 1:
            raise ValueError('backoff needs 0 < base <= cap and factor >= 1')
        self.base = base
        self.cap = cap
        self.factor = factor
        self.rand = rand if rand is not None else _uniform
        self.failures = 0

    def ceiling(self):
        """The upper bound of the next wait."""
        d = self.base
        for _ in range(self.failures - 1):
            d *= self.factor
            if d >= self.cap:
                return self.cap
        return min(d, self.cap)

    def failure(self, told=None):
        """Count a failure; returns seconds to wait before the next attempt: `told` when
        the centre said how long (Retry-After), else the jittered backoff."""
        self.failures += 1
        if told is not None:
            return told
        d = self.ceiling()
        return d / 2 + self.rand() * d / 2

    def success(self):
        self.failures = 0
