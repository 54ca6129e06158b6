"""The upload exchange on a running server: acks, idempotency, every refusal."""

import asyncio
import logging
import threading
import time

import msgpack

from portable_helpers import ENERGY, UNITS
from server.http import SERVER
from server.refusals import RefusalLog
from shared.codec import frame, sm2


def counts(h):
    conn = h.db()
    try:
        return conn.one('SELECT count(*) FROM records')[0], conn.one('SELECT count(*) FROM frames')[0]
    finally:
        conn.close()


def signed(key, doc) -> bytes:
    body = msgpack.packb(doc, use_bin_type=True)
    return msgpack.packb([1, body, key.sign(body)], use_bin_type=True)


def body_of(raw: bytes) -> dict:
    return msgpack.unpackb(msgpack.unpackb(raw)[1])


async def test_in_order_frames_are_acknowledged_and_stored(harness):
    gw = harness.gateways['gw-a']
    for first in range(0, 100, 20):
        status, doc = await harness.post_frame(gw.frame(first, 20))
        assert (status, doc) == (200, {'ack': first + 19})
    assert counts(harness) == (100, 5)
    status, page = await harness.get('/api/v1/records', gateway='gw-a', limit='1000')
    assert status == 200
    got = [(r['seq'], r['code'], r['ts_ms'], r['mantissa'], r['float'], r['flags']) for r in page['records']]
    want = [(r.seq, r.code, r.ts_ms, r.value, None, r.flags) for r in gw.records(0, 100)]
    assert sorted(got) == sorted(want)


async def test_resends_and_overlaps_never_duplicate(harness):
    gw = harness.gateways['gw-a']
    assert await harness.post_frame(gw.frame(0, 30)) == (200, {'ack': 29})
    assert await harness.post_frame(gw.frame(0, 30)) == (200, {'ack': 29})      # same body again (new signature)
    assert await harness.post_frame(gw.frame(10, 30)) == (200, {'ack': 39})     # overlap
    assert await harness.post_frame(gw.frame(5, 10)) == (200, {'ack': 39})      # inside
    records, _ = counts(harness)
    assert records == 40
    status, g = await harness.get('/api/v1/gateways/gw-a')
    assert g['records'] == 40 and g['conflicts'] == 0 and g['ack'] == 39


async def test_ack_is_the_highest_gap_free_sequence(harness):
    gw = harness.gateways['gw-b']
    assert await harness.post_frame(gw.frame(10, 10)) == (200, {'ack': -1})     # nothing from 0 yet
    assert await harness.post_frame(gw.frame(30, 5)) == (200, {'ack': -1})
    _, g = await harness.get('/api/v1/gateways/gw-b')
    assert (g['last_seq'], g['received_beyond_gap'], g['missing']) == (34, 15, 20)
    assert await harness.post_frame(gw.frame(0, 10)) == (200, {'ack': 19})      # joins 10..19
    assert await harness.post_frame(gw.frame(20, 10)) == (200, {'ack': 34})     # joins 30..34
    _, g = await harness.get('/api/v1/gateways/gw-b')
    assert (g['ack'], g['missing'], g['received_beyond_gap']) == (34, 0, 0)


async def test_changed_content_under_a_stored_sequence_is_kept_as_first_stored_and_counted(harness):
    gw = harness.gateways['gw-a']
    await harness.post_frame(gw.frame(0, 5))
    altered = gw.records(0, 5)
    altered[2] = frame.Record(2, altered[2].code, altered[2].ts_ms + 1, altered[2].value, altered[2].exp, 0)
    status, doc = await harness.post_frame(frame.encode('gw-a', altered, UNITS, gw.key.sign))
    assert (status, doc) == (200, {'ack': 4})
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert g['conflicts'] == 1
    _, page = await harness.get('/api/v1/records', gateway='gw-a')
    assert [r['ts_ms'] for r in page['records'] if r['seq'] == 2] == [gw.record(2).ts_ms]


async def test_a_value_rescaled_by_another_framing_is_not_a_conflict(harness):
    gw = harness.gateways['gw-a']
    rec = frame.Record(0, ENERGY, gw.t0_ms, 12345, -1, 0)
    finer = frame.Record(1, ENERGY, gw.t0_ms + 1000, 123451, -2, 0)
    await harness.post_frame(frame.encode('gw-a', [rec], UNITS, gw.key.sign))          # stored as 12345e-1
    await harness.post_frame(frame.encode('gw-a', [rec, finer], UNITS, gw.key.sign))   # carries it as 123450e-2
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert (g['ack'], g['conflicts']) == (1, 0)


