"""Tanji's C SM2 verification core against OpenSSL and the pure-Python implementation:
valid signatures, tampered messages, random and edge-case r and s, the GM/T 0003.5
example, keys off the curve."""

from __future__ import annotations

import os
import random
import shutil

import pytest

from portable_helpers import KAT_D, KAT_K, KAT_R, KAT_S, KAT_X, KAT_Y
from shared.codec import sm2, sm2_openssl, sm2_pure

if shutil.which(os.environ.get('CC', 'cc')) is None:
    pytest.skip('no C compiler here: the native core is not built (tools/build_native.sh)', allow_module_level=True)

from shared.codec import sm2_native  # noqa: E402  (make builds it; a missing library fails here)

ID = sm2_pure.DEFAULT_ID
N = sm2_pure.N


def _both(x, y, msg, r, s):
    sig = r.to_bytes(32, 'big') + s.to_bytes(32, 'big')
    native = sm2_native.Verifier(x, y).verify(msg, r, s, ID)
    key = sm2_openssl.load_public(b'\x04' + x.to_bytes(32, 'big') + y.to_bytes(32, 'big'))
    assert native == sm2_openssl.verify(key, msg, sig, ID) == sm2_pure.verify(x, y, msg, sig)
    return native


def test_the_public_api_uses_the_native_core():
    assert sm2.VERIFY_BACKEND == 'native'


def test_gmt_0003_example():
    msg = b'message digest'
    assert sm2_pure.sign(KAT_D, KAT_X, KAT_Y, msg, k=KAT_K) == KAT_R.to_bytes(32, 'big') + KAT_S.to_bytes(32, 'big')
    assert sm2_native.Verifier(KAT_X, KAT_Y).verify(msg, KAT_R, KAT_S, ID)
    assert not sm2_native.Verifier(KAT_X, KAT_Y).verify(msg + b'.', KAT_R, KAT_S, ID)


@pytest.mark.parametrize('comb', [True, False], ids=['comb table', 'small table'])
def test_agrees_with_openssl_and_pure_on_random_cases(comb, monkeypatch):
    if not comb:
        monkeypatch.setattr(sm2_native, 'COMB_BUDGET', 0)      # keys beyond the budget: the small table
    rng = random.Random(20261124)
    valid = 0
    for i in range(60):
        key = sm2.PrivateKey.generate()
        x, y = key.public_key.x, key.public_key.y
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
        sig = key.sign(msg)
        r, s = int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big')
        valid += _both(x, y, msg, r, s)
        assert not _both(x, y, msg + b'\x00', r, s)
        assert not _both(x, y, msg, r, rng.randrange(1, N))
        r2 = rng.randrange(1, N)
        if (r2 + s) % N:
            assert not _both(x, y, msg, r2, s)
        assert sm2_native.Verifier(x, y).comb == comb
    assert valid == 60


def test_edge_scalars_and_bad_keys():
    key = sm2.PrivateKey.generate()
    x, y = key.public_key.x, key.public_key.y
    for r, s in ((1, 1), (1, N - 1), (N - 1, 2), (N - 2, N - 1), (2 ** 255, 2 ** 255 + 7)):
        assert not _both(x, y, b'm', r, s)
    with pytest.raises(ValueError):
        sm2_native.Verifier(x, (y + 1) % sm2_pure.P)
    with pytest.raises(ValueError):
        sm2_native.Verifier(sm2_pure.P, y)


def test_the_comb_budget_counts_distinct_keys_and_never_thrashes(monkeypatch):
    """Issue 14, item 7: reloading one key 1,030 times used up the 1,024 comb tables and every
    key fell back to the slow path; a server reloads each key every 30 s."""
    monkeypatch.setattr(sm2_native, '_combs', sm2_native.OrderedDict())
    monkeypatch.setattr(sm2_native, 'COMB_BUDGET', 3)
    keys = [sm2.PrivateKey.generate().public_key for _ in range(5)]
    for _ in range(50):                                       # the same key, reloaded again and again
        assert sm2_native.Verifier(keys[0].x, keys[0].y).comb
    assert [sm2_native.Verifier(k.x, k.y).comb for k in keys[1:3]] == [True, True]
    # the budget is full of keys in use: a fourth key gets the small table, nobody is evicted
    fourth = sm2_native.Verifier(keys[3].x, keys[3].y)
    assert not fourth.comb and len(sm2_native._combs) == 3
    assert sm2_native.Verifier(keys[0].x, keys[0].y).comb
    # a key idle for longer than COMB_IDLE_S gives its place up
    monkeypatch.setattr(sm2_native, 'COMB_IDLE_S', 0.0)
    assert sm2_native.Verifier(keys[4].x, keys[4].y).comb and len(sm2_native._combs) == 3
    msg = b'frame body'
    sig = sm2.PrivateKey.generate()
    key = sig.public_key
    signature = sig.sign(msg)
    r, s = int.from_bytes(signature[:32], 'big'), int.from_bytes(signature[32:], 'big')
    assert sm2_native.Verifier(key.x, key.y).verify(msg, r, s, ID) and fourth.verify(b'x', 1, 1, ID) is False
