"""A valid gateway's upload latency with and without an attacker (issue 14).

`tanji server run` (SQLite) in its own process; a valid gateway posts small signed
frames (10 records) one after another and the latency of each is recorded; meanwhile,
in the second part, one attacker connection posts the worst unauthenticated frames as
fast as it can: 100,000 records (about 730 KB) naming a gateway that does not exist,
with a hash-tree root that does not match, or naming the valid gateway with a forged
signature.  Each attack runs twice: from the gateway's own address, which the server
exempts from its per-address limits (the cost of refusing alone), and from another
loopback address under the default limits (what a deployed centre does).  Reported:
p50/p99 without and with each attacker, and how many frames the attacker got refused.  Usage: python bench/bench_ingest_attack.py [--quick] [--repo DIR]
(--repo: measure another checkout's server with this client, e.g. the code before a fix).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3
# the valid gateway is measured once the attacker has run this long: an address's refusal burst (50)
# is spent within its first second, and what one connection costs for as long as it goes on is the steady state
WARM_UP_S = 3.0
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


def _attack_forever(port: int, attack: bytes, source: str, refused) -> None:
    """The attacker, in its own process as a real one would be: posts `attack` in a loop."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:          # on its own core, as if on its own machine: what it costs itself is not measured
        os.sched_setaffinity(0, {cpus[-1]})
    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection('127.0.0.1', port, timeout=60, source_address=(source, 0))
    conn = connect()
    while True:
        try:
            _post(conn, attack)
            with refused.get_lock():
                refused.value += 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = connect()


def _measure(port: int, frames: list[bytes], attack: bytes | None, source: str) -> tuple[list[float], int]:
    refused = multiprocessing.Value('l', 0)
    attacker = None
    if attack is not None:
        attacker = multiprocessing.Process(target=_attack_forever, args=(port, attack, source, refused), daemon=True)
        attacker.start()
        time.sleep(WARM_UP_S)
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    latencies = []
    for raw in frames:
        t = time.perf_counter()
        status = _post(conn, raw)
        latencies.append(time.perf_counter() - t)
        assert status == 200, status
    conn.close()
    if attacker is not None:
        attacker.terminate()
        attacker.join()
    return latencies, refused.value


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
        limits = 'limits_exempt' in (repo / 'server' / 'config.py').read_text()
        config = []
        if limits:                  # the gateway's address exempt, every other one under the default limits
            (Path(tmp) / 'server.toml').write_text('[server]\nlimits_exempt = ["127.0.0.1/32"]\n')
            config = ['--config', str(Path(tmp) / 'server.toml')]
        proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'server', 'run', '--db', db, '--port',
                                 str(port), *config], cwd=repo, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen('http://127.0.0.1:%d/api/v1/health' % port, timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            seq = 0
            runs = [('no attacker', None, '127.0.0.1')]
            for name, attack in _attacks(gw).items():
                runs.append((name + ', exempt', attack, '127.0.0.1'))
                if limits:
                    runs.append((name + ', limited', attack, '127.0.0.2'))
            print('server: %s; valid gateway: %d frames of 10 records, one after another; %d rounds, medians'
                  % (repo, n, ROUNDS))
            measured: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in runs}
            for _ in range(ROUNDS):      # rounds interleave the runs: this machine's speed drifts over minutes
                for name, attack, source in runs:
                    frames = [frame.encode('gw-a', gw.records(seq + 10 * i, 10), UNITS, gw.key.sign)
                              for i in range(n)]
                    seq += 10 * n
                    latencies, refused = _measure(port, frames, attack, source)
                    measured[name].append((_pct(latencies, 0.5), _pct(latencies, 0.99), refused / sum(latencies)))
            base = statistics.median(p99 for _, p99, _ in measured['no attacker'])
            for name, attack, _ in runs:
                p50 = statistics.median(m[0] for m in measured[name])
                p99 = statistics.median(m[1] for m in measured[name])
                rate = statistics.median(m[2] for m in measured[name])
                print('  %-52s p50 %7.2f ms  p99 %7.2f ms  (p99 %.2fx the quiet one)%s' % (
                    name, p50, p99, p99 / base, '; attacker refused %.0f frames/s' % rate if attack is not None else ''))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