def _refusals(gw, other_key):
    good = body_of(gw.frame(0, 5))
    return [
        ('malformed', 400, b'\x93\x01'),
        ('malformed', 400, msgpack.packb([1, b'\x81', b'\x00' * 64])),
        ('malformed', 400, gw.frame(0, 3) + b'\x00'),
        ('version', 400, msgpack.packb([2, msgpack.packb(good), gw.key.sign(msgpack.packb(good))])),
        ('body', 400, signed(gw.key, dict(good, extra=1))),
        ('body', 400, signed(gw.key, dict(good, s0=-1))),
        ('records', 400, signed(gw.key, dict(good, recs=[[0, 0, None]]))),
        ('records', 400, signed(gw.key, dict(good, recs=[[9, 0, 1]]))),
        ('codes', 400, signed(gw.key, dict(good, codes=[['999999999999', 0, 'kWh']]))),
        ('codes', 400, signed(gw.key, dict(good, codes=[[c, e, 't' if u == 'kWh' else u] for c, e, u in good['codes']]))),
        ('codes', 400, signed(gw.key, dict(good, cv='no-such-tables'))),
        ('root_mismatch', 400, signed(gw.key, dict(good, root=b'\x00' * 32))),
        ('bad_signature', 401, msgpack.packb([1, msgpack.packb(good), other_key.sign(msgpack.packb(good))])),
        ('unknown_gateway', 403, frame.encode('gw-nobody', gw.records(0, 3), UNITS, gw.key.sign)),
    ]


async def test_every_refusal_is_a_4xx_with_a_code_and_stores_nothing(harness, caplog):
    gw = harness.gateways['gw-a']
    other = sm2.PrivateKey.generate()
    caplog.set_level(logging.WARNING, logger='tanji.server.refused')
    for code, status, raw in _refusals(gw, other):
        got_status, doc = await harness.post_frame(raw)
        assert (got_status, doc['error']) == (status, code), doc
        assert doc['detail']
    assert counts(harness) == (0, 0)
    await harness.server.app[SERVER].ingest.flush_failures()      # counted in memory, written once a second
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert g['signature_failures'] == 1 and g['ack'] == -1
    # issue 13, item 6: each refusal is a line in the server's log, naming the gateway once it is known
    lines = [r.getMessage() for r in caplog.records if r.name == 'tanji.server.refused']
    assert any(line.startswith('refused 401 bad_signature from gateway gw-a at 127.0.0.1: the signature')
               for line in lines), lines
    assert any(line.startswith('refused 403 unknown_gateway from gateway gw-nobody') for line in lines), lines
    assert any(line.startswith('refused 400 root_mismatch from gateway gw-a at 127.0.0.1') for line in lines), lines


def test_a_flood_of_refusals_is_one_line_per_kind_and_a_summary_per_interval(caplog):
    now = [0.0]
    refusals = RefusalLog(interval_s=60, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger='tanji.server.refused')
    for i in range(5000):
        refusals.note(401, 'bad_signature', 'gateway gw-a at 10.0.0.%d' % (i % 2), 'does not verify')
    now[0] = 61.0
    refusals.note(403, 'unknown_gateway', 'gateway x at 10.0.0.9', 'not enrolled')
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert 'refused again in the last 61 s: bad_signature from gateway gw-a at 10.0.0.0: 2499' in lines[2]


async def test_content_type_and_size_limits(db_url):
    import server_harness
    h = await server_harness.start(db_url, max_frame_bytes=2000, max_records=50)
    try:
        gw = h.gateways['gw-a']
        status, doc = await h.post_frame(gw.frame(0, 5), content_type='application/json')
        assert (status, doc['error']) == (415, 'content_type')
        status, doc = await h.post_frame(gw.frame(0, 60))
        assert (status, doc['error']) == (413, 'too_large')
        big = gw.frame(0, 49) + b''
        assert len(big) < 2000
        status, doc = await h.post_frame(b'\x00' * 5000)
        assert (status, doc['error']) == (413, 'too_large')
        assert await h.post_frame(big) == (200, {'ack': 48})
    finally:
        await h.close()


