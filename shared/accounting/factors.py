"""The factor library: versioned records with value, unit, gas, standard or notice,
edition, data year, the reporting years they apply to, status and source
(reference/accounting.md §8 rule 1).  Portable.

Selection: among records of a kind and subject that apply to the reporting year
(and match series/regime when asked), measured values beat user records, which
beat defaults (the guidelines require measured values where they exist); within
one origin the highest version wins.  A result names every record it used by id
and version, and `pinned` makes a recomputation use exactly those versions.
"""

import json

from shared.accounting import units
from shared.accounting.exact import Q

DEFAULT_FILE = 'factors-2026.1.json'
ORIGINS = {'measured': 3, 'user': 2, 'default': 1}
KINDS = ('ncv', 'cc', 'of', 'cc_default', 'carbonate_ef', 'clinker_ef', 'grid', 'grid_footprint', 'heat', 'tce',
         'regional', 'gwp', 'constant', 'ef')


class FactorError(ValueError):
    pass


class Factor:
    __slots__ = ('id', 'version', 'kind', 'subject', 'value', 'unit', 'gas', 'regime', 'series', 'standard',
                 'edition', 'data_year', 'applies', 'status', 'origin', 'source', 'note', 'u_rel', 'name', 'doc')

    def __init__(self, doc):
        for key in ('id', 'kind', 'subject', 'value', 'unit', 'source'):
            if not isinstance(doc.get(key), str) or not doc.get(key):
                raise FactorError('factor %r: %s is required (text)' % (doc.get('id'), key))
        if doc['kind'] not in KINDS:
            raise FactorError('factor %s: kind %r is not one of %s' % (doc['id'], doc['kind'], ', '.join(KINDS)))
        try:
            self.value = Q.of(doc['value'])
            self.u_rel = Q.of(doc.get('u_rel', '0'))
            units.factor(doc['unit'], doc['unit'])
        except (ValueError, TypeError) as e:
            raise FactorError('factor %s: %s' % (doc['id'], e))
        version = doc.get('version', 1)
        if not isinstance(version, int) or version < 1:
            raise FactorError('factor %s: version must be a positive integer' % doc['id'])
        origin = doc.get('origin', 'user')
        if origin not in ORIGINS:
            raise FactorError('factor %s: origin must be measured, user or default' % doc['id'])
        applies = doc.get('applies')
        if applies is not None and (not isinstance(applies, list) or len(applies) != 2):
            raise FactorError('factor %s: applies must be [first year, last year]' % doc['id'])
        self.id = doc['id']
        self.version = version
        self.kind = doc['kind']
        self.subject = doc['subject']
        self.unit = doc['unit']
        self.gas = doc.get('gas')
        self.regime = doc.get('regime')
        self.series = doc.get('series')
        self.standard = doc.get('standard')
        self.edition = doc.get('edition')
        self.data_year = doc.get('data_year')
        self.applies = applies
        self.status = doc.get('status', 'unconfirmed')
        self.origin = origin
        self.source = doc['source']
        self.note = doc.get('note')
        self.name = doc.get('name')
        self.doc = dict(doc, version=version, origin=origin)

    def applies_to(self, year):
        return year is None or self.applies is None or self.applies[0] <= year <= self.applies[1]

    def ref(self):
        """What a result records about the factor it used."""
        out = {'id': self.id, 'version': self.version, 'value': self.value.text(), 'unit': self.unit,
               'status': self.status, 'origin': self.origin, 'source': self.source}
        for key in ('standard', 'edition', 'data_year', 'series', 'regime'):
            v = getattr(self, key)
            if v is not None:
                out[key] = v
        if self.doc.get('provisional_for'):
            out['provisional_for'] = self.doc['provisional_for']
        return out


class FactorLibrary:
    def __init__(self, doc):
        self.name = doc.get('library', 'tanji-factors')
        self.version = doc.get('version', 'unversioned')
        self.fuel_sources = dict(doc.get('fuel_sources', {}))
        self.records = {}                      # id -> {version: Factor}
        for r in doc.get('records', []):
            self._put(Factor(r))

    def _put(self, f):
        versions = self.records.setdefault(f.id, {})
        if f.version in versions:
            raise FactorError('factor %s version %d is already in the library' % (f.id, f.version))
        versions[f.version] = f

    @classmethod
    def default(cls):
        return cls(json.loads(_read_data(DEFAULT_FILE)))

    def add(self, doc):
        """Add a record (a user's own value, a measured one, an import); a record with an existing
        id becomes its next version.  Returns the Factor."""
        doc = dict(doc)
        if doc.get('id') in self.records and 'version' not in doc:
            doc['version'] = max(self.records[doc['id']]) + 1
        f = Factor(doc)
        self._put(f)
        return f

    def get(self, fid, version=None):
        versions = self.records.get(fid)
        if not versions:
            raise FactorError('no factor %s in library %s %s' % (fid, self.name, self.version))
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise FactorError('factor %s has no version %s' % (fid, version))
        return versions[version]

    def select(self, kind, subject, year=None, series=None, regime=None, pinned=None, notes=None):
        """The factor to use; FactorError naming what was looked for when none applies.

        notes (a list, for real-time and current-year accounting): when no record applies to
        the year, the most recent earlier one is returned marked provisional (status
        'provisional', provisional_for the year) instead of an error; and a user's or
        measured record passed over because its years exclude this one is noted, since the
        factor used instead is of a lower origin."""
        best = None
        skipped = []
        for fid, versions in self.records.items():
            latest = versions[max(versions)]
            if latest.kind != kind or latest.subject != subject:
                continue
            if series is not None and latest.series != series:
                continue
            if regime is not None and latest.regime not in (regime, None):
                continue
            f = versions.get(pinned[fid]) if pinned and fid in pinned else latest
            if f is None:
                continue
            if not f.applies_to(year):
                skipped.append(f)
                continue
            # measured beats user beats default; then a record of the asked regime, then a general one
            # (no regime), then the latest data year
            rank = (ORIGINS[f.origin], 1 if regime is not None and f.regime == regime else 0,
                    1 if f.regime is None else 0, f.data_year or 0)
            if best is None or rank > best[0]:
                best = (rank, f)
        what = '%s factor for %s%s%s' % (kind, subject, ' (series %s)' % series if series else '',
                                         ' (%s)' % regime if regime else '')
        if best is None:
            earlier = [f for f in skipped if f.applies and f.applies[1] < year] if year and notes is not None else []
            if earlier:
                f = max(earlier, key=lambda f: (f.applies[1], ORIGINS[f.origin], f.data_year or 0))
                notes.append('no %s is published for %d yet: %s (%d..%d) is used provisionally; the result is '
                             'recomputed when the %d factor is added' % (what, year, f.id, f.applies[0],
                                                                           f.applies[1], year))
                return Factor(dict(f.doc, status='provisional', provisional_for=year))
            raise FactorError('no %s%s' % (what, ' applying to %s' % year if year else ''))
        chosen = best[1]
        if notes is not None:
            for f in skipped:
                if ORIGINS[f.origin] > ORIGINS[chosen.origin] and f.applies:
                    notes.append('%s record %s applies to %d..%d, not to %d: %s (%s) is used instead' % (
                        f.origin, f.id, f.applies[0], f.applies[1], year, chosen.id, chosen.origin))
        return chosen

    def to_json(self):
        return {'library': self.name, 'version': self.version, 'fuel_sources': self.fuel_sources,
                'records': [f.doc for versions in self.records.values() for f in versions.values()]}


def _read_data(name):
    base = __file__.rsplit('/', 1)[0]
    with open(base + '/data/' + name) as f:
        return f.read()
