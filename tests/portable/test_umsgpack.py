"""The pure msgpack codec against bytes produced by the msgpack C library (use_bin_type=True)."""

from shared.codec import umsgpack
from shared.codec.sm3 import sm3
from portable_helpers import raises

# (Python expression, C library's encoding: hex, or sm3:<digest> for long ones)
VECTORS = [
    ('None', 'c0'),
    ('True', 'c3'),
    ('False', 'c2'),
    ('0', '00'),
    ('1', '01'),
    ('127', '7f'),
    ('128', 'cc80'),
    ('255', 'ccff'),
    ('256', 'cd0100'),
    ('65535', 'cdffff'),
    ('65536', 'ce00010000'),
    ('2**32-1', 'ceffffffff'),
    ('2**32', 'cf0000000100000000'),
    ('2**64-1', 'cfffffffffffffffff'),
    ('-1', 'ff'),
    ('-32', 'e0'),
    ('-33', 'd0df'),
    ('-128', 'd080'),
    ('-129', 'd1ff7f'),
    ('-32768', 'd18000'),
    ('-32769', 'd2ffff7fff'),
    ('-2**31', 'd280000000'),
    ('-2**31-1', 'd3ffffffff7fffffff'),
    ('-2**63', 'd38000000000000000'),
    ('1.5', 'cb3ff8000000000000'),
    ('-0.0', 'cb8000000000000000'),
    ('12345678.91', 'cb41678c29dd1eb852'),
    ("''", 'a0'),
    ("'a'*31", 'bf61616161616161616161616161616161616161616161616161616161616161'),
    ("'a'*32", 'd9206161616161616161616161616161616161616161616161616161616161616161'),
    ("'a'*256", 'sm3:0d7cced7dedc75855725b874c38e4ad5a2645e30314102ab06278e7e00c5a55b'),
    ("'a'*65536", 'sm3:a61e8d2b09c558d01669138a7e8a1337d8762f360ca577543178722d648ab425'),
    ("'\\u78b3\\u8ba1'", 'a6e7a2b3e8aea1'),
    ("b''", 'c400'),
    ("b'\\x00'*3", 'c403000000'),
    ("b'x'*256", 'sm3:261f744ad957f8f234e12ebb7b3fcccf6fe4f477e0375f5203ee97ee7ffef38d'),
    ("b'y'*65536", 'sm3:5d6e2913f3c7a3c713cb652f8f7e52b133433a97f9bafcdc6f677897735dd73f'),
    ('[]', '90'),
    ('[1,[2,[3]]]', '920192029103'),
    ('list(range(16))', 'dc0010000102030405060708090a0b0c0d0e0f'),
    ('list(range(65536))', 'sm3:350221c7056b227d947def92b839998cba27ae794fbfeb58fec4464b19b5c5f8'),
    ("{'b':1,'a':[1,2]}", '82a161920102a16201'),
    ('{}', '80'),
]


def _hex(b):
    return ''.join('%02x' % x for x in b)


def test_encoder_matches_c_library_bytes():
    for expr, expected in VECTORS:
        value = eval(expr)
        got = umsgpack.packb(value)
        if expected.startswith('sm3:'):
            assert _hex(sm3(got)) == expected[4:], expr
        else:
            assert _hex(got) == expected, expr


def test_decoder_round_trips_every_vector():
    for expr, _ in VECTORS:
        value = eval(expr)
        back = umsgpack.unpackb(umsgpack.packb(value))
        if isinstance(value, tuple):
            value = list(value)
        assert back == value, expr


def test_map_keys_are_written_sorted_whatever_the_insertion_order():
    d = {}
    for k in ('zeta', 'alpha', 'mu', 'beta'):
        d[k] = len(k)
    assert umsgpack.packb(d) == umsgpack.packb({'alpha': 5, 'beta': 4, 'mu': 2, 'zeta': 4})


def test_malformed_input_raises_value_error():
    bad = [
        b'', b'\x92\x01', b'\xcd\x01', b'\xa3ab', b'\xc4\x05abc', b'\x01\x02',       # truncated / trailing
        b'\xc1', b'\xd4\x01\x00', b'\xc7\x01\x05\x00', b'\xd6\xff\x00\x00\x00\x00',   # reserved, ext, timestamp
        b'\x81\x01\x02',                                                       # int map key
        b'\x82\xa1a\x01\xa1a\x02',                                             # duplicate key
        b'\xa2\xff\xfe',                                                        # invalid UTF-8
        b'\xdd\xff\xff\xff\xff',                                                 # huge array header
        b'\x91' * 40 + b'\x00',                                                 # nesting too deep
    ]
    for data in bad:
        raises(ValueError, umsgpack.unpackb, data)


def test_unencodable_values_raise():
    raises(ValueError, umsgpack.packb, 2 ** 64)
    raises(ValueError, umsgpack.packb, -2 ** 63 - 1)
    raises(TypeError, umsgpack.packb, object())
