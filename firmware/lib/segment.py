"""One segment file of the gateway's ring-buffered log (firmware/lib/ring.py).

Layout (big-endian):

    header  (80 bytes): two identical copies of
                        b'TJSEG\\x00\\x03\\x00' | u64 generation | u64 first_seq | u64 covers_to
                        | u32 crc32(first 32 bytes) | 4 zero bytes
    record:             u32 payload length | u64 seq | payload | u32 crc32(length | seq | payload)

Records carry increasing sequence numbers from first_seq on: consecutive as
written, with holes once the ring has thinned the segment.  covers_to is OPEN
for a segment written record by record (it ends where the next segment starts)
and the last sequence number covered for a segment written whole by thinning.
scan() stops at the first record that is short, fails its checksum or breaks
the order, so a corrupt record is never returned; resync() then finds the next
valid record, so damage costs only the damaged records.  A header survives one
damaged copy; with both damaged it is rebuilt from the records (rebuilt_header).
Recovery after a power cut scans only this one segment (bounded by the segment
size, not the ring): it resynchronises past damage inside committed data, keeps
the sequence numbers an unreadable tail claims (they are never handed out
again), and zero-fills that tail so stale bytes can never be read as records.

Portable: open/seek/write/flush, os.fsync when the runtime has it, binascii.crc32
(CPython and MicroPython alike).
"""

import binascii
import struct

from firmware.lib.durable import fsync

MAGIC = b'TJSEG\x00\x03\x00'
COPY_SIZE = 40
HEADER_SIZE = 2 * COPY_SIZE
OPEN = (1 << 64) - 1
RECORD_OVERHEAD = 16
MAX_PAYLOAD = 1 << 20
KEEP_BYTES = 1 << 16       # of a damaged stretch, kept for inspection
_ZEROS = bytes(4096)


class SegmentError(Exception):
    pass


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def pack_header(generation, first_seq, covers_to=OPEN):
    head = MAGIC + struct.pack('>QQQ', generation, first_seq, covers_to)
    copy = head + struct.pack('>I', _crc(head)) + b'\x00\x00\x00\x00'
    return copy + copy


def _read_copy(data, at):
    if len(data) < at + COPY_SIZE or data[at:at + 8] != MAGIC:
        return None
    if struct.unpack('>I', data[at + 32:at + 36])[0] != _crc(data[at:at + 32]):
        return None
    return struct.unpack('>QQQ', data[at + 8:at + 32])


def read_header(data):
    """(generation, first_seq, covers_to) from the first valid copy, or None when neither is."""
    hdr = _read_copy(data, 0)
    return hdr if hdr is not None else _read_copy(data, COPY_SIZE)


def header_intact(data):
    """Whether both copies of the header are valid and equal."""
    return _read_copy(data, 0) is not None and data[:COPY_SIZE] == data[COPY_SIZE:HEADER_SIZE]


def rebuilt_header(data):
    """(generation, first_seq, covers_to) of a segment whose header copies are both
    damaged, from its first valid record: generation 0 (the oldest, so any intact
    copy of the same range wins) and covers_to OPEN (it ends where the next segment
    starts).  None when no valid record is left either."""
    at = resync(data, HEADER_SIZE - 1, 0)
    if at < 0:
        return None
    return 0, struct.unpack('>Q', data[at + 4:at + 12])[0], OPEN


def pack_record(seq, payload):
    if len(payload) > MAX_PAYLOAD:
        raise SegmentError('record payload of %d bytes exceeds %d' % (len(payload), MAX_PAYLOAD))
    head = struct.pack('>IQ', len(payload), seq)
    return head + payload + struct.pack('>I', _crc(head + payload))


def _valid_at(data, offset, min_seq, max_seq):
    """End offset of a valid record at offset with min_seq <= seq <= max_seq, else -1."""
    if offset + RECORD_OVERHEAD > len(data):
        return -1
    length, seq = struct.unpack('>IQ', data[offset:offset + 12])
    if length > MAX_PAYLOAD or seq < min_seq or seq > max_seq:
        return -1
    end = offset + 12 + length + 4
    if end > len(data):
        return -1
    if struct.unpack('>I', data[end - 4:end])[0] != _crc(data[offset:end - 4]):
        return -1
    return end


