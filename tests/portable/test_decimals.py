from shared.codec import decimals
from portable_helpers import raises


def test_parse_keeps_every_digit():
    assert decimals.parse('12345678.91') == (1234567891, -2)
    assert decimals.parse('-0.5') == (-5, -1)
    assert decimals.parse('12') == (12, 0)
    assert decimals.parse('+1.50') == (150, -2)
    assert decimals.parse('1.5e3') == (15, 2)
    assert decimals.parse('2E-3') == (2, -3)
    assert decimals.parse('98765432109876.5432') == (987654321098765432, -4)


def test_format_is_exact():
    assert decimals.format(1234567891, -2) == '12345678.91'
    assert decimals.format(-5, -1) == '-0.5'
    assert decimals.format(5, -3) == '0.005'
    assert decimals.format(15, 2) == '1500'
    assert decimals.format(0, -2) == '0.00'
    for text in ('123456789012.345', '-0.001', '7', '100.10'):
        assert decimals.format(*decimals.parse(text)) == text


def test_rescale():
    assert decimals.rescale(123, -1, -3) == 12300
    raises(decimals.DecimalError, decimals.rescale, 123, -3, -1)


def test_garbage_is_refused():
    for bad in ('', 'abc', '1.2.3', 'nan', 'inf', '1e', '--1', '1e99', ' . '):
        raises(decimals.DecimalError, decimals.parse, bad)
    raises(decimals.DecimalError, decimals.parse, 1.5)
