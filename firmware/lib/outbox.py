"""Frames built from the log for one centre (docs/protocol.md).

build() reads durable readings from a centre's next sequence number on and
packs them into one signed frame.  Sequence numbers the ring no longer holds
(thinned, dropped or damaged) and readings that cannot be framed are declared
lost by the frame with their cause (protocol §3), so the centre's ack moves
past them and the loss and its reason are explicit on both sides.  Portable.
"""

from firmware.lib import reading
from shared.codec import codes as _codes
from shared.codec import frame as framing
from shared.delivery.machine import Built


def _records_of(pairs):
    """Readings up to the first change of a code's unit, their units, and the numbers of unreadable ones."""
    records, units, bad = [], {}, []
    for seq, payload in pairs:
        try:
            rec, unit = reading.unpack(seq, payload)
        except (ValueError, TypeError):
            bad.append(seq)
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
    unframeable = []
    while True:
        batch_start = reader.next_seq
        pairs = reader.read(max_records, max_bytes * 4)
        if not pairs:
            reader.seek(first_seq)
            return None
        records, units, bad = _records_of(pairs)
        unframeable += bad
        tables = _codes.tables(tables_version)
        good = []
        for r in records:
            if _frameable(r, units[r.code], tables):
                good.append(r)
            else:
                unframeable.append(r.seq)
        if not good:
            reader.seek(pairs[-1][0] + 1 if not records else records[-1].seq + 1)
            continue                 # nothing frameable here: declare it lost with the next frame
        lost = _causes(reader.ring, framing.gaps(first_seq, [r.seq for r in good]), unframeable)
        try:
            data = framing.encode(gateway_id, good, units, sign, tables_version, first_seq, lost)
        except framing.FrameError:
            # a frame-level limit (e.g. readings too far apart in time for one frame): fewer per frame
            if len(good) == 1:
                unframeable.append(good[0].seq)
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
        return Built(data, first_seq, good[-1].seq, len(good), sum(1 for q in unframeable if q < good[-1].seq))


def _causes(ring, gaps, unframeable):
    """(first, last, cause) for the numbers in gaps: 'unframeable' for readings this
    build could not frame, else why the ring no longer holds them."""
    out = []
    for a, b in gaps:
        for first, last, cause in ring.loss_causes(a, b):
            at = first
            for q in sorted(q for q in unframeable if first <= q <= last):
                if q > at:
                    out.append((at, q - 1, cause))
                out.append((q, q, 'unframeable'))
                at = q + 1
            if at <= last:
                out.append((at, last, cause))
    merged = []
    for entry in out:
        if merged and merged[-1][2] == entry[2] and merged[-1][1] + 1 == entry[0]:
            merged[-1] = (merged[-1][0], entry[1], entry[2])
        else:
            merged.append(entry)
    return merged


def _frameable(rec, unit, tables):
    """Whether a reading can go into a frame: the encoder's own checks."""
    if framing.record_problem(rec.value, rec.exp, rec.flags, rec.ts_ms) is not None:
        return False
    try:
        framing.check_code(tables, rec.code, unit)
    except framing.FrameError:
        return False
    return True