def scan(data, offset, min_seq, max_seq=OPEN):
    """Yield (seq, payload, end offset) of the valid records in data from offset on;
    sequence numbers must increase from min_seq on and stay at or below max_seq.
    (The checks of _valid_at, inline: this loop is recovery's and every reader's.)"""
    n = len(data)
    while offset + RECORD_OVERHEAD <= n:
        length, seq = struct.unpack('>IQ', data[offset:offset + 12])
        if length > MAX_PAYLOAD or seq < min_seq or seq > max_seq:
            return
        end = offset + 12 + length + 4
        if end > n:
            return
        if struct.unpack('>I', data[end - 4:end])[0] != _crc(data[offset:end - 4]):
            return
        yield seq, data[offset + 12:end - 4], end
        offset = end
        min_seq = seq + 1


def resync(data, offset, min_seq, max_seq=OPEN):
    """Offset of the first valid record after offset (min_seq <= seq <= max_seq), or -1.
    A record's length is below 2^20, so it starts with a zero byte: only those
    positions are tried."""
    at = offset
    while True:
        at = data.find(b'\x00', at + 1)
        if at < 0 or at + RECORD_OVERHEAD > len(data):
            return -1
        if _valid_at(data, at, min_seq, max_seq) >= 0:
            return at


def scan_all(data, offset, min_seq, max_seq=OPEN, damage=None):
    """Like scan(), but past damage: yields every valid record in data from offset on.
    Each unreadable stretch is appended to damage as (first byte, end byte, first seq,
    last seq): the numbers between the records around it; last seq is None for a
    stretch that runs to the end of data.  Zero bytes at the end are not damage."""
    while True:
        for seq, payload, end in scan(data, offset, min_seq, max_seq):
            yield seq, payload, end
            offset = end
            min_seq = seq + 1
        if is_blank(data, offset):
            return
        at = resync(data, offset, min_seq, max_seq)
        if at < 0:
            if damage is not None:
                damage.append((offset, len(data), min_seq, None))
            return
        if damage is not None:
            damage.append((offset, at, min_seq, struct.unpack('>Q', data[at + 4:at + 12])[0] - 1))
        offset = at


def claimed_seq(data, offset, min_seq):
    """The highest sequence number a record header in data[offset:] plausibly claims
    (min_seq - 1 when none does): an unreadable tail may be records that were
    committed and then damaged, so their numbers must not be handed out again.
    Plausible: a length that fits, and a number no further beyond min_seq than
    records could have been written in the bytes there."""
    best = min_seq - 1
    span = (len(data) - offset) // RECORD_OVERHEAD + 1
    at = offset - 1
    while True:
        at = data.find(b'\x00', at + 1)
        if at < 0 or at + 12 > len(data):
            return best
        length, seq = struct.unpack('>IQ', data[at:at + 12])
        if length <= MAX_PAYLOAD and best < seq < min_seq + span:
            best = seq


def is_blank(data, offset):
    """Whether data holds only zero bytes from offset on."""
    n = len(data)
    while offset < n:
        chunk = data[offset:offset + len(_ZEROS)]
        if chunk != _ZEROS[:len(chunk)]:
            return False
        offset += len(chunk)
    return True


def write_file(path, generation, first_seq, covers_to, records):
    """Write a complete segment (header and (seq, payload) records) and fsync it."""
    f = open(path, 'wb')
    try:
        f.write(pack_header(generation, first_seq, covers_to))
        chunk = []
        size = 0
        for seq, payload in records:
            chunk.append(pack_record(seq, payload))
            size += len(chunk[-1])
            if size >= 1 << 16:
                f.write(b''.join(chunk))
                chunk, size = [], 0
        f.write(b''.join(chunk))
        fsync(f)
    finally:
        f.close()


