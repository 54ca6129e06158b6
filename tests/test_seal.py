"""Sealed frames (issue 14, item 9; docs/protocol.md §10): SM4-GCM through `cryptography`
checked against RFC 8998's vector and against a GCM built here from OpenSSL's SM4 and a
GHASH of our own; SM2 encryption checked both ways against OpenSSL and gmssl; the
document's vector; and sealed uploads to a running server, honest and hostile."""

from __future__ import annotations

import json
import os
import sqlite3

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, run
from gateway_process import GatewayProcess, Platform, gateway_config
from server_harness import new_gateways
from shared import seal
from shared.codec import sm2, sm2_encrypt

SEALED = json.loads((REPO / 'tests' / 'vectors' / 'sealed_v1.json').read_text())


def test_sm4_gcm_is_rfc_8998s():
    """RFC 8998 Appendix A.1, the SM4-GCM example."""
    key = bytes.fromhex('0123456789ABCDEFFEDCBA9876543210')
    nonce = bytes.fromhex('00001234567800000000ABCD')
    plain = bytes.fromhex('AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD'
                          'EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA')
    aad = bytes.fromhex('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2')
    box = seal.seal_box(key, nonce, plain, aad)
    assert box.hex().upper() == ('17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735'
                                 'D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D'
                                 '83DE3541E4C2B58177E065A9BF7B62EC')
    assert seal.open_box(key, nonce, box, aad) == plain


def _openssl_sm4(openssl: str, tmp, mode: str, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    src = tmp / 'in.bin'
    src.write_bytes(data)
    cmd = [openssl, 'enc', '-%s' % mode, '-K', key.hex(), '-in', str(src), '-nopad']
    if iv is not None:
        cmd += ['-iv', iv.hex()]
    proc = run(cmd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _gf_mult(x: int, y: int) -> int:
    """Multiplication in GF(2^128) with GCM's bit order (NIST SP 800-38D, Algorithm 1)."""
    r, z, v = 0xE1 << 120, 0, x
    for i in range(127, -1, -1):
        if (y >> i) & 1:
            z ^= v
        v = (v >> 1) ^ r if v & 1 else v >> 1
    return z


def _ghash(h: int, aad: bytes, cipher: bytes) -> int:
    def blocks(b: bytes) -> list[int]:
        b += bytes(-len(b) % 16)
        return [int.from_bytes(b[i:i + 16], 'big') for i in range(0, len(b), 16)]
    y = 0
    for block in blocks(aad) + blocks(cipher) + [(len(aad) * 8) << 64 | len(cipher) * 8]:
        y = _gf_mult(y ^ block, h)
    return y


@settings(max_examples=15, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), nonce=st.binary(min_size=12, max_size=12),
       plain=st.binary(min_size=1, max_size=100), aad=st.binary(max_size=40))
def test_sm4_gcm_agrees_with_a_gcm_built_from_openssls_sm4(tmp_path_factory, openssl, key, nonce, plain, aad):
    tmp = tmp_path_factory.mktemp('gcm')
    h = int.from_bytes(_openssl_sm4(openssl, tmp, 'sm4-ecb', key, bytes(16)), 'big')
    j0 = nonce + b'\x00\x00\x00\x01'
    cipher = _openssl_sm4(openssl, tmp, 'sm4-ctr', key, plain, nonce + b'\x00\x00\x00\x02')
    tag = int.from_bytes(_openssl_sm4(openssl, tmp, 'sm4-ecb', key, j0), 'big') ^ _ghash(h, aad, cipher)
    assert seal.seal_box(key, nonce, plain, aad) == cipher + tag.to_bytes(16, 'big')


def _der_to_c1c3c2(der: bytes) -> bytes:
    """GM/T 0009's SEQUENCE {x INTEGER, y INTEGER, hash OCTET STRING, cipher OCTET STRING} to C1||C3||C2."""
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    parts = []
    while i < len(der):
        length, j = der[i + 1], i + 2
        if length & 0x80:
            n = length & 0x7f
            length, j = int.from_bytes(der[j:j + n], 'big'), j + n
        parts.append(der[j:j + length])
        i = j + length
    x, y, c3, c2 = parts
    return b'\x04' + int.from_bytes(x, 'big').to_bytes(32, 'big') + int.from_bytes(y, 'big').to_bytes(32, 'big') + c3 + c2


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes([0x81, n])) + content


