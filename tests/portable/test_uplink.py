"""Gateway side of store-and-forward: durable state, frames from the log, the per-centre machine."""

import os

from firmware.lib import outbox, reading
from firmware.lib.reading import Reading
from shared.delivery import machine as delivery
from firmware.lib.ring import RingLog
from firmware.lib.state import SLOT_SIZE, StateFile
from portable_helpers import ENERGY, POWER
from shared.codec import frame, sm2
from shared.delivery import exchange

from test_ring import T0, _cleanup, _dir, _minute_data

KEY = sm2.PrivateKey.generate()


def test_state_survives_a_torn_write_of_either_slot():
    path = _dir()
    st = StateFile(path + '/state')
    assert st.data == {}
    st.save({'cursors': {'platform': 10}})
    st.save({'cursors': {'platform': 20}})
    st = StateFile(path + '/state')
    assert st.data == {'cursors': {'platform': 20}}
    st.save({'cursors': {'platform': 30}})           # goes to the older slot
    f = open(path + '/state', 'r+b')
    f.seek((1 - st._next_slot) * SLOT_SIZE + 20)           # the slot just written
    f.write(b'\xff\xff')                              # the newest slot is torn
    f.close()
    assert StateFile(path + '/state').data == {'cursors': {'platform': 20}}
    os.remove(path + '/state')
    os.rmdir(path)


def _ring_with(n):
    path = _dir()
    log = RingLog(path, segment_size=8192, segment_count=8)
    for i in range(n):
        log.append(_minute_data(i))
    log.commit()
    return path, log


def test_frames_from_the_log_cover_the_range_and_carry_exact_values():
    path, log = _ring_with(100)
    r = log.reader(0)
    built = outbox.build(r, 'GW-1', KEY.sign, 0, 30, 1 << 20)
    f = frame.decode(built.data)
    assert (f.seq_first, f.seq_last, len(f.records), built.unframeable) == (0, 29, 30, 0)
    assert f.verify(KEY.public_key)
    rec, unit = reading.unpack(4, _minute_data(4))
    assert f.records[4] == rec and f.unit_of(ENERGY) == 'kWh' and f.unit_of(POWER) == 'kW'
    built = outbox.build(r, 'GW-1', KEY.sign, 30, 1000, 600)      # byte cap halves the frame
    assert len(built.data) <= 600 and built.first_seq == 30 and built.records < 70
    assert outbox.build(r, 'GW-1', KEY.sign, 100, 10, 1 << 20) is None
    _cleanup(log, path)


def test_unreadable_or_unframeable_readings_are_declared_lost_not_hidden():
    path = _dir()
    log = RingLog(path, segment_size=8192, segment_count=8)
    log.append(_minute_data(0))
    log.append(b'\x93garbage')                                        # not a reading
    log.append(Reading(999999999999, T0, 1, 0, 0, 'kWh').pack())        # not a code in the tables
    log.append(Reading(ENERGY, T0, None, 0, 0, 'kWh').pack())           # missing value without a flag
    log.append(_minute_data(2))
    log.commit()
    built = outbox.build(log.reader(0), 'GW-1', KEY.sign, 0, 100, 1 << 20)
    f = frame.decode(built.data)
    assert [r.seq for r in f.records] == [0, 4] and f.lost_ranges() == [(1, 3)] and built.unframeable == 3
    assert f.lost == [(1, 3, 'unframeable')]
    _cleanup(log, path)


def test_frames_say_why_each_missing_number_is_missing():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=4, policy='drop_oldest')
    for i in range(400):
        log.append(_minute_data(i))
    log.commit()
    oldest = log.oldest_seq()
    assert oldest > 0                                                   # the oldest readings were dropped
    log.skip(3, 'disk_full')                                            # a full disk: three readings not logged
    log.append(_minute_data(400))
    log.append(b'\x93garbage')
    log.append(_minute_data(401))
    log.commit()
    built = outbox.build(log.reader(0), 'GW-1', KEY.sign, 0, 1000, 1 << 20)
    f = frame.decode(built.data)
    assert f.lost == [(0, oldest - 1, 'dropped'), (400, 402, 'disk_full'), (404, 404, 'unframeable')]
    _cleanup(log, path)


