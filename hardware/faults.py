"""Faults a simulated meter injects: at random rates and on demand.

Kinds: no_answer (silence), late (the answer after `late_s`, past the master's
timeout), checksum (one checksum/CRC byte wrong), garbled (a data byte changed,
checksum recomputed by nobody: the frame fails its check or decodes to
nonsense), bcd (an invalid BCD digit with a correct checksum: the frame passes
its check but cannot be a value)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ('no_answer', 'late', 'checksum', 'garbled', 'bcd')


@dataclass
class Faults:
    rates: dict = field(default_factory=dict)      # kind -> probability per request
    late_s: float = 2.0
    seed: int | None = None
    queued: list = field(default_factory=list)     # one-shot faults, first come first served
    counts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in KINDS or not 0 <= rate <= 1:
                raise ValueError('fault %r: kinds are %s, rates 0..1' % (kind, ', '.join(KINDS)))
        self._rng = random.Random(self.seed)

    def inject(self, kind: str, times: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError('fault %r: kinds are %s' % (kind, ', '.join(KINDS)))
        self.queued += [kind] * times

    def pick(self) -> str | None:
        kind = None
        if self.queued:
            kind = self.queued.pop(0)
        else:
            x = self._rng.random()
            for k in KINDS:
                r = self.rates.get(k, 0.0)
                if x < r:
                    kind = k
                    break
                x -= r
        if kind:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        return kind

    def corrupt(self, frame: bytes, kind: str, checksum_at: int) -> bytes:
        """The reply bytes with the fault applied (checksum_at: index of the checksum byte, negative)."""
        b = bytearray(frame)
        if kind == 'checksum':
            b[checksum_at] ^= 0x5A
        elif kind == 'garbled':
            i = self._rng.randrange(0, len(b) + checksum_at)
            b[i] ^= 1 << self._rng.randrange(8)
        return bytes(b)


def from_dict(doc: dict | None) -> Faults:
    doc = dict(doc or {})
    late_s = doc.pop('late_s', 2.0)
    seed = doc.pop('seed', None)
    return Faults(rates=doc, late_s=late_s, seed=seed)