def _c1c3c2_to_der(ct: bytes) -> bytes:
    def integer(b: bytes) -> bytes:
        b = b.lstrip(b'\x00') or b'\x00'
        return _der(0x02, b'\x00' + b if b[0] & 0x80 else b)
    return _der(0x30, integer(ct[1:33]) + integer(ct[33:65]) + _der(0x04, ct[65:97]) + _der(0x04, ct[97:]))


def test_sm2_encryption_interoperates_with_openssl_and_gmssl(tmp_path, openssl):
    from gmssl import sm2 as gmssl_sm2
    key_pem = tmp_path / 'centre.pem'
    assert run([openssl, 'genpkey', '-algorithm', 'SM2', '-out', str(key_pem)]).returncode == 0
    centre = sm2.PrivateKey.from_pem(key_pem.read_text())
    pub_pem = tmp_path / 'centre.pub'
    pub_pem.write_text(centre.public_key.to_pem())
    for _ in range(3):
        session_key = os.urandom(16)
        (tmp_path / 'm').write_bytes(session_key)
        proc = run([openssl, 'pkeyutl', '-encrypt', '-pubin', '-inkey', str(pub_pem), '-in', str(tmp_path / 'm')])
        assert sm2_encrypt.decrypt(centre.d, _der_to_c1c3c2(proc.stdout)) == session_key
        (tmp_path / 'c').write_bytes(_c1c3c2_to_der(sm2_encrypt.encrypt(centre.public_key.point, session_key)))
        proc = run([openssl, 'pkeyutl', '-decrypt', '-inkey', str(key_pem), '-in', str(tmp_path / 'c')])
        assert proc.returncode == 0 and proc.stdout == session_key, proc.stderr
        other = gmssl_sm2.CryptSM2(private_key='%064x' % centre.d, public_key=centre.public_key.point[1:].hex(),
                                   mode=1)       # mode 1: C1 || C3 || C2, C1 without its 04
        assert other.decrypt(sm2_encrypt.encrypt(centre.public_key.point, session_key)[1:]) == session_key
        assert sm2_encrypt.decrypt(centre.d, b'\x04' + other.encrypt(session_key)) == session_key
    wrapped = bytearray(sm2_encrypt.encrypt(centre.public_key.point, b'k' * 16))
    wrapped[-1] ^= 1
    try:
        sm2_encrypt.decrypt(centre.d, bytes(wrapped))
        raise AssertionError('an altered ciphertext decrypted')
    except sm2_encrypt.DecryptError as e:
        assert 'C3 does not match' in str(e)


def test_the_documented_vector_is_reproduced_and_opens():
    v = SEALED
    centre = sm2.PrivateKey.from_hex(v['centre_private_key_hex'])
    assert centre.public_key.to_hex() == v['centre_public_key_hex']
    wrapped = sm2_encrypt.encrypt(centre.public_key.point, bytes.fromhex(v['session_key_hex']),
                                  k=int(v['wrap_k_hex'], 16))
    assert wrapped.hex() == v['wrapped_key_hex']
    assert seal.make_header('GW-DEMO-0001', wrapped).hex() == v['header_hex']
    frame_vector = json.loads((REPO / 'tests' / 'vectors' / 'frame_v1.json').read_text())
    gateway = sm2.PublicKey.from_hex(frame_vector['public_key_hex'])
    assert gateway.verify(bytes.fromhex(v['header_hex']), bytes.fromhex(v['header_signature_hex']))
    sealed = seal.Sealed(bytes.fromhex(v['sealed_hex']), 1 << 20)
    keys = seal.SessionKeys(centre.d)
    key = keys.unwrap(sealed)
    assert key.hex() == v['session_key_hex']
    assert seal.open_box(key, sealed.nonce, sealed.box, sealed.header).hex() == v['frame_hex']


