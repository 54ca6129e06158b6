"""`tanji server ...`: run the ingest server and administer it.

Administrative commands write straight to the database named by --db or the
config file, in one transaction with their audit entry (actor cli:USER)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time

from server import admin
from server.config import ConfigError, ServerConfig, load
from server.db import Connection, DatabaseError, DatabaseURL
from server.store import StoreError, gateways, tokens
from server.views import gateway_json
from shared.tls import is_loopback

ERRORS = (ConfigError, DatabaseError, StoreError)


def _config(args: argparse.Namespace) -> ServerConfig:
    return load(args.config, db=args.db, host=getattr(args, 'host', None), port=getattr(args, 'port', None),
                verify_threads=getattr(args, 'verify_threads', None))


def _connect(args: argparse.Namespace) -> Connection:
    conn = Connection(DatabaseURL.parse(_config(args).db))
    conn.migrate()
    return conn


def _actor() -> str:
    try:
        return 'cli:%s' % getpass.getuser()
    except Exception:
        return 'cli'


def _now_ms() -> int:
    return int(time.time() * 1000)


def cmd_run(args: argparse.Namespace) -> int:
    from server.app import make_app, serve, ssl_context
    cfg = _config(args)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    conn = Connection(DatabaseURL.parse(cfg.db))  # fail fast with a clear message
    conn.migrate()
    conn.close()
    try:
        ctx, fingerprint = ssl_context(cfg)
    except (OSError, ValueError) as e:
        raise ConfigError('TLS certificate or key: %s' % e)
    print('tanji server: %s, listening on %s://%s:%d' % (DatabaseURL.parse(cfg.db).describe(),
                                                           'https' if ctx else 'http', cfg.host, cfg.port), flush=True)
    if fingerprint:
        print('TLS certificate SHA-256 %s (a gateway pins it with pin_sha256 = "%s")' % (fingerprint, fingerprint),
              flush=True)
    elif not is_loopback(cfg.host):
        logging.getLogger('tanji.server').warning(
            'plain HTTP on %s (tls = "off"): readings and tokens travel in the clear unless a proxy in front '
            'terminates TLS', cfg.host)
    try:
        serve(make_app(cfg), cfg, ctx)
    except OSError as e:
        raise ConfigError('cannot listen on %s:%d: %s' % (cfg.host, cfg.port, e.strerror or e))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    conn = _connect(args)
    print('schema is at version %d' % conn.schema_version())
    return 0


def _read_key(text: str) -> str | bytes:
    if text.startswith('@'):
        try:
            with open(text[1:], 'rb') as f:
                return f.read()
        except OSError as e:
            raise StoreError('cannot read %s: %s' % (text[1:], e.strerror))
    return text


def cmd_gateways_add(args: argparse.Namespace) -> int:
    conn = _connect(args)
    g = conn.transaction(admin.enrol, _actor(), args.gateway, _read_key(args.key), args.enterprise, args.site,
                         args.first_seq, _now_ms())
    print('enrolled %s (%s / %s), acknowledging from sequence %d' % (g.gateway, g.enterprise, g.site, g.ack + 1))
    return 0


def cmd_gateways_list(args: argparse.Namespace) -> int:
    conn = _connect(args)
    rows = [gateway_json(c) for c in gateways.counted(conn)]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print('%-24s %-8s %12s %10s %8s %8s %9s  %s' % ('gateway', 'state', 'ack', 'records', 'missing', 'sigfail',
                                                    'conflicts', 'last frame'))
    for r in rows:
        print('%-24s %-8s %12d %10d %8d %8d %9d  %s' % (r['gateway'], 'revoked' if r['revoked'] else 'active',
                                                        r['ack'], r['records'], r['missing'], r['signature_failures'],
                                                        r['conflicts'], r['last_frame_at'] or '-'))
    for r in rows:
        for alarm in r['alarms']:
            print('ALARM %s: %s' % (r['gateway'], alarm))
    return 0


def cmd_gateways_revoke(args: argparse.Namespace) -> int:
    conn = _connect(args)
    conn.transaction(admin.revoke, _actor(), args.gateway, args.reason, _now_ms())
    print('revoked %s' % args.gateway)
    return 0


def cmd_tokens_add(args: argparse.Namespace) -> int:
    conn = _connect(args)
    token = conn.transaction(admin.add_token, _actor(), args.name, args.role, _now_ms())
    print(token)
    print('token %s (%s) created; it is shown only now' % (args.name, args.role), file=sys.stderr)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    for t in tokens.list_tokens(_connect(args)):
        print('%-24s %-9s %s' % (t['name'], t['role'], 'revoked' if t['revoked_at'] else 'active'))
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    conn = _connect(args)
    conn.transaction(admin.revoke_token, _actor(), args.name, _now_ms())
    print('revoked token %s' % args.name)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    for e in tokens.audit_log(_connect(args), args.limit):
        print(json.dumps(e, ensure_ascii=False, sort_keys=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--config', help='TOML configuration file (docs/server.md)')
    common.add_argument('--db', help='database: file path, sqlite:///PATH or postgresql://... (default tanji.db)')

    p = sub.add_parser('server', help='the ingest server')
    s = p.add_subparsers(dest='server_command', required=True)
    run = s.add_parser('run', parents=[common], help='serve the upload exchange and the operator API')
    run.add_argument('--host')
    run.add_argument('--port', type=int)
    run.add_argument('--verify-threads', type=int, help='verify signatures in N threads (default 0: on the event loop)')
    run.set_defaults(func=cmd_run)
    s.add_parser('migrate', parents=[common], help='create or upgrade the schema').set_defaults(func=cmd_migrate)

    g = s.add_parser('gateways', help='enrol, list and revoke gateways').add_subparsers(dest='gw_command', required=True)
    add = g.add_parser('add', parents=[common], help='enrol a gateway with its SM2 public key')
    add.add_argument('gateway')
    add.add_argument('--key', required=True, help='public key as hex, or @FILE (PEM, DER or hex)')
    add.add_argument('--enterprise', required=True)
    add.add_argument('--site', required=True)
    add.add_argument('--first-seq', type=int, default=0, help='first sequence number expected (default 0)')
    add.set_defaults(func=cmd_gateways_add)
    ls = g.add_parser('list', parents=[common], help='gateways and their status')
    ls.add_argument('--json', action='store_true')
    ls.set_defaults(func=cmd_gateways_list)
    rv = g.add_parser('revoke', parents=[common], help='refuse a gateway\'s frames from now on')
    rv.add_argument('gateway')
    rv.add_argument('--reason', required=True)
    rv.set_defaults(func=cmd_gateways_revoke)

    t = s.add_parser('tokens', help='API tokens for operators and admins').add_subparsers(dest='tok_command', required=True)
    ta = t.add_parser('add', parents=[common], help='create a token and print it once')
    ta.add_argument('name')
    ta.add_argument('--role', required=True, choices=admin.ROLES)
    ta.set_defaults(func=cmd_tokens_add)
    t.add_parser('list', parents=[common]).set_defaults(func=cmd_tokens_list)
    tr = t.add_parser('revoke', parents=[common])
    tr.add_argument('name')
    tr.set_defaults(func=cmd_tokens_revoke)

    au = s.add_parser('audit', parents=[common], help='administrative actions, newest first')
    au.add_argument('--limit', type=int, default=100)
    au.set_defaults(func=cmd_audit)
