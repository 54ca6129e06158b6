"""Hypothesis throws mutated frames at `tanji server run`: only 2xx/4xx come back, and a
refused frame leaves nothing behind.  Mutations are of two kinds: raw byte damage to a
valid frame, and structural changes to its body that are then signed properly, so the
checks behind the signature are exercised too."""

import sqlite3

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server_harness import new_gateways
from server_process import ServerProcess


@pytest.fixture(scope='module')
def target(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('fuzz')
    gw = new_gateways(['fuzz-01'])['fuzz-01']
    srv = ServerProcess(workdir)
    srv.enrol('fuzz-01', gw.key.public_key.to_pem(), 'Acme', 'Fuzz')
    yield srv, gw
    srv.stop()


def snapshot(db: str) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute('SELECT count(*), coalesce(sum(seq), 0) FROM records').fetchone(),
                conn.execute('SELECT count(*) FROM frames').fetchone())
    finally:
        conn.close()


BASE_SEQ = 1000


def valid_parts(gw):
    raw = gw.frame(BASE_SEQ, 6)
    _, body, _ = msgpack.unpackb(raw)
    return raw, msgpack.unpackb(body)


anything = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=20) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=8)


@st.composite
def byte_damage(draw, raw):
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(['flip', 'cut', 'insert', 'delete']))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == 'flip' and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == 'cut':
            data = data[:pos]
        elif op == 'insert':
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 'delete' and data:
            del data[pos:pos + draw(st.integers(1, 8))]
    return bytes(data)


@st.composite
def body_change(draw, doc, gw):
    doc = dict(doc)
    key = draw(st.sampled_from(sorted(doc) + ['recs-item', 'codes-item', 'extra']))
    if key == 'recs-item':
        recs = list(doc['recs'])
        recs[draw(st.integers(0, len(recs) - 1))] = draw(anything)
        doc['recs'] = recs
    elif key == 'codes-item':
        doc['codes'] = [draw(anything)] + list(doc['codes'][1:])
    elif key == 'extra':
        doc[draw(st.text(max_size=6))] = draw(anything)
    else:
        doc[key] = draw(anything)
    body = msgpack.packb(doc, use_bin_type=True)
    return msgpack.packb([1, body, gw.key.sign(body)], use_bin_type=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_frames_get_only_2xx_or_4xx_and_refusals_store_nothing(target, data):
    srv, gw = target
    raw, doc = valid_parts(gw)
    mutated = data.draw(st.one_of(byte_damage(raw), body_change(doc, gw)))
    before = snapshot(srv.db)
    status, reply = srv.post_frame(mutated)
    event('status %d %s' % (status, reply.get('error', '')))
    assert status == 200 or 400 <= status < 500, (status, reply)
    if status != 200:
        assert set(reply) == {'error', 'detail'} and reply['error'] != 'internal'
        assert snapshot(srv.db) == before
    else:
        assert isinstance(reply['ack'], int)


def test_the_server_is_still_healthy_after_fuzzing(target):
    srv, gw = target
    status, _ = srv.request('GET', '/api/v1/health')
    assert status == 200
    assert srv.post_frame(gw.frame(0, 3))[0] == 200
