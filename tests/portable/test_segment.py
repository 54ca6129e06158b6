"""The log segment: records come back exactly, a torn or corrupt tail is cut, never returned."""

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
    return [(q, b) for q, b, _ in segment.scan(data, segment.HEADER_SIZE, first) if q >= from_seq][:n]


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


def test_recovery_cuts_a_torn_tail_and_zero_fills_it():
    p, s = _filled(20)
    good_tail = s.tail
    s.close()
    with open(p, 'r+b') as f:          # a half-written record after the last good one
        f.seek(good_tail)
        f.write(segment.pack_record(1020, b'x' * 100)[:57])
    r = Segment.recover(p, 1 << 20)
    assert (r.tail, r.next_seq, r.durable_seq) == (good_tail, 1020, 1019)
    with open(p, 'rb') as f:
        f.seek(good_tail)
        assert f.read() == bytes(57)
    r.append(b'after the cut')
    r.commit()
    assert _records(p, 1020, 5) == [(1020, b'after the cut')]
    r.close()
    os.remove(p)


def test_a_corrupt_record_is_never_returned():
    p, s = _filled(10)
    s.close()
    with open(p, 'r+b') as f:
        data = f.read()
        off = segment.HEADER_SIZE
        for _ in range(6):                 # skip to record 6 and flip one payload byte
            length = int.from_bytes(data[off:off + 4], 'big')
            off += 16 + length
        f.seek(off + 14)
        f.write(bytes([data[off + 14] ^ 0xFF]))
    r = Segment.recover(p, 1 << 20)
    assert r.durable_seq == 1005
    assert [q for q, _ in _records(p, 1000, 100)] == [1000, 1001, 1002, 1003, 1004, 1005]
    r.close()
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
    raises(SegmentError, Segment.recover, p, 1 << 20)
    os.remove(p)
