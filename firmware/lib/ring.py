"""The gateway's ring-buffered log: every reading, durable, in sequence, for
every data centre to take at its own pace (seed 001 §7.6, §12.4).

A directory of fixed-size slot files `seg-NNN.tjl` (firmware/lib/segment.py).
Readings are appended to the head segment and made durable by group commit
(commit() writes and fsyncs everything appended since the last one).  When the
head segment is full the log moves to a free slot, or recycles the oldest
segment:

- silently when every centre has acknowledged it (`floor`, the lowest
  sequence number every centre holds, is at or beyond its end);
- otherwise by the full-ring policy, always reported through on_loss():
  'thin' (default) merges the two oldest segments into one, keeping only the
  readings thin_rule(records) selects (firmware/lib/thinning.py keeps the
  register readings that bound each day, so daily, monthly and yearly totals
  stay exact); 'drop_oldest' discards the oldest segment; 'stop' refuses new
  readings until the centres catch up.

Recovery reads one 40-byte header per slot and scans only the head segment,
so it is bounded by the segment size, not by the ring.  A thinned segment is
written to a temporary file and renamed over its slot, so a power cut leaves
either the old pair or the merged one; the merged segment's `covers_to` says
which later segment it replaces.

Damage (a flipped byte, a rotten sector) costs only the damaged records:
readers and recovery resynchronise on the next valid record; a damaged header
copy is repaired from the other, both from the records; a file with nothing
readable is moved to damaged/ and never deleted.  Each damage is reported once
through on_damage(file, first seq, last seq, numbers lost, what), and the
numbers lost are declared with the cause 'corrupt' (loss_causes()).  The next
sequence number is never below the owner's durable high-water mark nor below a
number a damaged record may have carried, so numbers are never reused.

Portable: open/read/write/seek, os.rename/remove/listdir/mkdir, os.fsync when present.
"""

import os

from firmware.lib import damaged
from firmware.lib.durable import fsync, fsync_dir
from firmware.lib import segment as seg

POLICIES = ('thin', 'drop_oldest', 'stop')
READ_CHUNK = 1 << 18
SLOT_NAME = 'seg-%03d.tjl'
THIN_TEMP = 'thin.tmp'


class RingFull(Exception):
    """The ring is full of data some centre still needs and the policy is 'stop'."""


class RingError(Exception):
    pass


class SegmentInfo:
    __slots__ = ('slot', 'generation', 'first_seq', 'covers_to')

    def __init__(self, slot, generation, first_seq, covers_to):
        self.slot = slot
        self.generation = generation
        self.first_seq = first_seq
        self.covers_to = covers_to




