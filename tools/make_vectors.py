"""Writes tests/vectors/frame_v1.json, a deterministic test frame for docs/protocol.md
§9, and tests/vectors/sealed_v1.json, the same frame sealed (§10).

The signature uses a fixed nonce k (the GM/T 0003.5 example's) so the vector is
reproducible; real signatures always draw a fresh k.  Run:
    python -m tools.make_vectors        # rewrite the file
    python -m tools.make_vectors --check  # exit 1 if the file is stale
"""

import json
import sys
from pathlib import Path

from shared.codec import decimals, frame, merkle, sm2, sm2_pure
from shared.codec.flags import FLAG_MANUAL, FLAG_MISSING

PATH = Path(__file__).resolve().parent.parent / 'tests' / 'vectors' / 'frame_v1.json'
SEALED_PATH = PATH.with_name('sealed_v1.json')
# the sealed vector: the centre's key, the session key, the nonce and the SM2 encryption's k are all fixed
CENTRE_D = 0x1649AB77A00637BD5E2EFE283FBF353534AA7F7CB89463F208DDBC2920BB0DA0
SESSION_KEY = bytes.fromhex('0123456789abcdeffedcba9876543210')
NONCE = bytes.fromhex('00001234567800000000abcd')
WRAP_K = 0x4C62EEFD6ECFC2B95B92FD6C3D9575148AFA17425546D49018E5388D49DD7B4F
D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
GATEWAY = 'GW-DEMO-0001'
UNITS = {'080420101001': 'kWh', '080420114001': 'kW', '080100201002': 't'}
# seq, code, time (ms since 1970 UTC), value as decimal text or None, flags
RECORDS = [
    [1000, '080420101001', 1763884800000, '12345678.91', 0],
    [1001, '080420114001', 1763884800250, '412.5', 0],
    [1002, '080100201002', 1763884800500, '98765.432', FLAG_MANUAL],
    [1003, '080420101001', 1763884860000, '12345679.37', 0],
    [1004, '080420114001', 1763884860250, None, FLAG_MISSING],
]


def build() -> dict:
    key = sm2.PrivateKey(D)
    records = []
    for seq, code, ts, text, flags in RECORDS:
        m, e = decimals.parse(text) if text is not None else (None, 0)
        records.append(frame.Record(seq, code, ts, m, e, flags))
    body, stored = frame.build_body(GATEWAY, records, UNITS)
    pub = key.public_key
    sig = sm2_pure.sign(key.d, pub.x, pub.y, body, k=K)
    data = frame.mp.packb([frame.VERSION, body, sig])
    leaves = frame.leaf_hashes(GATEWAY, stored)
    return {
        'comment': 'Deterministic test frame of docs/protocol.md; signed with a FIXED k, never do that for real.',
        'private_key_hex': key.to_hex(),
        'public_key_hex': pub.to_hex(),
        'public_key_pem': pub.to_pem(),
        'gateway': GATEWAY,
        'units': UNITS,
        'records': RECORDS,
        'body_hex': body.hex(),
        'signature_hex': sig.hex(),
        'frame_hex': data.hex(),
        'fingerprint_sm3_hex': sm2.fingerprint(body).hex(),
        'root_sm3_hex': merkle.root(leaves).hex(),
        'leaf1_bytes_hex': frame.leaf_bytes(GATEWAY, stored[1]).hex(),
        'leaf_hashes_hex': [h.hex() for h in leaves],
        'proof_index': 1,
        'proof_hex': [h.hex() for h in merkle.inclusion_proof(leaves, 1)],
    }


def build_sealed(plain: dict) -> dict:
    from shared import seal
    from shared.codec import sm2_encrypt
    gateway_key = sm2.PrivateKey(D)
    centre = sm2.PrivateKey(CENTRE_D)
    wrapped = sm2_encrypt.encrypt(centre.public_key.point, SESSION_KEY, k=WRAP_K)
    header = seal.make_header(GATEWAY, wrapped)
    pub = gateway_key.public_key
    header_sig = sm2_pure.sign(gateway_key.d, pub.x, pub.y, header, k=K)
    box = seal.seal_box(SESSION_KEY, NONCE, bytes.fromhex(plain['frame_hex']), header)
    sealed = frame.mp.packb([header, header_sig, NONCE, box])
    return {
        'comment': 'The frame of frame_v1.json sealed (docs/protocol.md §10) with FIXED k, session key and nonce; '
                   'never fix them for real.',
        'centre_private_key_hex': centre.to_hex(),
        'centre_public_key_hex': centre.public_key.to_hex(),
        'session_key_hex': SESSION_KEY.hex(),
        'wrap_k_hex': '%064x' % WRAP_K,
        'wrapped_key_hex': wrapped.hex(),
        'header_hex': header.hex(),
        'header_signature_hex': header_sig.hex(),
        'nonce_hex': NONCE.hex(),
        'box_hex': box.hex(),
        'sealed_hex': sealed.hex(),
        'frame_hex': plain['frame_hex'],
    }


def main() -> int:
    plain = build()
    stale = 0
    for path, doc in ((PATH, plain), (SEALED_PATH, build_sealed(plain))):
        text = json.dumps(doc, indent=1) + '\n'
        if '--check' in sys.argv:
            stale += not path.exists() or path.read_text() != text
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print('wrote', path)
    return 1 if stale else 0


if __name__ == '__main__':
    sys.exit(main())
