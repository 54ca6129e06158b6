"""SM2 verification through Tanji's own C core (shared/codec/native/sm2v.c), CPython only.

OpenSSL 3.0 verifies SM2 with its generic elliptic-curve code (~310 µs here); the C
core, specialised to the SM2 prime, computes s·G + t·P from comb tables of G and of
the key (built once per key) with 128 additions and no doubling.  Z_A (GB/T 32918.2 §5.5) is cached per key and identity; e is
computed here and the C core checks x1 against (r − e) mod n without an inversion.  The library is built by
`make` (tools/build_native.sh); where it is missing, sm2.py keeps using OpenSSL.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import time
from collections import OrderedDict
from pathlib import Path

from shared.codec import sm2_pure

LIBRARY = Path(__file__).resolve().parent / 'native' / 'libsm2v.so'
N = sm2_pure.N
P = sm2_pure.P


class Unavailable(Exception):
    pass


def _load():
    if not LIBRARY.exists():
        raise Unavailable('%s not built (make builds it)' % LIBRARY)
    try:
        lib = ctypes.CDLL(str(LIBRARY))
        hashlib.new('sm3')
    except (OSError, ValueError) as e:
        raise Unavailable(str(e))
    lib.sm2v_table_size.restype = ctypes.c_int
    lib.sm2v_prepare.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.sm2v_prepare.restype = ctypes.c_int
    lib.sm2v_check.argtypes = [ctypes.c_char_p, ctypes.c_int] + [ctypes.c_char_p] * 4
    lib.sm2v_check.restype = ctypes.c_int
    lib.sm2v_comb_size.restype = ctypes.c_int
    lib.sm2v_prepare_comb.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.sm2v_prepare_comb.restype = ctypes.c_int
    return lib


_lib = _load()
_TABLE_SIZE = _lib.sm2v_table_size()
_COMB_SIZE = _lib.sm2v_comb_size()
# keys that get a full comb table (74 KB each, about 13 ms to build): the gateways a
# platform hears from most are its enrolled ones.  The budget counts distinct keys (a
# server reloading its keys every 30 s reuses their tables; counting builds once sent
# every key to the slow path after a few hours).  When it is full, the least recently
# prepared key gives its place up only after COMB_IDLE_S without use; until then a new
# key gets the small table, so a working set larger than the budget never thrashes.
COMB_BUDGET = int(os.environ.get('TANJI_SM2_COMB_KEYS', '1024'))
COMB_IDLE_S = 3600.0
_combs: OrderedDict[bytes, tuple[ctypes.Array, float]] = OrderedDict()


def _comb_table(point: bytes) -> ctypes.Array | None:
    """The key's comb table, or None when the budget is taken by keys in use."""
    now = time.monotonic()
    held = _combs.get(point)
    if held is not None:
        _combs[point] = (held[0], now)
        _combs.move_to_end(point)
        return held[0]
    if len(_combs) >= COMB_BUDGET:
        oldest = next(iter(_combs.values()), None)
        if oldest is None or now - oldest[1] < COMB_IDLE_S:
            return None
        _combs.popitem(last=False)          # a Verifier still holding it keeps it alive
    table = ctypes.create_string_buffer(_COMB_SIZE)
    if not _lib.sm2v_prepare_comb(point, table):
        raise ValueError('the public key is not a point of the SM2 curve')
    _combs[point] = (table, now)
    return table


class Verifier:
    """Verification state of one public key: its point table and its Z_A per identity."""

    __slots__ = ('table', 'comb', 'x', 'y', 'za')

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y
        point = x.to_bytes(32, 'big') + y.to_bytes(32, 'big')
        table = _comb_table(point) if COMB_BUDGET > 0 else None
        self.comb = table is not None
        if table is not None:
            self.table = table
        else:
            self.table = ctypes.create_string_buffer(_TABLE_SIZE)
            if not _lib.sm2v_prepare(point, self.table):
                raise ValueError('the public key is not a point of the SM2 curve')
        self.za: dict[bytes, bytes] = {}

    def verify(self, msg: bytes, r: int, s: int, uid: bytes) -> bool:
        """r, s already checked to lie in [1, n-1] with r + s != n."""
        z = self.za.get(uid)
        if z is None:
            z = self.za[uid] = sm2_pure.za(self.x, self.y, uid)
        h = hashlib.new('sm3')
        h.update(z)
        h.update(msg)
        e = int.from_bytes(h.digest(), 'big')
        # R = (e + x1) mod n = r  <=>  x1 = (r - e) mod n, or that + n (x1 < p, and p > n)
        c = (r - e) % N
        c2 = c + N if c + N < P else None
        return bool(_lib.sm2v_check(self.table, self.comb, s.to_bytes(32, 'big'), ((r + s) % N).to_bytes(32, 'big'),
                                    c.to_bytes(32, 'big'), None if c2 is None else c2.to_bytes(32, 'big')))
