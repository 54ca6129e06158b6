"""The ring-buffered log: sequence, durability, recovery, the full-ring policies, readers."""

import os

from firmware.lib import damaged, reading, ring, segment, thinning
from firmware.lib.reading import Reading
from firmware.lib.ring import RingFull, RingLog
from portable_helpers import ENERGY, POWER, raises

_counter = [0]
T0 = 1763913600000          # 2025-11-24T00:00:00+08:00 (a local midnight), in ms


def _dir():
    _counter[0] += 1
    base = os.getenv('TMPDIR') or '/tmp'
    path = '%s/tanji-ring-%d-%d' % (base, os.getpid() if hasattr(os, 'getpid') else 0, _counter[0])
    try:
        os.mkdir(path)
    except OSError:
        for name in os.listdir(path):
            os.remove(path + '/' + name)
    return path


def _cleanup(log, path):
    log.close()
    for name in os.listdir(path):
        if name == damaged.DIRECTORY:
            for kept in os.listdir(path + '/' + name):
                os.remove(path + '/' + name + '/' + kept)
            os.rmdir(path + '/' + name)
        else:
            os.remove(path + '/' + name)
    os.rmdir(path)


def _payload(i):
    return Reading(ENERGY, T0 + i * 60000, 100000 + i * 7, -2, 0, 'kWh').pack()


def _fill(log, n, start=0):
    seqs = [log.append(_payload(start + i)) for i in range(n)]
    log.commit()
    return seqs


def _read_all(log, from_seq=0, batch=50):
    r = log.reader(from_seq)
    out = []
    while True:
        got = r.read(batch)
        if not got:
            return out
        out += got


class Losses:
    def __init__(self):
        self.events = []

    def __call__(self, kind, first, last, count):
        self.events.append((kind, first, last, count))

    def total(self, kind):
        return sum(e[3] for e in self.events if e[0] == kind)


def test_sequence_is_gap_free_across_segments_and_reads_back_exactly():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    seqs = _fill(log, 300)
    assert seqs == list(range(300)) and log.durable_seq == 299
    got = _read_all(log)
    assert [s for s, _ in got] == list(range(300))
    assert [p for _, p in got] == [_payload(i) for i in range(300)]
    r = log.reader(123)
    assert [s for s, _ in r.read(5)] == [123, 124, 125, 126, 127]
    assert [s for s, _ in r.read(3)] == [128, 129, 130]
    assert len(r.read(1000, max_bytes=100)) == 3          # byte cap (payloads are 33 bytes)
    _cleanup(log, path)


def test_uncommitted_readings_are_invisible_and_lost_without_a_gap_after_a_restart():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    _fill(log, 150)
    log.append(_payload(150))                 # never committed: the power goes
    assert [s for s, _ in _read_all(log, 149)] == [149]
    log.close()
    log = RingLog(path, segment_size=4096, segment_count=8)
    assert (log.durable_seq, log.next_seq) == (149, 150)
    assert log.append(_payload(151)) == 150
    log.commit()
    assert [s for s, _ in _read_all(log)] == list(range(151))
    _cleanup(log, path)


def test_recovery_cuts_a_torn_head_and_keeps_everything_durable():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    _fill(log, 200)
    head = log._segments[-1]
    tail = log._head.tail
    log.close()
    f = open('%s/%s' % (path, ring.SLOT_NAME % head.slot), 'r+b')
    f.seek(tail)
    f.write(segment.pack_record(200, _payload(200))[:20])
    f.close()
    damage = Damage()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage)
    assert (log.durable_seq, log.next_seq) == (200, 201)      # the torn record's number is not reused
    assert [e[1:4] for e in damage.events] == [(200, 200, 1)]
    assert [s for s, _ in _read_all(log)] == list(range(200))
    assert log.loss_causes(200, 200) == [(200, 200, 'corrupt')]
    _cleanup(log, path)


class Damage:
    def __init__(self):
        self.events = []

    def __call__(self, path, first, last, lost, what):
        self.events.append((path, first, last, lost, what))


def _flip(path, at):
    f = open(path, 'r+b')
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0x10]))
    f.close()


def _record_offset(path, seq):
    f = open(path, 'rb')
    data = f.read()
    f.close()
    start = segment.HEADER_SIZE
    for s, _, end in segment.scan(data, start, segment.read_header(data)[1]):
        if s == seq:
            return start
        start = end
    raise AssertionError('no record %d' % seq)


