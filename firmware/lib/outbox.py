"""Frames built from the log for one centre (docs/protocol.md).

build() reads durable readings from a centre's next sequence number on and
packs them into one signed frame.  Sequence numbers the ring no longer holds
(thinned or dropped) and readings that cannot be framed are declared lost by
the frame (protocol §3), so the centre's ack moves past them and the loss is
explicit on both sides.  Portable.
"""

from firmware.lib import reading
from shared.codec import codes as _codes
from shared.codec import frame as framing
from shared.delivery.machine import Built


def _records_of(pairs):
    """Readings up to the first change of a code's unit, their units, and how many were unreadable."""
    records, units, bad = [], {}, 0
    for seq, payload in pairs:
        try:
            rec, unit = reading.unpack(seq, payload)
        except (ValueError, TypeError):
            bad += 1
            continue
        if units.get(rec.code, unit) != unit:
            break                    # the unit of a code changed here: the next frame starts with it
        units[rec.code] = unit
        records.append(rec)
    return records, units, bad


def build(reader, gateway_id, sign, first_seq, max_records, max_bytes,
          tables_version=_codes.DEFAULT_VERSION):
    """A Built frame covering first_seq .. its last reading, or None when no frameable
    durable reading is there yet.  Leaves the reader after the frame's last reading."""
    if reader.next_seq != first_seq:
        reader.seek(first_seq)
    unframeable = 0
    while True:
        batch_start = reader.next_seq
        pairs = reader.read(max_records, max_bytes * 4)
        if not pairs:
            reader.seek(first_seq)
            return None
        records, units, bad = _records_of(pairs)
        unframeable += bad
        tables = _codes.tables(tables_version)
        good = [r for r in records if _frameable(r, units[r.code], tables)]
        unframeable += len(records) - len(good)
        if not good:
            reader.seek(pairs[-1][0] + 1 if not records else records[-1].seq + 1)
            continue                 # nothing frameable here: declare it lost with the next frame
        try:
            data = framing.encode(gateway_id, good, units, sign, tables_version, first_seq)
        except framing.FrameError:
            # a frame-level limit (e.g. readings too far apart in time for one frame): fewer per frame
            if len(good) == 1:
                unframeable += 1
                reader.seek(good[0].seq + 1)
                continue
            max_records = max(1, len(good) // 2)
            reader.seek(batch_start)
            continue
        if len(data) > max_bytes and len(good) > 1:
            max_records = max(1, len(good) // 2)
            reader.seek(batch_start)
            continue
        reader.seek(good[-1].seq + 1)
        return Built(data, first_seq, good[-1].seq, len(good), unframeable)


def _frameable(rec, unit, tables):
    """Whether a reading can go into a frame: the encoder's own checks."""
    if framing.record_problem(rec.value, rec.exp, rec.flags, rec.ts_ms) is not None:
        return False
    try:
        framing.check_code(tables, rec.code, unit)
    except framing.FrameError:
        return False
    return True
