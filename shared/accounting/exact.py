"""Exact rational numbers for accounting (portable: MicroPython has no fractions module).

44/12, 44/56, 44/40 stay exact; decimals from meters and factor tables are exact;
nothing is rounded until a figure is presented (reference/accounting.md §8 rule 3).
"""

from shared.codec import decimals


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


class Q:
    __slots__ = ('n', 'd')

    def __init__(self, n, d=1):
        if d == 0:
            raise ZeroDivisionError('division by zero')
        if d < 0:
            n, d = -n, -d
        g = _gcd(n if n >= 0 else -n, d)
        if g > 1:
            n //= g
            d //= g
        self.n = n
        self.d = d

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def of(x):
        if isinstance(x, Q):
            return x
        if isinstance(x, bool):
            raise TypeError('a boolean is not a number')
        if isinstance(x, int):
            return Q(x)
        if isinstance(x, str):
            return _parse(x)
        if isinstance(x, float):
            # a float is taken at its shortest decimal text (what a person wrote), not its binary value
            return Q.of(repr(x))
        raise TypeError('not a number: %r' % (x,))

    @staticmethod
    def from_decimal(m, e):
        return Q(m * 10 ** e) if e >= 0 else Q(m, 10 ** -e)

    # -- arithmetic -----------------------------------------------------------------------
    def __add__(self, o):
        o = Q.of(o)
        return Q(self.n * o.d + o.n * self.d, self.d * o.d)

    __radd__ = __add__

    def __sub__(self, o):
        o = Q.of(o)
        return Q(self.n * o.d - o.n * self.d, self.d * o.d)

    def __rsub__(self, o):
        return Q.of(o) - self

    def __mul__(self, o):
        o = Q.of(o)
        return Q(self.n * o.n, self.d * o.d)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Q.of(o)
        return Q(self.n * o.d, self.d * o.n)

    def __rtruediv__(self, o):
        return Q.of(o) / self

    def __neg__(self):
        return Q(-self.n, self.d)

    def __abs__(self):
        return Q(-self.n if self.n < 0 else self.n, self.d)

    # -- comparison -------------------------------------------------------------------------
    def _cmp(self, o):
        o = Q.of(o)
        a, b = self.n * o.d, o.n * self.d
        return (a > b) - (a < b)

    def __eq__(self, o):
        try:
            return self._cmp(o) == 0
        except TypeError:
            return False

    def __ne__(self, o):
        return not self.__eq__(o)

    def __lt__(self, o):
        return self._cmp(o) < 0

    def __le__(self, o):
        return self._cmp(o) <= 0

    def __gt__(self, o):
        return self._cmp(o) > 0

    def __ge__(self, o):
        return self._cmp(o) >= 0

    def __hash__(self):
        return hash((self.n, self.d))

    def __bool__(self):
        return self.n != 0

    # -- presentation --------------------------------------------------------------------------
    def __float__(self):
        return self.n / self.d

    def rounded(self, places):
        """(mantissa, exponent) rounded half away from zero to `places` decimals."""
        scale = 10 ** places if places >= 0 else 1
        num = self.n * scale
        den = self.d if places >= 0 else self.d * 10 ** -places
        neg = num < 0
        q, r = divmod(-num if neg else num, den)
        if 2 * r >= den:
            q += 1
        return (-q if neg else q), -places

    def text(self, places=None):
        """Decimal text: exact when the value has a finite decimal expansion and places is None,
        else rounded to `places` (default 6 for values like 11/3)."""
        if places is None:
            d = self.d
            twos = fives = 0
            while d % 2 == 0:
                d //= 2
                twos += 1
            while d % 5 == 0:
                d //= 5
                fives += 1
            if d != 1:
                places = 6
            else:
                places = max(twos, fives)
        m, e = self.rounded(places)
        return decimals.format(m, e)

    def ratio(self):
        """'n/d' (or 'n'): the exact value, for checking a rounded figure."""
        return str(self.n) if self.d == 1 else '%d/%d' % (self.n, self.d)

    @staticmethod
    def from_ratio(text):
        n, sep, d = text.partition('/')
        return Q(int(n), int(d) if sep else 1)

    def __repr__(self):
        return 'Q(%s)' % self.text()


def _parse(text):
    """Decimal text ('-12.5', '1.5e-3', '0.0153') -> Q, exactly, whatever its exponent."""
    try:
        m, e = decimals.parse(text, None)
    except decimals.DecimalError as err:
        raise ValueError(str(err))
    return Q.from_decimal(m, e)


ZERO = Q(0)
ONE = Q(1)


def total(values):
    out = ZERO
    for v in values:
        out = out + v
    return out


PRESENTATION_PLACES = {'fraction': 4, '%': 2}   # else 3: to the kg of a t, the kWh of an MWh


def present(value, unit):
    """Text for a person: value (Q or decimal text) rounded to its unit's sensible
    precision, at presentation only; a value too small to show says so."""
    q = value if isinstance(value, Q) else Q.of(value)
    places = PRESENTATION_PLACES.get(unit, 3)
    if unit.startswith('10^'):                     # 10^4 Nm3, 10^4 t: to the same resolution as Nm3, t
        places += int(unit[3:].split()[0])
    text = q.text(places)
    if q and Q.of(text) == 0:
        return '< %s' % Q(1, 10 ** places).text(places)
    return text
