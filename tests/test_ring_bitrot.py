"""Bit rot (issue 12): one random byte flipped in a record, a segment header or the state
file, in the head segment or a completed one, 240 times.  Each time: no durable reading is
destroyed except the damaged record itself, no damaged value is read as valid, no sequence
number is handed out again, what is missing is declared 'corrupt', and the damage is
reported.  Real files; the ring and the state file as the gateway uses them."""

from __future__ import annotations

import os
import random

import pytest

from firmware.lib import segment
from firmware.lib.reading import Reading
from firmware.lib.ring import SLOT_NAME, RingLog
from firmware.lib.state import SLOT_SIZE, StateFile

READINGS = 300
SEGMENT = 4096
SLOTS = 8
T0 = 1763913600000
CODE = 80420101001


def _payload(seq: int) -> bytes:
    return Reading(CODE, T0 + seq * 1000, 100000 + seq * 7, -2, 0, 'kWh').pack()


class Reports:
    def __init__(self) -> None:
        self.damage: list[tuple] = []

    def __call__(self, path, first, last, lost, what) -> None:
        self.damage.append((path, first, last, lost, what))


def _write(path: str) -> None:
    """What a gateway leaves: readings in several segments, the state saved after each commit."""
    state = StateFile(path + '/state')
    ring = RingLog(path, SEGMENT, SLOTS)
    for start in range(0, READINGS, 25):
        for seq in range(start, min(READINGS, start + 25)):
            assert ring.append(_payload(seq)) == seq
        ring.commit()
        state.save({'cursors': {'platform': -1}, 'seq_hwm': ring.durable_seq})
    ring.close()


def _records(path: str, slot: int) -> list[tuple[int, int, int]]:
    """(seq, first byte, end byte) of each record of a segment file."""
    with open('%s/%s' % (path, SLOT_NAME % slot), 'rb') as f:
        data = f.read()
    out, start = [], segment.HEADER_SIZE
    for seq, _, end in segment.scan(data, start, segment.read_header(data)[1]):
        out.append((seq, start, end))
        start = end
    return out


def _reopen(path: str, reports: Reports):
    state = StateFile(path + '/state')
    ring = RingLog(path, SEGMENT, SLOTS, on_damage=reports, min_next_seq=state.data.get('seq_hwm', -1) + 1)
    return state, ring


def _read_all(ring: RingLog) -> list[tuple[int, bytes]]:
    reader, out = ring.reader(0), []
    while True:
        got = reader.read(37)
        if not got:
            return out
        out += got


def _slots(path: str) -> list[tuple[int, int]]:
    """(first_seq, slot) of every segment file, oldest first."""
    found = []
    for slot in range(SLOTS):
        name = '%s/%s' % (path, SLOT_NAME % slot)
        if os.path.exists(name):
            with open(name, 'rb') as f:
                found.append((segment.read_header(f.read(segment.HEADER_SIZE))[1], slot))
    return sorted(found)


@pytest.mark.parametrize('target', ['completed-record', 'head-record', 'header', 'state'])
def test_a_flipped_byte_costs_at_most_its_own_record_and_is_always_reported(tmp_path, target):
    rnd = random.Random('bitrot-%s' % target)
    for trial in range(60):
        path = str(tmp_path / ('%s-%d' % (target, trial)))
        os.mkdir(path)
        _write(path)
        segments = _slots(path)
        head_slot = segments[-1][1]
        victim_seq = None
        if target == 'state':
            with open(path + '/state', 'rb') as f:
                data = f.read()
            used = [at for at in range(2 * SLOT_SIZE) if data[at]]
            name, at = path + '/state', rnd.choice(used)
        elif target == 'header':
            slot = rnd.choice(segments)[1]
            name, at = '%s/%s' % (path, SLOT_NAME % slot), rnd.randrange(36)   # a copy's checked bytes
            if rnd.random() < 0.5:
                at += segment.COPY_SIZE
        else:
            slot = head_slot if target == 'head-record' else rnd.choice(segments[:-1])[1]
            victim_seq, start, end = rnd.choice(_records(path, slot))
            name, at = '%s/%s' % (path, SLOT_NAME % slot), rnd.randrange(start, end)
        with open(name, 'r+b') as f:
            f.seek(at)
            byte = f.read(1)[0]
            f.seek(at)
            f.write(bytes([byte ^ rnd.randrange(1, 256)]))

        reports = Reports()
        state, ring = _reopen(path, reports)
        got = _read_all(ring)
        where = '%s trial %d: byte %d of %s' % (target, trial, at, name)
        for seq, payload in got:
            assert payload == _payload(seq), where + ': a damaged value was read as valid'
        missing = sorted(set(range(READINGS)) - {seq for seq, _ in got})
        assert missing == ([] if victim_seq is None else [victim_seq]), where
        for seq in missing:
            assert ring.loss_causes(seq, seq) == [(seq, seq, 'corrupt')], where
        assert ring.next_seq >= READINGS, where + ': a sequence number would be handed out again'
        if target == 'state':
            assert state.torn_slot or state.problem, where + ': not reported'
        else:
            assert reports.damage, where + ': not reported'
            assert sum(r[3] for r in reports.damage) == len(missing), where
        ring.append(_payload(READINGS))
        ring.commit()
        assert _read_all(ring)[-1] == (ring.durable_seq, _payload(READINGS))
        ring.close()
