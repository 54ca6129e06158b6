"""CJ/T 188 codec against the verified frames of ../shared/reference/meters.md §2.4."""

from firmware.drivers import cjt188
from firmware.drivers.dlt645 import MeterError
from portable_helpers import raises

ADDR = '00000012345678'


def _hex(text):
    return bytes.fromhex(text.replace(' ', ''))


def _one(data):
    out = cjt188.Parser().feed(data)
    assert len(out) == 1, out
    return out[0]


def test_read_requests_in_both_di_orders():
    assert cjt188.build_read(0x10, ADDR) == _hex('FE FE FE FE 68 10 78 56 34 12 00 00 00 01 03 90 1F 00 3F 16')
    assert cjt188.build_read(0x10, ADDR, swapped=True) == _hex('FE FE FE FE 68 10 78 56 34 12 00 00 00 01 03 1F 90 00 3F 16')
    assert cjt188.build(0x10, '00000000000012', 0x01, _hex('90 1F 00'), b'') == _hex('68 10 12 00 00 00 00 00 00 01 03 90 1F 00 3D 16')


def test_water_reply():
    f = _one(_hex('FE FE FE FE 68 10 78 56 34 12 00 00 00 81 16 90 1F 00 45 23 01 00 2C 00 00 01 00 2C'
                  '00 30 08 17 05 26 20 00 00 2E 16'))
    r = cjt188.decode_read(f, 0x10, ADDR)
    assert r['current'] == (12345, -2, 'm3') and r['settlement'] == (10000, -2, 'm3')
    assert r['time'] == (2026, 5, 17, 8, 30, 0) and r['valve'] == 'open' and not r['battery_low']


def test_heat_reply():
    f = _one(_hex('FE FE FE FE 68 20 78 56 34 12 00 00 00 81 2E 90 1F 00 56 34 12 00 05 00 00 13 00 05'
                  '34 12 00 00 17 45 23 01 00 35 89 67 05 00 2C 43 65 00 67 45 00 45 23 01 00 30 08 17'
                  '05 26 20 00 00 26 16'))
    r = cjt188.decode_read(f, 0x20, ADDR)
    assert r['settlement_heat'] == (123456, -2, 'kWh') and r['current_heat'] == (130000, -2, 'kWh')
    assert r['power'] == (1234, -2, 'kW') and r['flow_rate'] == (12345, -2, 'm3/h')
    assert r['cumulative_flow'] == (56789, -2, 'm3')
    assert r['supply_temp'] == (6543, -2, 'degC') and r['return_temp'] == (4567, -2, 'degC')
    assert r['hours'] == (12345, 0, 'h') and r['time'] == (2026, 5, 17, 8, 30, 0)


def test_bad_replies_are_clear_errors():
    good = _hex('FE FE FE FE 68 10 78 56 34 12 00 00 00 81 16 90 1F 00 45 23 01 00 2C 00 00 01 00 2C'
                '00 30 08 17 05 26 20 00 00 2E 16')
    bad = bytearray(good)
    bad[-3] ^= 1
    assert isinstance(_one(bytes(bad)), MeterError)
    f = _one(good)
    assert raises(MeterError, cjt188.decode_read, f, 0x10, '00000012345679').code == 'address'
    assert raises(MeterError, cjt188.decode_read, f, 0x10, ADDR, 5).code == 'protocol'
    odd_unit = bytearray(good)
    odd_unit[4 + 1 + 1 + 7 + 2 + 3 + 4] = 0x7E
    odd_unit[-2] = sum(odd_unit[4:-2]) & 0xFF
    assert raises(MeterError, cjt188.decode_read, _one(bytes(odd_unit)), 0x10, ADDR).code == 'format'
