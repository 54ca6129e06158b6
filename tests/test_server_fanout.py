"""Fan-out to further data centres (seed 001 §7.3): real downstream Tanji servers on loopback."""

import asyncio
import socket

import server_harness
from server.config import Downstream


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def stored(h) -> tuple[set, set]:
    conn = h.db()
    try:
        records = {(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.query(
            'SELECT g.gateway, r.seq, r.code, r.ts_ms, r.mantissa, r.flags FROM records r JOIN gateways g ON g.id = r.gw')}
        frames = {bytes(r[0]) for r in conn.query('SELECT fingerprint FROM frames')}
        return records, frames
    finally:
        conn.close()


async def wait_until(predicate, timeout=30.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, 'condition not reached in %.0f s' % timeout
        await asyncio.sleep(0.05)


async def test_fanout_reaches_two_centres_while_one_is_down_for_a_while(tmp_path, pg_cluster):
    gateways = server_harness.new_gateways(['gw-a', 'gw-b'])
    up = await server_harness.start(str(tmp_path / 'up.db'), gateways)
    down_port = free_port()
    down_url = 'http://127.0.0.1:%d/api/v1/frames' % down_port
    main_db = pg_cluster.new_database() if pg_cluster else str(tmp_path / 'main.db')
    main = await server_harness.start(main_db, gateways, downstream=[
        Downstream('centre-up', up.url + '/api/v1/frames'), Downstream('centre-late', down_url)],
        fanout_backoff_base_s=0.05, fanout_backoff_cap_s=0.3)
    late = None
    try:
        a, b = gateways['gw-a'], gateways['gw-b']
        uploads = [a.frame(0, 50), b.frame(20, 30), a.frame(50, 50), b.frame(0, 25), a.frame(40, 20)]
        for raw in uploads:
            status, _ = await main.post_frame(raw)
            assert status == 200
        main_records, main_frames = stored(main)
        assert len(main_records) == 150
        await wait_until(lambda: stored(up) == (main_records, main_frames))

        _, doc = await main.get('/api/v1/centres')
        centres = {c['name']: c for c in doc['centres']}
        assert centres['centre-up']['backlog_frames'] == 0
        assert centres['centre-late']['backlog_frames'] == len(uploads)
        assert centres['centre-late']['sender']['state'] == 'backoff'
        assert centres['centre-late']['sender']['consecutive_failures'] >= 1

        late = await server_harness.start(str(tmp_path / 'late.db'), gateways, port=down_port)
        for raw in (b.frame(50, 10), a.frame(100, 10)):            # ingest goes on meanwhile
            assert (await main.post_frame(raw))[0] == 200
        main_records, main_frames = stored(main)
        await wait_until(lambda: stored(late) == (main_records, main_frames))
        await wait_until(lambda: stored(up) == (main_records, main_frames))
        for h in (up, late):
            _, g = await h.get('/api/v1/gateways/gw-a')
            assert g['ack'] == 109
            _, g = await h.get('/api/v1/gateways/gw-b')
            assert g['ack'] == 59
        await wait_until(lambda: _cursor(main, 'centre-late') == max(_frame_ids(main)))
        _, doc = await main.get('/api/v1/centres')
        late_status = {c['name']: c for c in doc['centres']}['centre-late']
        assert late_status['delivered'] == len(uploads) + 2 and late_status['refused_frames'] == 0
    finally:
        for h in (main, up, late):
            if h is not None:
                await h.close()


def _cursor(h, name):
    conn = h.db()
    try:
        return conn.one('SELECT cursor FROM centres WHERE name = ?', (name,))[0]
    finally:
        conn.close()


def _frame_ids(h):
    conn = h.db()
    try:
        return [r[0] for r in conn.query('SELECT id FROM frames')]
    finally:
        conn.close()


async def test_a_centre_that_refuses_a_frame_gets_it_recorded_and_the_rest_still_flows(tmp_path):
    gateways = server_harness.new_gateways(['gw-a', 'gw-b'])
    partial = await server_harness.start(str(tmp_path / 'partial.db'), {'gw-a': gateways['gw-a']})
    main = await server_harness.start(str(tmp_path / 'main.db'), gateways,
                                      downstream=[Downstream('partial', partial.url + '/api/v1/frames')],
                                      fanout_backoff_base_s=0.05, fanout_backoff_cap_s=0.3)
    try:
        a, b = gateways['gw-a'], gateways['gw-b']
        for raw in (a.frame(0, 10), b.frame(0, 10), a.frame(10, 10)):
            assert (await main.post_frame(raw))[0] == 200
        await wait_until(lambda: len(stored(partial)[0]) == 20)
        await wait_until(lambda: _cursor(main, 'partial') == max(_frame_ids(main)))
        _, doc = await main.get('/api/v1/centres/partial/rejects')
        assert [(r['status'], r['error']) for r in doc['rejects']] == [(403, 'unknown_gateway')]
    finally:
        await main.close()
        await partial.close()
