"""Two meters under one code, seen from the data (issue 13): a cumulative register
(parameter 01) only rises, except at a rollover or a meter reset, which the gateway
flags.  Two registers interleaved under one code fall at every other step.  A frame
whose readings of one register code fall, unflagged, at a third or more of at least
four steps is reported, whichever gateway sent it: gateways of other makes do not
refuse the mistake as Tanji's do (docs/drivers.md "One code, one monitoring point")."""

from __future__ import annotations

from typing import NamedTuple

from shared.codec import frame as framing
from shared.codec.flags import FLAG_MISSING, FLAG_INVALID, FLAG_RESET, FLAG_ROLLOVER

MIN_STEPS = 4
EXPLAINED = FLAG_ROLLOVER | FLAG_RESET


class Interleaved(NamedTuple):
    code: str
    drops: int
    steps: int
    low: float
    high: float


def _is_register(code: str) -> bool:
    return len(code) == 12 and code[7:9] == '01'


def interleaved(records: list[framing.Record]) -> list[Interleaved]:
    """The register codes of a frame whose values alternate between levels."""
    last: dict[str, float] = {}
    counts: dict[str, list] = {}
    for rec in records:
        if rec.value is None or rec.flags & (FLAG_MISSING | FLAG_INVALID) or not _is_register(rec.code):
            continue
        value = rec.value * 10.0 ** rec.exp
        prev = last.get(rec.code)
        last[rec.code] = value
        if prev is None:
            continue
        c = counts.get(rec.code)
        if c is None:
            c = counts[rec.code] = [0, 0, value, value]
        c[1] += 1
        if value < prev and not rec.flags & EXPLAINED:
            c[0] += 1
        c[2], c[3] = min(c[2], value, prev), max(c[3], value, prev)
    return [Interleaved(code, c[0], c[1], c[2], c[3]) for code, c in sorted(counts.items())
            if c[1] >= MIN_STEPS and c[0] >= 2 and 3 * c[0] >= c[1]]
