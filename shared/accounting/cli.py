"""`tanji accounting`: evaluate a scenario; list and export the factor and method libraries."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.accounting.engine import Engine, ScenarioError
from shared.accounting.factors import FactorError, FactorLibrary
from shared.accounting.methods import MethodError, MethodLibrary


class AccountingCliError(Exception):
    pass


ERRORS = (ScenarioError, FactorError, MethodError, AccountingCliError)


def _load_json(path: str, what: str):
    try:
        text = sys.stdin.read() if path == '-' else Path(path).read_text(encoding='utf-8')
    except OSError as e:
        raise AccountingCliError('cannot read %s %s: %s' % (what, path, e.strerror))
    try:
        return json.loads(text)
    except ValueError as e:
        raise AccountingCliError('%s %s is not valid JSON: %s' % (what, path, e))


def _libraries(args) -> tuple[FactorLibrary, MethodLibrary]:
    factors = FactorLibrary(_load_json(args.factors, 'factor library')) if args.factors else FactorLibrary.default()
    methods = MethodLibrary(_load_json(args.methods, 'method library')) if args.methods else MethodLibrary.default()
    return factors, methods


def cmd_evaluate(args: argparse.Namespace) -> int:
    scenario = _load_json(args.scenario, 'scenario')
    pin = None
    if args.pin:
        previous = _load_json(args.pin, 'earlier result')
        pin = previous.get('factors_used') if isinstance(previous, dict) else None
        if not isinstance(pin, dict):
            raise AccountingCliError('%s has no "factors_used" to pin' % args.pin)
    if args.recalculate:
        scenario = dict(scenario, recalculate=True)
    result = Engine(*_libraries(args)).evaluate(scenario, pin=pin)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write('\n')
    return 0


def cmd_factors(args: argparse.Namespace) -> int:
    lib = _libraries(args)[0]
    if args.export:
        json.dump(lib.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write('\n')
        return 0
    for fid in sorted(lib.records):
        f = lib.get(fid)
        if args.kind and f.kind != args.kind:
            continue
        print('%-44s v%-2d %14s %-14s %-12s %s' % (f.id, f.version, f.value.text(), f.unit, f.status,
                                                   f.standard or ''))
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    lib = _libraries(args)[1]
    if args.export:
        json.dump(lib.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write('\n')
        return 0
    for mid, m in sorted(lib.methods.items()):
        print('%-24s scope %d  %-11s %s' % (mid, lib.scope(mid), m['category'], m['name']))
    print()
    for code, ind in sorted(lib.industries.items()):
        print('industry %s %-9s %s' % (code, 'complete' if ind['complete'] else 'structure', ind['guideline']))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser('accounting', help='carbon accounting: scenarios, factor and method libraries')
    s = p.add_subparsers(dest='accounting_command', required=True)

    def libs(q):
        q.add_argument('--factors', help='a factor library JSON (default: the built-in one)')
        q.add_argument('--methods', help='a method library JSON (default: the built-in one)')

    ev = s.add_parser('evaluate', help='evaluate a scenario JSON (docs/accounting.md); result JSON on stdout')
    ev.add_argument('scenario', help='scenario file, - for stdin')
    ev.add_argument('--pin', help='an earlier result: reuse exactly the factor versions it used')
    ev.add_argument('--recalculate', action='store_true', help='use the current factor versions')
    libs(ev)
    ev.set_defaults(func=cmd_evaluate)
    f = s.add_parser('factors', help='list the factor library, or export it as JSON')
    f.add_argument('--kind', help='only this kind (ncv, cc, of, grid, tce, gwp, ...)')
    f.add_argument('--export', action='store_true')
    libs(f)
    f.set_defaults(func=cmd_factors)
    m = s.add_parser('methods', help='list the method library and industries, or export it as JSON')
    m.add_argument('--export', action='store_true')
    libs(m)
    m.set_defaults(func=cmd_methods)
