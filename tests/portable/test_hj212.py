"""HJ 212-2017 against the verified vector of ../shared/reference/meters.md §4."""

from firmware.drivers import hj212
from firmware.drivers.hj212 import HJ212Error

SEGMENT = 'QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&'


def test_crc_and_frame_match_the_verified_vector():
    assert len(SEGMENT) == 101
    assert hj212.crc(SEGMENT.encode()) == 0x1C80
    assert hj212.frame(SEGMENT) == b'##0101' + SEGMENT.encode() + b'1C80\r\n'


def test_parser_finds_messages_in_a_stream_and_rejects_bad_crc():
    good = hj212.frame(SEGMENT)
    bad = bytearray(good)
    bad[20] ^= 1
    p = hj212.Parser()
    out = []
    stream = b'noise' + bytes(bad) + good
    for i in range(0, len(stream), 7):
        out += p.feed(stream[i:i + 7])
    assert [type(x).__name__ for x in out] == ['HJ212Error', 'Message']
    m = out[1]
    assert (m.get('CN'), m.get('MN'), m.wants_ack, m.cp) == ('1062', '010000A8900016F000169DC0', True, 'RtdInterval=30')


def test_minute_data_and_its_answer():
    seg = ('QN=20261123080000123;ST=31;CN=2051;PW=123456;MN=88888880000001;Flag=5;'
           'CP=&&DataTime=20261123080000;a01012-Avg=43.5,a01012-Flag=N;a34013-Avg=12.30,a34013-Flag=C;'
           'a21026-Cou=1234.5&&')
    (m,) = hj212.Parser().feed(hj212.frame(seg))
    data_time, values = hj212.parse_cp(m.cp)
    assert data_time == '20261123080000'
    assert values['a01012'] == {'Avg': '43.5', 'Flag': 'N'} and values['a34013']['Flag'] == 'C'
    assert values['a21026'] == {'Cou': '1234.5'}
    (answer,) = hj212.Parser().feed(hj212.ack(m))
    assert (answer.get('ST'), answer.get('CN'), answer.get('QN')) == ('91', '9014', '20261123080000123')


def test_malformed_segments_are_clear_errors():
    for seg in ('QN=1;ST=31;CN=2011', 'QN=1;ST=31;MN=2;CP=&&x=1&&', 'QN=1;ST;CN=1;MN=2;CP=&&&&'):
        (e,) = hj212.Parser().feed(hj212.frame(seg))
        assert isinstance(e, HJ212Error) and e.code == 'format', seg
