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


def _flip(path, at: int) -> None:
    with open(path, 'r+b') as f:
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0x41]))


def _segments(data_dir) -> list[tuple[int, object]]:
    """(first_seq, path) of the log's segment files, oldest first."""
    from firmware.lib import segment
    out = []
    for p in data_dir.glob('seg-*.tjl'):
        out.append((segment.read_header(p.read_bytes()[:segment.HEADER_SIZE])[1], p))
    return sorted(out)


def test_damaged_records_headers_and_state_cost_only_the_damaged_records(tmp_path):
    """Failures 2-5: one flipped byte lost the rest of a segment, a damaged header deleted
    a whole segment, a damaged state file went unreported, and damage in the head segment
    destroyed durable readings and handed their sequence numbers out again."""
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        t0_ms = int(time.time() * 1000) - 3_600_000
        data = tmp_path / 'data'
        writing = gateway_config(tmp_path, platform.key_path, 'http://127.0.0.1:9/nobody', data,
                                 synthetic=SYNTHETIC % t0_ms)
        gw = GatewayProcess(tmp_path, writing)
        gw.wait_status(lambda s: s['durable_seq'] > 80_000)          # several 1 MB segments
        gw.stop()
        before = GatewayProcess(tmp_path, gateway_config(tmp_path, platform.key_path, 'http://127.0.0.1:9/x', data))
        durable = before.started_durable
        before.stop()
        segs = _segments(data)
        assert len(segs) >= 4
        _flip(segs[1][1], 500_000)                     # the middle of a completed segment
        _flip(segs[2][1], 20)                          # one header copy
        _flip(segs[2][1], 60)                          # and the other: rebuilt from the records
        head = segs[-1][1]
        _flip(head, head.stat().st_size // 2)          # the middle of the head segment
        state = data / 'state'
        _flip(state, 10)
        _flip(state, 8192 + 10)                        # both copies of the state file

        gw = GatewayProcess(tmp_path, gateway_config(tmp_path, platform.key_path, platform.url, data))
        assert gw.started_durable == durable           # nothing durable destroyed, no number handed out again
        row = _check_delivered(platform, SyntheticMeters(points=500, t0_ms=t0_ms, rate_per_s=3000), durable)
        status = gw.wait_status(lambda s: s['counters'].get('corrupt', 0) >= 2)
        lost = row['declared_lost_by_cause']
        assert set(lost) == {'corrupt'} and lost['corrupt'] == status['counters']['corrupt'], (lost, status)
        assert lost['corrupt'] <= 2 * 3            # each flip costs its own record (a few numbers at most)
        assert status['counters']['state_rebuilt'] == 1
        log = gw.log()
        for name in (segs[1][1].name, segs[2][1].name, head.name):
            assert 'ALARM damaged file %s' % (data / name) in log, log
        assert 'both header copies damaged; rebuilt' in log and 'state rebuilt' in log
        kept = sorted(p.name.split('@')[0].split('.1')[0] for p in (data / 'damaged').iterdir())
        assert kept == sorted([segs[1][1].name, segs[2][1].name, head.name, 'state']), kept   # all for inspection
        assert 'Traceback' not in log
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