async def test_time_range_refusals(db_url):
    import server_harness
    h = await server_harness.start(db_url, max_future_s=60, max_age_days=1)
    try:
        gw = h.gateways['gw-a']
        now = int(time.time() * 1000)
        future = [frame.Record(0, ENERGY, now + 3_600_000, 1, 0, 0)]
        status, doc = await h.post_frame(frame.encode('gw-a', future, UNITS, gw.key.sign))
        assert (status, doc['error']) == (422, 'time_range')
        old = [frame.Record(0, ENERGY, now - 3 * 86_400_000, 1, 0, 0)]
        status, doc = await h.post_frame(frame.encode('gw-a', old, UNITS, gw.key.sign))
        assert (status, doc['error']) == (422, 'time_range')
        assert counts(h) == (0, 0)
        await h.server.app[SERVER].ingest.flush_failures()
        _, g = await h.get('/api/v1/gateways/gw-a')
        assert g['rejected_frames'] == 2
    finally:
        await h.close()


async def test_revoked_gateway_is_refused(harness):
    gw = harness.gateways['gw-b']
    assert (await harness.post_frame(gw.frame(0, 3)))[0] == 200
    status, doc = await harness.post_json('/api/v1/gateways/gw-b/revoke', {'reason': 'key leaked'})
    assert status == 200 and doc['revoked']
    status, doc = await harness.post_frame(gw.frame(3, 3))
    assert (status, doc['error']) == (403, 'revoked_gateway')
    assert counts(harness)[0] == 3


async def test_revocation_from_the_command_line_is_honoured_by_a_running_server(harness):
    from server import admin
    gw = harness.gateways['gw-b']
    assert (await harness.post_frame(gw.frame(0, 3)))[0] == 200        # key now cached
    conn = harness.db()
    conn.begin()
    admin.revoke(conn, 'cli:test', 'gw-b', 'decommissioned', int(time.time() * 1000))
    conn.commit()
    conn.close()
    status, doc = await harness.post_frame(gw.frame(3, 3))
    assert (status, doc['error']) == (403, 'revoked_gateway')
    assert counts(harness)[0] == 3


async def test_busy_when_the_disk_queue_is_full(db_url):
    import server_harness
    from server.http import SERVER
    h = await server_harness.start(db_url, max_queue_records=15)
    try:
        srv = h.server.app[SERVER]
        gate = threading.Event()
        blocker = asyncio.ensure_future(srv.db.write(lambda conn: gate.wait(10)))
        gw = h.gateways['gw-a']
        first = asyncio.ensure_future(h.post_frame(gw.frame(0, 10)))
        while srv.ingest._queued_records == 0:
            await asyncio.sleep(0.01)
        async with h.session.post(h.url + '/api/v1/frames', data=gw.frame(10, 10),
                                  headers={'Content-Type': 'application/x-msgpack'}) as r:
            assert r.status == 429
            assert (await r.json())['error'] == 'busy'
            assert int(r.headers['Retry-After']) > 0
        gate.set()
        await blocker
        assert await first == (200, {'ack': 9})
        assert await h.post_frame(gw.frame(10, 10)) == (200, {'ack': 19})
    finally:
        await h.close()


async def test_concurrent_uploads_share_group_commits(harness):
    from server.http import SERVER
    gws = list(harness.gateways.values())
    jobs = [harness.post_frame(g.frame(i * 10, 10)) for g in gws for i in range(20)]
    results = await asyncio.gather(*jobs)
    assert all(status == 200 for status, _ in results)
    assert counts(harness) == (400, 40)
    counters = harness.server.app[SERVER].ingest.counters
    assert counters['batches'] < 40
    for g in gws:
        _, doc = await harness.get('/api/v1/gateways/' + g.id)
        assert doc['ack'] == 199


async def test_database_failure_is_503_with_retry_after_and_stores_nothing(harness):
    gw = harness.gateways['gw-a']
    assert await harness.post_frame(gw.frame(0, 5)) == (200, {'ack': 4})
    conn = harness.db()
    conn.execute('ALTER TABLE records RENAME TO records_away')
    try:
        async with harness.session.post(harness.url + '/api/v1/frames', data=gw.frame(5, 5),
                                        headers={'Content-Type': 'application/x-msgpack'}) as r:
            assert r.status == 503
            assert (await r.json())['error'] == 'unavailable'
            assert int(r.headers['Retry-After']) > 0
    finally:
        conn.execute('ALTER TABLE records_away RENAME TO records')
        conn.close()
    assert counts(harness) == (5, 1)
    assert await harness.post_frame(gw.frame(5, 5)) == (200, {'ack': 9})


