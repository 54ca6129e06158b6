"""Consumption profiles with a known ground truth for simulated meters.

A profile is a rate r(t) (units per hour) with a closed-form integral, so the
exact quantity consumed between any two instants is known; a meter's register
shows start + integral, truncated to its resolution, wrapped at its modulus
(10^digits), and restarted at `replaced_at` (meter replacement: a new register
from `new_start`).  Instantaneous items (power, voltage, current) show r(t)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Profile:
    rate: float = 100.0                 # mean units per hour
    amplitude: float = 0.0              # daily swing, units per hour (rate ± amplitude)
    phase_h: float = 0.0                # hour of the day at which the swing peaks
    start: float = 0.0                  # register at t0
    t0: float = 0.0                     # s since 1970
    digits: int = 6                     # integer digits of the register (rollover at 10^digits)
    decimals: int = 2
    replaced_at: float | None = None    # meter replaced at this time ...
    new_start: float = 0.0              # ... by one whose register starts here

    def rate_at(self, t: float) -> float:
        return self.rate + self.amplitude * math.cos(2 * math.pi * ((t / 3600.0 - self.phase_h) / 24.0))

    def consumed(self, t1: float, t2: float) -> float:
        """Exact consumption between t1 and t2 (units)."""
        def integral(t):
            w = 2 * math.pi / 86400.0
            return self.rate * t / 3600.0 + self.amplitude / 3600.0 * math.sin(w * (t - self.phase_h * 3600)) / w
        return integral(t2) - integral(t1)

    def register(self, t: float) -> int:
        """The register's mantissa (at `decimals`) shown at time t."""
        if self.replaced_at is not None and t >= self.replaced_at:
            total = self.new_start + self.consumed(self.replaced_at, t)
        else:
            total = self.start + self.consumed(self.t0, t)
        scale = 10 ** self.decimals
        return int(math.floor(total * scale + 1e-9)) % (10 ** self.digits * scale)

    def instantaneous(self, t: float, decimals: int) -> int:
        return int(round(self.rate_at(t) * 10 ** decimals))


def from_dict(doc: dict, t0: float) -> Profile:
    known = set(Profile.__dataclass_fields__)
    extra = set(doc) - known
    if extra:
        raise ValueError('profile: unknown setting(s) %s' % ', '.join(sorted(extra)))
    p = Profile(**{**doc, 't0': doc.get('t0', t0)})
    if p.replaced_at is not None and p.replaced_at < 1e9:
        p.replaced_at = p.t0 + p.replaced_at          # given as seconds after start
    return p
