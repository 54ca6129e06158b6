"""Power cuts: a gateway process (synthetic meters writing, one sender delivering to a
real `tanji server run`) is SIGKILLed at random moments, again and again.  Afterwards
every reading the log reported durable is at the server exactly once, uncorrupted,
with no gap in the sequence numbers.  TANJI_POWERCUT_KILLS sets the number of cuts
(`make soak` runs 10,000)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

from server_harness import new_gateways
from server_process import REPO, ServerProcess, tanji
from firmware.sources.synthetic import SyntheticMeters

KILLS = int(os.environ.get('TANJI_POWERCUT_KILLS', '200'))


def _config(tmp_path, url, t0_ms, with_source):
    text = '''
[gateway]
id = "GW-CUT"
key = "%s"
data_dir = "%s"
ring_mb = 64
segment_mb = 1
commit_interval_ms = 50

[[centre]]
name = "platform"
url = "%s"
every_s = 0
max_records = 700
''' % (tmp_path / 'gw.key', tmp_path / 'data', url)
    if with_source:
        text += '\n[source]\nkind = "synthetic"\npoints = 500\nrate_per_s = 3000\nt0_ms = %d\n' % t0_ms
    path = tmp_path / ('gw-source.toml' if with_source else 'gw-drain.toml')
    path.write_text(text)
    return path


def _spawn(config, report):
    return subprocess.Popen([sys.executable, '-m', 'shared.cli', 'gateway', 'run', '--config', str(config),
                             '--report-durable', str(report)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def _max_reported(report):
    try:
        lines = report.read_text().split()
    except FileNotFoundError:
        return -1
    return max([int(x) for x in lines] or [-1])


def test_power_cuts_lose_nothing_durable_and_deliver_exactly_once(tmp_path):
    gw = new_gateways(['GW-CUT'])['GW-CUT']
    (tmp_path / 'gw.key').write_text(gw.key.to_pem())
    (tmp_path / 'gw.pub').write_text(gw.key.public_key.to_pem())
    server = ServerProcess(tmp_path)
    try:
        tanji('server', 'gateways', 'add', 'GW-CUT', '--key', '@%s' % (tmp_path / 'gw.pub'),
              '--enterprise', 'e', '--site', 's', '--db', server.db)
        t0_ms = int(time.time() * 1000) - 3_600_000
        url = server.url + '/api/v1/frames'
        writing = _config(tmp_path, url, t0_ms, True)
        report = tmp_path / 'durable.txt'
        rnd = random.Random(int(os.environ.get('TANJI_POWERCUT_SEED', '20261123')))
        for i in range(KILLS):
            proc = _spawn(writing, report)
            if i % 10 == 9:
                time.sleep(rnd.uniform(0, 0.4))          # during start-up and recovery
            else:
                proc.stdout.readline()                   # running: writing and sending
                time.sleep(rnd.uniform(0, 0.25))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        reported = _max_reported(report)
        assert reported > 1000, 'the gateway never got going'

        proc = _spawn(_config(tmp_path, url, t0_ms, False), report)
        first_line = proc.stdout.readline()
        durable = int(first_line.split('durable up to ')[1].split(',')[0])
        assert durable >= reported                      # nothing reported durable was lost
        deadline = time.time() + 120
        while True:
            row = json.loads(tanji('server', 'gateways', 'list', '--json', '--db', server.db).stdout)[0]
            if row['ack'] >= durable or time.time() > deadline:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert row['ack'] == durable and row['last_seq'] == durable
        assert (row['conflicts'], row['declared_lost'], row['missing']) == (0, 0, 0)

        import sqlite3
        meters = SyntheticMeters(points=500, t0_ms=t0_ms, rate_per_s=3000)
        conn = sqlite3.connect(server.db)
        rows = conn.execute('SELECT seq, code, ts_ms, mantissa, exp, flags FROM records ORDER BY seq').fetchall()
        conn.close()
        assert [r[0] for r in rows] == list(range(durable + 1))
        for seq, code, ts_ms, mantissa, exp, flags in rows:
            c, t, v, e, f, _ = meters.reading(seq)
            assert (code, ts_ms, mantissa, exp, flags) == ('%012d' % c, t, v, e, f), seq
    finally:
        server.stop()
