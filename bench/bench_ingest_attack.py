"""A valid gateway's upload latency with and without an attacker (issue 14).

`tanji server run` (SQLite) in its own process; a valid gateway posts small signed
frames (10 records) one after another and the latency of each is recorded; meanwhile,
in the second part, one attacker connection posts the worst unauthenticated frames as
fast as it can: 100,000 records (about 730 KB) naming a gateway that does not exist,
with a hash-tree root that does not match, or naming the valid gateway with a forged
signature.  Reported: p50/p99 without and with each attacker, and how many frames the
attacker got refused.  Usage: python bench/bench_ingest_attack.py [--quick] [--repo DIR]
(--repo: measure another checkout's server with this client, e.g. the code before a fix).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'tests'))
sys.path.insert(0, str(REPO / 'tests' / 'portable'))

import msgpack  # noqa: E402

from portable_helpers import UNITS  # noqa: E402
from server_harness import new_gateways  # noqa: E402
from shared.codec import frame, sm2  # noqa: E402


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _tanji(repo: Path, *args: str) -> str:
    return subprocess.run([sys.executable, '-m', 'shared.cli', *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def _post(conn: http.client.HTTPConnection, raw: bytes) -> int:
    conn.request('POST', '/api/v1/frames', raw, {'Content-Type': 'application/x-msgpack'})
    r = conn.getresponse()
    r.read()
    return r.status


def _attacks(gw) -> dict[str, bytes]:
    big = frame.encode('gw-nobody', gw.records(0, 100_000), UNITS, gw.key.sign)
    env = msgpack.unpackb(big)
    body = msgpack.unpackb(env[1])
    unknown = msgpack.packb([1, msgpack.packb(dict(body, root=b'\x00' * 32), use_bin_type=True), env[2]],
                            use_bin_type=True)
    forged_body = msgpack.packb(dict(body, gw='gw-a'), use_bin_type=True)
    forged = msgpack.packb([1, forged_body, sm2.PrivateKey.generate().sign(forged_body)], use_bin_type=True)
    return {'100k records, unknown gateway, bad root': unknown, '100k records, forged signature': forged}


def _measure(port: int, frames: list[bytes], attack: bytes | None) -> tuple[list[float], int]:
    stop = threading.Event()
    refused = [0]

    def attacker() -> None:
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        while not stop.is_set():
            try:
                _post(conn, attack)
                refused[0] += 1
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        conn.close()

    thread = threading.Thread(target=attacker) if attack is not None else None
    if thread is not None:
        thread.start()
        time.sleep(0.5)
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    latencies = []
    for raw in frames:
        t = time.perf_counter()
        status = _post(conn, raw)
        latencies.append(time.perf_counter() - t)
        assert status == 200, status
    conn.close()
    stop.set()
    if thread is not None:
        thread.join()
    return latencies, refused[0]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--repo', default=str(REPO), help='the checkout whose server is measured')
    args = parser.parse_args()
    repo = Path(args.repo)
    n = 100 if args.quick else 400
    gw = new_gateways(['gw-a'])['gw-a']
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / 'gw.pub').write_text(gw.key.public_key.to_pem())
        db = str(Path(tmp) / 'tanji.db')
        _tanji(repo, 'server', 'gateways', 'add', 'gw-a', '--key', '@%s' % (Path(tmp) / 'gw.pub'),
               '--enterprise', 'e', '--site', 's', '--db', db)
        port = _free_port()
        log = open(Path(tmp) / 'server.log', 'w')
        proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'server', 'run', '--db', db, '--port',
                                 str(port)], cwd=repo, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen('http://127.0.0.1:%d/api/v1/health' % port, timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            seq = 0
            runs = [('no attacker', None)] + list(_attacks(gw).items())
            base = None
            print('server: %s; valid gateway: %d frames of 10 records, one after another' % (repo, n))
            for name, attack in runs:
                frames = [frame.encode('gw-a', gw.records(seq + 10 * i, 10), UNITS, gw.key.sign) for i in range(n)]
                seq += 10 * n
                latencies, refused = _measure(port, frames, attack)
                p50, p99 = _pct(latencies, 0.5), _pct(latencies, 0.99)
                base = base or (p50, p99)
                print('  %-42s p50 %7.2f ms  p99 %7.2f ms  (p99 %.2fx the quiet one)%s' % (
                    name, p50, p99, p99 / base[1],
                    '; attacker refused %d frames (%.0f/s)' % (refused, refused / sum(latencies))
                    if attack is not None else ''))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
