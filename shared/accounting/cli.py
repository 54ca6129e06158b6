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
    factors_file, methods_file = args.factors, args.methods
    if getattr(args, 'libraries', None):
        d = Path(args.libraries)
        if not d.is_dir():
            raise AccountingCliError('no library directory %s' % d)
        # what was pulled or imported there; the built-in library for what was not
        if not factors_file and (d / 'factors.json').exists():
            factors_file = str(d / 'factors.json')
        if not methods_file and (d / 'methods.json').exists():
            methods_file = str(d / 'methods.json')
    factors = FactorLibrary(_load_json(factors_file, 'factor library')) if factors_file else FactorLibrary.default()
    methods = MethodLibrary(_load_json(methods_file, 'method library')) if methods_file else MethodLibrary.default()
    return factors, methods


def _install(doc: dict, directory: str) -> str:
    """Check a library document and write it into `directory` (temporary file, then rename)."""
    kind = doc.get('library') if isinstance(doc, dict) else None
    if kind == 'tanji-factors':
        FactorLibrary(doc)
        name = 'factors.json'
    elif kind == 'tanji-methods':
        MethodLibrary(doc)
        name = 'methods.json'
    else:
        raise AccountingCliError('not a Tanji factor or method library (its "library" is %r)' % (kind,))
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ('.%s.tmp' % name)
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding='utf-8')
    tmp.replace(out / name)
    return '%s %s -> %s' % (kind, doc.get('version'), out / name)


def cmd_pull(args: argparse.Namespace) -> int:
    """Online mode (seed 001 §11.4 a): download the platform's libraries."""
    import urllib.error
    import urllib.request
    base = args.url.rstrip('/')
    for path in ('/api/v1/accounting/libraries/factors', '/api/v1/accounting/libraries/methods'):
        req = urllib.request.Request(base + path, headers={'Authorization': 'Bearer ' + args.token})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                doc = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AccountingCliError('%s%s answered %d: %s' % (base, path, e.code, e.read()[:200].decode('utf-8',
                                                                                                        'replace')))
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise AccountingCliError('cannot download %s%s: %s' % (base, path, e))
        print(_install(doc, args.dir))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Offline mode (seed 001 §11.4 b): take a library file exported at the platform."""
    for path in args.files:
        print(_install(_load_json(path, 'library'), args.dir))
    return 0


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
        q.add_argument('--libraries', help='a directory with factors.json and methods.json (pull/import)')

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
    pull = s.add_parser('pull', help='download the platform\'s factor and method libraries (online mode)')
    pull.add_argument('url', help='the platform, e.g. https://platform.example')
    pull.add_argument('--token', required=True, help='an operator token of the platform')
    pull.add_argument('--dir', required=True, help='where to keep them, e.g. /var/lib/tanji/libraries')
    pull.set_defaults(func=cmd_pull)
    imp = s.add_parser('import', help='take library files exported at the platform (offline mode)')
    imp.add_argument('files', nargs='+')
    imp.add_argument('--dir', required=True)
    imp.set_defaults(func=cmd_import)
