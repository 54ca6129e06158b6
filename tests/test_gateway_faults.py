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


def _by_code(rows) -> dict[str, list[tuple[int, int | None, int]]]:
    out: dict[str, list] = {}
    for seq, code, ts_ms, mantissa, exp, flags in rows:
        out.setdefault(code, []).append((ts_ms, mantissa, flags))
    return out


def test_a_wall_clock_set_back_stalls_neither_uploads_nor_retries_nor_polling(tmp_path):
    """Failure 6: with the wall clock set back an hour, uploads and retries waited an hour."""
    from shared.codec.flags import FLAG_CLOCK
    from gateway_process import ModbusRig
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    offset = tmp_path / 'clock-offset'
    offset.write_text('0')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data',
                                modbus_port=rig.port, points=5, every_s=1, upload_every_s=2)
        gw = GatewayProcess(tmp_path, config, '--wall-clock-offset-file', str(offset))
        before = platform.wait_ack(20)['ack']
        assert before >= 20
        offset.write_text('-3600')
        gw.wait_log('ALARM the wall clock jumped -3600')
        seen = gw.wait_status(lambda s: s['durable_seq'] > before + 30)
        row = platform.wait_ack(seen['durable_seq'], timeout_s=30)    # uploads go on, on the new time
        assert row['ack'] >= seen['durable_seq'], row

        port = platform.server.port
        platform.server.stop()                                          # the centre goes away: backoff
        gw.wait_status(lambda s: s['centres'][0]['consecutive_failures'] >= 2)
        offset.write_text('-7200')                                      # set back again during the backoff
        gw.wait_log('ALARM the wall clock jumped -3600', timeout_s=10, count=2)
        from server_process import ServerProcess
        platform.server = ServerProcess(tmp_path, port=port)
        pending = gw.status()['durable_seq']
        row = platform.wait_ack(pending, timeout_s=60)                  # the retry came within the backoff
        assert row['ack'] >= pending, row
        # the readings after the second jump must have reached the centre before it is read
        final = gw.wait_status(lambda s: s['counters']['clock_jumps'] == 2
                               and s['durable_seq'] > pending + 10)['durable_seq']
        platform.wait_ack(final, timeout_s=60)
        gw.stop()
        by_code = _by_code(platform.records())
        assert len(by_code) == 5
        for code, readings in by_code.items():
            jumps = [i for i in range(1, len(readings)) if readings[i][0] < readings[i - 1][0] - 1800_000]
            assert len(jumps) == 2, (code, jumps)
            for i in jumps:                                             # the first value after each jump
                assert readings[i][2] & FLAG_CLOCK, (code, readings[i - 1:i + 2])
            assert sum(1 for r in readings if r[2] & FLAG_CLOCK) == 2, code
            assert readings[jumps[1] - 1][0] - readings[jumps[0]][0] >= 3000, 'polling went on after the jump'
        assert 'Traceback' not in gw.log()
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        rig.stop()