def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class RingLog:
    def __init__(self, directory, segment_size=16 << 20, segment_count=96, policy='thin', thin_rule=None,
                 on_loss=None, on_damage=None, min_next_seq=0, declared=None):
        if policy not in POLICIES:
            raise RingError('full-ring policy must be one of %s, not %r' % (', '.join(POLICIES), policy))
        if segment_count < 3:
            raise RingError('a ring needs at least 3 segments')
        if segment_size < 4096:
            raise RingError('segments must be at least 4096 bytes')
        self.directory = directory
        self.segment_size = segment_size
        self.segment_count = segment_count
        self.policy = policy
        self.thin_rule = thin_rule  # iterable of (seq, payload) -> predicate(seq, payload): which to keep
        self.on_loss = on_loss
        self.on_damage = on_damage
        self.min_next_seq = min_next_seq   # the owner's durable high-water mark + 1
        self.damaged = []          # [first, last] sequence ranges lost to damage
        self.declared = [tuple(d) for d in declared or ()]   # (first, last, cause) handed out without a record
        self._damage_seen = {}     # (slot, generation, byte offset) already reported
        self.floor = -1            # every centre holds everything up to here; set by the owner
        self.refusing = False
        self._rolling = False      # a move to a new segment failed (a write error) and is to be retried
        self._segments = []        # SegmentInfo, ordered by first_seq; the last one is the head
        self._head = None
        self._generation = 0
        self._open()

    # -- recovery --------------------------------------------------------------

    def _path(self, slot):
        return '%s/%s' % (self.directory, SLOT_NAME % slot)

    def _read_file(self, slot, size=None):
        try:
            f = open(self._path(slot), 'rb')
        except OSError:
            return None
        try:
            return f.read() if size is None else f.read(size)
        finally:
            f.close()

    def _open(self):
        if _exists('%s/%s' % (self.directory, THIN_TEMP)):
            os.remove('%s/%s' % (self.directory, THIN_TEMP))   # an unfinished thinning: the old pair is intact
        found = []
        for slot in range(self.segment_count):
            head = self._read_file(slot, seg.HEADER_SIZE)
            if head is None:
                continue
            hdr = seg.read_header(head)
            if hdr is None or not seg.header_intact(head):
                hdr = self._repair_header(slot, hdr)
                if hdr is None:
                    continue
            found.append(SegmentInfo(slot, hdr[0], hdr[1], hdr[2]))
            self._generation = max(self._generation, hdr[0])
        found.sort(key=lambda s: (s.first_seq, -s.generation))
        kept = []
        for info in found:
            if kept and kept[-1].covers_to != seg.OPEN and info.first_seq <= kept[-1].covers_to:
                os.remove(self._path(info.slot))   # merged into a thinned segment before the power cut
                continue
            kept.append(info)
        self._segments = kept
        if not kept:
            self._start_segment(0, max(0, self.min_next_seq))
            return
        head = kept[-1]
        if head.covers_to != seg.OPEN:
            # only damage leaves a thinned segment last (its successors unreadable): never append to it
            self._start_segment(self._free_slot(), max(head.covers_to + 1, self.min_next_seq))
            return
        self._head = seg.Segment.recover(self._path(head.slot), self.segment_size, self.min_next_seq)
        for (start, end, first, last), data in zip(self._head.damage, self._head.damaged_bytes):
            if start < self._head.tail:
                what = 'unreadable records'
            elif end > start:
                what = 'unreadable tail (a power cut during a commit, or damage)'
            else:
                what = 'readings below the durable high-water mark are missing (lost with a damaged file)'
            self._note_damage(len(kept) - 1, start, first, last, what, data)

    def _repair_header(self, slot, hdr):
        """A segment whose header is damaged: repaired from the intact copy, rebuilt from
        the records, or (nothing readable) moved to damaged/.  Returns the header or None."""
        path = self._path(slot)
        data = self._read_file(slot)
        if len(data) <= seg.HEADER_SIZE:
            # a segment whose creation was cut short: no record was ever written to it
            if hdr is None:
                os.remove(path)
                fsync_dir(self.directory)
                return None
            self._write_header(path, hdr)
            return hdr
        if hdr is None:
            hdr = seg.rebuilt_header(data)
            if hdr is None:
                kept = self._keep_damaged(SLOT_NAME % slot, data)
                os.remove(path)
                fsync_dir(self.directory)
                self._report_damage(path, -1, -1, 0, 'no valid header and no valid record: %s' % kept)
                return None
            what = 'both header copies damaged; rebuilt from the first valid record (seq %d)' % hdr[1]
            kept = self._keep_damaged(SLOT_NAME % slot, data[:seg.HEADER_SIZE])
        else:
            what = 'one header copy damaged; repaired from the other'
            kept = 'the intact copy is the record'
        self._write_header(path, hdr)
        self._report_damage(path, hdr[1], hdr[1], 0, '%s (%s)' % (what, kept))
        return hdr

    @staticmethod
    def _write_header(path, hdr):
        f = open(path, 'r+b')
        try:
            f.write(seg.pack_header(*hdr))
            fsync(f)
        finally:
            f.close()

    def _keep_damaged(self, name, data):
        return damaged.keep(self.directory, name, data)

    def _report_damage(self, path, first, last, lost, what):
        if self.on_damage is not None:
            self.on_damage(path, first, last, lost, what)

    def _note_damage(self, index, offset, first, last, what, data=b''):
        """Report one unreadable stretch of segment index (once per process), keep its
        bytes (data) in damaged/, and remember its numbers as lost to damage."""
        info = self._segments[index]
        key = (info.slot, info.generation, offset)
        if key in self._damage_seen:
            return
        self._damage_seen[key] = True
        lost = last - first + 1 if last >= first else 0
        if lost:
            self.damaged.append([first, last])
        if data:
            what = '%s at byte %d (%s)' % (what, offset, self._keep_damaged(
                '%s@%d' % (SLOT_NAME % info.slot, offset), data[:seg.KEEP_BYTES]))
        self._report_damage(self._path(info.slot), first, last, lost, what)

    def loss_causes(self, first, last):
        """[(first, last, cause), ...] for numbers in first..last the ring does not hold:
        'dropped' (before the oldest segment), 'thinned' (holes of a thinned segment) or
        'corrupt' (damaged, or missing from a segment written record by record)."""
        out = []
        at = first
        while at <= last:
            cause, upto = self._cause_at(at)
            upto = min(upto, last)
            if out and out[-1][2] == cause:
                out[-1] = (out[-1][0], upto, cause)
            else:
                out.append((at, upto, cause))
            at = upto + 1
        return out

    def _cause_at(self, seq):
        """(cause of seq's loss, last number from seq on with the same cause)."""
        bound = seg.OPEN
        for a, b, cause in self.declared:
            if a <= seq <= b:
                return cause, b
            if a > seq:
                bound = min(bound, a - 1)
        for a, b in self.damaged:
            if a <= seq <= b:
                return 'corrupt', b
            if a > seq:
                bound = min(bound, a - 1)
        if seq < self._segments[0].first_seq:
            return 'dropped', min(bound, self._segments[0].first_seq - 1)
        index = self._locate(seq)
        cause = 'corrupt' if self._segments[index].covers_to == seg.OPEN else 'thinned'
        return cause, min(bound, self._end_of(index))

    def _start_segment(self, slot, first_seq):
        self._generation += 1
        self._head = seg.Segment.create(self._path(slot), self._generation, first_seq, self.segment_size)
        self._segments.append(SegmentInfo(slot, self._generation, first_seq, seg.OPEN))
        fsync_dir(self.directory)

    # -- writing ---------------------------------------------------------------

    @property
    def next_seq(self):
        return self._head.next_seq

    @property
    def durable_seq(self):
        return self._head.durable_seq

    def oldest_seq(self):
        return self._segments[0].first_seq

    def recent_seq(self, segments):
        """The first sequence number of the last `segments` segments (the recent past)."""
        return self._segments[max(0, len(self._segments) - segments)].first_seq

    def pending(self):
        """Readings appended but not yet committed."""
        return self._head.pending()

    def append(self, payload):
        """Queue a reading; returns its sequence number.  Raises RingFull under the 'stop'
        policy when no room can be made without losing data a centre still needs."""
        if not self._head.has_room(len(payload)):
            if len(payload) + seg.RECORD_OVERHEAD + seg.HEADER_SIZE > self.segment_size:
                raise RingError('a reading of %d bytes can never fit a segment' % len(payload))
            self.commit()
            self._roll()
        return self._head.append(payload)

    def start_at(self, seq):
        """Number a log that holds nothing yet from seq on (a reinstalled gateway continues
        after the numbers its centres already hold)."""
        if self.durable_seq >= 0 or self.pending() or len(self._segments) != 1 or self.next_seq > seq:
            raise RingError('only an empty log can be renumbered, and only upwards')
        slot = self._segments[0].slot
        self._head.close()
        self._segments = []
        self._start_segment(slot, seq)

    def skip(self, count, cause):
        """Hand out count sequence numbers without records: readings lost before they
        could be logged (cause 'disk_full'), declared with that cause.  The owner keeps
        `declared` with its durable state and passes it back after a restart."""
        first = self._head.next_seq
        self._head.skip(count)
        last = first + count - 1
        if self.declared and self.declared[-1][2] == cause and self.declared[-1][1] == first - 1:
            self.declared[-1] = (self.declared[-1][0], last, cause)
        else:
            self.declared.append((first, last, cause))
        oldest = self.oldest_seq()
        self.declared = [d for d in self.declared if d[1] >= oldest][-64:]
        return first

    def commit(self):
        """Write and fsync the queued readings; returns the highest durable sequence number.
        Also finishes a move to a new segment that a write error interrupted."""
        durable = self._head.commit()
        if self._rolling:
            self._roll()
        return durable

    def _end_of(self, index):
        """Last sequence number segment `index` covers."""
        info = self._segments[index]
        if info.covers_to != seg.OPEN:
            return info.covers_to
        if index + 1 < len(self._segments):
            return self._segments[index + 1].first_seq - 1
        return self._head.durable_seq

    def _free_slot(self):
        used = [s.slot for s in self._segments]
        for slot in range(self.segment_count):
            if slot not in used:
                return slot
        return None

    def _roll(self):
        slot = self._free_slot()
        if slot is None:
            slot = self._make_room()
        self._head.close()
        self.refusing = False
        self._rolling = True
        self._start_segment(slot, self._head.next_seq)
        self._rolling = False

    def _make_room(self):
        oldest = self._segments[0]
        end = self._end_of(0)
        if end <= self.floor:
            self._segments.pop(0)
            return oldest.slot
        if self.policy == 'stop':
            if not self.refusing:
                self.refusing = True
                self._report('refusing', self.floor + 1, end, 0)
            raise RingFull('ring full: centres have not acknowledged readings from %d on' % (self.floor + 1))
        if self.policy == 'thin' and self.thin_rule is not None and len(self._segments) >= 3:
            slot = self._thin()
            if slot is not None:
                return slot
        unsent = self._count_unsent(0)
        self._segments.pop(0)
        self._report('dropped', max(oldest.first_seq, self.floor + 1), end, unsent)
        return oldest.slot

    def _report(self, kind, first, last, count):
        if self.on_loss is not None:
            self.on_loss(kind, first, last, count)

    def _count_unsent(self, index):
        n = 0
        for s, _ in self._iter_records(index):
            if s > self.floor:
                n += 1
        return n

    def _iter_records(self, index):
        """(seq, payload) of one segment, read from disk (one segment in memory at a time),
        past any damage (reported)."""
        info = self._segments[index]
        data = self._read_file(info.slot)
        damage = []
        for s, payload, _ in seg.scan_all(data, seg.HEADER_SIZE, info.first_seq, self._end_of(index), damage):
            yield s, payload
        for start, end, first, last in damage:
            self._note_damage(index, start, first, self._end_of(index) if last is None else last,
                              'unreadable records', data[start:end])

    def _unsent(self, indexes):
        for index in indexes:
            for s, payload in self._iter_records(index):
                if s > self.floor:
                    yield s, payload

    def _thin(self):
        """Merge the two oldest segments into the oldest slot; returns the freed slot or None."""
        a, b = self._segments[0], self._segments[1]
        covers_to = self._end_of(1)
        # two passes over the readings, so only what is kept is ever held in memory
        keep = self.thin_rule(self._unsent((0, 1)))
        unsent = 0
        kept = []
        size = seg.HEADER_SIZE
        for s, payload in self._unsent((0, 1)):
            unsent += 1
            if keep(s, payload):
                kept.append((s, payload))
                size += seg.RECORD_OVERHEAD + len(payload)
        if size > self.segment_size:
            return None
        self._generation += 1
        temp = '%s/%s' % (self.directory, THIN_TEMP)
        seg.write_file(temp, self._generation, a.first_seq, covers_to, kept)
        os.rename(temp, self._path(a.slot))
        fsync_dir(self.directory)
        os.remove(self._path(b.slot))
        fsync_dir(self.directory)
        self._segments[0] = SegmentInfo(a.slot, self._generation, a.first_seq, covers_to)
        self._segments.pop(1)
        self._report('thinned', max(a.first_seq, self.floor + 1), covers_to, unsent - len(kept))
        return b.slot

    # -- reading ---------------------------------------------------------------

    def reader(self, from_seq):
        return Reader(self, from_seq)

    def _locate(self, want):
        """Index of the segment holding sequence number want (or the first one after it)."""
        index = 0
        for i, info in enumerate(self._segments):
            if info.first_seq <= want:
                index = i
        return index

    def close(self):
        self._head.close()


