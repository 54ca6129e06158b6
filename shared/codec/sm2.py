"""SM2 keys and signatures as Tanji uses them (GB/T 32918; docs/crypto.md).

- Curve sm2p256v1, digest SM3, user ID b'1234567812345678' on gateway and server.
- Signatures are exactly 64 bytes r||s; anything else is rejected before any
  library call.
- Backends: the system OpenSSL 3 libcrypto through ctypes ("openssl") where it
  loads, else pure Python ("pure", also on MicroPython).  TANJI_SM2_BACKEND=pure
  forces the fallback.  Both produce and accept the same bytes.
- Keys are checked on load: the private scalar lies in [1, n-2], public points
  are on the curve, and a private key's stored public point matches it.
"""

import binascii
import os

from shared.codec import sm2_der, sm2_pure, sm3

DEFAULT_ID = sm2_pure.DEFAULT_ID
N = sm2_pure.N
SIGNATURE_SIZE = 64


def _choose_backend():
    if os.getenv('TANJI_SM2_BACKEND') == 'pure':
        return None
    try:
        from shared.codec import sm2_openssl
        return sm2_openssl
    except Exception:  # ImportError on MicroPython, Unavailable without OpenSSL 3
        return None


def _choose_verifier():
    """Tanji's C verification core (sm2_native), where `make` built it; CPython only."""
    if os.getenv('TANJI_SM2_BACKEND') in ('pure', 'openssl'):
        return None
    try:
        from shared.codec import sm2_native
        return sm2_native
    except Exception:  # ImportError on MicroPython, Unavailable when the library is not built
        return None


_native = _choose_backend()
BACKEND = 'openssl' if _native is not None else 'pure'
_fast = _choose_verifier()
VERIFY_BACKEND = 'native' if _fast is not None else BACKEND


class KeyError_(ValueError):
    """A key that cannot be used: wrong form, wrong curve, off-curve point, bad scalar."""


def _unhex(text, what):
    try:
        return binascii.unhexlify(''.join(text.split()))
    except Exception:
        raise KeyError_('%s is not valid hex' % what)


def _pem_der(text, labels):
    try:
        label, der = sm2_der.pem_decode(text)
    except sm2_der.DerError as e:
        raise KeyError_(str(e))
    if label == 'ENCRYPTED PRIVATE KEY':
        raise KeyError_('encrypted private keys are not supported; decrypt with openssl pkey first')
    if label not in labels:
        raise KeyError_('expected a %s PEM block, found %s' % (labels[0], label))
    return der