def _records(db: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute('SELECT seq, code, ts_ms, mantissa, exp FROM records ORDER BY seq').fetchall()
    finally:
        conn.close()


def test_sealed_uploads_to_a_running_server(tmp_path):
    centre = sm2.PrivateKey.generate()
    (tmp_path / 'centre.key').write_text(centre.to_pem())
    (tmp_path / 'centre.pub').write_text(centre.public_key.to_pem())
    (tmp_path / 'server.toml').write_text('[server]\nseal_key = "%s"\nseal_required = true\n'
                                          % (tmp_path / 'centre.key'))
    platform = Platform(tmp_path, 'GW-FAULT', '--config', str(tmp_path / 'server.toml'))
    server = platform.server
    try:
        gw_dir = tmp_path / 'gw'
        gw_dir.mkdir()
        config = gateway_config(gw_dir, platform.key_path, platform.url, gw_dir / 'data',
                                synthetic='points = 2\nrate_per_s = 20',
                                centre_extra='seal_key = "%s"' % (tmp_path / 'centre.pub'))
        gateway = GatewayProcess(gw_dir, config)
        try:
            platform.wait_ack(40)
        finally:
            gateway.stop()
        row = platform.gateway_row()            # after the stop: it may have delivered more meanwhile
        assert row['ack'] >= 40 and row['signature_failures'] == 0, row
        stored = _records(server.db)

        # a plain frame, when the centre requires sealing
        other = new_gateways(['GW-OTHER'])['GW-OTHER']
        status, doc = server.post_frame(other.frame(0, 2))
        assert (status, doc['error']) == (415, 'content_type') and 'only sealed' in doc['detail'], doc

        # the gateway's own key: an honest sealer, then each part of its output spoiled
        key = sm2.PrivateKey.load(platform.key_path.read_bytes())
        sealer = seal.Sealer('GW-FAULT', key.sign, centre.public_key.point)
        frames_of = new_gateways(['GW-FAULT'])['GW-FAULT']
        frames_of.key = key
        honest = sealer.seal(frames_of.frame(row['ack'] + 1, 3))
        parts = msgpack.unpackb(honest)

        def post(parts: list) -> tuple[int, dict]:
            return server.request('POST', '/api/v1/frames', msgpack.packb(parts), seal.CONTENT_TYPE)

        box = bytearray(parts[3])
        box[5] ^= 1
        status, doc = post([parts[0], parts[1], parts[2], bytes(box)])
        assert (status, doc['error']) == (400, 'sealed'), doc
        forged = sm2.PrivateKey.generate()
        stranger = seal.Sealer('GW-FAULT', forged.sign, centre.public_key.point)
        status, doc = server.request('POST', '/api/v1/frames', stranger.seal(frames_of.frame(row['ack'] + 1, 3)),
                                     seal.CONTENT_TYPE)
        assert (status, doc['error']) == (401, 'bad_signature'), doc
        wrong_centre = seal.Sealer('GW-FAULT', key.sign, sm2.PrivateKey.generate().public_key.point)
        status, doc = server.request('POST', '/api/v1/frames', wrong_centre.seal(frames_of.frame(row['ack'] + 1, 3)),
                                     seal.CONTENT_TYPE)
        assert (status, doc['error']) == (400, 'sealed') and 'wrapped' in doc['detail'], doc
        status, doc = server.request('POST', '/api/v1/frames', sealer.seal(other.frame(0, 2)), seal.CONTENT_TYPE)
        assert (status, doc['error']) == (400, 'sealed') and 'GW-OTHER' in doc['detail'], doc
        status, doc = server.request('POST', '/api/v1/frames', b'\x94' + b'\xc0' * 4, seal.CONTENT_TYPE)
        assert (status, doc['error']) == (400, 'malformed'), doc
        assert _records(server.db) == stored

        assert b'GW-FAULT' in honest and all(c.encode() not in honest for (_, c, _, _, _) in stored[:1])
        status, doc = post(parts)
        assert status == 200 and doc['ack'] == row['ack'] + 3, doc
    finally:
        platform.stop()
    log = (tmp_path / 'server.log').read_text()
    assert 'Traceback' not in log, log[-3000:]