class Reader:
    """Reads durable readings in sequence order from `next_seq` on, for one centre.
    Readings the ring no longer holds (thinned, dropped or damaged) are skipped: the
    caller sees the jump in sequence numbers and declares it with its cause
    (RingLog.loss_causes, docs/protocol.md §3)."""

    def __init__(self, ring, next_seq):
        self.ring = ring
        self.next_seq = next_seq
        self._slot = None
        self._generation = None
        self._offset = seg.HEADER_SIZE
        self._after = 0             # the number after the last record scanned at _offset

    def seek(self, next_seq):
        self.next_seq = next_seq
        self._slot = None

    def _position(self):
        """Index of the segment to read next; resets the file offset when the segment changed."""
        index = self.ring._locate(self.next_seq)
        info = self.ring._segments[index]
        if self._slot != info.slot or self._generation != info.generation:
            self._slot, self._generation, self._offset = info.slot, info.generation, seg.HEADER_SIZE
            self._after = info.first_seq
        return index

    def _chunk(self, index, size):
        ring = self.ring
        if index == len(ring._segments) - 1:
            size = min(size, ring._head.tail - self._offset)   # the head: only what is durable
            if size <= 0:
                return b''
        f = open(ring._path(ring._segments[index].slot), 'rb')
        try:
            f.seek(self._offset)
            return f.read(size)
        finally:
            f.close()

    def _cut_by_chunk(self, data, at, end):
        """Whether the record at data[at:] only looks bad because the chunk ends inside it."""
        if at + seg.RECORD_OVERHEAD > len(data):
            return True
        length = int.from_bytes(data[at:at + 4], 'big')
        seq = int.from_bytes(data[at + 4:at + 12], 'big')
        return length <= seg.MAX_PAYLOAD and self._after <= seq <= end and at + 16 + length > len(data)

    def _past_damage(self, index, end):
        """At an unreadable record: resynchronise on the next valid record of the segment
        (True), or report the rest of the segment unreadable (False).  Reported once."""
        data = self._chunk(index, self.ring.segment_size)
        if seg.is_blank(data, 0):
            return False                 # zero bytes left by a recovery: the segment's end
        at = seg.resync(data, 0, self._after, end)
        last = end if at < 0 else int.from_bytes(data[at + 4:at + 12], 'big') - 1
        if index == len(self.ring._segments) - 1 and at < 0:
            last = self.ring.durable_seq
        self.ring._note_damage(index, self._offset, self._after, last, 'unreadable records',
                               data[:len(data) if at < 0 else at])
        if at < 0:
            return False
        self._offset += at
        return True

    def read(self, max_records, max_bytes=1 << 30):
        """Up to max_records (seq, payload) pairs whose payloads total at most max_bytes
        (always at least one pair when one is available)."""
        ring = self.ring
        out = []
        total = 0
        size = READ_CHUNK
        while len(out) < max_records and self.next_seq <= ring.durable_seq:
            index = self._position()
            end = ring._end_of(index)
            data = self._chunk(index, size)
            consumed = 0
            for s, payload, stop in seg.scan(data, 0, self._after, end):
                if s >= self.next_seq:
                    if out and total + len(payload) > max_bytes:
                        self._offset += consumed
                        return out
                    out.append((s, payload))
                    total += len(payload)
                    self.next_seq = s + 1
                consumed = stop
                self._after = s + 1
                if len(out) >= max_records:
                    break
            self._offset += consumed
            if len(out) >= max_records:
                break
            if len(data) == size and (consumed == len(data) or self._cut_by_chunk(data, consumed, end)):
                # the chunk ended at or inside a record: read on, with a bigger chunk if none fitted
                size = READ_CHUNK if consumed else size * 4
                continue
            size = READ_CHUNK
            if consumed < len(data) and self._past_damage(index, end):
                continue
            if index == len(ring._segments) - 1:
                break                                    # caught up with the head
            self.next_seq = max(self.next_seq, end + 1)  # this segment is done (or its rest unreadable)
        return out
