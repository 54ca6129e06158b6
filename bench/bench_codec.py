"""Codec benchmark (issue: foundation).

1. Bytes per record on one realistic batch: 200 points x 60 minutes (100 cumulative
   energy registers at 0.01 kWh, 100 instantaneous power values at 0.1 kW), each
   stamped at read time in ms as a serial poll would.  Our frame against the same
   data as JSON and as HJ 212-2017 text (one minute-data packet per minute).
2. SM2 sign and verify per second through shared.codec.sm2 (OpenSSL backend and the
   pure-Python fallback) against `openssl speed -seconds N sm2`, on one core.
3. Frame encode/decode throughput for that batch.
"""

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.codec import codes, frame, sm2, sm2_pure  # noqa: E402

POINTS = 200
MINUTES = 60
T0 = 1763884800000


def realistic_batch() -> tuple[list, dict]:
    rnd = random.Random(2026)
    t = codes.tables()
    records = []
    units = {}
    registers = [rnd.randint(10 ** 8, 10 ** 10) for _ in range(POINTS)]
    seq = 1
    for minute in range(MINUTES):
        clock = T0 + minute * 60000 + rnd.randint(0, 40)
        for p in range(POINTS):
            energy = p % 2 == 0
            code = t.encode('08', '04', '201', '01' if energy else '14', p // 2 + 1)
            units[code] = 'kWh' if energy else 'kW'
            clock += rnd.randint(15, 40)  # one Modbus/DL-T 645 transaction per point
            if energy:
                registers[p] += rnd.randint(0, 5000)
                records.append(frame.Record(seq, code, clock, registers[p], -2, 0))
            else:
                records.append(frame.Record(seq, code, clock, rnd.randint(500, 99999), -1, 0))
            seq += 1
    return records, units


def as_json(records, units) -> bytes:
    rows = [{'seq': r.seq, 'code': r.code, 'time': r.ts_ms, 'value': r.value_text(), 'unit': units[r.code],
             'flags': r.flags} for r in records]
    return json.dumps({'gateway': 'GW-BENCH-0001', 'records': rows}, separators=(',', ':')).encode()


def crc16_hj212(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def as_hj212(records) -> bytes:
    """HJ 212-2017 minute data (CN=2051), one packet per minute, every point as xxx-Rtd."""
    out = []
    by_minute: dict[int, list] = {}
    for r in records:
        by_minute.setdefault((r.ts_ms - T0) // 60000, []).append(r)
    for minute, rows in sorted(by_minute.items()):
        stamp = time.strftime('%Y%m%d%H%M%S', time.gmtime((T0 + minute * 60000) / 1000))
        cp = ';'.join('%s-Rtd=%s,%s-Flag=N' % (r.code, r.value_text(), r.code) for r in rows)
        seg = 'QN=%s000;ST=31;CN=2051;PW=123456;MN=GWBENCH0001;Flag=5;CP=&&DataTime=%s;%s&&' % (stamp, stamp, cp)
        body = seg.encode()
        out.append(b'##%04d%s%04X\r\n' % (len(body), body, crc16_hj212(body)))
    return b''.join(out)


def rate(fn, seconds: float = 2.0) -> float:
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= seconds:
            return n / el


def openssl_speed(seconds: int = 3) -> tuple[float, float]:
    proc = subprocess.run(['taskset', '-c', '0', 'openssl', 'speed', '-seconds', str(seconds), 'sm2'],
                          capture_output=True, text=True)
    m = re.search(r'SM2 \(\w+\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)', proc.stdout)
    if not m:
        raise RuntimeError('could not parse openssl speed output:\n' + proc.stdout + proc.stderr)
    return float(m.group(1)), float(m.group(2))


def main() -> None:
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    records, units = realistic_batch()
    key = sm2.PrivateKey.generate()
    data = frame.encode('GW-BENCH-0001', records, units, key.sign)
    n = len(records)
    j = as_json(records, units)
    h = as_hj212(records)
    print('== bytes per record (%d points x %d minutes = %d records)' % (POINTS, MINUTES, n))
    print('tanji frame   %8d bytes  %6.2f B/record' % (len(data), len(data) / n))
    print('JSON          %8d bytes  %6.2f B/record  (x%.1f)' % (len(j), len(j) / n, len(j) / len(data)))
    print('HJ 212-2017   %8d bytes  %6.2f B/record  (x%.1f)' % (len(h), len(h) / n, len(h) / len(data)))

    t = time.perf_counter()
    for _ in range(5):
        frame.encode('GW-BENCH-0001', records, units, key.sign)
    enc = (time.perf_counter() - t) / 5
    t = time.perf_counter()
    for _ in range(5):
        frame.decode(data)
    dec = (time.perf_counter() - t) / 5
    print('== frame of %d records: encode+sign %.1f ms (%.0f records/s), decode+root check %.1f ms (%.0f records/s)'
          % (n, enc * 1000, n / enc, dec * 1000, n / dec))

    body = frame.decode(data).body
    msg = body[:1024]
    sig = key.sign(msg)
    pub = key.public_key
    ours_sign = rate(lambda: key.sign(msg))
    ours_verify = rate(lambda: pub.verify(msg, sig))
    pure_sign = rate(lambda: sm2_pure.sign(key.d, pub.x, pub.y, msg), 1.0)
    pure_verify = rate(lambda: sm2_pure.verify(pub.x, pub.y, msg, sig), 1.0)
    ossl_sign, ossl_verify = openssl_speed()
    print('== SM2 on one core, 1 KiB messages (signing: %s, verifying: %s)' % (sm2.BACKEND, sm2.VERIFY_BACKEND))
    print('openssl speed sm2      sign %7.0f/s   verify %7.0f/s' % (ossl_sign, ossl_verify))
    print('tanji (public API)     sign %7.0f/s   verify %7.0f/s   ratio %.2f / %.2f'
          % (ours_sign, ours_verify, ours_sign / ossl_sign, ours_verify / ossl_verify))
    print('tanji (pure Python)    sign %7.0f/s   verify %7.0f/s   ratio %.2f / %.2f'
          % (pure_sign, pure_verify, pure_sign / ossl_sign, pure_verify / ossl_verify))


if __name__ == '__main__':
    main()
