"""docs/protocol.md is complete and true: its vectors are the tested ones, and a client
written only from it builds frames that we accept."""

import json
import re
from pathlib import Path

import pytest

from conftest import REPO, run
from independent_client import build_frame
from shared.codec import frame, sm2
from shared.codec import flags

DOC = (REPO / 'docs' / 'protocol.md').read_text()
VECTOR = json.loads((REPO / 'tests' / 'vectors' / 'frame_v1.json').read_text())
SEALED = json.loads((REPO / 'tests' / 'vectors' / 'sealed_v1.json').read_text())


def _doc_hex(label: str) -> str:
    m = re.search(r'%s:\s*\n```\n([0-9a-f\n ]+)```' % re.escape(label), DOC)
    assert m, 'docs/protocol.md has no hex block labelled %r' % label
    return ''.join(m.group(1).split())


@pytest.mark.parametrize('label,key', [
    ('Private key d', 'private_key_hex'), ('Public key 04||x||y', 'public_key_hex'),
    ('Body', 'body_hex'), ('Signature r||s', 'signature_hex'), ('Frame', 'frame_hex'),
    ('Fingerprint SM3(body)', 'fingerprint_sm3_hex'), ('Root', 'root_sm3_hex'),
    ('Leaf bytes of record 1001', 'leaf1_bytes_hex'),
])
def test_doc_vectors_are_the_tested_vectors(label: str, key: str) -> None:
    assert _doc_hex(label) == VECTOR[key]


@pytest.mark.parametrize('label,key', [
    ('Centre private key d', 'centre_private_key_hex'), ('Centre public key 04||x||y', 'centre_public_key_hex'),
    ('Session key', 'session_key_hex'), ('SM2 encryption k', 'wrap_k_hex'), ('Nonce', 'nonce_hex'),
    ('Wrapped key C1||C3||C2', 'wrapped_key_hex'), ('Header', 'header_hex'),
    ('Header signature r||s', 'header_signature_hex'), ('Sealed frame', 'sealed_hex'),
])
def test_doc_sealed_vectors_are_the_tested_vectors(label: str, key: str) -> None:
    assert _doc_hex(label) == SEALED[key]


def test_vector_file_is_up_to_date() -> None:
    proc = run([str(REPO / '.venv' / 'bin' / 'python'), '-m', 'tools.make_vectors', '--check'], cwd=REPO)
    assert proc.returncode == 0, 'tests/vectors/frame_v1.json is stale: run python -m tools.make_vectors'


def test_every_error_code_is_documented() -> None:
    codes = set(re.findall(r"FrameError\('([a-z_]+)'", (REPO / 'shared/codec/frame.py').read_text()))
    codes |= set(re.findall(r"_require\([^\n]*?, '([a-z_]+)',", (REPO / 'shared/codec/frame.py').read_text()))
    assert codes, 'no error codes found'
    for code in codes:
        assert '`%s`' % code in DOC, code


def test_independent_client_frames_are_accepted(tmp_path: Path, openssl: str) -> None:
    key_pem = tmp_path / 'k.pem'
    assert run([openssl, 'genpkey', '-algorithm', 'SM2', '-out', str(key_pem)]).returncode == 0
    pub = sm2.PublicKey.from_pem(run([openssl, 'pkey', '-in', str(key_pem), '-pubout']).stdout.decode())
    codes = [['080420101001', -2, 'kWh'], ['080420114001', -1, 'kW']]
    records = [[0, 0, 1234567891], [1, 25, 4125], [0, 5975, 1234567950], [1, 25, None, 1], [1, -30, 4130, 8]]
    data = build_frame(openssl, key_pem, 'GW-EXT-7', 500, 1763884800, 10, codes, records, tmp_path)
    f = frame.decode(data)
    assert f.verify(pub)
    assert [(r.seq, r.ts_ms, r.value_text()) for r in f.records] == [
        (500, 1763884800000, '12345678.91'), (501, 1763884800250, '412.5'),
        (502, 1763884860000, '12345679.50'), (503, 1763884860250, ''), (504, 1763884859950, '413.0')]
    assert f.records[3].flags == flags.FLAG_MISSING and f.records[4].flags == flags.FLAG_MANUAL
    # a record changed after the root was computed is refused, although the signature is valid
    tampered = [list(r) for r in records]
    tampered[2][2] += 100
    bad = build_frame(openssl, key_pem, 'GW-EXT-7', 500, 1763884800, 10, codes, tampered, tmp_path, root=f.root)
    with pytest.raises(frame.FrameError) as e:
        frame.decode(bad)
    assert e.value.code == 'root_mismatch'


def test_we_produce_frames_the_independent_side_verifies(tmp_path: Path, openssl: str) -> None:
    # the reverse direction with the published vector: body out of the envelope, OpenSSL verifies
    import msgpack
    version, body, sig = msgpack.unpackb(bytes.fromhex(VECTOR['frame_hex']))
    (tmp_path / 'pub.pem').write_text(VECTOR['public_key_pem'])
    (tmp_path / 'body').write_bytes(body)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    (tmp_path / 'sig').write_bytes(encode_dss_signature(int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big')))
    proc = run([openssl, 'dgst', '-sm3', '-verify', str(tmp_path / 'pub.pem'), '-sigopt', 'distid:1234567812345678',
                '-signature', str(tmp_path / 'sig'), str(tmp_path / 'body')])
    assert proc.returncode == 0 and b'Verified OK' in proc.stdout


def test_the_vector_is_accepted_by_a_server_told_the_documented_window(tmp_path: Path) -> None:
    """§9: the vector's acceptance does not depend on today's date once the server is
    started as the document says (max_age_days = 36500)."""
    from server_process import ServerProcess, tanji
    (tmp_path / 'server.toml').write_text('[server]\nmax_age_days = 36500\n')
    (tmp_path / 'demo.pub').write_text(VECTOR['public_key_pem'])
    server = ServerProcess(tmp_path, '--config', str(tmp_path / 'server.toml'))
    try:
        tanji('server', 'gateways', 'add', VECTOR['gateway'], '--key', '@%s' % (tmp_path / 'demo.pub'),
              '--enterprise', 'e', '--site', 's', '--first-seq', '1000', '--db', server.db)
        assert server.post_frame(bytes.fromhex(VECTOR['frame_hex'])) == (200, {'ack': 1004})
    finally:
        server.stop()
    assert 'max_age_days = 36500' in DOC