def test_a_damaged_record_in_a_completed_segment_costs_only_itself_and_is_reported_once():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    _fill(log, 300)
    second = log._segments[1]
    victim = second.first_seq + 20
    log.close()
    name = '%s/%s' % (path, ring.SLOT_NAME % second.slot)
    _flip(name, _record_offset(name, victim) + 17)
    damage = Damage()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage)
    assert damage.events == []                     # completed segments are not scanned at start-up
    for reader_from in (0, victim - 3):
        got = [s for s, _ in _read_all(log, reader_from, batch=7)]
        assert got == [s for s in range(reader_from, 300) if s != victim]
    assert [e[:4] for e in damage.events] == [(name, victim, victim, 1)]
    assert damage.events[0][4].startswith('unreadable records at byte')
    kept = os.listdir(path + '/' + damaged.DIRECTORY)
    assert len(kept) == 1 and kept[0].startswith(ring.SLOT_NAME % second.slot)   # the damaged bytes, for inspection
    assert log.loss_causes(victim - 1, victim + 1) == [(victim - 1, victim + 1, 'corrupt')]
    assert log.loss_causes(victim, victim) == [(victim, victim, 'corrupt')]
    _cleanup(log, path)


def test_a_damaged_header_is_rebuilt_and_its_segment_kept():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    _fill(log, 300)
    second = log._segments[1]
    log.close()
    name = '%s/%s' % (path, ring.SLOT_NAME % second.slot)
    _flip(name, 12)                                 # one copy: repaired from the other
    damage = Damage()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage)
    assert [s for s, _ in _read_all(log)] == list(range(300))
    assert len(damage.events) == 1 and 'repaired' in damage.events[0][4]
    log.close()
    _flip(name, 12)
    _flip(name, 52)                                 # both copies: rebuilt from the records
    damage = Damage()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage)
    assert [s for s, _ in _read_all(log)] == list(range(300))
    assert len(damage.events) == 1 and 'rebuilt' in damage.events[0][4]
    assert os.listdir(path + '/' + damaged.DIRECTORY) == [ring.SLOT_NAME % second.slot + '.1']
    log.close()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage)
    assert len(damage.events) == 1                  # the repair held
    _cleanup(log, path)


def test_a_damaged_record_in_the_head_keeps_what_follows_and_its_number():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    _fill(log, 300)
    head = log._segments[-1]
    victim = head.first_seq + 5
    log.close()
    name = '%s/%s' % (path, ring.SLOT_NAME % head.slot)
    _flip(name, _record_offset(name, victim) + 2)  # the length of the record
    damage = Damage()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage)
    assert (log.durable_seq, log.next_seq) == (299, 300)
    assert [e[1:4] for e in damage.events] == [(victim, victim, 1)]
    _fill(log, 10, 300)
    assert [s for s, _ in _read_all(log)] == [s for s in range(310) if s != victim]
    assert len(damage.events) == 1                 # the reader met the same damage: not reported again
    _cleanup(log, path)


