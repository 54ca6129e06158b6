"""Writes tests/vectors/frame_v1.json: a deterministic test frame for docs/protocol.md.

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


def main() -> int:
    text = json.dumps(build(), indent=1) + '\n'
    if '--check' in sys.argv:
        return 0 if PATH.read_text() == text else 1
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(text)
    print('wrote', PATH)
    return 0


if __name__ == '__main__':
    sys.exit(main())
