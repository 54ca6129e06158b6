"""Sealed frames (docs/protocol.md §10; seed 001 §7.4, GB/T 37025-2018 §6.3/§7.3): a
signed frame carried encrypted with SM4 in GCM mode (an authenticated mode) under a
session key the gateway made and sent to the centre encrypted with the centre's SM2
key.  The frame inside is unchanged, signature and all, so the fingerprint registry
is the same for sealed and plain uploads.

    sealed  = msgpack [header (bin), header_sig (bin 64), nonce (bin 12), box (bin)]
    header  = msgpack [1, gateway id (str), wrapped key (bin: SM2 C1||C3||C2 of the 16-byte key)]
    header_sig = the gateway's SM2 signature (r||s) over the header bytes
    box     = SM4-GCM(key, nonce, frame, associated data = header bytes): ciphertext || 16-byte tag

The centre checks the cheap things first: the envelope, the gateway's enrolment, the
header's signature (so only an enrolled gateway can make it spend an SM2 decryption),
then unwraps the key once per session and opens each box with it.  SM4 and GCM are
`cryptography`'s (OpenSSL's), never hand-written.  CPython only."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Callable

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.codec import sm2_encrypt
from shared.codec.frame import SIGNATURE_SIZE, FrameError, check_gateway_id

CONTENT_TYPE = 'application/x-tanji-sealed'
VERSION = 1
KEY_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
ROTATE_FRAMES = 1 << 20          # a gateway makes a new session key after this many frames ...
ROTATE_S = 86_400.0              # ... or this long, whichever comes first (random nonces stay far from colliding)
SESSIONS_KEPT = 4096             # unwrapped session keys a centre keeps


def seal_box(key: bytes, nonce: bytes, plain: bytes, associated: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(associated)
    return enc.update(plain) + enc.finalize() + enc.tag


def open_box(key: bytes, nonce: bytes, box: bytes, associated: bytes) -> bytes:
    """The plain bytes, or FrameError('sealed') when the box was altered or sealed under another key."""
    if len(box) < TAG_SIZE:
        raise FrameError('sealed', 'the sealed box is shorter than its 16-byte tag')
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, box[-TAG_SIZE:])).decryptor()
    dec.authenticate_additional_data(associated)
    try:
        return dec.update(box[:-TAG_SIZE]) + dec.finalize()
    except InvalidTag:
        raise FrameError('sealed', 'the sealed frame does not open: altered, or sealed under another session key')


def make_header(gateway_id: str, wrapped: bytes) -> bytes:
    return msgpack.packb([VERSION, gateway_id, wrapped], use_bin_type=True)


class Sealer:
    """The gateway's side for one centre: seal(frame) -> sealed bytes, with a session key
    made at the first frame and renewed every ROTATE_FRAMES frames or ROTATE_S seconds."""

    def __init__(self, gateway_id: str, sign: Callable[[bytes], bytes], centre_point: bytes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gateway_id = gateway_id
        self.sign = sign
        self.centre_point = centre_point
        self.clock = clock
        self._key = b''
        self._header = b''
        self._header_sig = b''
        self._frames = 0
        self._made_at = 0.0

    def _new_session(self) -> None:
        self._key = os.urandom(KEY_SIZE)
        self._header = make_header(self.gateway_id, sm2_encrypt.encrypt(self.centre_point, self._key))
        self._header_sig = self.sign(self._header)
        self._frames = 0
        self._made_at = self.clock()

    def seal(self, frame: bytes) -> bytes:
        if not self._key or self._frames >= ROTATE_FRAMES or self.clock() - self._made_at >= ROTATE_S:
            self._new_session()
        self._frames += 1
        nonce = os.urandom(NONCE_SIZE)
        return msgpack.packb([self._header, self._header_sig, nonce,
                              seal_box(self._key, nonce, frame, self._header)], use_bin_type=True)


class Sealed:
    """The parts of a sealed upload, read cheaply (nothing is decrypted)."""
    __slots__ = ('header', 'header_sig', 'nonce', 'box', 'gateway_id', 'wrapped')

    def __init__(self, raw: bytes, max_bytes: int) -> None:
        if len(raw) > max_bytes:
            raise FrameError('too_large', 'sealed frame of %d bytes exceeds the limit of %d' % (len(raw), max_bytes))
        try:
            parts = msgpack.unpackb(raw, raw=True, strict_map_key=False)
        except Exception as e:          # msgpack raises ValueError, TypeError and its own
            raise FrameError('malformed', 'sealed frame is not one msgpack object (%s)' % (type(e).__name__,))
        if not (isinstance(parts, list) and len(parts) == 4 and all(isinstance(p, bytes) for p in parts)):
            raise FrameError('malformed', 'a sealed frame is a msgpack array of four bin: header, header '
                                          'signature, nonce, box')
        self.header, self.header_sig, self.nonce, self.box = parts
        if len(self.header_sig) != SIGNATURE_SIZE or len(self.nonce) != NONCE_SIZE:
            raise FrameError('malformed', 'the header signature is 64 bytes (SM2 r||s), the nonce 12')
        try:
            header = msgpack.unpackb(self.header, raw=False, strict_map_key=False)
        except Exception as e:
            raise FrameError('malformed', 'the sealed header is not msgpack (%s)' % (type(e).__name__,))
        if not (isinstance(header, list) and len(header) == 3 and type(header[0]) is int):
            raise FrameError('malformed', 'the sealed header is [version, gateway id, wrapped key]')
        if header[0] != VERSION:
            raise FrameError('version', 'sealed version %d is not supported (this side speaks %d)'
                             % (header[0], VERSION))
        check_gateway_id(header[1])
        if not isinstance(header[2], bytes) or len(header[2]) != sm2_encrypt.OVERHEAD + KEY_SIZE:
            raise FrameError('malformed', 'the wrapped key is an SM2 ciphertext of the 16-byte key (113 bytes)')
        self.gateway_id, self.wrapped = header[1], header[2]


class SessionKeys:
    """The centre's side: session keys unwrapped with its SM2 private key, kept by header
    (least recently used first out) so each costs one SM2 decryption."""

    def __init__(self, private_d: int) -> None:
        self.d = private_d
        self._keys: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()   # header -> (header_sig, key)

    def known(self, sealed: Sealed) -> bytes | None:
        """The session key when this header (with this signature) was opened before."""
        hit = self._keys.get(sealed.header)
        if hit is None or hit[0] != sealed.header_sig:
            return None
        self._keys.move_to_end(sealed.header)
        return hit[1]

    def unwrap(self, sealed: Sealed) -> bytes:
        """Decrypt the wrapped key (only after the header's signature verified; safe in a thread)."""
        try:
            return sm2_encrypt.decrypt(self.d, sealed.wrapped)
        except sm2_encrypt.DecryptError as e:
            raise FrameError('sealed', 'the session key was not wrapped for this centre\'s key: %s' % e)

    def remember(self, sealed: Sealed, key: bytes) -> None:
        self._keys[sealed.header] = (sealed.header_sig, key)
        if len(self._keys) > SESSIONS_KEPT:
            self._keys.popitem(last=False)