def test_schedules():
    every = delivery.Schedule(every_s=300)
    assert every.next_due(1000) == 1200 and every.next_due(1200) == 1500
    daily = delivery.Schedule(times=[2 * 3600, 14 * 3600], utc_offset_s=8 * 3600)
    midnight_local = 1763913600          # 2025-11-24T00:00+08:00
    assert daily.next_due(midnight_local) == midnight_local + 2 * 3600
    assert daily.next_due(midnight_local + 3 * 3600) == midnight_local + 14 * 3600
    assert daily.next_due(midnight_local + 15 * 3600) == midnight_local + 86400 + 2 * 3600
    assert delivery.Schedule(every_s=0).next_due(77) == 77


class FakeCentre:
    """Stores what it is sent by sequence number, like a real centre, and acks gap-free."""

    def __init__(self):
        self.have = set()

    def answer(self, data):
        f = frame.decode(data)
        self.have.update(r.seq for r in f.records)
        self.have.update(s for a, b in f.lost_ranges() for s in range(a, b + 1))
        ack = -1
        while ack + 1 in self.have:
            ack += 1
        return exchange.Outcome(exchange.ACKED, 200, ack=ack)


def _delivery(log, **kw):
    r = log.reader(0)

    def build(first, max_records, max_bytes):
        return outbox.build(r, 'GW-1', KEY.sign, first, max_records, max_bytes)
    return delivery.Delivery('platform', -1, build, **kw)


def test_a_scheduled_upload_drains_everything_then_waits():
    path, log = _ring_with(500)
    d = _delivery(log, schedule=delivery.Schedule(every_s=60), max_records=64)
    centre = FakeCentre()
    action, until = d.step(1000.0, log.durable_seq)
    assert (action, until) == ('wait', 1020)
    sent = 0
    now = 1020.0
    while True:
        action, arg = d.step(now, log.durable_seq)
        if action == 'wait':
            break
        d.on_outcome(centre.answer(arg.data), now)
        sent += 1
    assert d.cursor == 499 and sent == 8 and arg == 1080
    _cleanup(log, path)


def test_failures_back_off_and_keep_the_frame_refusals_alarm():
    path, log = _ring_with(50)
    alarms = []
    d = _delivery(log, schedule=delivery.Schedule(every_s=0), on_alarm=lambda *a: alarms.append(a))
    action, built = d.step(0.0, log.durable_seq)
    assert action == 'send'
    d.on_outcome(exchange.no_answer('timeout'), 0.0)
    action, until = d.step(0.1, log.durable_seq)
    assert action == 'wait' and 0.5 <= until <= 1.0
    action, again = d.step(until, log.durable_seq)
    assert action == 'send' and again is built                 # the same frame, not a new one
    d.on_outcome(exchange.classify(429, b'{"error": "busy", "detail": ""}', '30'), until)
    assert d.step(until + 1, log.durable_seq) == ('wait', until + 30)
    d.on_outcome(exchange.classify(413, b'{"error": "too_large", "detail": ""}'), until + 30)
    action, smaller = d.step(until + 30, log.durable_seq)
    assert action == 'send' and smaller.records == built.records // 2
    d.on_outcome(exchange.classify(403, b'{"error": "unknown_gateway", "detail": "x"}'), 100.0)
    assert [a[1] for a in alarms] == ['down', 'refused'] and d.cursor == -1    # down once, not per retry
    assert d.step(200.0, log.durable_seq)[0] == 'wait'
    d.send_now()
    action, frame_now = d.step(200.0, log.durable_seq)
    assert action == 'send'
    d.on_outcome(exchange.classify(200, b'{"ack": %d}' % frame_now.last_seq), 200.0)
    assert alarms[-1][1] == 'recovered'
    _cleanup(log, path)


