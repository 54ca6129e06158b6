"""Field faults against real processes and real files (issue 12): a full disk, damaged
files, a wall clock that jumps, a centre whose clock is wrong, restarts and power cuts
that leave gaps, and SIGTERM at any moment.  Each names what it reproduces."""

from __future__ import annotations

import time

from firmware.sources.synthetic import SyntheticMeters
from gateway_process import GatewayProcess, Platform, SmallFilesystem, gateway_config

SYNTHETIC = 'points = 500\nrate_per_s = 3000\nt0_ms = %d'


def _check_delivered(platform: Platform, meters: SyntheticMeters, ack: int) -> dict:
    """Every record at the platform is the synthetic reading of its number; returns the row."""
    row = platform.wait_ack(ack)
    assert row['ack'] >= ack, row
    assert (row['conflicts'], row['missing']) == (0, 0), row
    rows = platform.records()
    for seq, code, ts_ms, mantissa, exp, flags in rows:
        c, t, v, e, f, _ = meters.reading(seq)
        assert (code, ts_ms, mantissa, exp, flags) == ('%012d' % c, t, v, e, f), seq
    assert len(rows) + row['declared_lost'] == row['ack'] + 1, row
    return row


def test_a_full_disk_is_alarmed_queued_declared_and_recovered(tmp_path):
    """Failure 1: with the ring's filesystem full the commit loop died silently and never resumed."""
    disk = SmallFilesystem(tmp_path / 'disk', 16 * 1024)
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        t0_ms = int(time.time() * 1000) - 3_600_000
        config = gateway_config(tmp_path, platform.key_path, platform.url, disk.path / 'data',
                                synthetic=SYNTHETIC % t0_ms)
        gw = GatewayProcess(tmp_path, config)
        gw.wait_status(lambda s: s['durable_seq'] > 5000)
        filler = disk.fill()
        gw.wait_log('ALARM cannot write the log')
        full = gw.wait_status(lambda s: s['disk_error'] is not None and s['queued'] > 0)
        time.sleep(10)                            # longer than the head segment's room: readings are dropped
        during = gw.wait_status(lambda s: s['counters'].get('disk_full', 0) > 0)
        assert during['durable_seq'] <= full['durable_seq'] + 1, 'nothing can be durable on a full disk'
        filler.unlink()
        gw.wait_log('RECOVERED the log')
        after = gw.wait_status(lambda s: s['disk_error'] is None and s['durable_seq'] > during['durable_seq'] + 3000)
        assert gw.proc.poll() is None
        gw.stop()
        dropped = after['counters']['disk_full']
        log = gw.log()
        assert log.count('ALARM cannot write the log') == 1, log
        assert 'Traceback' not in log
        gw = GatewayProcess(tmp_path, gateway_config(tmp_path, platform.key_path, platform.url,
                                                     disk.path / 'data'))
        durable = gw.started_durable
        row = _check_delivered(platform, SyntheticMeters(points=500, t0_ms=t0_ms, rate_per_s=3000), durable)
        assert row['declared_lost_by_cause'] == {'disk_full': dropped}, row
        assert dropped > 0
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        disk.unmount()
