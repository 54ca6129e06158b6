"""Exact decimal values as (mantissa, exponent) integer pairs: value = m * 10**e.

Meter registers travel as scaled integers so a cumulative reading of any
number of significant digits survives every hop unchanged (floats would not).
"""

from shared.codec.text import ascii_digits

MAX_EXP = 12


class DecimalError(ValueError):
    pass


def parse(text, max_exp=MAX_EXP):
    """'12345678.91' -> (1234567891, -2); also '-0.5', '12', '1.5e3'. No NaN or infinity.
    The exponent is limited to ±max_exp (the wire format's range); None: no limit."""
    if not isinstance(text, str):
        raise DecimalError('decimal value must be given as text')
    s = text.strip()
    exp = 0
    epos = s.find('e')
    if epos < 0:
        epos = s.find('E')
    if epos >= 0:
        try:
            exp = int(s[epos + 1:])
        except ValueError:
            raise DecimalError('bad exponent in %r' % text)
        s = s[:epos]
    neg = s.startswith('-')
    if s[:1] in ('-', '+'):
        s = s[1:]
    dot = s.find('.')
    if dot >= 0:
        frac = s[dot + 1:]
        s = s[:dot] + frac
        exp -= len(frac)
    if not ascii_digits(s):
        raise DecimalError('%r is not a decimal number' % text)
    m = int(s)
    if neg:
        m = -m
    if max_exp is not None and not -max_exp <= exp <= max_exp:
        raise DecimalError('%r needs an exponent outside [-%d, %d]' % (text, max_exp, max_exp))
    return m, exp


def format(m, e):
    """Exact text of m * 10**e: (1234567891, -2) -> '12345678.91'."""
    if e >= 0:
        return str(m * 10 ** e)
    neg = m < 0
    digits = str(-m if neg else m)
    if len(digits) <= -e:
        digits = '0' * (-e - len(digits) + 1) + digits
    out = digits[:e] + '.' + digits[e:]
    return '-' + out if neg else out


def rescale(m, e, target):
    """m * 10**e expressed with exponent target (target <= e)."""
    if target > e:
        raise DecimalError('rescaling to a coarser exponent would lose digits')
    return m * 10 ** (e - target)
