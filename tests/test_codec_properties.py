"""Property tests: the two msgpack paths agree, frames round-trip, and no mutated frame
makes the decoder raise anything but FrameError."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portable_helpers import ENERGY, POWER, T0, UNITS, sample_records
from shared.codec import frame, mp, sm2, umsgpack
from shared.codec.flags import FLAG_MISSING

KEY = sm2.PrivateKey.generate()
GOOD = frame.encode('GW-FUZZ', sample_records(12), UNITS, KEY.sign)

scalars = (st.none() | st.booleans() | st.integers(min_value=-2 ** 63, max_value=2 ** 64 - 1)
           | st.floats(allow_nan=False) | st.text(max_size=40) | st.binary(max_size=300))
arrays = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6), max_leaves=30)
# maps only where Tanji puts them: at the top of a body (mp.packb sorts those on both paths)
values = arrays | st.dictionaries(st.text(max_size=8), arrays, max_size=8)


@given(values)
@settings(max_examples=300)
def test_pure_encoder_matches_c_library(value) -> None:
    assert umsgpack.packb(value) == mp.packb(value)
    assert umsgpack.unpackb(umsgpack.packb(value)) == value


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_both_decoders_agree_on_random_bytes(data: bytes) -> None:
    try:
        a = ('ok', umsgpack.unpackb(data))
    except ValueError:
        a = ('error',)
    try:
        b = ('ok', mp.unpackb(data))
    except ValueError:
        b = ('error',)
    # the pure decoder is the stricter one (duplicate keys, nesting depth): whatever it
    # accepts, the C path accepts with the same result
    if a[0] == 'ok':
        assert b == a


mutation = st.tuples(st.integers(min_value=0, max_value=len(GOOD) - 1), st.integers(min_value=0, max_value=255),
                     st.sampled_from(['set', 'insert', 'delete', 'truncate']))


@given(st.lists(mutation, min_size=1, max_size=4))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_frames_raise_only_frame_errors(mutations) -> None:
    data = bytearray(GOOD)
    for pos, byte, kind in mutations:
        pos = min(pos, len(data) - 1) if data else 0
        if kind == 'set' and data:
            data[pos] = byte
        elif kind == 'insert':
            data[pos:pos] = bytes([byte])
        elif kind == 'delete' and data:
            del data[pos]
        elif kind == 'truncate':
            del data[pos:]
    try:
        f = frame.decode(bytes(data))
    except frame.FrameError as e:
        assert e.code in ('malformed', 'version', 'body', 'records', 'codes', 'root_mismatch', 'too_large')
        return
    # what still decodes either is the original or no longer carries a valid signature
    assert f.body == frame.decode(GOOD).body or not f.verify(KEY.public_key)


record = st.tuples(st.sampled_from([ENERGY, POWER]),
                   st.integers(min_value=-10 ** 9, max_value=10 ** 9),
                   st.one_of(st.none(), st.integers(min_value=-10 ** 9, max_value=10 ** 9), st.floats(allow_nan=False, allow_infinity=False)),
                   st.integers(min_value=-6, max_value=3),
                   st.integers(min_value=0, max_value=0xFFFF))


@given(st.lists(record, min_size=1, max_size=40), st.integers(min_value=0, max_value=2 ** 62))
@settings(max_examples=200)
def test_any_valid_batch_round_trips(rows, s0: int) -> None:
    recs = []
    for i, (code, dt, value, exp, flags) in enumerate(rows):
        if value is None and not flags:
            flags = FLAG_MISSING
        recs.append(frame.Record(s0 + i, code, T0 + dt, value, exp if isinstance(value, int) else 0, flags))
    f = frame.decode(frame.encode('GW-P', recs, UNITS, KEY.sign))
    assert f.verify(KEY.public_key)
    for a, b in zip(recs, f.records):
        assert (a.seq, a.code, a.ts_ms, a.flags) == (b.seq, b.code, b.ts_ms, b.flags)
        if isinstance(a.value, int):
            assert b.value * 10 ** (b.exp - min(b.exp, a.exp)) == a.value * 10 ** (a.exp - min(b.exp, a.exp))
        else:
            assert a.value == b.value
