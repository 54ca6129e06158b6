"""Our SM2 against gmssl (pure Python, independent). gmssl only verifies, or signs with an
explicit nonce from `secrets`, and is given the 128-hex x||y key form (docs/crypto.md)."""

import secrets

from gmssl import sm2 as gm_sm2
from gmssl import sm3 as gm_sm3
from gmssl import func

from portable_helpers import UNITS, sample_records
from shared.codec import frame, sm2, sm3


def _gm(key: sm2.PrivateKey, with_private: bool = False) -> gm_sm2.CryptSM2:
    pub_hex = key.public_key.to_hex()[2:]
    c = gm_sm2.CryptSM2(private_key=key.to_hex() if with_private else None, public_key=pub_hex)
    c.public_key = pub_hex  # work around gmssl's lstrip('04') defect
    return c


def test_sm3_matches_gmssl() -> None:
    for msg in (b'abc', b'abcd' * 16, bytes(range(200))):
        assert gm_sm3.sm3_hash(func.bytes_to_list(msg)) == sm3.sm3(msg).hex()


def test_gmssl_verifies_our_frame_signatures() -> None:
    for _ in range(8):
        key = sm2.PrivateKey.generate()
        data = frame.encode('GW-1', sample_records(6), UNITS, key.sign)
        f = frame.decode(data)
        gm = _gm(key)
        assert gm.verify_with_sm3(f.signature.hex(), f.body)
        assert not gm.verify_with_sm3(f.signature.hex(), f.body + b'x')


def test_we_verify_gmssl_signatures() -> None:
    for _ in range(8):
        key = sm2.PrivateKey.generate()
        gm = _gm(key, with_private=True)
        k = '%064x' % (secrets.randbelow(sm2.N - 2) + 1)
        sig_hex = gm.sign_with_sm3(b'body from gmssl', k)
        assert key.public_key.verify(b'body from gmssl', bytes.fromhex(sig_hex))
