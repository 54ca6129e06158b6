"""`tanji keys ...`, `tanji frame ...` and `tanji codes ...` (CPython only)."""

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any, BinaryIO

from shared.codec import codes, decimals, frame, sm2
from shared.codec import flags


class UsageError(Exception):
    """A user mistake: printed as one line, exit status 2."""


def _read_input(path: str) -> bytes:
    if path == '-':
        return sys.stdin.buffer.read()
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise UsageError('cannot read %s: %s' % (path, e.strerror))


def _write_output(path: str, data: bytes) -> None:
    if path == '-':
        out: BinaryIO = sys.stdout.buffer
        out.write(data)
        out.flush()
        return
    with open(path, 'wb') as f:
        f.write(data)


def _load_key(path: str, private: bool):
    data = _read_input(path)
    try:
        return sm2.PrivateKey.load(data) if private else sm2.PublicKey.load(data)
    except sm2.KeyError_ as e:
        raise UsageError('%s: %s' % (path, e))


# keys

def cmd_keys_generate(args: argparse.Namespace) -> int:
    for path in (args.private, args.public):
        if os.path.exists(path) and not args.force:
            raise UsageError('%s exists; use --force to overwrite' % path)
    key = sm2.PrivateKey.generate()
    if args.format == 'pem':
        priv, pub = key.to_pem(), key.public_key.to_pem()
    else:
        priv, pub = key.to_hex() + '\n', key.public_key.to_hex() + '\n'
    fd = os.open(args.private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(priv)
    with open(args.public, 'w') as f:
        f.write(pub)
    print('SM2 key pair written: private %s (mode 0600), public %s' % (args.private, args.public))
    print('public key: %s' % key.public_key.to_hex())
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    data = _read_input(args.key)
    try:
        key = sm2.PrivateKey.load(data).public_key
        kind = 'private key (showing its public key)'
    except sm2.KeyError_:
        key = _load_key(args.key, private=False)
        kind = 'public key'
    print(json.dumps({'kind': kind, 'public_hex': key.to_hex(), 'public_pem': key.to_pem()},
                     indent=2, ensure_ascii=False))
    return 0


# frames

def _parse_time(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            t = dt.datetime.fromisoformat(value.replace('Z', '+00:00'))
        except ValueError:
            raise UsageError('%s: time %r is not ISO 8601' % (where, value))
        if t.tzinfo is None:
            raise UsageError('%s: time %r needs a UTC offset (e.g. Z or +08:00)' % (where, value))
        delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    raise UsageError('%s: time must be ISO 8601 text or integer milliseconds' % where)


def _parse_flags(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, list):
        names = dict((name, bit) for bit, name in flags.FLAG_NAMES)
        out = 0
        for name in value:
            if name not in names:
                raise UsageError('%s: unknown flag %r (known: %s)' % (where, name, ', '.join(names)))
            out |= names[name]
        return out
    raise UsageError('%s: flags must be an integer or a list of flag names' % where)


def records_from_json(doc: Any) -> tuple[list, dict]:
    """(records, units) from the documented JSON input of `tanji frame encode`."""
    if not isinstance(doc, dict) or not isinstance(doc.get('records'), list):
        raise UsageError('input must be a JSON object with "records" (and "units", "gateway")')
    units = doc.get('units') or {}
    if not isinstance(units, dict):
        raise UsageError('"units" must map data-item codes to units')
    units = dict((str(k).replace('-', ''), v) for k, v in units.items())
    records = []
    for i, r in enumerate(doc['records']):
        where = 'records[%d]' % i
        if not isinstance(r, dict):
            raise UsageError('%s must be an object' % where)
        for key in ('seq', 'code', 'time'):
            if key not in r:
                raise UsageError('%s lacks "%s"' % (where, key))
        code = str(r['code']).replace('-', '')
        if 'unit' in r:
            if units.get(code, r['unit']) != r['unit']:
                raise UsageError('%s: unit %r contradicts %r given for %s' % (where, r['unit'], units[code], code))
            units[code] = r['unit']
        value = r.get('value')
        exp = 0
        if value is not None:
            try:
                value, exp = decimals.parse(str(value))
            except decimals.DecimalError as e:
                raise UsageError('%s: %s' % (where, e))
        seq = r['seq']
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise UsageError('%s: seq must be an integer' % where)
        records.append(frame.Record(seq, code, _parse_time(r['time'], where), value, exp,
                                    _parse_flags(r.get('flags'), where)))
    return records, units


def cmd_frame_encode(args: argparse.Namespace) -> int:
    key = _load_key(args.key, private=True)
    raw = _read_input(args.input)
    try:
        # parse_float=str keeps the decimal digits exactly as written
        doc = json.loads(raw.decode('utf-8'), parse_float=str)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError('input is not JSON: %s' % e)
    records, units = records_from_json(doc)
    gateway = args.gateway or doc.get('gateway')
    if not gateway:
        raise UsageError('no gateway id: give --gateway or "gateway" in the input')
    first_seq = doc.get('first_seq')
    if first_seq is not None and (not isinstance(first_seq, int) or isinstance(first_seq, bool)):
        raise UsageError('first_seq must be an integer')
    data = frame.encode(gateway, records, units, key.sign, args.tables, first_seq)
    _write_output(args.output, data)
    if args.output != '-':
        print('frame of %d records (%d bytes) written to %s' % (len(records), len(data), args.output), file=sys.stderr)
    return 0


def _iso(ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)


def frame_to_json(f: frame.Frame, lang: str) -> dict:
    tables = codes.tables(f.tables_version)
    return {
        'version': f.version,
        'gateway': f.gateway_id,
        'seq_first': f.seq_first,
        'seq_last': f.seq_last,
        'declared_lost': [list(r) for r in f.lost_ranges()],
        'time_base': _iso(f.t0 * 1000),
        'time_unit_ms': f.tu,
        'code_tables': f.tables_version,
        'fingerprint_sm3': f.fingerprint().hex(),
        'root_sm3': f.root.hex(),
        'signature': f.signature.hex(),
        'codes': [{'code': c, 'grouped': tables.grouped(c), 'name': tables.describe(c, lang),
                   'unit': unit, 'exponent': exp} for c, exp, unit in f.codes],
        'records': [{'seq': r.seq, 'code': r.code, 'time': _iso(r.ts_ms),
                     'value': r.value_text() if r.value is not None else None,
                     'unit': f.unit_of(r.code), 'flags': flags.flag_names(r.flags)}
                    for r in f.records],
    }


def _decode(args: argparse.Namespace) -> frame.Frame:
    return frame.decode(_read_input(args.input))


def cmd_frame_decode(args: argparse.Namespace) -> int:
    f = _decode(args)
    out = frame_to_json(f, args.lang)
    status = 0
    if args.pubkey:
        ok = f.verify(_load_key(args.pubkey, private=False))
        out['signature_valid'] = ok
        status = 0 if ok else 1
    else:
        out['signature_valid'] = None
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return status


def cmd_frame_verify(args: argparse.Namespace) -> int:
    f = _decode(args)
    ok = f.verify(_load_key(args.pubkey, private=False))
    what = 'gateway %s, records %d..%d, fingerprint %s' % (f.gateway_id, f.seq_first, f.seq_last, f.fingerprint().hex())
    if ok:
        print('valid signature: ' + what)
        return 0
    print('INVALID signature: ' + what, file=sys.stderr)
    return 1


# codes

def cmd_codes_describe(args: argparse.Namespace) -> int:
    t = codes.tables(args.tables)
    for code in args.code:
        seg = t.parse(code)
        print(json.dumps({'code': code.replace('-', ''), 'grouped': t.grouped(code), 'segments': seg,
                          'zh': t.describe(code, 'zh'), 'en': t.describe(code, 'en'),
                          'units': t.allowed_units(code), 'tables': t.version}, ensure_ascii=False))
    return 0


def cmd_codes_list(args: argparse.Namespace) -> int:
    t = codes.tables(args.tables)
    for key in sorted(t.tables[args.segment]):
        entry = t.tables[args.segment][key]
        print('%s  %s  %s' % (key, entry['zh'], entry['en']))
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser('keys', help='SM2 key pairs').add_subparsers(dest='action', required=True)
    p = keys.add_parser('generate', help='generate an SM2 key pair')
    p.add_argument('--private', default='gateway.key', help='private key file (written mode 0600)')
    p.add_argument('--public', default='gateway.pub', help='public key file')
    p.add_argument('--format', choices=('pem', 'hex'), default='pem',
                   help='pem: PKCS#8 / SubjectPublicKeyInfo; hex: raw d and 04||x||y')
    p.add_argument('--force', action='store_true', help='overwrite existing files')
    p.set_defaults(func=cmd_keys_generate)
    p = keys.add_parser('show', help='show the public key of a key file')
    p.add_argument('key')
    p.set_defaults(func=cmd_keys_show)

    fr = sub.add_parser('frame', help='encode, decode and verify signed frames').add_subparsers(dest='action', required=True)
    p = fr.add_parser('encode', help='records as JSON in, signed frame out (docs/protocol.md §7)')
    p.add_argument('input', nargs='?', default='-')
    p.add_argument('-o', '--output', default='-')
    p.add_argument('--key', required=True, help='SM2 private key (PEM or hex)')
    p.add_argument('--gateway', help='gateway id (default: "gateway" of the input)')
    p.add_argument('--tables', default=codes.DEFAULT_VERSION, help='code-table version')
    p.set_defaults(func=cmd_frame_encode)
    p = fr.add_parser('decode', help='frame in, JSON out')
    p.add_argument('input', nargs='?', default='-')
    p.add_argument('--pubkey', help='also verify the signature with this public key')
    p.add_argument('--lang', choices=('zh', 'en'), default='en')
    p.set_defaults(func=cmd_frame_decode)
    p = fr.add_parser('verify', help='verify a frame signature (exit 0 valid, 1 invalid, 2 malformed)')
    p.add_argument('input', nargs='?', default='-')
    p.add_argument('--pubkey', required=True)
    p.set_defaults(func=cmd_frame_verify)

    cd = sub.add_parser('codes', help='DB35/T 2000 data-item codes').add_subparsers(dest='action', required=True)
    p = cd.add_parser('describe', help='explain codes in Chinese and English')
    p.add_argument('code', nargs='+')
    p.add_argument('--tables', default=codes.DEFAULT_VERSION)
    p.set_defaults(func=cmd_codes_describe)
    p = cd.add_parser('list', help='list one segment table')
    p.add_argument('segment', choices=('industry', 'activity', 'source', 'parameter'))
    p.add_argument('--tables', default=codes.DEFAULT_VERSION)
    p.set_defaults(func=cmd_codes_list)


ERRORS = (UsageError, frame.FrameError, codes.CodeError, sm2.KeyError_, decimals.DecimalError)
