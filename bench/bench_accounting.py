"""A year of minute data for 500 points into daily, monthly and yearly emissions
(issue 6), against the time just to read those rows.

Data: 500 electricity registers (6 integer digits, 2 decimals, CT×PT 1 or 100), one
reading a minute for 365 days = 262.8 million rows in an SQLite file (point, time,
mantissa, flags), some registers rolling over, one reading in 10,000 missing.  The
file is built once and kept (--db).  Floor: iterating the same SELECT with nothing
done per row.  Engine: the same rows through processing.settle_daily_mantissas
(rollover/reset checks per consecutive pair, daily increments, max and min), then
daily emissions = increment × grid factor (exact), rolled up to months and the year.

Usage: python bench/bench_accounting.py [--points 500] [--days 365] [--db FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.accounting import processing  # noqa: E402
from shared.accounting.exact import Q  # noqa: E402
from shared.accounting.factors import FactorLibrary  # noqa: E402

T0_MS = 1735660800000            # 2025-01-01 00:00 Beijing


def build(path: str, points: int, days: int) -> None:
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.execute('PRAGMA journal_mode=OFF')
    db.execute('PRAGMA synchronous=OFF')
    db.execute('CREATE TABLE readings (point INTEGER, ts INTEGER, mantissa INTEGER, flags INTEGER, '
               'PRIMARY KEY (point, ts)) WITHOUT ROWID')
    minutes = days * 1440
    started = time.perf_counter()
    for p in range(points):
        start = 99_000_000 if p % 50 == 0 else p * 10_000       # every 50th register rolls over early
        rate = 7 + p % 13                                        # 0.07 .. 0.19 kWh a minute

        def rows(p=p, start=start, rate=rate):
            for i in range(minutes):
                if (i + p) % 10_000 == 0:
                    yield (p, T0_MS + i * 60000, None, 1)
                else:
                    yield (p, T0_MS + i * 60000, (start + i * rate) % 100_000_000, 0)
        db.executemany('INSERT INTO readings VALUES (?, ?, ?, ?)', rows())
        if p % 50 == 49:
            db.commit()
            print('  built %d/%d points (%.0f s)' % (p + 1, points, time.perf_counter() - started), flush=True)
    db.commit()
    db.close()


def floor(path: str) -> tuple[float, int]:
    db = sqlite3.connect(path)
    t = time.perf_counter()
    n = 0
    for _ in db.execute('SELECT point, ts, mantissa, flags FROM readings ORDER BY point, ts'):
        n += 1
    return time.perf_counter() - t, n


def engine(path: str, points: int) -> tuple[float, dict]:
    ef = FactorLibrary.default().select('grid', 'national', 2025, series='ets')
    factor = ef.value * Q(1, 1000)                                # tCO2/MWh -> tCO2/kWh
    db = sqlite3.connect(path)
    t = time.perf_counter()
    yearly = Q(0)
    monthly: dict[str, Q] = {}
    daily_rows = 0
    rejected = 0
    for p in range(points):
        cur = db.execute('SELECT ts, mantissa, flags FROM readings WHERE point = ? ORDER BY ts', (p,))
        days = processing.settle_daily_mantissas(cur, -2, digits=6, multiplier=Q(100 if p % 2 else 1))
        emissions = {}
        for day, s in days.items():
            e = processing.Settlement()
            e.increment = s.increment * factor
            emissions[day] = e
            rejected += s.rejected
        daily_rows += len(emissions)
        for month, s in processing.roll_up(emissions, 'month').items():
            monthly[month] = monthly.get(month, Q(0)) + s.increment
    for v in monthly.values():
        yearly = yearly + v
    return time.perf_counter() - t, {'yearly_tCO2': yearly.text(3), 'months': len(monthly),
                                     'daily_settlements': daily_rows, 'rejected_steps': rejected,
                                     'factor': ef.ref()['id']}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--points', type=int, default=500)
    ap.add_argument('--days', type=int, default=365)
    ap.add_argument('--db', default=os.path.join(os.environ.get('TMPDIR', '/tmp'), 'tanji-bench-accounting.db'))
    args = ap.parse_args()
    marker = args.db + '.shape'
    shape = '%d points x %d days' % (args.points, args.days)
    if not (os.path.exists(args.db) and os.path.exists(marker) and open(marker).read() == shape):
        print('building %s (%s of minute data) ...' % (args.db, shape), flush=True)
        build(args.db, args.points, args.days)
        Path(marker).write_text(shape)
    read_s, rows = floor(args.db)
    compute_s, figures = engine(args.db, args.points)
    ratio = compute_s / read_s
    print('%s = %d rows | read only: %.1f s (%.2f M rows/s) | daily/monthly/yearly emissions: %.1f s '
          '(%.2f M rows/s) | ratio %.2f | year %s tCO2, %d daily settlements, %d steps not booked' % (
              shape, rows, read_s, rows / read_s / 1e6, compute_s, rows / compute_s / 1e6, ratio,
              figures['yearly_tCO2'], figures['daily_settlements'], figures['rejected_steps']))
    out = REPO / 'bench' / 'results'
    out.mkdir(exist_ok=True)
    (out / 'accounting.json').write_text(json.dumps(
        {'shape': shape, 'rows': rows, 'read_s': read_s, 'compute_s': compute_s, 'ratio': ratio, **figures},
        indent=2))


if __name__ == '__main__':
    main()
