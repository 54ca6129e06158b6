"""`make demo`: what works today, end to end within the codec.

A gateway key pair is made, one hour of minute readings from 20 simulated meters
is packed into a signed frame, a data centre decodes and verifies it, one record
is proven on its own with its hash-tree path, and a one-byte change is caught.
The full chain (drivers, gateway store, ingest server) arrives with later issues.
"""

import random
import tempfile
from pathlib import Path

from shared.codec import codes, frame, sm2

T0 = 1763884800000


def main() -> None:
    tables = codes.tables()
    workdir = Path(tempfile.mkdtemp(prefix='tanji-demo-'))
    key = sm2.PrivateKey.generate()
    (workdir / 'gateway.key').write_text(key.to_pem())
    (workdir / 'gateway.pub').write_text(key.public_key.to_pem())
    print('1. gateway key pair (SM2, backend %s) in %s' % (sm2.BACKEND, workdir))

    rnd = random.Random(7)
    registers = [rnd.randint(10 ** 7, 10 ** 9) for _ in range(20)]
    units = {}
    records = []
    for minute in range(60):
        for meter in range(20):
            code = tables.encode('08', '04', '201', '01', meter + 1)
            units[code] = 'kWh'
            registers[meter] += rnd.randint(100, 900)
            flags = 0
            value = registers[meter]
            if meter == 3 and minute == 17:
                value, flags = None, frame.FLAG_MISSING  # meter 4 did not answer once
            records.append(frame.Record(len(records), code, T0 + minute * 60000 + meter * 40, value, -2, flags))
    data = frame.encode('GW-DEMO-0001', records, units, key.sign)
    (workdir / 'frame.bin').write_bytes(data)
    print('2. frame of %d readings: %d bytes (%.1f B/reading), written to frame.bin' % (len(records), len(data), len(data) / len(records)))

    f = frame.decode(data)
    print('3. centre side: decoded, signature %s, fingerprint SM3 %s' % (
        'VALID' if f.verify(sm2.PublicKey.from_pem((workdir / 'gateway.pub').read_text())) else 'INVALID', f.fingerprint().hex()))
    r = f.records[42]
    print('   record %d: %s = %s %s at %d ms' % (r.seq, tables.describe(r.code, 'zh'), r.value_text(), f.unit_of(r.code), r.ts_ms))
    missing = [x for x in f.records if x.value is None]
    print('   %d reading(s) flagged %s, none replaced by a stale value' % (len(missing), frame.flag_names(missing[0].flags)))

    path = f.proof(42)
    ok = frame.verify_record_proof(f.gateway_id, r, 42, len(f.records), path, f.root)
    print('4. record %d proven alone with %d hashes against the signed root: %s' % (r.seq, len(path), 'OK' if ok else 'FAILED'))

    tampered = bytearray(f.body)
    tampered[len(tampered) // 2] ^= 1
    print('5. one bit flipped in the body: signature %s' % (
        'still valid (BUG)' if key.public_key.verify(bytes(tampered), f.signature) else 'rejected'))
    print('\nTry: .venv/bin/tanji frame decode --pubkey %s/gateway.pub %s/frame.bin | head -40' % (workdir, workdir))


if __name__ == '__main__':
    main()
