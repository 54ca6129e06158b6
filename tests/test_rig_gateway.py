"""The whole chain on one desk: `tanji rig up` with the desk rig (DL/T 645 bus with
faults, rollover and a replaced meter, CJ/T 188 gas meter, Modbus RTU meter with a
4-20 mA channel, Modbus TCP flow meter), `tanji gateway run` with the desk gateway
configuration (board profile port names), a manual entry, and a real `tanji server
run` receiving the signed frames."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from server_process import REPO, ServerProcess, free_port, tanji
from shared.codec import sm2

RIG = REPO / 'hardware' / 'rigs' / 'desk.toml'
GATEWAY = REPO / 'hardware' / 'rigs' / 'desk-gateway.toml'


def _write_configs(tmp_path, url: str) -> tuple:
    rig_dir = tmp_path / 'rig'
    tcp_port, opcua_port, mqtt_port, hj212_port = free_port(), free_port(), free_port(), free_port()
    ports = {'15020': tcp_port, '14840': opcua_port, '18830': mqtt_port, '19212': hj212_port}
    rig = RIG.read_text().replace('/tmp/tanji-rig', str(rig_dir))
    for old, new in ports.items():
        rig = rig.replace(old, str(new))
    (tmp_path / 'rig.toml').write_text(rig.replace('every_s = 10', 'every_s = 1').replace('realtime_s = 5',
                                                                                        'realtime_s = 1'))
    board = (REPO / 'hardware' / 'boards' / 'desk.toml').read_text().replace('/tmp/tanji-rig', str(rig_dir))
    (tmp_path / 'board.toml').write_text(board.replace('/tmp/tanji-desk/data', str(tmp_path / 'data')))
    gw = GATEWAY.read_text()
    gw = gw.replace('key = "/tmp/tanji-desk/gateway.key"', 'key = "%s"' % (tmp_path / 'gw.key'))
    gw = gw.replace('board = "desk"', 'board = "%s"' % (tmp_path / 'board.toml'))
    gw = gw.replace('http://127.0.0.1:8080/api/v1/frames', url).replace('every_s = 60', 'every_s = 1')
    for old, new in ports.items():
        gw = gw.replace(old, str(new))
    gw = gw.replace('every = "minute"\n', 'every = 2\n').replace('[[point]]\n', '[[point]]\nevery = 2\n')
    gw = gw.replace('realtime_s = 5', 'realtime_s = 1')
    gw = gw.replace('[gateway]\n', '[gateway]\ncommit_interval_ms = 200\n')
    (tmp_path / 'gw.toml').write_text(gw)
    return tmp_path / 'rig.toml', tmp_path / 'gw.toml'


def test_desk_rig_to_server(tmp_path):
    key = sm2.PrivateKey.generate()
    (tmp_path / 'gw.key').write_text(key.to_pem())
    (tmp_path / 'gw.pub').write_text(key.public_key.to_pem())
    server = ServerProcess(tmp_path)
    rig_proc = gw_proc = None
    try:
        tanji('server', 'gateways', 'add', 'GW-DESK', '--key', '@%s' % (tmp_path / 'gw.pub'), '--enterprise', 'e',
              '--site', 's', '--db', server.db)
        rig_file, gw_file = _write_configs(tmp_path, server.url + '/api/v1/frames')
        rig_proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'rig', 'up', str(rig_file)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        while not lines or 'up;' not in lines[-1]:
            line = rig_proc.stdout.readline()
            assert line, 'rig did not start: %s' % ''.join(lines)
            lines.append(line)
        assert any(str(tmp_path / 'rig' / 'rs485-1') in x for x in lines)
        gw_proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'gateway', 'run', '--config', str(gw_file)],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=open(tmp_path / 'gw.log', 'w'), text=True)
        assert 'tanji gateway GW-DESK' in gw_proc.stdout.readline()
        entered = tanji('gateway', 'enter', '--config', str(gw_file), '--code', '080100202001', '--value', '812.40',
                        '--unit', 't', '--from', '2026-10-01', '--to', '2026-10-31',
                        '--evidence', 'weighbridge tickets 2026-10', '--operator', 'li.wei')
        assert 'queued' in entered.stdout
        refused = tanji('gateway', 'enter', '--config', str(gw_file), '--code', '080100202001', '--value', '812.40',
                        '--unit', 'MWh', '--from', '2026-10-01', '--to', '2026-10-31', '--evidence', 'x',
                        '--operator', 'y', check=False)
        assert refused.returncode == 2 and 'unit' in refused.stderr and 'Traceback' not in refused.stderr
        time.sleep(9)
        status = json.loads((tmp_path / 'data' / 'status.json').read_text())
        gw_proc.send_signal(signal.SIGTERM)
        assert gw_proc.wait(30) == 0
    finally:
        for p in (gw_proc, rig_proc):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        server.stop()
    assert not os.path.exists(tmp_path / 'rig' / 'rs485-1')          # the rig removed its links
    db = sqlite3.connect(server.db)
    rows = db.execute('SELECT code, ts_ms, mantissa, fvalue, exp, flags, unit FROM records ORDER BY seq').fetchall()
    by_code: dict = {}
    for r in rows:
        by_code.setdefault(r[0], []).append(r)
    for code in ('080420101001', '080420114001', '080420101002', '080420101003', '080420101004', '080101601001',
                 '080420101005', '080420114005', '080420114006', '080101601002',
                 '080100201001', '080100203001', '080420101010', '080100212001'):
        assert len(by_code.get(code, [])) >= 2, (code, sorted(by_code))
    kiln = [r for r in by_code['080420101001'] if r[2] is not None]
    assert all(b[2] >= a[2] for a, b in zip(kiln, kiln[1:])) and kiln[0][2] >= 12500000
    assert all(r[6] == 'Nm3' and r[4] == -2 for r in by_code['080101601001'])
    assert all(r[6] == '10^4 Nm3' and r[4] == -7 for r in by_code['080101601002'])
    manual = by_code['080100202001']
    assert [(r[2], r[4], r[5], r[6]) for r in manual] == [(81240, -2, 0x0008, 't')]
    journal = [json.loads(x) for x in (tmp_path / 'data' / 'manual-journal.jsonl').read_text().splitlines()]
    assert journal[-1]['evidence'] == 'weighbridge tickets 2026-10' and journal[-1]['operator'] == 'li.wei'
    buses = {s['bus']: s for s in status['sources'] if 'bus' in s}
    assert set(buses) == {'rs485-1', 'mbus-1', 'rs485-2', 'flow-tcp'}
    kinds = {k for s in status['sources'] for k in ('mqtt', 'opcua', 'hj212', 'manual') if k in s}
    assert kinds == {'mqtt', 'opcua', 'hj212', 'manual'}
    assert buses['rs485-1']['time_syncs'] == 1
    # the raw-mill meter's faults show as retries, never as wrong values
    assert buses['rs485-1']['transactions'] > buses['rs485-1']['readings'] // 2
