"""A client written only from docs/protocol.md (msgpack and the OpenSSL command line,
tests/independent_client.py) against `tanji server run` in its own process."""

import subprocess

import pytest

from independent_client import build_frame
from server_process import ServerProcess, tanji

ENERGY = '080420101001'
POWER = '080420114001'
CODES = [[ENERGY, -2, 'kWh'], [POWER, -1, 'kW']]


@pytest.fixture
def setup(tmp_path, openssl):
    key = tmp_path / 'gw.pem'
    subprocess.run([openssl, 'genpkey', '-algorithm', 'SM2', '-out', str(key)], check=True, capture_output=True)
    pub = subprocess.run([openssl, 'pkey', '-in', str(key), '-pubout'], check=True, capture_output=True).stdout
    (tmp_path / 'gw.pub').write_bytes(pub)
    srv = ServerProcess(tmp_path)
    tanji('server', 'gateways', 'add', 'indep-01', '--key', '@%s' % (tmp_path / 'gw.pub'),
          '--enterprise', 'Acme', '--site', 'Quanzhou', '--db', srv.db)
    yield srv, key
    srv.stop()


def test_independent_frames_are_acknowledged_and_never_duplicated(setup, openssl, tmp_path):
    import time
    srv, key = setup
    t0 = int(time.time()) - 3600

    def frame(s0, n):
        recs = [[i % 2, 60 if i else 0, 1_000_000 + s0 + i] for i in range(n)]
        return build_frame(openssl, key, 'indep-01', s0, t0 + s0 * 60, 1000, CODES, recs, tmp_path)

    assert srv.post_frame(frame(0, 8)) == (200, {'ack': 7})
    assert srv.post_frame(frame(12, 4)) == (200, {'ack': 7})
    assert srv.post_frame(frame(8, 4)) == (200, {'ack': 15})
    assert srv.post_frame(frame(4, 8)) == (200, {'ack': 15})         # overlap: stored once
    assert srv.post_frame(frame(0, 8)) == (200, {'ack': 15})         # resend
    tampered = build_frame(openssl, key, 'indep-01', 16, t0, 1000, CODES, [[0, 0, 5]], tmp_path,
                           root=b'\x11' * 32)
    status, doc = srv.post_frame(tampered)
    assert (status, doc['error']) == (400, 'root_mismatch')
    listing = tanji('server', 'gateways', 'list', '--json', '--db', srv.db).stdout
    import json
    (row,) = json.loads(listing)
    assert (row['ack'], row['records'], row['conflicts']) == (15, 16, 0)
