"""Ingest server throughput over loopback HTTP (issue: ingest server).

The server runs as `tanji server run` in its own process pinned to one core
(SQLite, WAL, synchronous=FULL: every ack is on disk); this process is the
client, pinned to the other core, keeping CONCURRENCY requests in flight from
pre-signed frames.  Reported per scenario: frames/s, records/s, p50/p99 latency,
and the floor, the same rows inserted straight into an SQLite table of the same
schema with executemany (same pragmas, one transaction per frame's rows), as a
ratio.  Usage: python bench/bench_server.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'tests'))
sys.path.insert(0, str(REPO / 'tests' / 'portable'))

import aiohttp  # noqa: E402

from server.store import schema  # noqa: E402
from server_harness import new_gateways  # noqa: E402

CONCURRENCY = int(os.environ.get("TANJI_BENCH_CONCURRENCY", "64"))


def pin(cpu: int) -> None:
    if hasattr(os, 'sched_setaffinity') and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_server(workdir: Path, gateways) -> tuple[subprocess.Popen, str]:
    db = str(workdir / 'bench.db')
    for gw in gateways.values():
        (workdir / 'k.pub').write_text(gw.key.public_key.to_pem())
        subprocess.run([sys.executable, '-m', 'shared.cli', 'server', 'gateways', 'add', gw.id, '--key',
                        '@%s' % (workdir / 'k.pub'), '--enterprise', 'bench', '--site', 'bench', '--db', db],
                       check=True, capture_output=True, cwd=REPO)
    port = free_port()
    cmd = [sys.executable, '-m', 'shared.cli', 'server', 'run', '--db', db, '--port', str(port)]
    if os.environ.get('TANJI_BENCH_VERIFY_THREADS'):
        cmd += ['--verify-threads', os.environ['TANJI_BENCH_VERIFY_THREADS']]
    if os.environ.get('TANJI_BENCH_PROFILE'):  # where the server's time goes: python -m pstats FILE
        cmd[1:1] = ['-m', 'cProfile', '-o', os.environ['TANJI_BENCH_PROFILE']]
    if shutil.which('taskset') and (os.cpu_count() or 1) > 1 and not os.environ.get('TANJI_BENCH_NOPIN'):
        cmd = ['taskset', '-c', '0'] + cmd
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(workdir / 'server.log', 'w'))
    url = 'http://127.0.0.1:%d' % port
    for _ in range(300):
        try:
            urllib.request.urlopen(url + '/api/v1/health', timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit('server did not start: %s' % (workdir / 'server.log').read_text())


async def drive(url: str, frames: list[bytes]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = list(reversed(frames))
    conn = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker():
            while queue:
                raw = queue.pop()
                t = time.perf_counter()
                async with session.post(url + '/api/v1/frames', data=raw,
                                        headers={'Content-Type': 'application/x-msgpack'}) as r:
                    body = await r.read()
                    if r.status != 200:
                        raise SystemExit('server answered %d %s' % (r.status, body[:200]))
                latencies.append(time.perf_counter() - t)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - t0, latencies


def floor_rows_per_s(workdir: Path, frames_rows: list[list[tuple]]) -> float:
    path = workdir / 'floor.db'
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute('PRAGMA journal_mode=WAL')
    conn.execute('PRAGMA synchronous=FULL')
    for stmt in schema.statements('sqlite', 1):
        if 'TABLE records' in stmt or 'ON records' in stmt:
            conn.execute(stmt)
    sql = ('INSERT INTO records (gw, seq, code, ts_ms, mantissa, fvalue, exp, flags, unit, frame, idx) '
           'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    n = sum(len(r) for r in frames_rows)
    t0 = time.perf_counter()
    for rows in frames_rows:
        conn.execute('BEGIN')
        conn.executemany(sql, rows)
        conn.execute('COMMIT')
    elapsed = time.perf_counter() - t0
    conn.close()
    return n / elapsed


def rows_of(gw_no: int, gw, first: int, n: int, frame_no: int) -> list[tuple]:
    out = []
    for i, r in enumerate(gw.records(first, n)):
        m, f = (r.value, None) if isinstance(r.value, int) else (None, r.value)
        out.append((gw_no, r.seq, r.code, r.ts_ms, m, f, r.exp, r.flags, 'kWh', frame_no, i))
    return out


def scenario(name: str, per_frame: int, n_frames: int, n_gateways: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix='tanji-bench-'))
    try:
        gateways = new_gateways(['bench-%02d' % i for i in range(n_gateways)])
        frames, rows = [], []
        per_gw = n_frames // n_gateways
        for g_no, gw in enumerate(gateways.values()):
            for k in range(per_gw):
                frames.append(gw.frame(k * per_frame, per_frame))
                rows.append(rows_of(g_no, gw, k * per_frame, per_frame, len(rows)))
        frames = [f for pair in zip(*[frames[i * per_gw:(i + 1) * per_gw] for i in range(n_gateways)]) for f in pair]
        proc, url = start_server(workdir, gateways)
        try:
            warm = frames[:CONCURRENCY]
            asyncio.run(drive(url, warm))
            elapsed, lat = asyncio.run(drive(url, frames[CONCURRENCY:]))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait()
        sent = len(frames) - CONCURRENCY
        lat.sort()
        floor = floor_rows_per_s(workdir, rows)
        result = {
            'scenario': name, 'records_per_frame': per_frame, 'frames': sent,
            'frames_per_s': sent / elapsed, 'records_per_s': sent * per_frame / elapsed,
            'p50_ms': statistics.median(lat) * 1000, 'p99_ms': lat[int(len(lat) * 0.99) - 1] * 1000,
            'floor_sqlite_executemany_records_per_s': floor,
        }
        result['ratio_to_floor'] = result['records_per_s'] / floor
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true', help='smaller runs')
    args = ap.parse_args()
    pin(1)
    scale = 0.2 if args.quick else 1.0
    results = [scenario('500-record frames', 500, int(600 * scale), 8),
               scenario('10-record frames', 10, int(12000 * scale), 8)]
    for r in results:
        print('%-18s %7.0f frames/s %9.0f records/s  p50 %6.1f ms  p99 %6.1f ms  | floor %9.0f rec/s  ratio %.2f' % (
            r['scenario'], r['frames_per_s'], r['records_per_s'], r['p50_ms'], r['p99_ms'],
            r['floor_sqlite_executemany_records_per_s'], r['ratio_to_floor']))
    out = REPO / 'bench' / 'results'
    out.mkdir(exist_ok=True)
    (out / 'server.json').write_text(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
