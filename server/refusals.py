"""The server's log of refused requests: the first refusal of each kind from each
gateway (or address) is one line with the detail a person needs; repeats are counted
and summarised once per interval, so a flood of bad requests cannot flood the log or
slow the server with writes."""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger('tanji.server.refused')

INTERVAL_S = 60.0
MAX_KINDS = 1000          # distinct (code, who) remembered per interval; the rest are summed as 'others'


class RefusalLog:
    def __init__(self, interval_s: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._seen: set[tuple[str, str]] = set()
        self._repeats: dict[tuple[str, str], int] = {}
        self._since = clock()

    def note(self, status: int, code: str, who: str, detail: str) -> None:
        now = self.clock()
        if now - self._since >= self.interval_s:
            self.flush(now)
        key = (code, who)
        if key in self._seen:
            self._repeats[key] = self._repeats.get(key, 0) + 1
        elif len(self._seen) < MAX_KINDS:
            self._seen.add(key)
            log.warning('refused %d %s from %s: %s', status, code, who, detail)
        else:
            others = (code, 'others')
            self._repeats[others] = self._repeats.get(others, 0) + 1

    def flush(self, now: float | None = None) -> None:
        """Log the repeats counted since the last flush (one line) and start a new interval."""
        now = self.clock() if now is None else now
        if self._repeats:
            top = sorted(self._repeats.items(), key=lambda kv: -kv[1])
            shown = ', '.join('%s from %s: %d' % (code, who, n) for (code, who), n in top[:10])
            more = ' and %d more kinds' % (len(top) - 10) if len(top) > 10 else ''
            log.warning('refused again in the last %.0f s: %s%s', now - self._since, shown, more)
        self._seen.clear()
        self._repeats.clear()
        self._since = now