class Segment:
    """The open segment at the head of the log: append records, commit (fsync) them."""

    def __init__(self, path, generation, first_seq, covers_to, size_limit, f, tail, next_seq):
        self.path = path
        self.generation = generation
        self.first_seq = first_seq
        self.covers_to = covers_to
        self.size_limit = size_limit
        self._f = f
        self.tail = tail            # offset after the last durable record
        self.next_seq = next_seq    # sequence number the next record gets
        self.durable_seq = next_seq - 1
        self.damage = []
        self.damaged_bytes = []
        self._pending = []
        self._pending_bytes = 0

    @classmethod
    def create(cls, path, generation, first_seq, size_limit):
        """A new, empty segment (an existing file at path is overwritten)."""
        f = open(path, 'wb')
        try:
            f.write(pack_header(generation, first_seq))
            fsync(f)
        finally:
            f.close()
        f = open(path, 'r+b')
        return cls(path, generation, first_seq, OPEN, size_limit, f, HEADER_SIZE, first_seq)

    @classmethod
    def recover(cls, path, size_limit, min_next_seq=0, header=None):
        """Reopen after a restart or power cut.  header: (generation, first_seq, covers_to)
        when the file's own copies are damaged and the caller rebuilt it.  Valid records
        after damaged ones are kept (resync); the numbers of damaged records, and those
        an unreadable tail claims, are never handed out again: the next number is past
        all of them and past min_next_seq (the owner's durable high-water mark).
        self.damage lists (first byte, end byte, first seq, last seq) of each unreadable
        stretch; the tail's is zero-filled."""
        f = open(path, 'r+b')
        data = f.read()
        hdr = header or read_header(data)
        if hdr is None:
            f.close()
            raise SegmentError('%s has no valid segment header' % path)
        generation, first_seq, covers_to = hdr
        tail = HEADER_SIZE
        after = first_seq
        damage = []
        while True:                      # scan_all's loop, without a generator per record on this path
            for seq, _, end in scan(data, tail, after):
                tail = end
                after = seq + 1
            if is_blank(data, tail):
                break
            at = resync(data, tail, after)
            if at < 0:
                damage.append((tail, len(data), after, None))
                break
            damage.append((tail, at, after, struct.unpack('>Q', data[at + 4:at + 12])[0] - 1))
            tail = at
        next_seq = max(after, min_next_seq)
        torn = bool(damage) and damage[-1][3] is None   # the stretch's bytes are read before the zero-fill below
        if torn:
            next_seq = max(next_seq, claimed_seq(data, tail, after) + 1)
            damage[-1] = (tail, len(data), after, next_seq - 1)
        elif next_seq > after:
            damage.append((tail, tail, after, next_seq - 1))
        if torn:
            f.seek(tail)
            left = len(data) - tail
            while left > 0:
                chunk = _ZEROS if left >= len(_ZEROS) else _ZEROS[:left]
                f.write(chunk)
                left -= len(chunk)
            fsync(f)
        seg = cls(path, generation, first_seq, covers_to, size_limit, f, tail, next_seq)
        seg.damage = damage
        seg.damaged_bytes = [data[start:min(end, start + KEEP_BYTES)] for start, end, _, _ in damage]
        return seg

    def has_room(self, payload_len):
        return self.tail + self._pending_bytes + RECORD_OVERHEAD + payload_len <= self.size_limit

    def append(self, payload):
        """Queue one record; it is durable only after commit(). Returns its sequence number."""
        if not self.has_room(len(payload)):
            raise SegmentError('segment %s is full' % self.path)
        seq = self.next_seq
        rec = pack_record(seq, payload)
        self._pending.append(rec)
        self._pending_bytes += len(rec)
        self.next_seq = seq + 1
        return seq

    def skip(self, count):
        """Hand out count sequence numbers without records (the owner declares why)."""
        self.next_seq += count
        if not self._pending:
            self.durable_seq = self.next_seq - 1

    def pending(self):
        return len(self._pending)

    def commit(self):
        """Write and fsync everything appended (group commit). Returns the durable sequence number.
        On a write error (a full disk) the records stay queued and the file is reopened, so
        the next commit writes them again from the same place."""
        if self._pending:
            try:
                self._f.seek(self.tail)
                self._f.write(b''.join(self._pending))
                fsync(self._f)
            except OSError:
                self._reopen()
                raise
            self.tail += self._pending_bytes
            self._pending = []
            self._pending_bytes = 0
            self.durable_seq = self.next_seq - 1
        return self.durable_seq

    def _reopen(self):
        """A fresh file object: a failed write may leave bytes in the old one's buffer."""
        try:
            self._f.close()
        except OSError:
            pass
        self._f = open(self.path, 'r+b')

    def close(self):
        self._f.close()