def test_bandwidth_cap_spaces_frames():
    path, log = _ring_with(300)
    d = _delivery(log, schedule=delivery.Schedule(every_s=0), max_records=50, rate_bytes_s=1000)
    centre = FakeCentre()
    now, sent_bytes = 0.0, 0
    while d.cursor < log.durable_seq:
        action, arg = d.step(now, log.durable_seq)
        if action == 'wait':
            now = arg
            continue
        sent_bytes += len(arg.data)
        d.on_outcome(centre.answer(arg.data), now)
    assert now >= (sent_bytes - max(1000, 600)) / 1000.0 - 0.01
    _cleanup(log, path)


def test_frame_cursor_mode_skips_a_refused_frame_and_honours_retry_after():
    """The platform's fan-out: the cursor is the id of the last frame taken; a refused signed
    frame is skipped (it cannot be split or changed), a 429 waits as long as the centre says."""
    outbox_ids = [3, 7, 8]
    frames = {i: b'frame-%d' % i for i in outbox_ids}

    def build(first, max_records, max_bytes):
        ahead = [i for i in outbox_ids if i >= first]
        return delivery.Built(frames[ahead[0]], first, ahead[0], 1) if ahead else None

    d = delivery.Delivery('archive', 0, build, delivery.Schedule(every_s=0), advance='frame')
    action, item = d.step(0.0, 8)
    assert action == 'send' and item.data == b'frame-3'
    assert d.on_outcome(exchange.Outcome(exchange.ACKED, 200, ack=41), 0.0) == 3       # its own frame id
    action, item = d.step(0.0, 8)
    assert item.data == b'frame-7'
    assert d.on_outcome(exchange.classify(403, b'{"error": "unknown_gateway", "detail": ""}'), 0.0) == 7
    assert d.refused == 1 and d.state() == 'draining'
    action, item = d.step(0.0, 8)
    assert item.data == b'frame-8'
    assert d.on_outcome(exchange.classify(429, b'', '7'), 10.0) is None
    assert d.step(12.0, 8) == ('wait', 17.0) and d.state() == 'backoff' and d.backoff.failures == 1
    action, item = d.step(17.0, 8)
    assert item.data == b'frame-8'
    assert d.on_outcome(exchange.Outcome(exchange.ACKED, 200, ack=50), 17.0) == 8
    assert d.backoff.failures == 0 and d.step(17.0, 8) == ('wait', None)


def test_a_time_range_refusal_is_retried_with_backoff_and_names_the_clocks():
    """A centre whose clock is wrong for a moment refuses with 422 time_range; the next attempt
    may be accepted, so the same frame goes again after backoff, not an hour later."""
    path, log = _ring_with(20)
    alarms = []
    d = _delivery(log, schedule=delivery.Schedule(every_s=0), on_alarm=lambda *a: alarms.append(a))
    action, built = d.step(0.0, log.durable_seq)
    refusal = b'{"error": "time_range", "detail": "record stamped 15 s ahead of the centre clock (limit 10 s)"}'
    now = 0.0
    for attempt in range(3):
        d.on_outcome(exchange.classify(422, refusal), now)
        action, until = d.step(now, log.durable_seq)
        assert action == 'wait' and until - now <= 2 ** attempt      # backoff: 1 s, 2 s, 4 s at most
        now = until
        action, again = d.step(now, log.durable_seq)
        assert action == 'send' and again is built
    assert len(alarms) == 1 and alarms[0][1] == 'clock' and "gateway's clock" in alarms[0][2]
    d.on_outcome(FakeCentre().answer(again.data), 10.0)
    assert d.cursor == 19 and d.backoff.failures == 0
    _cleanup(log, path)
