"""Carbon data-item codes (seed 001 §7.2, after DB35/T 2000-2021 §8.4 and §9).

A code names one measured quantity: industry, emission activity, emission
source, emission parameter and monitoring-point serial number.  The layout
(segment order and widths) and the code tables are data, in
shared/codec/tables/*.json, each file carrying its own version; official tables
are dropped in as a new file and frames name the version they use.

On the wire a code is its digits without separators ("080100101001"); people
see it grouped ("08-01-001-01-001") and described in Chinese or English.
"""

import json
import os

from shared.codec.text import ascii_digits

SEGMENTS = ('industry', 'activity', 'source', 'parameter', 'point')


class CodeError(ValueError):
    pass


def _tables_dir():
    here = __file__.replace('\\', '/')
    return here[:here.rfind('/')] + '/tables' if '/' in here else 'tables'


class CodeTables:
    """One versioned set of code tables."""

    def __init__(self, doc):
        try:
            self.version = doc['version']
            self.layout = [(name, int(width)) for name, width in doc['layout']]
            self.tables = {}
            for name, _ in self.layout:
                if name != 'point':
                    self.tables[name] = doc[name]
            self.unit_classes = doc.get('unit_classes', {})
            self.dimensions = doc.get('dimensions', {})
            self.dimension_units = doc.get('dimension_units', {})
        except (KeyError, TypeError, ValueError) as e:
            raise CodeError('code table file is incomplete: %r' % (e,))
        if [n for n, _ in self.layout] != list(SEGMENTS):
            raise CodeError('code layout must list the segments %s in order' % (', '.join(SEGMENTS),))
        for name, width in self.layout:
            for key in self.tables.get(name, {}):
                if len(key) != width or not ascii_digits(key):
                    raise CodeError('%s code %r does not have %d digits' % (name, key, width))
        self.length = sum(w for _, w in self.layout)

    @classmethod
    def from_file(cls, path):
        with open(path) as f:
            return cls(json.load(f))

    def split(self, code):
        """The segments of a code as a dict; CodeError when it is not well formed."""
        if not isinstance(code, str):
            raise CodeError('a data-item code is a string of digits')
        digits = code.replace('-', '')
        if len(digits) != self.length or not ascii_digits(digits):
            raise CodeError('data-item code %r must have %d digits (%s)' % (
                code, self.length, '-'.join('N' * w for _, w in self.layout)))
        out = {}
        pos = 0
        for name, width in self.layout:
            out[name] = digits[pos:pos + width]
            pos += width
        return out

    def parse(self, code):
        """Validated segments of code (a dict of the five segments)."""
        seg = self.split(code)
        for name in SEGMENTS[:4]:
            if seg[name] not in self.tables[name]:
                raise CodeError('unknown %s %s in data-item code %s (tables %s)' % (
                    name, seg[name], code, self.version))
        allowed = self.tables['source'][seg['source']].get('activities')
        if allowed and seg['activity'] not in allowed:
            raise CodeError('source %s (%s) does not occur in activity %s (%s) in code %s' % (
                seg['source'], self.tables['source'][seg['source']]['en'], seg['activity'],
                self.tables['activity'][seg['activity']]['en'], code))
        if int(seg['point']) == 0:
            raise CodeError('monitoring-point serial number must not be zero in code %s' % code)
        return seg

    def validate(self, code):
        """The canonical wire form (digits only) of a valid code."""
        self.parse(code)
        return code.replace('-', '')

    def encode(self, industry, activity, source, parameter, point):
        parts = {'industry': industry, 'activity': activity, 'source': source,
                 'parameter': parameter, 'point': point}
        out = ''
        for name, width in self.layout:
            v = parts[name]
            if isinstance(v, int):
                if v < 0 or v >= 10 ** width:
                    raise CodeError('%s %d does not fit %d digits' % (name, v, width))
                v = ('%0' + str(width) + 'd') % v
            out += v
        return self.validate(out)

    def grouped(self, code):
        seg = self.split(code)
        return '-'.join(seg[name] for name in SEGMENTS)

    def allowed_units(self, code):
        seg = self.parse(code)
        cls = self.tables['parameter'][seg['parameter']].get('units')
        if cls == 'source':
            own = self.tables['source'][seg['source']].get('unit')
            dimension = self._dimension(seg['source'])
            return list(self.dimensions[dimension]) if dimension else [own] if own else []
        units = self.unit_classes.get(cls)
        if units is None:
            return [cls] if cls else []
        narrowed = self.dimension_units.get(cls, {}).get(self._dimension(seg['source']))
        return list(narrowed if narrowed is not None else units)

    def _dimension(self, source):
        own = self.tables['source'][source].get('unit')
        for name, units in self.dimensions.items():
            if own in units:
                return name
        return None

    def check_unit(self, code, unit):
        allowed = self.allowed_units(code)
        if unit not in allowed:
            raise CodeError('unit %r is not valid for %s (%s); expected one of: %s' % (
                unit, self.grouped(code), self.describe(code, 'en'), ', '.join(allowed)))

    def reading_kind(self, code):
        """'register' (a cumulative register), 'amount' (the quantity of its period) or None."""
        return self.tables['parameter'][self.parse(code)['parameter']].get('reading')

    def physical_range(self, code, unit):
        """(low, high) a value of this code in this unit can physically take (None: no bound)."""
        low = 0 if self.tables['parameter'][self.parse(code)['parameter']].get('nonnegative') else None
        return low, (100 if unit == '%' else None)

    def describe(self, code, lang='zh'):
        """A readable name, e.g. '水泥 · 化石燃料燃烧 · 烟煤 · 累计消耗量 · 监测点 001'."""
        if lang not in ('zh', 'en'):
            raise CodeError('language must be zh or en')
        seg = self.parse(code)
        names = [self.tables[name][seg[name]][lang] for name in SEGMENTS[:4]]
        names.append(('监测点 ' if lang == 'zh' else 'point ') + seg['point'])
        return ' · '.join(names)


_cache = {}


def available_versions():
    out = []
    for name in os.listdir(_tables_dir()):
        if name.endswith('.json'):
            out.append(name[:-5])
    out.sort()
    return out


DEFAULT_VERSION = 'tanji-db35-2021-v1'


def tables(version=DEFAULT_VERSION):
    """The code tables of that version (cached); CodeError when not installed."""
    t = _cache.get(version)
    if t is None:
        if not isinstance(version, str) or version not in available_versions():
            raise CodeError('code table version %r is not installed (have: %s)' % (
                version, ', '.join(available_versions())))
        t = CodeTables.from_file(_tables_dir() + '/' + version + '.json')
        if t.version != version:
            raise CodeError('file %s.json declares version %s' % (version, t.version))
        _cache[version] = t
    return t
