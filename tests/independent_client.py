"""A frame builder written only from docs/protocol.md, a msgpack library and the OpenSSL
command line (plus `cryptography` for DER <-> r||s).  It imports nothing from Tanji, so a
test passing with it shows the document is complete."""

import subprocess
from pathlib import Path

import msgpack
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def sm3(openssl: str, data: bytes) -> bytes:
    return subprocess.run([openssl, 'dgst', '-sm3', '-binary'], input=data, capture_output=True,
                          check=True).stdout


def tree_root(openssl: str, leaves: list[bytes]) -> bytes:
    # protocol.md §5: leaf = SM3(00 || leaf bytes), node = SM3(01 || left || right), odd node carried up
    level = [sm3(openssl, b'\x00' + leaf) for leaf in leaves]
    while len(level) > 1:
        nxt = [sm3(openssl, b'\x01' + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def build_frame(openssl: str, key_pem: Path, gateway: str, s0: int, t0: int, tu: int,
                codes: list[list], records: list[list], workdir: Path, cv: str = 'tanji-db35-2021-v1',
                root: bytes | None = None) -> bytes:
    """records: [code index, time step, value(, flags)] as in protocol.md §4."""
    leaves = []
    t = t0 * 1000
    for i, rec in enumerate(records):
        t += rec[1] * tu
        code, exp, _unit = codes[rec[0]]
        value = rec[2]
        leaf_exp = exp if isinstance(value, int) else 0
        flags = rec[3] if len(rec) > 3 else 0
        leaves.append(msgpack.packb([gateway, s0 + i, code, t, value, leaf_exp, flags]))
    body_map = {'codes': codes, 'cv': cv, 'gw': gateway, 'recs': records,
                'root': root or tree_root(openssl, leaves), 's0': s0, 't0': t0, 'tu': tu}
    body = msgpack.packb(body_map, use_bin_type=True)
    (workdir / 'body.bin').write_bytes(body)
    der = subprocess.run([openssl, 'dgst', '-sm3', '-sign', str(key_pem), '-sigopt', 'distid:1234567812345678',
                          str(workdir / 'body.bin')], capture_output=True, check=True).stdout
    r, s = decode_dss_signature(der)
    return msgpack.packb([1, body, r.to_bytes(32, 'big') + s.to_bytes(32, 'big')], use_bin_type=True)
