"""Real power cuts (issue 12): SIGKILL leaves the page cache intact, so it never tests what
fsync and SQLite's synchronous=FULL promise.  Here the gateway's log and state, and the
server's SQLite database with its WAL, live on a filesystem that loses everything not
synced (tests/lazyfs.py); each cut kills the process and drops the unsynced writes.
Every reading the gateway reported durable and every record the server acknowledged
must survive; with the ring's fsync removed, the same check must fail."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from firmware.sources.synthetic import SyntheticMeters
from gateway_process import GatewayProcess, Platform, gateway_config
from server_harness import new_gateways
from server_process import REPO, ServerProcess, free_port, tanji

GATEWAY_CUTS = int(os.environ.get('TANJI_LAZYFS_GATEWAY_CUTS', '200'))
SERVER_CUTS = int(os.environ.get('TANJI_LAZYFS_SERVER_CUTS', '50'))


class LazyMount:
    """tests/lazyfs.py mounted at path, for one test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        if not os.path.exists('/dev/fuse'):
            pytest.skip('no /dev/fuse on this machine: the lazy filesystem needs FUSE')
        self.log = open(str(path) + '.log', 'w')
        self.proc = subprocess.Popen([sys.executable, str(REPO / 'tests' / 'lazyfs.py'), str(path)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not os.path.ismount(path):
            if self.proc.poll() is not None:
                pytest.skip('cannot mount the lazy filesystem here: %s' % Path(str(path) + '.log').read_text())
            if time.monotonic() > deadline:
                raise AssertionError('lazy filesystem did not mount')
            time.sleep(0.05)

    def mkdir(self, name: str) -> Path:
        """A durable directory on the mount."""
        d = self.path / name
        d.mkdir()
        self.sync_dir(self.path)
        self.sync_dir(d)
        return d

    @staticmethod
    def sync_dir(d: Path) -> None:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def cut(self) -> None:
        """The power goes: what was not synced is gone."""
        with open(self.path / '.lazyfs', 'w') as f:
            f.write('cut')

    def unmount(self) -> None:
        subprocess.run(['umount', '-l', str(self.path)], check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def lazy(tmp_path):
    mount = LazyMount(tmp_path / 'lazy')
    yield mount
    mount.unmount()


def _no_ring_fsync(tmp_path: Path) -> dict:
    """An environment whose gateway never fsyncs its log (the check must then fail)."""
    site = tmp_path / 'no-ring-fsync'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(
        'import firmware.lib.segment as segment\nsegment.fsync = lambda f: f.flush()\n')
    return dict(os.environ, PYTHONPATH='%s:%s' % (site, REPO))


def _gateway_cuts(tmp_path: Path, lazy: LazyMount, cuts: int, env: dict | None = None) -> list[str]:
    """Cut the power under a writing gateway `cuts` times: for the first three quarters its
    centre is unreachable, so its 3 MB ring (filled first) thins (the merged segment is renamed
    over its slot), then it delivers while writing; then it delivers the rest.  Returns
    what went wrong (nothing, when fsync keeps its promise)."""
    platform = Platform(tmp_path, 'GW-FAULT')
    problems: list[str] = []
    gw = None
    try:
        t0_ms = int(time.time() * 1000) - 3_600_000
        data = lazy.mkdir('data')
        source = 'points = 500\nrate_per_s = 3000\nt0_ms = %d' % t0_ms
        offline = gateway_config(tmp_path, platform.key_path, 'http://127.0.0.1:9/unreachable', data,
                                 commit_interval_ms=50, ring_mb=3, synthetic=source)
        offline = offline.rename(tmp_path / 'offline.toml')
        filling = gateway_config(tmp_path, platform.key_path, 'http://127.0.0.1:9/unreachable', data,
                                 commit_interval_ms=50, ring_mb=3, synthetic=source.replace('3000', '200000'))
        filling = filling.rename(tmp_path / 'filling.toml')
        writing = gateway_config(tmp_path, platform.key_path, platform.url, data, commit_interval_ms=50, ring_mb=3,
                                 synthetic=source)
        report = tmp_path / 'durable.txt'
        # How much a run writes depends on the machine's speed: first fill the ring as fast as
        # the machine can until it has thinned, so every machine cuts into a full, thinning ring.
        gw = GatewayProcess(tmp_path, filling, '--report-durable', str(report), env=env)
        gw.wait_log('ALARM ring full: thinned', timeout_s=300)
        gw.stop(signal.SIGKILL)
        lazy.cut()
        reported = max([int(x) for x in report.read_text().split()] or [-1])
        rnd = random.Random(20261201)
        for i in range(cuts):
            gw = GatewayProcess(tmp_path, offline if i < cuts * 3 // 4 else writing, '--report-durable', str(report),
                                env=env)
            if gw.started_durable < reported:
                problems.append('cut %d: durable up to %d at start, %d was reported durable'
                                % (i, gw.started_durable, reported))
            time.sleep(rnd.uniform(0, 0.6))
            gw.stop(signal.SIGKILL)
            lazy.cut()
            reported = max([int(x) for x in report.read_text().split()] or [-1])
        if reported < 1000:
            problems.append('the gateway never got going (%d reported durable)' % reported)
        drain = gateway_config(tmp_path, platform.key_path, platform.url, data, ring_mb=3)
        gw = GatewayProcess(tmp_path, drain, env=env)
        durable = gw.started_durable
        if durable < reported:
            problems.append('durable up to %d after the cuts, %d was reported durable' % (durable, reported))
        row = platform.wait_ack(durable)
        gw.stop()
        if (row['ack'], row['conflicts'], row['missing']) != (durable, 0, 0) or \
                set(row['declared_lost_by_cause']) - {'thinned'}:
            problems.append('platform: %r' % row)
        if env is None and 'thinned' not in row['declared_lost_by_cause']:
            problems.append('the ring never thinned: the test did not exercise thinning\'s rename')
        meters = SyntheticMeters(points=500, t0_ms=t0_ms, rate_per_s=3000)
        for seq, code, ts_ms, mantissa, exp, flags in platform.records():
            c, t, v, e, f, _ = meters.reading(seq)
            if (code, ts_ms, mantissa, exp, flags) != ('%012d' % c, t, v, e, f):
                problems.append('record %d differs' % seq)
                break
        return problems
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop(signal.SIGKILL)
        platform.stop()


def test_gateway_power_cuts_lose_no_reading_reported_durable(tmp_path, lazy):
    assert _gateway_cuts(tmp_path, lazy, GATEWAY_CUTS) == []


def test_without_the_rings_fsync_the_power_cuts_lose_readings(tmp_path, lazy):
    problems = _gateway_cuts(tmp_path, lazy, 10, _no_ring_fsync(tmp_path))
    assert problems, 'the check passed without the ring\'s fsync: the lazy filesystem does not cut'
    print('without the ring\'s fsync: %s' % '; '.join(problems))


class _Poster:
    """Posts a gateway's frames to the server in order, remembering the highest ack."""

    def __init__(self, url: str, gw) -> None:
        self.url = url
        self.gw = gw
        self.acked = -1
        self.sent = 0

    def run_until_dead(self, proc: subprocess.Popen) -> None:
        while proc.poll() is None:
            first = self.acked + 1
            req = urllib.request.Request(self.url, data=self.gw.frame(first, 50), method='POST',
                                         headers={'Content-Type': 'application/x-msgpack'})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    self.acked = max(self.acked, json.loads(r.read())['ack'])
                    self.sent += 1
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.01)


def test_server_power_cuts_lose_no_acknowledged_record(tmp_path, lazy):
    gw = new_gateways(['GW-CUT'])['GW-CUT']
    (tmp_path / 'gw.pub').write_text(gw.key.public_key.to_pem())
    dbdir = lazy.mkdir('db')
    port = free_port()
    db = str(dbdir / 'tanji.db')
    tanji('server', 'gateways', 'add', 'GW-CUT', '--key', '@%s' % (tmp_path / 'gw.pub'),
          '--enterprise', 'e', '--site', 's', '--db', db)
    rnd = random.Random(20261202)
    poster = _Poster('http://127.0.0.1:%d/api/v1/frames' % port, gw)
    for i in range(SERVER_CUTS):
        server = ServerProcess(tmp_path, port=port, db=db)
        killer = threading.Timer(rnd.uniform(0.05, 0.8), server.proc.send_signal, (signal.SIGKILL,))
        killer.start()
        poster.run_until_dead(server.proc)
        killer.join()
        server.proc.wait()
        server.log.close()
        lazy.cut()
        row = json.loads(tanji('server', 'gateways', 'list', '--json', '--db', db).stdout)[0]
        assert row['ack'] >= poster.acked, (i, row, poster.acked)
    assert poster.sent >= SERVER_CUTS, 'the server never got going'
    conn = sqlite3.connect(db)
    rows = conn.execute('SELECT seq, code, ts_ms, mantissa, exp, flags FROM records ORDER BY seq').fetchall()
    conn.close()
    assert [r[0] for r in rows] == list(range(len(rows))) and len(rows) > poster.acked
    for seq, code, ts_ms, mantissa, exp, flags in rows:
        rec = gw.record(seq)
        assert (code, ts_ms, mantissa, rec.flags) == (rec.code, rec.ts_ms, rec.value, flags), seq
