"""A long-running server's signature checks (issue 14, item 7): the server reloads each
enrolled key every 30 s (server/ingest.py KEY_CACHE_SECONDS), and each reload builds a
new verifier.  This runs a day of that for a fleet, as fast as it goes: every round
reloads every key from its PEM and verifies one frame signature with it.  Each
simulated hour also verifies as many signatures with keys loaded once, as a control:
this machine's speed drifts by half over minutes, so the figure that shows a slowdown
of the code is the ratio of the two in the same hour.  Reported: µs per verification
with reloads and for the control in the first and the last simulated hour, their
ratio, and how many keys kept their fast (comb) tables.  Two fleets: 200 gateways, and 1,500 (more keys than
the 1,024 tables of the budget).  Usage:
    python bench/bench_verifier_reload.py [--quick] [--repo DIR]
(--repo: measure another checkout's verifier, e.g. the code before the fix)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RELOAD_S = 30
ROUNDS_PER_HOUR = 3600 // RELOAD_S


def run(fleet: int, hours: int) -> dict:
    from shared.codec import sm2
    keys = [sm2.PrivateKey.generate() for _ in range(fleet)]
    pems = [k.public_key.to_pem() for k in keys]
    msg = os.urandom(400)
    sigs = [k.sign(msg) for k in keys]
    control = [sm2.PublicKey.load(pem) for pem in pems]
    for key, sig in zip(control, sigs):            # the control's verifiers are made first, as a fresh server's
        key.verify(msg, sig)
    per_hour = []
    for hour in range(hours):
        t0 = time.perf_counter()
        for _ in range(ROUNDS_PER_HOUR):
            for pem, sig in zip(pems, sigs):
                if not sm2.PublicKey.load(pem).verify(msg, sig):
                    raise AssertionError('a valid signature failed')
        t1 = time.perf_counter()
        for _ in range(ROUNDS_PER_HOUR // 4):
            for key, sig in zip(control, sigs):
                key.verify(msg, sig)
        t2 = time.perf_counter()
        n = ROUNDS_PER_HOUR * fleet
        per_hour.append(((t1 - t0) / n * 1e6, (t2 - t1) / (n // 4) * 1e6))
    try:
        from shared.codec import sm2_native
        fast = sum(sm2_native.Verifier(p.x, p.y).comb for p in map(sm2.PublicKey.load, pems))
    except Exception:           # no native verifier on this machine
        fast = None
    first, last = per_hour[1] if hours > 2 else per_hour[0], per_hour[-1]    # hour 0 builds the tables
    return {'fleet': fleet, 'simulated_hours': hours, 'reloads': fleet * ROUNDS_PER_HOUR * hours,
            'us_per_verify_with_reloads_first_hour': round(first[0], 1),
            'us_per_verify_keys_loaded_once_first_hour': round(first[1], 1),
            'us_per_verify_with_reloads_last_hour': round(last[0], 1),
            'us_per_verify_keys_loaded_once_last_hour': round(last[1], 1),
            'ratio_first_hour': round(first[0] / first[1], 2), 'ratio_last_hour': round(last[0] / last[1], 2),
            'keys_with_fast_tables_at_end': fast}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a few simulated hours instead of a day')
    parser.add_argument('--repo', help='another checkout whose verifier to measure')
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.repo).resolve() if args.repo else REPO))
    hours = 3 if args.quick else 24
    results = [run(200, hours), run(1500, 2)]
    for r in results:
        print('%5d gateways, %3d h simulated (%d reloads): µs/verify with reloads / keys loaded once: first hour '
              '%.1f / %.1f (x%.2f), last hour %.1f / %.1f (x%.2f); keys with fast tables at the end: %s'
              % (r['fleet'], r['simulated_hours'], r['reloads'], r['us_per_verify_with_reloads_first_hour'],
                 r['us_per_verify_keys_loaded_once_first_hour'], r['ratio_first_hour'],
                 r['us_per_verify_with_reloads_last_hour'], r['us_per_verify_keys_loaded_once_last_hour'],
                 r['ratio_last_hour'], r['keys_with_fast_tables_at_end']))
    if not args.repo:
        out = REPO / 'bench' / 'results' / 'verifier_reload.json'
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
