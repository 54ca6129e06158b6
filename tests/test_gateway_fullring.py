"""A full ring with the default policy: the only centre is down while five days of minute
readings from 100 meters arrive in a ring that holds about one day.  The ring thins,
the alarm fires and the counters count; when the centre comes back it receives the
day-bounding register readings and the declared losses, and every daily total
computed from what it stored equals the ground truth exactly."""

import asyncio
import json
import logging
import sqlite3
import time

from firmware.config import parse
from firmware.sources.synthetic import SyntheticMeters
from firmware.gateway import Gateway
from firmware.lib.state import StateFile
from server_harness import new_gateways
from server_process import ServerProcess, free_port, tanji

POINTS = 100
DAYS = 5
DAY_MS = 86_400_000
UTC8_MS = 8 * 3_600_000


async def test_thinning_keeps_daily_totals_exact_and_raises_the_alarm(tmp_path, caplog):
    key = new_gateways(['GW-FULL'])['GW-FULL'].key
    (tmp_path / 'gw.key').write_text(key.to_pem())
    (tmp_path / 'gw.pub').write_text(key.public_key.to_pem())
    port = free_port()
    cfg = parse({'gateway': {'id': 'GW-FULL', 'key': str(tmp_path / 'gw.key'), 'data_dir': str(tmp_path / 'data'),
                             'ring_mb': 3, 'segment_mb': 1},
                 'centre': [{'name': 'platform', 'url': 'http://127.0.0.1:%d/api/v1/frames' % port, 'every_s': 0}]})
    now_ms = int(time.time() * 1000)
    t0 = (now_ms + UTC8_MS) // DAY_MS * DAY_MS - UTC8_MS - (DAYS + 1) * DAY_MS     # a local midnight
    meters = SyntheticMeters(points=POINTS, t0_ms=t0, step_ms=60_000 // POINTS)
    gw = Gateway(cfg)
    caplog.set_level(logging.WARNING, logger='tanji.gateway')
    total = DAYS * 1440 * POINTS
    for k in range(total):
        assert gw.add_reading(meters.reading(k)) is not None
        if k % 5000 == 4999:
            gw.commit()
    gw.commit()
    thinned = gw.counters.get('thinned', 0)
    assert thinned > total * 0.9
    assert any('ALARM ring full: thinned' in r.getMessage() for r in caplog.records)
    gw.save_state()
    assert StateFile(str(tmp_path / 'data' / 'state')).data['counters']['thinned'] == thinned

    (tmp_path / 'centre').mkdir()
    srv = ServerProcess(tmp_path / 'centre', port=port)
    try:
        tanji('server', 'gateways', 'add', 'GW-FULL', '--key', '@%s' % (tmp_path / 'gw.pub'),
              '--enterprise', 'e', '--site', 's', '--db', srv.db)
        await gw.start()
        deadline = time.monotonic() + 60
        while gw.deliveries['platform'].cursor < total - 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await gw.stop()
        row = json.loads(tanji('server', 'gateways', 'list', '--json', '--db', srv.db).stdout)[0]
        assert row['ack'] == total - 1
        assert row['declared_lost'] + row['records'] == total and row['declared_lost'] == thinned

        conn = sqlite3.connect(srv.db)
        rows = conn.execute('SELECT code, ts_ms, mantissa FROM records ORDER BY seq').fetchall()
        conn.close()
        bounds = {}
        for code, ts_ms, mantissa in rows:
            day = (ts_ms + UTC8_MS) // DAY_MS
            first, last = bounds.get((code, day), (mantissa, mantissa))
            bounds[(code, day)] = (first, mantissa)
        first_day = (t0 + UTC8_MS) // DAY_MS
        for point in range(POINTS):
            code = '%012d' % meters.codes[point]
            for d in range(DAYS):
                first, last = bounds[(code, first_day + d)]
                # the register grows by point+1 every minute: 1439 steps within a day, 1440 from
                # one day's last reading to the next day's
                assert last - first == 1439 * (point + 1), (code, d)
                if d:
                    assert last - bounds[(code, first_day + d - 1)][1] == 1440 * (point + 1), (code, d)
    finally:
        srv.stop()