async def test_sequence_numbers_declared_lost_count_as_received_for_the_ack(harness):
    gw = harness.gateways['gw-a']
    assert await harness.post_frame(gw.frame(0, 10)) == (200, {'ack': 9})
    kept = gw.records(15, 5) + gw.records(30, 5)          # 10..14 and 20..29 thinned at the gateway
    raw = frame.encode('gw-a', kept, UNITS, gw.key.sign, 'tanji-db35-2021-v1', 10)
    assert await harness.post_frame(raw) == (200, {'ack': 34})
    assert await harness.post_frame(raw) == (200, {'ack': 34})               # resend: counted once
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert (g['ack'], g['records'], g['declared_lost'], g['missing']) == (34, 20, 15, 0)
    assert g['declared_lost_by_cause'] == {'unknown': 15}                     # the frame gave no causes


async def test_declared_losses_are_kept_with_their_causes(harness):
    gw = harness.gateways['gw-a']
    kept = gw.records(5, 5) + gw.records(12, 3)                               # 0..4 dropped, 10..11 damaged
    lost = [(0, 4, 'dropped'), (10, 11, 'corrupt')]
    raw = frame.encode('gw-a', kept, UNITS, gw.key.sign, 'tanji-db35-2021-v1', 0, lost)
    assert await harness.post_frame(raw) == (200, {'ack': 14})
    assert await harness.post_frame(raw) == (200, {'ack': 14})               # resend: counted once
    more = frame.encode('gw-a', gw.records(17, 1), UNITS, gw.key.sign, 'tanji-db35-2021-v1', 15,
                        [(15, 16, 'corrupt')])
    assert await harness.post_frame(more) == (200, {'ack': 17})
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert g['declared_lost'] == 9 and g['declared_lost_by_cause'] == {'dropped': 5, 'corrupt': 4}


async def test_a_gateway_asks_its_position_with_a_signed_question(harness):
    """Issue 13, item 2: a reinstalled gateway learns how far its numbers go (docs/protocol.md §7.1)."""
    import time as _time
    from shared.delivery.exchange import position_message
    gw = harness.gateways['gw-a']
    assert await harness.post_frame(gw.frame(0, 10)) == (200, {'ack': 9})
    assert await harness.post_frame(gw.frame(15, 5)) == (200, {'ack': 9})

    async def ask(gateway, t_ms, sig):
        async with harness.session.get(harness.url + '/api/v1/frames/position',
                                       params={'gateway': gateway, 't': str(t_ms), 'sig': sig}) as r:
            return r.status, await r.json()
    now = int(_time.time() * 1000)
    sig = gw.key.sign(position_message('gw-a', now)).hex()
    assert await ask('gw-a', now, sig) == (200, {'gateway': 'gw-a', 'ack': 9, 'last_seq': 19})
    assert (await ask('gw-b', now, sig))[1]['error'] == 'bad_signature'          # another gateway's question
    assert (await ask('gw-a', now + 1, sig))[1]['error'] == 'bad_signature'      # the question changed
    old = now - 3_600_000
    assert (await ask('gw-a', old, gw.key.sign(position_message('gw-a', old)).hex()))[1]['error'] == 'time_range'
    assert (await ask('gw-x', now, sig))[1]['error'] == 'unknown_gateway'
    status, doc = await ask('gw-a', now, 'zz')
    assert status == 400 and 'sig' in doc['detail']


async def test_two_meters_interleaved_under_one_code_raise_an_alarm(harness, caplog):
    """Issue 13, item 1 at the centre: a gateway of another make sent two meters' registers
    under one code; the day looked like 1000 MWh.  The records are stored (they are signed)
    and the gateway shows an alarm naming the code."""
    gw = harness.gateways['gw-a']
    caplog.set_level(logging.WARNING, logger='tanji.server.ingest')
    t0 = int(time.time() * 1000) - 600_000
    steady = [frame.Record(i, ENERGY, t0 + i * 1000, 100_000 + i, -2, 0) for i in range(10)]
    assert (await harness.post_frame(frame.encode('gw-a', steady, UNITS, gw.key.sign)))[0] == 200
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert g['alarms'] == []
    mixed = [frame.Record(10 + i, ENERGY, t0 + (10 + i) * 1000, (100_000 if i % 2 else 500_000) + i, -2, 0)
             for i in range(10)]
    status, doc = await harness.post_frame(frame.encode('gw-a', mixed, UNITS, gw.key.sign))
    assert status == 200 and doc['ack'] == 19, doc
    _, g = await harness.get('/api/v1/gateways/gw-a')
    assert len(g['alarms']) == 1 and 'code %s alternates between levels (1000.01 to 5000.08; it fell at 5 of 9 steps' % ENERGY \
        in g['alarms'][0], g['alarms']
    assert any('ALARM gateway gw-a: code %s fell at' % ENERGY in r.getMessage() for r in caplog.records)