def test_a_file_with_nothing_readable_is_kept_and_numbers_continue_past_the_high_water_mark():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=8)
    _fill(log, 300)
    head = log._segments[-1]
    log.close()
    name = '%s/%s' % (path, ring.SLOT_NAME % head.slot)
    size = os.stat(name)[6]
    f = open(name, 'r+b')
    f.write((bytes(range(1, 256)) * (size // 255 + 1))[:size])   # header and every record overwritten
    f.close()
    damage = Damage()
    log = RingLog(path, segment_size=4096, segment_count=8, on_damage=damage, min_next_seq=300)
    assert log.next_seq == 300
    assert [e[1:4] for e in damage.events] == [(-1, -1, 0), (head.first_seq, 299, 300 - head.first_seq)]
    assert ring.SLOT_NAME % head.slot + '.1' in os.listdir(path + '/' + damaged.DIRECTORY)
    _fill(log, 5, 300)
    got = [s for s, _ in _read_all(log)]
    assert got == list(range(head.first_seq)) + list(range(300, 305))
    assert log.loss_causes(head.first_seq, 299) == [(head.first_seq, 299, 'corrupt')]
    _cleanup(log, path)


def test_acknowledged_segments_are_recycled_silently():
    path = _dir()
    losses = Losses()
    log = RingLog(path, segment_size=4096, segment_count=4, on_loss=losses)
    for i in range(10):
        _fill(log, 100, i * 100)
        log.floor = log.durable_seq           # every centre keeps up
    assert losses.events == [] and log.durable_seq == 999
    assert log.oldest_seq() > 0
    _cleanup(log, path)


def test_drop_oldest_counts_and_reports_what_it_drops():
    path = _dir()
    losses = Losses()
    log = RingLog(path, segment_size=4096, segment_count=4, policy='drop_oldest', on_loss=losses)
    _fill(log, 1000)
    assert losses.events and all(e[0] == 'dropped' for e in losses.events)
    got = [s for s, _ in _read_all(log)]
    assert got == list(range(got[0], 1000)) and got[0] > 0
    assert losses.total('dropped') == got[0]    # every missing reading was reported
    _cleanup(log, path)


def test_stop_refuses_new_readings_until_the_centres_catch_up():
    path = _dir()
    losses = Losses()
    log = RingLog(path, segment_size=4096, segment_count=4, policy='stop', on_loss=losses)
    n = 0
    try:
        while True:
            log.append(_payload(n))
            n += 1
    except RingFull:
        pass
    log.commit()
    assert [e[0] for e in losses.events] == ['refusing']
    assert [s for s, _ in _read_all(log)] == list(range(n))      # nothing lost
    log.floor = 150
    assert log.append(_payload(n)) == n
    _cleanup(log, path)


def _minute_data(i):
    """Two codes every minute: an energy register and power."""
    minute, kind = divmod(i, 2)
    ts = T0 + minute * 60000
    if kind == 0:
        return Reading(ENERGY, ts, 100000 + minute * 11, -2, 0, 'kWh').pack()
    return Reading(POWER, ts, 4000 + minute % 50, -1, 0, 'kW').pack()


def test_thinning_keeps_day_bounding_register_readings_and_reports_the_rest():
    path = _dir()
    losses = Losses()
    log = RingLog(path, segment_size=32768, segment_count=4, policy='thin',
                  thin_rule=thinning.rule(8 * 3600), on_loss=losses)
    n = 2 * 1440 * 3                         # three days of minute data
    for i in range(n):
        log.append(_minute_data(i))
        if i % 500 == 499:
            log.commit()
    log.commit()
    assert losses.events and all(e[0] == 'thinned' for e in losses.events)
    got = _read_all(log)
    seqs = [s for s, _ in got]
    assert seqs == sorted(seqs) and seqs[-1] == n - 1
    assert len(got) + losses.total('thinned') == n          # kept + reported = everything
    energy = {}
    for s, p in got:
        rec, unit = reading.unpack(s, p)
        if rec.code == ENERGY:
            day = (rec.ts_ms - T0) // 86400000
            energy.setdefault(day, []).append(rec.value)
    # the register at the start and end of each day survives, so the daily totals are exact
    for day in range(3):
        first_minute, last_minute = day * 1440, day * 1440 + 1439
        assert energy[day][0] == 100000 + first_minute * 11
        assert energy[day][-1] == 100000 + last_minute * 11
    _cleanup(log, path)


def test_a_power_cut_during_thinning_leaves_a_consistent_ring():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=5)
    _fill(log, 300)
    infos = [(i.slot, i.first_seq) for i in log._segments]
    log.close()
    # cut before the rename: the temporary file is left over
    f = open(path + '/' + ring.THIN_TEMP, 'wb')
    f.write(b'half a segment')
    f.close()
    log = RingLog(path, segment_size=4096, segment_count=5)
    assert [s for s, _ in _read_all(log)] == list(range(300))
    log.close()
    # cut after the rename, before the second segment was removed: it is superseded
    (a_slot, a_first), (b_slot, _) = infos[0], infos[1]
    c_first = infos[2][1]
    kept = [(s, p) for s, p in _read_all_closed(path, 5) if s < c_first and s % 10 == 0]
    segment.write_file('%s/%s' % (path, ring.SLOT_NAME % a_slot), 99, a_first, c_first - 1, kept)
    log = RingLog(path, segment_size=4096, segment_count=5)
    got = [s for s, _ in _read_all(log)]
    assert got == [s for s, _ in kept] + list(range(c_first, 300))
    assert b_slot not in [i.slot for i in log._segments]
    _cleanup(log, path)


def _read_all_closed(path, count):
    log = RingLog(path, segment_size=4096, segment_count=count)
    got = _read_all(log)
    log.close()
    return got


def test_readers_skip_what_the_ring_no_longer_holds():
    path = _dir()
    log = RingLog(path, segment_size=4096, segment_count=4, policy='drop_oldest')
    r = log.reader(0)
    _fill(log, 50)
    assert [s for s, _ in r.read(10)] == list(range(10))
    _fill(log, 1000, 50)
    got = r.read(5)
    assert got[0][0] == log.oldest_seq() > 10                 # jumped over the dropped readings
    _cleanup(log, path)


def test_bad_settings_are_refused():
    path = _dir()
    raises(ring.RingError, RingLog, path, 4096, 4, 'keep_everything')
    raises(ring.RingError, RingLog, path, 4096, 2)
    log = RingLog(path, segment_size=4096, segment_count=4)
    raises(ring.RingError, log.append, b'x' * 5000)
    _cleanup(log, path)
