"""Our SM2 against the OpenSSL command line, an independent implementation."""

from pathlib import Path

import msgpack
import pytest

from conftest import run
from portable_helpers import UNITS, sample_records
from shared.codec import frame, sm2, sm2_der

DISTID = 'distid:1234567812345678'


def test_fast_backend_is_active_on_cpython() -> None:
    assert sm2.BACKEND == 'openssl'


@pytest.fixture
def keypair(tmp_path: Path, openssl: str) -> tuple[Path, Path]:
    priv = tmp_path / 'k.pem'
    pub = tmp_path / 'p.pem'
    assert run([openssl, 'genpkey', '-algorithm', 'SM2', '-out', str(priv)]).returncode == 0
    assert run([openssl, 'pkey', '-in', str(priv), '-pubout', '-out', str(pub)]).returncode == 0
    return priv, pub


def _openssl_verify(openssl: str, pub: Path, data: Path, sig_der: Path, distid: bool = True) -> bool:
    cmd = [openssl, 'dgst', '-sm3', '-verify', str(pub), '-signature', str(sig_der)]
    if distid:
        cmd += ['-sigopt', DISTID]
    proc = run(cmd + [str(data)])
    return proc.returncode == 0 and b'Verified OK' in proc.stdout


def test_our_signatures_verify_with_openssl(tmp_path: Path, openssl: str, keypair) -> None:
    priv_pem, pub_pem = keypair
    key = sm2.PrivateKey.from_pem(priv_pem.read_text())
    assert key.public_key.to_pem() == pub_pem.read_text()
    data = tmp_path / 'm'
    sig = tmp_path / 's.der'
    for msg in (b'', b'abc', bytes(range(256)) * 8):
        data.write_bytes(msg)
        raw = key.sign(msg)
        sig.write_bytes(sm2_der.sig_raw_to_der(raw))
        assert _openssl_verify(openssl, pub_pem, data, sig)
        # OpenSSL's default (empty) ID must not accept it: the ID is really in the signature
        assert not _openssl_verify(openssl, pub_pem, data, sig, distid=False)


def test_openssl_signatures_verify_with_us_both_backends(tmp_path: Path, openssl: str, keypair) -> None:
    from shared.codec import sm2_pure
    priv_pem, pub_pem = keypair
    pub = sm2.PublicKey.from_pem(pub_pem.read_text())
    data = tmp_path / 'm'
    data.write_bytes(b'frame body bytes')
    for i in range(5):
        sig = tmp_path / ('s%d.der' % i)
        assert run([openssl, 'dgst', '-sm3', '-sign', str(priv_pem), '-sigopt', DISTID,
                    '-out', str(sig), str(data)]).returncode == 0
        raw = sm2_der.sig_der_to_raw(sig.read_bytes())
        assert pub.verify(b'frame body bytes', raw)
        assert sm2_pure.verify(pub.x, pub.y, b'frame body bytes', raw)
        assert not pub.verify(b'frame body bytez', raw)


def test_openssl_reads_our_key_files(tmp_path: Path, openssl: str) -> None:
    key = sm2.PrivateKey.generate()
    (tmp_path / 'k.pem').write_text(key.to_pem())
    proc = run([openssl, 'pkey', '-in', str(tmp_path / 'k.pem'), '-pubout'])
    assert proc.returncode == 0
    assert proc.stdout.decode() == key.public_key.to_pem()
    proc = run([openssl, 'pkey', '-in', str(tmp_path / 'k.pem'), '-text', '-noout'])
    assert b'SM2' in proc.stdout or b'sm2' in proc.stdout


def test_frame_signature_verifies_with_openssl_on_the_extracted_body(tmp_path: Path, openssl: str) -> None:
    key = sm2.PrivateKey.generate()
    (tmp_path / 'p.pem').write_text(key.public_key.to_pem())
    data = frame.encode('GW-1', sample_records(9), UNITS, key.sign)
    version, body, sig = msgpack.unpackb(data)  # the envelope, read with nothing of ours
    (tmp_path / 'body').write_bytes(body)
    (tmp_path / 'sig').write_bytes(sm2_der.sig_raw_to_der(sig))
    assert version == 1
    assert _openssl_verify(openssl, tmp_path / 'p.pem', tmp_path / 'body', tmp_path / 'sig')
    fp = run([openssl, 'dgst', '-sm3', '-r', str(tmp_path / 'body')]).stdout.split()[0].decode()
    assert fp == frame.decode(data).fingerprint().hex()


def test_off_curve_and_foreign_keys_are_refused_by_openssl_too(tmp_path: Path, openssl: str) -> None:
    pub = sm2.PrivateKey.generate().public_key
    bad = pub.point[:-1] + bytes([(pub.point[-1] + 1) & 0xFF])
    (tmp_path / 'bad.der').write_bytes(sm2_der.spki_from_point(bad))
    assert run([openssl, 'pkey', '-pubin', '-inform', 'DER', '-in', str(tmp_path / 'bad.der')]).returncode != 0
    with pytest.raises(sm2.KeyError_):
        sm2.PublicKey.from_der((tmp_path / 'bad.der').read_bytes())
