"""The gateway's small durable state: each centre's cursor and the loss counters.

One file of two fixed-size slots written alternately.  A slot is
    b'TJST' | u64 counter | u32 length | msgpack map | u32 crc32(all before it)
and load() takes the valid slot with the higher counter, so a power cut while
one slot is being written leaves the other, previous state intact.  A save
costs one write of at most SLOT_SIZE bytes and one fsync.  When neither slot is
readable the file is kept in damaged/ and the state starts empty: `problem`
says so, and the owner rebuilds what it can and reports it.  Portable.
"""

import binascii
import struct

from firmware.lib import damaged
from firmware.lib.durable import fsync, fsync_dir
from shared.codec import mp

MAGIC = b'TJST'
SLOT_SIZE = 8192
_HEAD = 16


class StateError(Exception):
    pass


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


class StateFile:
    def __init__(self, path):
        self.path = path
        self.counter = 0
        self.data = {}
        self.existed = True        # False: a new gateway, no state saved yet
        self.problem = None        # why the saved state could not be used, when it could not
        self.torn_slot = False     # one slot unreadable (a save cut short, or damage); the other used
        self._next_slot = 0
        self._load()

    def _load(self):
        try:
            f = open(self.path, 'rb')
        except OSError:
            self.existed = False
            self._blank()
            return
        try:
            raw = f.read()
        finally:
            f.close()
        self.existed = len(raw) > 0
        best = None
        unreadable = 0
        for slot in (0, 1):
            chunk = raw[slot * SLOT_SIZE:(slot + 1) * SLOT_SIZE]
            doc = self._parse(chunk)
            if doc is None:
                if chunk != bytes(len(chunk)):
                    unreadable += 1
            elif best is None or doc[0] > best[0]:
                best = (doc[0], doc[1], slot)
        if best is not None:
            self.counter, self.data, slot = best
            self._next_slot = 1 - slot
            self.torn_slot = unreadable > 0
        elif unreadable or 0 < len(raw) != 2 * SLOT_SIZE:
            kept = damaged.keep(self._directory(), self.path.rsplit('/', 1)[-1], raw)
            self.problem = 'both copies of %s are unreadable (%s)' % (self.path, kept)
            self._blank()

    def _blank(self):
        f = open(self.path, 'wb')
        f.write(bytes(2 * SLOT_SIZE))
        fsync(f)
        f.close()
        fsync_dir(self._directory())

    def _directory(self):
        return self.path.rsplit('/', 1)[0] if '/' in self.path else '.'

    @staticmethod
    def _parse(chunk):
        if len(chunk) < _HEAD + 4 or chunk[:4] != MAGIC:
            return None
        counter, length = struct.unpack('>QI', chunk[4:16])
        end = _HEAD + length
        if end + 4 > len(chunk):
            return None
        if struct.unpack('>I', chunk[end:end + 4])[0] != _crc(chunk[:end]):
            return None
        try:
            doc = mp.unpackb(chunk[_HEAD:end])
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        return counter, doc

    def save(self, data):
        """Make data the durable state (a dict of msgpack-able values)."""
        payload = mp.packb(data)
        if _HEAD + len(payload) + 4 > SLOT_SIZE:
            raise StateError('state of %d bytes does not fit a %d-byte slot' % (len(payload), SLOT_SIZE))
        self.counter += 1
        body = MAGIC + struct.pack('>QI', self.counter, len(payload)) + payload
        f = open(self.path, 'r+b')
        try:
            f.seek(self._next_slot * SLOT_SIZE)
            f.write(body + struct.pack('>I', _crc(body)))
            fsync(f)
        finally:
            f.close()
        self._next_slot = 1 - self._next_slot
        self.data = data
