"""The log segment: records come back exactly; a torn tail or a damaged record is never returned,
costs only itself, and its sequence numbers are never handed out again."""

import os

from firmware.lib import segment
from firmware.lib.segment import Segment, SegmentError
from portable_helpers import raises

_counter = [0]


def _path():
    _counter[0] += 1
    base = os.getenv('TMPDIR') or '/tmp'
    return '%s/tanji-seg-%d-%d.log' % (base, os.getpid() if hasattr(os, 'getpid') else 0, _counter[0])


def _records(p, from_seq=0, n=1 << 30):
    """What a reader of the file finds: valid records from from_seq on."""
    with open(p, 'rb') as f:
        data = f.read()
    first = segment.read_header(data)[1]
    return [(q, b) for q, b, _ in segment.scan_all(data, segment.HEADER_SIZE, first) if q >= from_seq][:n]


def _payload(i):
    return ('reading %d ' % i).encode() * (1 + i % 5)


def _filled(n, size=1 << 20):
    p = _path()
    s = Segment.create(p, 7, 1000, size)
    for i in range(n):
        s.append(_payload(i))
    s.commit()
    return p, s


def test_records_round_trip_in_sequence():
    p, s = _filled(50)
    assert s.durable_seq == 1049
    got = _records(p, 1000, 100)
    assert [q for q, _ in got] == list(range(1000, 1050))
    assert [b for _, b in got] == [_payload(i) for i in range(50)]
    assert [q for q, _ in _records(p, 1040, 3)] == [1040, 1041, 1042]
    s.close()
    os.remove(p)


def test_appended_but_uncommitted_records_are_not_durable():
    p, s = _filled(5)
    s.append(b'not yet')
    assert s.durable_seq == 1004
    assert [q for q, _ in _records(p, 1000, 10)] == [1000, 1001, 1002, 1003, 1004]
    s.close()
    r = Segment.recover(p, 1 << 20)
    assert r.next_seq == 1005
    r.close()
    os.remove(p)


def test_recovery_cuts_a_torn_tail_zero_fills_it_and_never_reuses_its_numbers():
    p, s = _filled(20)
    good_tail = s.tail
    s.close()
    with open(p, 'r+b') as f:          # a half-written record after the last good one
        f.seek(good_tail)
        f.write(segment.pack_record(1020, b'x' * 100)[:57])
    r = Segment.recover(p, 1 << 20)
    assert (r.tail, r.next_seq, r.durable_seq) == (good_tail, 1021, 1020)
    assert r.damage == [(good_tail, good_tail + 57, 1020, 1020)]
    with open(p, 'rb') as f:
        f.seek(good_tail)
        assert f.read() == bytes(57)
    r.append(b'after the cut')
    r.commit()
    assert _records(p, 1019, 5) == [(1019, _payload(19)), (1021, b'after the cut')]
    r.close()
    os.remove(p)


def test_a_tail_of_uncommitted_zeros_is_not_damage():
    p, s = _filled(5)
    s.close()
    with open(p, 'ab') as f:
        f.write(bytes(300))
    r = Segment.recover(p, 1 << 20)
    assert (r.next_seq, r.damage) == (1005, [])
    r.close()
    os.remove(p)


def _offset_of(data, index):
    off = segment.HEADER_SIZE
    for _ in range(index):
        off += 16 + int.from_bytes(data[off:off + 4], 'big')
    return off


def _flip(p, at):
    with open(p, 'r+b') as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x5A]))


def test_a_damaged_record_costs_only_itself():
    p, s = _filled(10)
    s.close()
    with open(p, 'rb') as f:
        data = f.read()
    six = _offset_of(data, 6)
    _flip(p, six + 14)
    r = Segment.recover(p, 1 << 20)
    assert r.durable_seq == 1009 and r.next_seq == 1010
    assert r.damage == [(six, _offset_of(data, 7), 1006, 1006)]
    assert [q for q, _ in _records(p, 1000, 100)] == [1000, 1001, 1002, 1003, 1004, 1005, 1007, 1008, 1009]
    r.close()
    os.remove(p)


def test_damage_to_the_last_committed_record_never_frees_its_number():
    p, s = _filled(10)
    s.close()
    with open(p, 'rb') as f:
        data = f.read()
    _flip(p, _offset_of(data, 9) + 20)           # the payload of 1009: the record is unreadable
    r = Segment.recover(p, 1 << 20)
    assert r.next_seq == 1010 and r.damage[0][2:] == (1009, 1009)
    r.close()
    _flip(p, _offset_of(data, 8) + 5)            # the number itself of 1008, and 1009 already zeroed
    r = Segment.recover(p, 1 << 20, min_next_seq=1010)
    assert r.next_seq == 1010                    # the owner's high-water mark holds it
    r.close()
    os.remove(p)


def test_one_damaged_header_copy_is_read_from_the_other_and_both_from_the_records():
    p, s = _filled(3)
    s.close()
    with open(p, 'rb') as f:
        data = f.read()
    assert segment.header_intact(data)
    for at in (3, 45):
        damaged = bytearray(data)
        damaged[at] ^= 1
        assert segment.read_header(bytes(damaged)) == (7, 1000, segment.OPEN)
        assert not segment.header_intact(bytes(damaged))
    damaged = bytearray(data)
    damaged[3] ^= 1
    damaged[45] ^= 1
    assert segment.read_header(bytes(damaged)) is None
    assert segment.rebuilt_header(bytes(damaged)) == (0, 1000, segment.OPEN)
    assert segment.rebuilt_header(bytes(segment.HEADER_SIZE + 50)) is None
    os.remove(p)


def test_stale_records_of_an_older_generation_are_not_resurrected():
    p, s = _filled(30)
    s.close()
    s = Segment.create(p, 8, 5000, 1 << 20)   # ring wrapped: the file is reused
    s.append(b'new')
    s.commit()
    s.close()
    r = Segment.recover(p, 1 << 20)
    assert r.generation == 8 and _records(p, 5000, 10) == [(5000, b'new')]
    r.close()
    os.remove(p)


def test_full_segment_and_bad_header_are_refused():
    p = _path()
    s = Segment.create(p, 1, 0, segment.HEADER_SIZE + 40)
    s.append(b'x' * 24)
    raises(SegmentError, s.append, b'y')
    s.close()
    with open(p, 'r+b') as f:
        f.write(b'JUNK')
        f.seek(segment.COPY_SIZE)
        f.write(b'JUNK')
    raises(SegmentError, Segment.recover, p, 1 << 20)
    os.remove(p)
