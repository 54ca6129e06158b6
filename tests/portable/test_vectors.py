"""The test frame published in docs/protocol.md decodes, verifies and re-encodes byte for byte."""

import binascii
import json

from shared.codec import decimals, frame, merkle, sm2, sm2_pure


def _vector():
    here = __file__.replace('\\', '/')
    base = here[:here.rfind('/')] if '/' in here else '.'
    with open(base + '/../vectors/frame_v1.json') as f:
        return json.load(f)


def _b(h):
    return binascii.unhexlify(h)


def _hex(b):
    return binascii.hexlify(b).decode()


def test_vector_frame_decodes_and_verifies():
    v = _vector()
    f = frame.decode(_b(v['frame_hex']))
    pub = sm2.PublicKey.from_hex(v['public_key_hex'])
    assert sm2.PublicKey.from_pem(v['public_key_pem']) == pub
    assert f.verify(pub)
    assert _hex(f.body) == v['body_hex']
    assert _hex(f.signature) == v['signature_hex']
    assert _hex(f.fingerprint()) == v['fingerprint_sm3_hex']
    assert _hex(f.root) == v['root_sm3_hex']
    assert f.gateway_id == v['gateway']
    got = [[r.seq, r.code, r.ts_ms, r.value_text() if r.value is not None else None, r.flags] for r in f.records]
    expected = []
    for seq, code, ts, text, flags in v['records']:
        if text is not None:
            m, e = decimals.parse(text)
            exp = [c[1] for c in f.codes if c[0] == code][0]
            text = decimals.format(decimals.rescale(m, e, exp), exp)
        expected.append([seq, code, ts, text, flags])
    assert got == expected


def test_vector_is_reproduced_from_its_inputs():
    v = _vector()
    recs = []
    for seq, code, ts, text, flags in v['records']:
        m, e = decimals.parse(text) if text is not None else (None, 0)
        recs.append(frame.Record(seq, code, ts, m, e, flags))
    body, stored = frame.build_body(v['gateway'], recs, v['units'])
    assert _hex(body) == v['body_hex']
    key = sm2.PrivateKey.from_hex(v['private_key_hex'])
    assert key.public_key.to_hex() == v['public_key_hex']
    k = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
    pub = key.public_key
    assert _hex(sm2_pure.sign(key.d, pub.x, pub.y, body, k=k)) == v['signature_hex']
    assert _hex(frame.leaf_bytes(v['gateway'], stored[1])) == v['leaf1_bytes_hex']


def test_vector_record_proof():
    v = _vector()
    f = frame.decode(_b(v['frame_hex']))
    i = v['proof_index']
    path = [_b(h) for h in v['proof_hex']]
    assert f.proof(i) == path
    leaf = merkle.leaf_hash(_b(v['leaf1_bytes_hex']))
    assert _hex(leaf) == v['leaf_hashes_hex'][i]
    assert merkle.root_from_proof(leaf, i, len(f.records), path) == f.root


def test_vector_with_one_flipped_body_byte_fails():
    v = _vector()
    pub = sm2.PublicKey.from_hex(v['public_key_hex'])
    body = _b(v['body_hex'])
    sig = _b(v['signature_hex'])
    assert pub.verify(body, sig)
    for i in (0, len(body) // 2, len(body) - 1):
        assert not pub.verify(body[:i] + bytes((body[i] ^ 0x40,)) + body[i + 1:], sig)
