"""One segment file of the gateway's ring-buffered log (firmware/lib/ring.py).

Layout (big-endian):

    header  (40 bytes): b'TJSEG\\x00\\x02\\x00' | u64 generation | u64 first_seq | u64 covers_to
                        | u32 crc32(first 32 bytes) | 4 zero bytes
    record:             u32 payload length | u64 seq | payload | u32 crc32(length | seq | payload)

Records carry increasing sequence numbers from first_seq on: consecutive as
written, with holes once the ring has thinned the segment.  covers_to is OPEN
for a segment written record by record (it ends where the next segment starts)
and the last sequence number covered for a segment written whole by thinning.
A reader stops at the first record that is short, fails its checksum or breaks
the order, so a corrupt record is never returned.  Recovery after a power cut
scans only this one segment (bounded by the segment size, not the ring) and
zero-fills the torn tail so stale bytes can never be read as records later.

Portable: open/seek/write/flush, os.fsync when the runtime has it, binascii.crc32
(CPython and MicroPython alike).
"""

import binascii
import os
import struct

MAGIC = b'TJSEG\x00\x02\x00'
HEADER_SIZE = 40
OPEN = (1 << 64) - 1
RECORD_OVERHEAD = 16
MAX_PAYLOAD = 1 << 20
_ZEROS = bytes(4096)


class SegmentError(Exception):
    pass


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def pack_header(generation, first_seq, covers_to=OPEN):
    head = MAGIC + struct.pack('>QQQ', generation, first_seq, covers_to)
    return head + struct.pack('>I', _crc(head)) + b'\x00\x00\x00\x00'


def read_header(data):
    """(generation, first_seq, covers_to) or None when data is not a valid header."""
    if len(data) < HEADER_SIZE or data[:8] != MAGIC:
        return None
    if struct.unpack('>I', data[32:36])[0] != _crc(data[:32]):
        return None
    return struct.unpack('>QQQ', data[8:32])


def pack_record(seq, payload):
    if len(payload) > MAX_PAYLOAD:
        raise SegmentError('record payload of %d bytes exceeds %d' % (len(payload), MAX_PAYLOAD))
    head = struct.pack('>IQ', len(payload), seq)
    return head + payload + struct.pack('>I', _crc(head + payload))


def scan(data, offset, min_seq, max_seq=OPEN):
    """Yield (seq, payload, end offset) of the valid records in data from offset on;
    sequence numbers must increase from min_seq on and stay at or below max_seq."""
    n = len(data)
    while offset + RECORD_OVERHEAD <= n:
        length, seq = struct.unpack('>IQ', data[offset:offset + 12])
        if length > MAX_PAYLOAD or seq < min_seq or seq > max_seq:
            return
        end = offset + 12 + length + 4
        if end > n:
            return
        crc = struct.unpack('>I', data[end - 4:end])[0]
        if crc != _crc(data[offset:end - 4]):
            return
        yield seq, data[offset + 12:end - 4], end
        offset = end
        min_seq = seq + 1


def _fsync(f):
    f.flush()
    fsync = getattr(os, 'fsync', None)
    if fsync is not None:
        fsync(f.fileno())


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
        _fsync(f)
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
        self._pending = []
        self._pending_bytes = 0

    @classmethod
    def create(cls, path, generation, first_seq, size_limit):
        """A new, empty segment (an existing file at path is overwritten)."""
        f = open(path, 'wb')
        f.write(pack_header(generation, first_seq))
        _fsync(f)
        f.close()
        f = open(path, 'r+b')
        return cls(path, generation, first_seq, OPEN, size_limit, f, HEADER_SIZE, first_seq)

    @classmethod
    def recover(cls, path, size_limit):
        """Reopen after a restart or power cut: find the last valid record, zero the torn tail."""
        f = open(path, 'r+b')
        data = f.read()
        hdr = read_header(data)
        if hdr is None:
            f.close()
            raise SegmentError('%s has no valid segment header' % path)
        generation, first_seq, covers_to = hdr
        tail = HEADER_SIZE
        after = first_seq
        for seq, _, end in scan(data, HEADER_SIZE, first_seq):
            tail = end
            after = seq + 1
        if len(data) > tail:
            f.seek(tail)
            left = len(data) - tail
            while left > 0:
                chunk = _ZEROS if left >= len(_ZEROS) else _ZEROS[:left]
                f.write(chunk)
                left -= len(chunk)
            _fsync(f)
        return cls(path, generation, first_seq, covers_to, size_limit, f, tail, after)

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

    def pending(self):
        return len(self._pending)

    def commit(self):
        """Write and fsync everything appended (group commit). Returns the durable sequence number."""
        if self._pending:
            self._f.seek(self.tail)
            self._f.write(b''.join(self._pending))
            _fsync(self._f)
            self.tail += self._pending_bytes
            self._pending = []
            self._pending_bytes = 0
            self.durable_seq = self.next_seq - 1
        return self.durable_seq

    def close(self):
        self._f.close()
