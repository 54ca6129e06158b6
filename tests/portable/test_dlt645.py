"""DL/T 645 codec against the verified frames of ../shared/reference/meters.md §1.4-§1.5."""

from firmware.drivers import dlt645
from firmware.drivers.dlt645 import MeterError, Parser
from portable_helpers import raises


def _hex(text):
    return bytes.fromhex(text.replace(' ', ''))


def test_requests_match_the_verified_frames():
    assert dlt645.build('000102030425', 0x11, bytes((0, 0, 1, 0)), b'') == _hex('68 25 04 03 02 01 00 68 11 04 33 33 34 33 E1 16')
    assert dlt645.build_read('000012345678', 0x00000000) == _hex('FE FE FE FE 68 78 56 34 12 00 00 68 11 04 33 33 33 33 C5 16')
    assert dlt645.build_read('000012345678', 0x02010100) == _hex('FE FE FE FE 68 78 56 34 12 00 00 68 11 04 33 34 34 35 C9 16')
    assert dlt645.build_read('000012345678', 0x9010, 1997) == _hex('FE FE FE FE 68 78 56 34 12 00 00 68 01 02 43 C3 ED 16')
    assert dlt645.build_read_address()[1:] == _hex('FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16')
    assert dlt645.build_time_sync(2026, 5, 17, 8, 30, 0) == _hex('FE FE FE FE 68 99 99 99 99 99 99 68 08 06 33 63 3B 4A 38 59 20 16')
    assert dlt645.build_read_followup('000012345678', 0x04010000, 1) == _hex('FE FE FE FE 68 78 56 34 12 00 00 68 12 05 33 33 34 37 34 00 16')


def _one(data):
    frames = Parser().feed(data)
    assert len(frames) == 1, frames
    return frames[0]


def test_replies_decode_to_exact_values():
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 91 08 33 33 33 33 9A 78 56 34 E5 16'))
    assert dlt645.decode_read(f, '000012345678', 0x00000000) == (1234567, -2, 'kWh')
    f = _one(_hex('68 25 04 03 02 01 00 68 91 08 33 33 34 33 75 39 45 33 8B 16'))
    assert dlt645.decode_read(f, '000102030425', 0x00010000) == (120642, -2, 'kWh')
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 91 06 33 34 34 35 34 55 D4 16'))
    assert dlt645.decode_read(f, '000012345678', 0x02010100) == (2201, -1, 'V')
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 91 07 33 34 35 35 56 84 B3 DA 16'))
    assert dlt645.decode_read(f, '000012345678', 0x02020100) == (-5123, -3, 'A')
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 91 07 33 33 36 35 78 56 34 4F 16'))
    assert dlt645.decode_read(f, '000012345678', 0x02030000) == (12345, -4, 'kW')
    f = _one(_hex('68 54 07 13 00 80 13 68 81 06 43 C3 34 33 33 33 2B 16'))
    assert dlt645.decode_read(f, '138000130754', 0x9010, 1997) == (1, -2, 'kWh')
    f = _one(_hex('68 03 00 00 00 00 00 68 81 04 44 E9 33 34 EC 16'))
    assert dlt645.decode_read(f, '000000000003', 0xB611, 1997) == (100, 0, 'V')
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 93 06 AB 89 67 45 33 33 C3 16'))
    assert dlt645.decode_address_reply(f) == '000012345678'


def test_error_replies_and_wrong_replies_become_clear_reasons():
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 D1 01 35 EB 16'))
    e = raises(MeterError, dlt645.decode_read, f, '000012345678', 0x00000000)
    assert e.code == 'refused' and 'no such data item' in e.reason
    f = _one(_hex('FE FE FE FE 68 78 56 34 12 00 00 68 91 08 33 33 33 33 9A 78 56 34 E5 16'))
    assert raises(MeterError, dlt645.decode_read, f, '000012345679', 0x00000000).code == 'address'
    assert raises(MeterError, dlt645.decode_read, f, '000012345678', 0x00010000).code == 'protocol'
    garbled = dlt645.build('000012345678', 0x91, bytes((0, 0, 0, 0, 0xAB, 0, 0, 0)))
    assert raises(MeterError, dlt645.decode_read, _one(garbled), '000012345678', 0).code == 'bcd'


def test_parser_skips_noise_resynchronises_and_splits():
    good = _hex('FE FE FE FE 68 78 56 34 12 00 00 68 91 08 33 33 33 33 9A 78 56 34 E5 16')
    bad = bytearray(good)
    bad[-3] ^= 0x01
    p = Parser()
    out = []
    stream = b'\x00\x68\x12' + bytes(bad) + good + good[:9]
    for i in range(0, len(stream), 5):
        out += p.feed(stream[i:i + 5])
    out += p.feed(good[9:])
    kinds = [type(x).__name__ for x in out]
    assert kinds.count('Frame') == 2 and kinds.count('MeterError') == 1
    assert all(f.address == '000012345678' for f in out if isinstance(f, dlt645.Frame))
