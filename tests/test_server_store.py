"""The store's ack rule as a property: whatever order and overlap frames arrive in, the
ack is the end of the gap-free run from the first sequence number, and each record is
stored once."""

import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from server import admin
from server.store import frames as store
from server.store import gateways
from server.db import Connection, DatabaseURL
from server_harness import new_gateways
from shared.codec import frame

GW = new_gateways(['prop-01'])['prop-01']
FRAMES = {}


def decoded(first, n):
    if (first, n) not in FRAMES:
        raw = GW.frame(first, n)
        FRAMES[(first, n)] = (raw, frame.decode(raw))
    return FRAMES[(first, n)]


ranges = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 12)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(ranges, st.integers(1, 4))
@example([(1, 1), (0, 2), (3, 1)], 1)       # a range held beyond the gap, then reached by the ack
def test_ack_and_storage_whatever_the_order(spans, batch):
    conn = Connection(DatabaseURL.parse(':memory:'))
    conn.migrate()
    conn.begin()
    admin.enrol(conn, 'test', GW.id, GW.key.public_key.to_hex(), 'e', 's', 0, 0)
    conn.commit()
    items = []
    for first, n in spans:
        raw, fr = decoded(first, n)
        items.append(store.Incoming(fr, raw, fr.fingerprint(), int(time.time() * 1000)))
    acks = []
    for i in range(0, len(items), batch):
        acks += [r.ack for r in store.store_frames(conn, items[i:i + batch])]
    have = set()
    for first, n in spans:
        have.update(range(first, first + n))
    expect = -1
    while expect + 1 in have:
        expect += 1
    assert acks[-1] == expect
    assert acks == sorted(acks)
    assert conn.one('SELECT count(*) FROM records')[0] == len(have)
    assert conn.one('SELECT conflicts FROM gateways')[0] == 0
    g = gateways.get_gateway(conn, GW.id)
    pending = gateways.pending_counts(conn).get(g.id, 0)
    assert g.missing(pending) == (max(have) - expect) - len([s for s in have if s > expect])
    conn.close()