def test_restarts_and_power_cuts_leave_every_slot_recorded(tmp_path):
    """Failure 8: a power cut's readings vanished without a trace; now every slot of every
    polled point is a reading or a missing one flagged outage, whatever stopped the gateway."""
    import signal
    from shared.codec.flags import FLAG_MISSING, FLAG_OUTAGE
    from gateway_process import ModbusRig
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data',
                                modbus_port=rig.port, points=5, every_s=1, upload_every_s=1)
        for stop, cause in ((signal.SIGKILL, 'power cut'), (signal.SIGTERM, 'restart')):
            gw = GatewayProcess(tmp_path, config)
            gw.wait_status(lambda s: s['durable_seq'] > 20)
            time.sleep(0.7)                         # a poll taken, maybe not yet durable
            gw.stop(stop)
            time.sleep(4)                           # the gateway is down for four slots or more
            gw = GatewayProcess(tmp_path, config)
            gw.wait_log('ALARM the gateway was not running (%s)' % cause)
            end = gw.wait_status(lambda s: s['durable_seq'] > gw.started_durable + 20)['durable_seq']
            platform.wait_ack(end)
            gw.stop()
        by_code = _by_code(platform.records())
        assert len(by_code) == 5
        for code, readings in by_code.items():
            slots = sorted(ts // 1000 for ts, _, _ in readings)
            assert slots == list(range(slots[0], slots[-1] + 1)), (code, 'a slot without a record')
            outage = [r for r in readings if r[2] & FLAG_OUTAGE]
            assert len(outage) >= 8 and all(r[1] is None and r[2] & FLAG_MISSING for r in outage)
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        rig.stop()


class _WrongClockCentre:
    """A centre in front of the platform whose clock is wrong for the first `wrong_s`
    seconds: it answers 422 time_range, as the platform does, then passes frames on."""

    def __init__(self, target: str, wrong_s: float) -> None:
        import http.server
        import threading
        import urllib.request
        until = time.monotonic() + wrong_s
        self.refused = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers['Content-Length']))
                if self.path.endswith('/health'):       # the gateway's health report: not a frame
                    status, data = 200, b'{"ok": true}'
                elif time.monotonic() < until:
                    outer.refused += 1
                    status, data = 422, b'{"error": "time_range", "detail": "record stamped 1800 s ahead"}'
                else:
                    req = urllib.request.Request(target, data=body, method='POST',
                                                 headers={'Content-Type': self.headers['Content-Type']})
                    try:
                        with urllib.request.urlopen(req, timeout=30) as r:
                            status, data = r.status, r.read()
                    except urllib.error.HTTPError as e:
                        status, data = e.code, e.read()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/api/v1/frames' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def test_a_centre_clock_wrong_for_15_s_delays_delivery_by_a_backoff_not_an_hour(tmp_path):
    """Failure 7: one 422 time_range made the gateway wait an hour."""
    platform = Platform(tmp_path, 'GW-FAULT')
    centre = _WrongClockCentre(platform.url, 15)
    gw = None
    try:
        t0_ms = int(time.time() * 1000) - 3_600_000
        config = gateway_config(tmp_path, platform.key_path, centre.url, tmp_path / 'data',
                                synthetic='points = 10\nrate_per_s = 50\nt0_ms = %d' % t0_ms)
        gw = GatewayProcess(tmp_path, config)
        gw.wait_log("ALARM centre platform: clock: the centre refused the readings' times")
        durable = gw.wait_status(lambda s: s['durable_seq'] > 1000, timeout_s=30)['durable_seq']
        row = platform.wait_ack(durable, timeout_s=60)
        assert row['ack'] >= durable and centre.refused >= 2, (row, centre.refused)
        assert gw.log().count('clock: the centre refused') == 1
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        centre.stop()
        platform.stop()


class _BlackHole:
    """A centre that accepts connections and never answers."""

    def __init__(self) -> None:
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.url = 'http://127.0.0.1:%d/api/v1/frames' % self.sock.getsockname()[1]
        self.held: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


SIGTERMS = 100


def test_sigterm_at_any_moment_exits_within_the_bound_and_loses_nothing_durable(tmp_path):
    """Failure 9: a gateway ignored SIGTERM for 13 minutes.  Here a Modbus TCP bus of 500
    points read every second, a centre taking uploads and one that never answers keep it
    busy, and SIGTERM comes at random moments, 100 times."""
    import random
    import signal
    from firmware.cli import SHUTDOWN_S
    from gateway_process import ModbusRig
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    hole = _BlackHole()
    report = tmp_path / 'durable.txt'
    rnd = random.Random(20261201)
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data',
                                modbus_port=rig.port, points=500, every_s=1, upload_every_s=0)
        config.write_text(config.read_text() + '\n[[centre]]\nname = "silent"\nurl = "%s"\nevery_s = 0\n' % hole.url)
        reported = -1
        slowest = 0.0
        for i in range(SIGTERMS):
            gw = GatewayProcess(tmp_path, config, '--report-durable', str(report))
            assert gw.started_durable >= reported, 'a reading reported durable was lost'
            time.sleep(rnd.uniform(0.0, 1.5))
            took = gw.stop(signal.SIGTERM, timeout_s=SHUTDOWN_S + 25)
            assert gw.proc.returncode == 0, (i, gw.proc.returncode, gw.log()[-2000:])
            assert took < SHUTDOWN_S + 5, (i, took)
            slowest = max(slowest, took)
            reported = max([int(x) for x in report.read_text().split()] or [-1])
        gw = GatewayProcess(tmp_path, gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data'))
        assert gw.started_durable >= reported
        row = platform.wait_ack(gw.started_durable)
        assert row['ack'] == gw.started_durable and (row['conflicts'], row['missing']) == (0, 0), row
        assert 'Traceback' not in gw.log()
        print('slowest SIGTERM exit: %.2f s' % slowest)
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        hole.stop()
        platform.stop()
        rig.stop()
