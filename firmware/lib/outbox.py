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
from shared.codec import flags


def _frameable(gateway_id, rec, unit, tables_version):
    try:
        framing.build_body(gateway_id, [rec], {rec.code: unit}, tables_version)
        return True
    except framing.FrameError:
        return False


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
        good = [r for r in records if _frameable_cached(gateway_id, r, units[r.code], tables_version)]
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


_checked = {}


def _frameable_cached(gateway_id, rec, unit, tables_version):
    """Whether a reading can go into a frame: the same checks as the encoder, with the
    code/unit check remembered per (code, unit)."""
    v, f = rec.value, rec.flags
    if type(f) is not int or not 0 <= f <= flags.FLAGS_MAX:
        return False
    if v is None:
        if not f:
            return False
    elif type(v) is int:
        if not framing.INT64_MIN <= v <= framing.INT64_MAX or type(rec.exp) is not int or not -12 <= rec.exp <= 12:
            return False
    elif type(v) is float:
        if v != v or v in (float('inf'), float('-inf')):
            return False
    else:
        return False
    if type(rec.ts_ms) is not int or not framing.T0_MIN * 1000 <= rec.ts_ms < framing.T0_MAX * 1000:
        return False
    key = (rec.code, unit, tables_version)
    ok = _checked.get(key)
    if ok is None:
        ok = _frameable(gateway_id, rec, unit, tables_version)
        if len(_checked) > 4096:
            _checked.clear()
        _checked[key] = ok
    return ok
