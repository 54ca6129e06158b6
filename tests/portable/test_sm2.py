import binascii

from shared.codec import sm2, sm2_der, sm2_pure
from portable_helpers import (KAT_D, KAT_K, KAT_R, KAT_S, KAT_X, KAT_Y, KAT_ZA, OPENSSL_PRIVATE_PEM,
                              OPENSSL_PUBLIC_PEM, raises)

MSG = b'message digest'


def _kat_sig():
    return KAT_R.to_bytes(32, 'big') + KAT_S.to_bytes(32, 'big')


def test_gmt_0003_5_example_public_key_and_za():
    assert sm2_pure.public_point(KAT_D) == (KAT_X, KAT_Y)
    assert binascii.hexlify(sm2_pure.za(KAT_X, KAT_Y)).decode() == KAT_ZA


def test_gmt_0003_5_example_signature_with_fixed_k():
    assert sm2_pure.sign(KAT_D, KAT_X, KAT_Y, MSG, k=KAT_K) == _kat_sig()


def test_example_signature_verifies_with_the_active_backend():
    pub = sm2.PrivateKey(KAT_D).public_key
    assert pub.verify(MSG, _kat_sig())
    assert not pub.verify(b'message digesT', _kat_sig())


def test_sign_verify_round_trip_and_fresh_nonces():
    key = sm2.PrivateKey.generate()
    s1 = key.sign(b'frame body')
    s2 = key.sign(b'frame body')
    assert len(s1) == 64 and len(s2) == 64
    assert s1 != s2
    assert key.public_key.verify(b'frame body', s1)
    assert key.public_key.verify(b'frame body', s2)
    assert not key.public_key.verify(b'frame bodz', s1)
    other = sm2.PrivateKey.generate()
    assert not other.public_key.verify(b'frame body', s1)


def test_pure_and_active_backend_interoperate():
    key = sm2.PrivateKey.generate()
    pub = key.public_key
    s = key.sign(b'x')
    assert sm2_pure.verify(pub.x, pub.y, b'x', s)
    s2 = sm2_pure.sign(key.d, pub.x, pub.y, b'y')
    assert pub.verify(b'y', s2)


def test_signature_forms_are_rejected_before_any_library_call():
    pub = sm2.PrivateKey(KAT_D).public_key
    good = _kat_sig()
    n = sm2.N.to_bytes(32, 'big')
    zero = bytes(32)
    for bad in (b'', good[:63], good + b'\x00', sm2_der.sig_raw_to_der(good), zero + good[32:],
                good[:32] + zero, n + good[32:], b'\xff' * 64, None, 'x' * 64):
        assert not pub.verify(MSG, bad)
    # r + s == n
    r = KAT_R
    s = (sm2.N - r)
    assert not pub.verify(MSG, r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))


def test_der_signature_conversion_pads_short_components():
    raw = (5).to_bytes(32, 'big') + (2 ** 255 + 3).to_bytes(32, 'big')
    der = sm2_der.sig_raw_to_der(raw)
    assert sm2_der.sig_der_to_raw(der) == raw
    # non-minimal INTEGER and trailing bytes are refused
    raises(sm2_der.DerError, sm2_der.sig_der_to_raw, b'\x30\x07\x02\x02\x00\x05\x02\x01\x01')
    raises(sm2_der.DerError, sm2_der.sig_der_to_raw, der + b'\x00')


def test_openssl_generated_key_loads_and_matches_its_public_key():
    key = sm2.PrivateKey.from_pem(OPENSSL_PRIVATE_PEM)
    pub = sm2.PublicKey.from_pem(OPENSSL_PUBLIC_PEM)
    assert key.public_key == pub
    assert key.to_pem() == OPENSSL_PRIVATE_PEM
    assert pub.to_pem() == OPENSSL_PUBLIC_PEM


def test_key_forms_round_trip():
    key = sm2.PrivateKey.generate()
    assert sm2.PrivateKey.load(key.to_pem()).d == key.d
    assert sm2.PrivateKey.load(key.to_hex()).d == key.d
    assert sm2.PrivateKey.load(key.to_der()).d == key.d
    pub = key.public_key
    assert sm2.PublicKey.load(pub.to_pem()) == pub
    assert sm2.PublicKey.load(pub.to_hex()) == pub
    assert sm2.PublicKey.load(pub.to_der()) == pub
    assert sm2.PublicKey(pub.point[1:]) == pub
    compressed = bytes((2 + (pub.y & 1),)) + pub.point[1:33]
    assert sm2.PublicKey(compressed) == pub
    sec1 = sm2_der.sec1_private(key.d, pub.point, True)
    assert sm2.PrivateKey.from_pem(sm2_der.pem_encode(sec1, 'EC PRIVATE KEY')).d == key.d


def test_bad_keys_are_refused_on_load():
    raises(sm2.KeyError_, sm2.PrivateKey, 0)
    raises(sm2.KeyError_, sm2.PrivateKey, sm2.N - 1)
    raises(sm2.KeyError_, sm2.PrivateKey.from_hex, 'zz')
    raises(sm2.KeyError_, sm2.PrivateKey.from_hex, '01' * 31)
    pub = sm2.PrivateKey(KAT_D).public_key
    off_curve = pub.point[:-1] + bytes(((pub.point[-1] + 1) & 0xFF,))
    raises(sm2.KeyError_, sm2.PublicKey, off_curve)
    raises(sm2.KeyError_, sm2.PublicKey, b'\x05' + pub.point[1:])
    raises(sm2.KeyError_, sm2.PublicKey.from_pem, OPENSSL_PRIVATE_PEM)
    raises(sm2.KeyError_, sm2.PrivateKey.from_pem, OPENSSL_PUBLIC_PEM)
    raises(sm2.KeyError_, sm2.PrivateKey.from_pem, 'no pem here')
    # a P-256 public key (curve OID 1.2.840.10045.3.1.7) is not an SM2 key
    p256 = binascii.unhexlify('3059301306072a8648ce3d020106082a8648ce3d030107034200') + pub.point
    raises(sm2.KeyError_, sm2.PublicKey.from_der, p256)
    # a private key whose stored public point is someone else's
    other = sm2.PrivateKey.generate().public_key.point
    raises(sm2.KeyError_, sm2.PrivateKey.from_der, sm2_der.pkcs8_private(KAT_D, other))


def test_fingerprint_is_sm3_of_body():
    from shared.codec import sm3
    assert sm2.fingerprint(b'body') == sm3.sm3(b'body')


def test_load_tells_raw_bytes_from_der_even_when_x_starts_with_0x30():
    key = None
    for d in range(2, 4000):  # about 1 in 256 points has x starting with byte 0x30
        k = sm2.PrivateKey(d)
        if k.public_key.point[1] == 0x30:
            key = k
            break
    assert key is not None
    assert sm2.PublicKey.load(key.public_key.point[1:]) == key.public_key
    assert sm2.PublicKey.load(key.public_key.point) == key.public_key
    assert sm2.PrivateKey.load(key.d.to_bytes(32, 'big')).d == key.d


def test_encrypted_private_key_pem_gets_a_hint():
    pem = sm2_der.pem_encode(b'\x30\x00', 'ENCRYPTED PRIVATE KEY')
    e = raises(sm2.KeyError_, sm2.PrivateKey.from_pem, pem)
    assert 'decrypt' in str(e)
