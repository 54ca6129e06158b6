"""SM2 public-key encryption (GB/T 32918.4-2016) on sm2p256v1, for carrying a short
key to the holder of an SM2 key (docs/protocol.md §10).  Ciphertext order C1 || C3 || C2
(the standard's, 2016 edition): C1 = 04 || x1 || y1 (65 bytes), C3 = SM3(x2 || M || y2)
(32 bytes), C2 = M xor KDF(x2 || y2, len(M)).  OpenSSL writes the same three parts as
ASN.1 (GM/T 0009); the tests convert between the two.

Pure Python on the portable curve arithmetic: one or two scalar multiplications, used
once per session key, never per record.  Not constant-time (docs/crypto.md)."""

from shared.codec import sm2_pure as _c
from shared.codec import sm3 as _sm3

C1_SIZE = 65
C3_SIZE = 32
OVERHEAD = C1_SIZE + C3_SIZE


class DecryptError(ValueError):
    """The ciphertext is not one made for this key (or it was altered)."""


def _kdf(z, length):
    out = b''
    counter = 1
    while len(out) < length:
        out += _sm3.sm3(z + counter.to_bytes(4, 'big'))
        counter += 1
    return out[:length]


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def encrypt(point, message, k=None):
    """C1 || C3 || C2 of `message` for the public key `point` (65 bytes, 04 || x || y).
    `k` is for test vectors only; otherwise a fresh scalar from os.urandom."""
    if not message:
        raise ValueError('nothing to encrypt')
    px, py = int.from_bytes(point[1:33], 'big'), int.from_bytes(point[33:65], 'big')
    if point[0] != 4 or not _c.on_curve(px, py):
        raise ValueError('not an uncompressed point on sm2p256v1')
    while True:
        scalar = k if k is not None else _c.random_scalar()
        x1, y1 = _c._affine(_c._mul_g(scalar))
        x2, y2 = _c._affine(_c._mul(scalar, (px, py, 1)))
        xb, yb = x2.to_bytes(32, 'big'), y2.to_bytes(32, 'big')
        t = _kdf(xb + yb, len(message))
        if any(t):
            break
        if k is not None:
            raise ValueError('this k gives an all-zero key stream')
    c1 = b'\x04' + x1.to_bytes(32, 'big') + y1.to_bytes(32, 'big')
    c3 = _sm3.sm3(xb + bytes(message) + yb)
    return c1 + c3 + _xor(message, t)


def decrypt(d, ciphertext):
    """The message inside C1 || C3 || C2 for the private scalar `d`; DecryptError otherwise."""
    if len(ciphertext) <= OVERHEAD or ciphertext[0] != 4:
        raise DecryptError('an SM2 ciphertext is 04 || x1 || y1 || C3 || C2 (more than 97 bytes)')
    x1, y1 = int.from_bytes(ciphertext[1:33], 'big'), int.from_bytes(ciphertext[33:65], 'big')
    if not _c.on_curve(x1, y1):
        raise DecryptError('C1 is not a point on sm2p256v1')
    c3, c2 = ciphertext[C1_SIZE:OVERHEAD], ciphertext[OVERHEAD:]
    x2, y2 = _c._affine(_c._mul(d, (x1, y1, 1)))
    xb, yb = x2.to_bytes(32, 'big'), y2.to_bytes(32, 'big')
    t = _kdf(xb + yb, len(c2))
    if not any(t):
        raise DecryptError('the key stream is all zero')
    message = _xor(c2, t)
    if _sm3.sm3(xb + message + yb) != bytes(c3):
        raise DecryptError('C3 does not match: not encrypted for this key, or altered')
    return message
