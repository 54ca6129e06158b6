from shared.codec import sm3

ABC = '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0'
ABCD16 = 'debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732'


def _hex(b):
    return ''.join('%02x' % x for x in b)


def test_known_answers_default_backend():
    assert _hex(sm3.sm3(b'abc')) == ABC
    assert _hex(sm3.sm3(b'abcd' * 16)) == ABCD16


def test_known_answers_pure():
    assert _hex(sm3.PureSM3(b'abc').digest()) == ABC
    assert _hex(sm3.PureSM3(b'abcd' * 16).digest()) == ABCD16


def test_pure_incremental_equals_one_shot_across_block_edges():
    data = bytes([(i * 7) & 0xFF for i in range(300)])
    for cut in (0, 1, 55, 56, 63, 64, 65, 128, 299):
        h = sm3.PureSM3()
        h.update(data[:cut])
        h.update(data[cut:])
        assert h.digest() == sm3.sm3(data)


def test_pure_matches_default_on_many_lengths():
    for n in range(0, 140, 7):
        data = bytes([(i * 31 + n) & 0xFF for i in range(n)])
        assert sm3.PureSM3(data).digest() == sm3.sm3(data)
