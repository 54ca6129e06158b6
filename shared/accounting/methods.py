"""The method library: formulas held as data (seed 001 §9.2 and Annex A), evaluated
exactly.  Portable."""

import json

from shared.accounting.exact import Q
from shared.accounting.factors import _read_data

DEFAULT_FILE = 'methods-2026.1.json'
OPS = ('+', '-', '*', '/')


class MethodError(ValueError):
    pass


def _is_number(text):
    if not isinstance(text, str) or not text:
        return False
    c = text[0]
    return '0' <= c <= '9' or (c in '-.' and len(text) > 1)


def evaluate(formula, values):
    """The exact value of a formula (nested [op, operand...]) with input values {name: Q}."""
    if isinstance(formula, list):
        if not formula or formula[0] not in OPS:
            raise MethodError('formula %r: the first item must be one of %s' % (formula, ' '.join(OPS)))
        args = [evaluate(x, values) for x in formula[1:]]
        if not args:
            raise MethodError('formula %r has no operands' % (formula,))
        out = args[0]
        op = formula[0]
        for a in args[1:]:
            if op == '+':
                out = out + a
            elif op == '-':
                out = out - a
            elif op == '*':
                out = out * a
            else:
                if not a:
                    raise MethodError('division by zero in %r' % (formula,))
                out = out / a
        return out
    if isinstance(formula, int) and not isinstance(formula, bool):
        return Q(formula)
    if _is_number(formula):
        return Q.of(formula)
    if formula in values:
        return values[formula]
    raise MethodError('formula refers to %r, which has no value' % (formula,))


def names(formula):
    """The input names a formula uses."""
    if isinstance(formula, list):
        out = set()
        for x in formula[1:]:
            out |= names(x)
        return out
    if isinstance(formula, str) and not _is_number(formula):
        return {formula}
    return set()


class MethodLibrary:
    def __init__(self, doc):
        self.name = doc.get('library', 'tanji-methods')
        self.version = doc.get('version', 'unversioned')
        self.categories = doc['categories']
        self.methods = doc['methods']
        self.industries = doc.get('industries', {})
        self.doc = doc
        for mid, m in self.methods.items():
            if m.get('category') not in self.categories:
                raise MethodError('method %s: unknown category %r' % (mid, m.get('category')))
            missing = names(m['formula']) - set(m['inputs'])
            if missing:
                raise MethodError('method %s: the formula uses %s, which are not inputs' % (
                    mid, ', '.join(sorted(missing))))
            for inp, spec in m['inputs'].items():
                for alt in spec.get('derive', []):
                    missing = names(alt['formula']) - set(alt['inputs'])
                    if missing:
                        raise MethodError('method %s, input %s: a derivation uses %s' % (
                            mid, inp, ', '.join(sorted(missing))))

    @classmethod
    def default(cls):
        return cls(json.loads(_read_data(DEFAULT_FILE)))

    def get(self, mid):
        m = self.methods.get(mid)
        if m is None:
            raise MethodError('no method %r (known: %s)' % (mid, ', '.join(sorted(self.methods))))
        return m

    def scope(self, mid):
        return self.categories[self.get(mid)['category']]['scope']

    def to_json(self):
        return self.doc
