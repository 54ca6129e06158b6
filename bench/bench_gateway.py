"""Gateway storage figures (issue: gateway storage and delivery).

1. Append rate with group commit: realistic readings (12-digit code, ms time,
   register mantissa) appended to the ring log, committed (write + fsync) every
   COMMIT_EVERY readings; against the floor, the same record bytes written
   straight to one file with the same number of fsyncs.
2. Recovery time of a full 1 GiB ring (64 segments of 16 MiB): opening the log
   reads one header per slot and scans the head segment, which is full of
   realistic readings; page cache dropped first where the machine allows.
3. Peak resident memory of `tanji gateway run` with 500 synthetic points read
   once per second, delivering to a live `tanji server run`, for RUN_S seconds;
   then the same with its local page on and a signed-in person loading the
   dashboard twice a second: peak RSS and the dashboard's load time (p50/p99).
4. The commit interval's cost (docs/gateway.md "Faults"): the same readings
   committed after every reading (an fsync per reading: nothing ever at risk)
   and in groups of 10, 100 and 1,000, i.e. commit_interval_ms of 10, 100 and
   1,000 at 1,000 readings/s; readings per second each way, and how much of the
   time a steady 1,000 readings/s keeps the writer busy (appending, writing,
   waiting for fsync); against the floor of the same writes and fsyncs on a bare
   file.

Usage: python bench/bench_gateway.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'tests'))
sys.path.insert(0, str(REPO / 'tests' / 'portable'))

from firmware.sources.synthetic import SyntheticMeters  # noqa: E402
from firmware.lib import segment  # noqa: E402
from firmware.lib.ring import RingLog  # noqa: E402

COMMIT_EVERY = 10_000


def _payloads(n: int) -> list[bytes]:
    meters = SyntheticMeters(points=500, t0_ms=1_795_000_000_000, step_ms=120)
    return [meters.reading(k).pack() for k in range(n)]


def _ring_and_floor(workdir: Path, name: str, payloads: list[bytes], group: int) -> tuple[float, float]:
    """Seconds to log payloads committing every `group`, and to write the same record
    bytes with the same fsyncs to a bare file."""
    ring_dir = workdir / name
    ring_dir.mkdir()
    log = RingLog(str(ring_dir), segment_size=16 << 20, segment_count=64)
    t = time.perf_counter()
    for i, p in enumerate(payloads):
        log.append(p)
        if i % group == group - 1:
            log.commit()
    log.commit()
    ring_s = time.perf_counter() - t
    log.close()
    records = [segment.pack_record(i, p) for i, p in enumerate(payloads)]
    t = time.perf_counter()
    with open(workdir / (name + '.floor'), 'wb') as f:
        for i in range(0, len(records), group):
            f.write(b''.join(records[i:i + group]))
            f.flush()
            os.fsync(f.fileno())
    return ring_s, time.perf_counter() - t


def append_rate(workdir: Path, n: int) -> dict:
    payloads = _payloads(n)
    ring_s, floor_s = _ring_and_floor(workdir, 'append', payloads, COMMIT_EVERY)
    return {'readings': n, 'payload_bytes_avg': sum(map(len, payloads)) / n,
            'ring_records_per_s': n / ring_s, 'floor_records_per_s': n / floor_s,
            'ratio_to_floor': (n / ring_s) / (n / floor_s)}


def commit_tradeoff(workdir: Path, n: int) -> list[dict]:
    payloads = _payloads(n)
    out = []
    for group in (1, 10, 100, 1000):
        ring_s, floor_s = _ring_and_floor(workdir, 'commit-%d' % group, payloads, group)
        out.append({'readings_per_commit': group, 'commit_interval_ms_at_1000_per_s': group,
                    'readings_per_s': n / ring_s, 'floor_readings_per_s': n / floor_s,
                    'busy_share_at_1000_per_s': 1000 * ring_s / n})
    return out


def drop_caches() -> bool:
    try:
        os.sync()
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def recovery(workdir: Path, quick: bool) -> dict:
    ring_dir = workdir / 'full'
    ring_dir.mkdir()
    seg_size, count = 16 << 20, 64
    big = b'\x00' * (64 * 1024)
    per_seg = (seg_size - segment.HEADER_SIZE) // (len(big) + segment.RECORD_OVERHEAD)
    seq = 0
    for slot in range(count - 1):               # sealed segments: only their headers are read on recovery
        segment.write_file(str(ring_dir / ('seg-%03d.tjl' % slot)), slot + 1, seq, segment.OPEN,
                           [(seq + i, big) for i in range(per_seg)])
        seq += per_seg
    meters = SyntheticMeters(points=500, t0_ms=1_795_000_000_000, step_ms=120)
    head, size = [], segment.HEADER_SIZE
    while True:                                  # the head segment: full of realistic readings
        p = meters.reading(seq + len(head)).pack()
        if size + segment.RECORD_OVERHEAD + len(p) > seg_size:
            break
        head.append((seq + len(head), p))
        size += segment.RECORD_OVERHEAD + len(p)
    segment.write_file(str(ring_dir / ('seg-%03d.tjl' % (count - 1))), count, seq, segment.OPEN, head)
    total = sum(f.stat().st_size for f in ring_dir.iterdir())
    cold = drop_caches()
    t = time.perf_counter()
    log = RingLog(str(ring_dir), segment_size=seg_size, segment_count=count)
    elapsed = time.perf_counter() - t
    assert log.durable_seq == seq + len(head) - 1
    log.close()
    return {'ring_bytes': total, 'head_segment_readings': len(head), 'recovery_s': elapsed, 'cold_cache': cold}


ACCOUNTED_SOURCES = 50


def peak_memory(workdir: Path, run_s: float, page: bool = False) -> dict:
    import threading

    from page_helpers import Browserless
    from server_harness import new_gateways
    from server_process import ServerProcess, free_port, tanji
    workdir = workdir / ('with-page' if page else 'no-page')
    workdir.mkdir()
    key = new_gateways(['GW-MEM'])['GW-MEM'].key
    (workdir / 'gw.key').write_text(key.to_pem())
    (workdir / 'gw.pub').write_text(key.public_key.to_pem())
    srv = ServerProcess(workdir)
    try:
        tanji('server', 'gateways', 'add', 'GW-MEM', '--key', '@%s' % (workdir / 'gw.pub'),
              '--enterprise', 'e', '--site', 's', '--db', srv.db)
        cfg = workdir / 'gw.toml'
        cfg.write_text('[gateway]\nid = "GW-MEM"\nkey = "%s"\ndata_dir = "%s"\n\n'
                       '[[centre]]\nname = "platform"\nurl = "%s/api/v1/frames"\nevery_s = 10\n\n'
                       '[source]\nkind = "synthetic"\npoints = 500\nrate_per_s = 500\nstep_ms = 2\n'
                       % (workdir / 'gw.key', workdir / 'gwdata', srv.url))
        loads: list[float] = []
        floor: list[float] = []
        stop = threading.Event()
        if page:
            port = free_port()
            # live accounting as an enterprise has it: 50 emission sources bound to the gateway's codes
            from shared.codec import codes
            tables = codes.tables()
            scenario = {'name': 'bench', 'reporting_year': 2026, 'sources': [
                {'id': 'feeder-%d' % p, 'method': 'purchased_electricity',
                 'meter': {'gateway': 'GW-MEM', 'code': tables.encode('08', '04', '201', '01', p)}}
                for p in range(1, ACCOUNTED_SOURCES + 1)]}
            (workdir / 'scenario.json').write_text(json.dumps(scenario))
            cfg.write_text(cfg.read_text() + '\n[web]\nlisten = "127.0.0.1:%d"\n\n[accounting]\nscenario = "%s"\n'
                           % (port, workdir / 'scenario.json'))
            subprocess.run([sys.executable, '-m', 'shared.cli', 'gateway', 'passwd', '--config', str(cfg), '--name',
                            'admin', '--password-stdin'], input='bench password 1\n', text=True, cwd=REPO, check=True,
                           capture_output=True)
        proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'gateway', 'run', '--config', str(cfg)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def person() -> None:
            time.sleep(5)
            client = Browserless(port)
            client.request('POST', '/signin', {'name': 'admin', 'password': 'bench password 1'})
            while not stop.wait(0.5):
                t = time.perf_counter()
                status, _, _ = client.request('GET', '/')
                if status == 200:
                    loads.append(time.perf_counter() - t)
                t = time.perf_counter()                     # the floor: the same server sending a file
                status, _, _ = client.request('GET', '/static/tanji.css')
                if status == 200:
                    floor.append(time.perf_counter() - t)
        watcher = threading.Thread(target=person) if page else None
        if watcher is not None:
            watcher.start()
        time.sleep(run_s)
        stop.set()
        if watcher is not None:
            watcher.join()
        status = Path('/proc/%d/status' % proc.pid).read_text()
        proc.terminate()
        proc.wait()
        fields = dict(line.split(':', 1) for line in status.splitlines() if ':' in line)
        hwm_kb = int(fields['VmHWM'].split()[0])
        rss_kb = int(fields['VmRSS'].split()[0])
        row = json.loads(tanji('server', 'gateways', 'list', '--json', '--db', srv.db).stdout)[0]
        loads.sort()
        floor.sort()
        return {'static_p50_ms': floor[len(floor) // 2] * 1000 if floor else None,'run_s': run_s, 'peak_rss_mb': hwm_kb / 1024, 'rss_mb_at_end': rss_kb / 1024,
                'readings_delivered': row['records'], 'page': page, 'dashboard_loads': len(loads),
                'dashboard_p50_ms': loads[len(loads) // 2] * 1000 if loads else None,
                'dashboard_p99_ms': loads[min(len(loads) - 1, int(len(loads) * 0.99))] * 1000 if loads else None}
    finally:
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true')
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix='tanji-bench-gw-'))
    try:
        a = append_rate(workdir, 200_000 if args.quick else 1_000_000)
        print('append with group commit: %.0f readings/s (%.1f B payload) | floor (same bytes, same fsyncs) '
              '%.0f/s  ratio %.2f' % (a['ring_records_per_s'], a['payload_bytes_avg'], a['floor_records_per_s'],
                                      a['ratio_to_floor']))
        r = recovery(workdir, args.quick)
        print('recovery of a full %.2f GiB ring (head segment of %d readings, %s cache): %.3f s' % (
            r['ring_bytes'] / 2 ** 30, r['head_segment_readings'], 'cold' if r['cold_cache'] else 'warm',
            r['recovery_s']))
        m = peak_memory(workdir, 20 if args.quick else 120)
        print('gateway process, 500 points at 1/s for %.0f s: peak RSS %.1f MB (%.1f MB at the end), '
              '%d readings delivered' % (m['run_s'], m['peak_rss_mb'], m['rss_mb_at_end'], m['readings_delivered']))
        m = peak_memory(workdir, 20 if args.quick else 120, page=True)
        print('  the same with the local page and live accounting of %d sources on, the dashboard loaded twice a '
              'second: peak RSS %.1f MB (%.1f MB at '
              'the end), %d readings delivered; dashboard load p50 %.1f ms, p99 %.1f ms over %d loads' % (
                  ACCOUNTED_SOURCES, m['peak_rss_mb'], m['rss_mb_at_end'], m['readings_delivered'],
                  m['dashboard_p50_ms'] or 0,
                  m['dashboard_p99_ms'] or 0, m['dashboard_loads']))
        if m['static_p50_ms']:
            print('  floor: the style sheet from the same server p50 %.1f ms; the dashboard takes %.1f times that'
                  % (m['static_p50_ms'], m['dashboard_p50_ms'] / m['static_p50_ms']))
        c = commit_tradeoff(workdir, 5_000 if args.quick else 20_000)
        for row in c:
            print('commit every %4d readings (commit_interval_ms %4d at 1,000/s): %7.0f readings/s | floor %7.0f/s'
                  ' | 1,000 readings/s keep it busy %5.1f %% of the time' % (
                      row['readings_per_commit'], row['commit_interval_ms_at_1000_per_s'], row['readings_per_s'],
                      row['floor_readings_per_s'], 100 * row['busy_share_at_1000_per_s']))
        out = REPO / 'bench' / 'results'
        out.mkdir(exist_ok=True)
        (out / 'gateway.json').write_text(json.dumps({'append': a, 'recovery': r, 'memory': m, 'commit': c},
                                                     indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
