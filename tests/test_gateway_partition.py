"""A network partition over 72 simulated hours (seed 001 §7.6 / §12.4: no loss through a
three-working-day fault), on an accelerated clock: three real `tanji server run`
centres; one unreachable for the whole 72 hours, one behind a link that flaps, one
healthy.  Every centre ends with every reading, delivered in order, and the healthy
centre's delivery delay stays within its schedule throughout."""

import asyncio
import json
import random
import sqlite3
import time


from firmware.clock import AcceleratedClock
from firmware.config import parse
from firmware.sources.synthetic import SyntheticMeters
from firmware.gateway import Gateway
from shared.delivery.machine import Schedule
from server_harness import new_gateways
from server_process import ServerProcess, free_port, tanji

FACTOR = 3600.0                  # one simulated hour per real second
HOURS = 72
POINTS = 20                      # 20 points read every minute
SCHEDULE_S = 900                 # the healthy centre uploads every 15 minutes (0.25 s real)


class FlappingLink:
    """A TCP relay on loopback that is cut and restored on a random schedule of simulated time."""

    def __init__(self, target_port, clock, rnd):
        self.target_port = target_port
        self.clock = clock
        self.rnd = rnd
        self.up = True
        self.port = free_port()
        self.cuts = 0
        self._conns = set()

    async def start(self):
        self._server = await asyncio.start_server(self._handle, '127.0.0.1', self.port)
        self._task = asyncio.create_task(self._flap())

    async def _flap(self):
        while True:
            await self.clock.sleep(self.rnd.uniform(10, 90) * 60)
            self.up = not self.up
            if not self.up:
                self.cuts += 1
                for w in list(self._conns):
                    w.close()

    async def _handle(self, reader, writer):
        if not self.up:
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection('127.0.0.1', self.target_port)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, up_w))

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._conns.difference_update((writer, up_w))

    async def stop(self):
        self._task.cancel()
        self._server.close()


def _enrol(srv, pub):
    tanji('server', 'gateways', 'add', 'GW-PART', '--key', '@%s' % pub, '--enterprise', 'e', '--site', 's',
          '--db', srv.db)


def _centre_rows(srv):
    conn = sqlite3.connect(srv.db)
    try:
        seqs = [r[0] for r in conn.execute('SELECT seq FROM records ORDER BY seq')]
        order = [r[0] for r in conn.execute('SELECT seq_first FROM frames ORDER BY id')]
        return seqs, order
    finally:
        conn.close()


async def test_72_hours_unreachable_flapping_and_healthy_centres(tmp_path):
    key = new_gateways(['GW-PART'])['GW-PART'].key
    (tmp_path / 'gw.key').write_text(key.to_pem())
    (tmp_path / 'gw.pub').write_text(key.public_key.to_pem())
    servers = {}
    for name in ('healthy', 'flapping'):
        (tmp_path / name).mkdir()
        servers[name] = ServerProcess(tmp_path / name)
        _enrol(servers[name], tmp_path / 'gw.pub')
    (tmp_path / 'dead').mkdir()
    dead_port = free_port()
    clock = AcceleratedClock(FACTOR, start=time.time() - HOURS * 3600 - 600)
    link = FlappingLink(servers['flapping'].port, clock, random.Random(7))
    await link.start()
    cfg = parse({
        'gateway': {'id': 'GW-PART', 'key': str(tmp_path / 'gw.key'), 'data_dir': str(tmp_path / 'data'),
                    'ring_mb': 64, 'segment_mb': 1, 'commit_interval_ms': 60_000},
        'centre': [
            {'name': 'healthy', 'url': servers['healthy'].url + '/api/v1/frames', 'every_s': SCHEDULE_S},
            {'name': 'flapping', 'url': 'http://127.0.0.1:%d/api/v1/frames' % link.port, 'every_s': SCHEDULE_S},
            {'name': 'dead', 'url': 'http://127.0.0.1:%d/api/v1/frames' % dead_port, 'every_s': SCHEDULE_S},
        ]})
    gw = Gateway(cfg, clock=clock, backoff_base_s=5.0, backoff_cap_s=600.0)
    meters = SyntheticMeters(points=POINTS, t0_ms=int(clock.now() * 1000), step_ms=60_000 // POINTS,
                             rate_per_s=POINTS / 60.0)
    await gw.start()
    source = asyncio.create_task(meters.run(gw, clock))
    samples = []
    try:
        end = clock.now() + HOURS * 3600
        while clock.now() < end:
            await clock.sleep(60)
            samples.append((clock.now(), gw.ring.durable_seq))
        source.cancel()
        gw.commit()
        final = gw.ring.durable_seq
        window_end = clock.now()
        assert final >= HOURS * 60 * POINTS * 0.95
        assert gw.deliveries['dead'].cursor == -1 and gw.deliveries['dead'].backoff.failures > 0
        assert link.cuts >= 10

        # started off the event loop, which must keep running the gateway meanwhile
        servers['dead'] = await asyncio.to_thread(ServerProcess, tmp_path / 'dead', port=dead_port)
        await asyncio.to_thread(_enrol, servers['dead'], tmp_path / 'gw.pub')
        gw.send_now()
        deadline = time.monotonic() + 120
        while any(d.cursor < final for d in gw.deliveries.values()):
            assert time.monotonic() < deadline, {n: d.cursor for n, d in gw.deliveries.items()}
            await asyncio.sleep(0.05)
    finally:
        source.cancel()
        await gw.stop()
        await link.stop()

    for name, srv in servers.items():
        seqs, order = _centre_rows(srv)
        assert seqs == list(range(final + 1)), name
        assert order == sorted(order), name                  # delivered in sequence order
        row = json.loads(tanji('server', 'gateways', 'list', '--json', '--db', srv.db).stdout)[0]
        assert (row['ack'], row['declared_lost'], row['conflicts']) == (final, 0, 0), name
        srv.stop()

    # healthy centre: whatever was durable at time t was acknowledged by the end of the upload
    # that served the first scheduled slot after t (the upload running at that slot, or the
    # first one starting after it).  The clock stretches the gateway's own sending time
    # 3,600-fold, so under load an upload may run on into the next slots; it keeps draining
    # whatever becomes durable, which is what the rule allows.
    uploads = gw.uploads['healthy']
    acks = gw.delivered_at['healthy']
    schedule = Schedule(SCHEDULE_S)
    spans = []                                        # (start, end) of each upload
    for kind, at, _ in uploads:
        if kind == 'start':
            spans.append([at, None])
        elif spans and spans[-1][1] is None:
            spans[-1][1] = at
    worst = 0.0
    checked = 0
    for t, durable in samples:
        slot = schedule.next_due(t)
        if slot > window_end:
            continue
        span = next((sp for sp in spans if sp[0] <= slot and (sp[1] is None or sp[1] >= slot)), None) \
            or next((sp for sp in spans if sp[0] >= slot), None)
        assert span is not None and span[1] is not None, ('no upload served the slot at', slot)
        when = next(at for cursor, at in acks if cursor >= durable)
        assert when <= span[1], ('reading', durable, 'durable at', t, 'acknowledged at', when,
                                 'after the upload serving', slot, 'ended at', span[1])
        worst = max(worst, when - t)
        checked += 1
    assert checked >= len(samples) - 20          # all but the last slot's samples
    print('healthy centre: %d uploads; worst delay from durable to acknowledged %.0f simulated s '
          '(schedule every %d s)' % (len(spans), worst, SCHEDULE_S))
