"""The last hours of every code, in memory, for the local page's charts: one value per
code per minute (the latest of that minute), at most HOURS back.  A few megabytes at 500
points: 16 bytes a minute a code.  Nothing here is the record of truth; the log is."""

from __future__ import annotations

from array import array

HOURS = 6
MINUTES = HOURS * 60
MINUTE_MS = 60_000


class History:
    def __init__(self, minutes: int = MINUTES) -> None:
        self.minutes = minutes
        self._series: dict[int, tuple[array, array]] = {}     # code -> (minute numbers, values; NaN: missing)
        self.units: dict[int, str] = {}

    def add(self, code: int, ts_ms: int, value: int | float | None, exp: int, unit: str) -> None:
        minute = ts_ms // MINUTE_MS
        if value is None:
            number = float('nan')
        elif isinstance(value, int):             # dividing keeps 107e-1 at 10.7, not 10.700000000000001
            number = value / 10.0 ** -exp if exp < 0 else value * 10.0 ** exp
        else:
            number = value
        minutes, values = self._series.setdefault(code, (array('q'), array('d')))
        self.units[code] = unit
        if minutes and minutes[-1] == minute:
            values[-1] = number
            return
        if minutes and minute < minutes[-1]:
            return                        # a late or back-dated reading (a manual entry): the chart is of the present
        minutes.append(minute)
        values.append(number)
        drop = 0
        while drop < len(minutes) and minutes[drop] <= minute - self.minutes:
            drop += 1
        if drop:
            del minutes[:drop]
            del values[:drop]

    def codes(self) -> list[int]:
        return sorted(self._series)

    def series(self, code: int) -> list[tuple[int, float]]:
        """(time ms, value) oldest first; NaN where the reading was missing."""
        minutes, values = self._series.get(code, ((), ()))
        return [(m * MINUTE_MS, v) for m, v in zip(minutes, values)]