def _load_any(cls, data, what):
    """A key from PEM text, DER, raw bytes or hex text, whichever data is."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        key = cls._from_raw_bytes(data)
        if key is not None:
            return key
        if data[:1] == b'\x30':
            return cls.from_der(data)
        try:
            data = data.decode()
        except Exception:
            raise KeyError_('%s is neither PEM, DER, hex nor raw bytes' % what)
    if '-----BEGIN' in data:
        return cls.from_pem(data)
    return cls.from_hex(data)


def _decompress(prefix, x):
    y = pow(x * x * x + sm2_pure.A * x + sm2_pure.B, (sm2_pure.P + 1) // 4, sm2_pure.P)
    if (y & 1) != (prefix & 1):
        y = sm2_pure.P - y
    return y


class PublicKey:
    """An SM2 public key (a point on sm2p256v1)."""

    def __init__(self, point):
        point = bytes(point)
        if len(point) == 64:
            point = b'\x04' + point
        if len(point) == 33 and point[0] in (2, 3):
            x = int.from_bytes(point[1:], 'big')
            if x >= sm2_pure.P:
                raise KeyError_('public key x coordinate out of range')
            y = _decompress(point[0], x)
            point = b'\x04' + x.to_bytes(32, 'big') + y.to_bytes(32, 'big')
        if len(point) != 65 or point[0] != 4:
            raise KeyError_('public key must be 65 bytes 04||x||y (or 64-byte x||y, or 33-byte compressed)')
        x = int.from_bytes(point[1:33], 'big')
        y = int.from_bytes(point[33:], 'big')
        if not sm2_pure.on_curve(x, y):
            raise KeyError_('public key point is not on the SM2 curve')
        self.x = x
        self.y = y
        self.point = point
        self._native_key = None
        self._verifier = None

    @classmethod
    def from_der(cls, der):
        try:
            return cls(sm2_der.point_from_spki(der))
        except sm2_der.DerError as e:
            raise KeyError_(str(e))

    @classmethod
    def from_pem(cls, text):
        return cls.from_der(_pem_der(text, ('PUBLIC KEY',)))

    @classmethod
    def from_hex(cls, text):
        return cls(_unhex(text, 'public key'))

    @classmethod
    def _from_raw_bytes(cls, data):
        if (len(data) == 65 and data[0] == 4) or (len(data) == 33 and data[0] in (2, 3)) or len(data) == 64:
            return cls(data)
        return None

    @classmethod
    def load(cls, data):
        """From PEM text, DER bytes, raw point bytes or hex text, whichever data is."""
        return _load_any(cls, data, 'public key')

    def to_der(self):
        return sm2_der.spki_from_point(self.point)

    def to_pem(self):
        return sm2_der.pem_encode(self.to_der(), 'PUBLIC KEY')

    def to_hex(self):
        return binascii.hexlify(self.point).decode()

    def fingerprint(self):
        """A short name of the key for people and records: the first 16 bytes of the SM3
        of its point, in hex (32 digits)."""
        return binascii.hexlify(sm3.sm3(self.point)[:16]).decode()

    def __eq__(self, other):
        return isinstance(other, PublicKey) and other.point == self.point

    def __hash__(self):
        return hash(self.point)

    def _native(self):
        if self._native_key is None:
            self._native_key = _native.load_public(self.point)
        return self._native_key

    def verify(self, msg, signature, uid=DEFAULT_ID):
        """True only for a valid 64-byte r||s signature of msg under this key."""
        if not isinstance(signature, (bytes, bytearray)) or len(signature) != SIGNATURE_SIZE:
            return False
        signature = bytes(signature)
        r = int.from_bytes(signature[:32], 'big')
        s = int.from_bytes(signature[32:], 'big')
        if not (1 <= r < N and 1 <= s < N) or (r + s) % N == 0:
            return False
        if _fast is not None:
            if self._verifier is None:
                self._verifier = _fast.Verifier(self.x, self.y)
            return self._verifier.verify(bytes(msg), r, s, bytes(uid))
        if _native is not None:
            return _native.verify(self._native(), bytes(msg), signature, uid)
        return sm2_pure.verify(self.x, self.y, bytes(msg), signature, uid)


class PrivateKey:
    """An SM2 private key d with its public key."""

    def __init__(self, d, expected_point=None):
        if not (1 <= d <= N - 2):
            raise KeyError_('private key scalar out of range [1, n-2]')
        self.d = d
        x, y = sm2_pure.public_point(d)
        self.public_key = PublicKey(b'\x04' + x.to_bytes(32, 'big') + y.to_bytes(32, 'big'))
        if expected_point is not None and PublicKey(expected_point).point != self.public_key.point:
            raise KeyError_('the public key stored with the private key does not match it')
        self._native_key = None

    @classmethod
    def generate(cls):
        return cls(sm2_pure.random_scalar())

    @classmethod
    def from_der(cls, der):
        try:
            d, point = sm2_der.private_from_der(der)
        except sm2_der.DerError as e:
            raise KeyError_(str(e))
        return cls(d, point)

    @classmethod
    def from_pem(cls, text):
        return cls.from_der(_pem_der(text, ('PRIVATE KEY', 'EC PRIVATE KEY')))

    @classmethod
    def from_hex(cls, text):
        raw = _unhex(text, 'private key')
        if len(raw) != 32:
            raise KeyError_('raw private key must be 32 bytes (64 hex digits)')
        return cls(int.from_bytes(raw, 'big'))

    @classmethod
    def _from_raw_bytes(cls, data):
        return cls(int.from_bytes(data, 'big')) if len(data) == 32 else None

    @classmethod
    def load(cls, data):
        """From PEM text, DER bytes, 32 raw bytes or 64 hex digits, whichever data is."""
        return _load_any(cls, data, 'private key')

    def to_der(self):
        return sm2_der.pkcs8_private(self.d, self.public_key.point)

    def to_pem(self):
        return sm2_der.pem_encode(self.to_der(), 'PRIVATE KEY')

    def to_hex(self):
        return binascii.hexlify(self.d.to_bytes(32, 'big')).decode()

    def sign(self, msg, uid=DEFAULT_ID):
        """64-byte r||s over msg, with a fresh nonce from the OS each time."""
        msg = bytes(msg)
        if _native is not None:
            if self._native_key is None:
                self._native_key = _native.load_private(self.d, self.public_key.point)
            return _native.sign(self._native_key, msg, uid)
        pub = self.public_key
        return sm2_pure.sign(self.d, pub.x, pub.y, msg, uid)


def fingerprint(body):
    """The frame fingerprint of seed 001 §7.4: SM3 of the exact signed body bytes."""
    return sm3.sm3(body)
