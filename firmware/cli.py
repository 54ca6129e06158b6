"""`tanji gateway run`: the gateway's storage-and-delivery process."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import logging
import signal
import time

from firmware.clock import clock_for
from firmware.config import GatewayConfigError, load
from firmware.sources.config import owner_of
from firmware.ports import PortError

ERRORS = (GatewayConfigError, PortError)
log = logging.getLogger('tanji.gateway')


def _source(cfg):
    kind = cfg.source.get('kind')
    if kind is None:
        return None
    if kind != 'synthetic':
        raise GatewayConfigError('source.kind %r: only "synthetic"; meters are configured with [[bus]], [[meter]], [[point]] (docs/drivers.md)' % kind)
    from firmware.sources.synthetic import SyntheticMeters
    opts = {k: v for k, v in cfg.source.items() if k != 'kind'}
    opts.setdefault('t0_ms', int(time.time() * 1000))
    try:
        return SyntheticMeters(**opts)
    except (TypeError, ValueError) as e:
        raise GatewayConfigError('source: %s' % e)


SHUTDOWN_S = 5.0     # SIGTERM to exit, whatever drivers, sockets and centres are doing


async def _run(args: argparse.Namespace) -> int:
    from firmware import logbook
    from firmware.gateway import Gateway
    cfg = load(args.config)
    logbook.install(cfg.data_dir)
    source = _source(cfg)
    try:
        gw = Gateway(cfg, clock=clock_for(args.wall_clock_offset_file), report_durable=args.report_durable)
    except OSError as e:
        raise GatewayConfigError('cannot open %s: %s' % (e.filename, e.strerror))
    await gw.start()
    from firmware.reconfigure import Reconfigurer, restart_process
    gw.reconfigurer = Reconfigurer.at_start(gw, args.config, watch=lambda task: task.add_done_callback(on_done))
    if cfg.sources is not None and not cfg.sources.empty():
        from firmware.sources import Acquisition
        gw.sources = Acquisition(cfg.sources, gw, gw.clock, int(cfg.utc_offset_h * 3600))
        await gw.sources.start()
    stop = asyncio.Event()
    hurry = asyncio.Event()
    died: list[asyncio.Task] = []

    def on_signal() -> None:
        if stop.is_set():
            hurry.set()                  # a second signal: stop waiting for anything
        stop.set()

    def on_done(task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None or stop.is_set():
            return
        log.error('ALARM task %s died: %r; stopping the gateway so that its service manager restarts it',
                  task.get_name(), task.exception())
        died.append(task)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(signal.SIGUSR1, gw.send_now)     # manual upload to every centre
    tasks = [asyncio.create_task(source.run(gw, gw.clock), name='tanji-source')] if source else []
    print('tanji gateway %s: log at %s, durable up to %d, %d centre(s)' % (
        cfg.id, cfg.data_dir, gw.ring.durable_seq, len(cfg.centres)), flush=True)
    tasks.append(asyncio.create_task(_write_status(gw, os.path.join(cfg.data_dir, 'status.json')),
                                     name='tanji-status'))
    tasks.append(asyncio.create_task(_stop_on(gw.reconfigurer.restart_requested, stop), name='tanji-restart'))
    tasks.append(asyncio.create_task(_save_tally(gw), name='tanji-tally'))   # live accounting may start later
    from firmware.ledger import CalibrationWatch, Ledger
    gw.ledger = Ledger(cfg.data_dir, gw.clock.now, int(cfg.utc_offset_h * 3600))
    gw.calibration = CalibrationWatch(gw.ledger, gw)
    tasks.append(asyncio.create_task(_watch_calibration(gw.calibration), name='tanji-calibration'))
    if cfg.remote is not None:
        from firmware.config import remote_key
        from firmware.remote import RemoteConfig
        from shared.web.accounts import Accounts
        audit_log = Accounts(accounts_path(cfg))
        gw.remote = RemoteConfig(gw, gw.reconfigurer, remote_key(cfg.remote), cfg.remote.revert_after_s,
                                 lambda who, action, detail: audit_log.audit(who, action, detail))
        tasks.append(asyncio.create_task(gw.remote.watch(), name='tanji-remote-config'))
    page = await _start_page(gw, cfg) if cfg.web is not None else None
    if cfg.health_every_s:
        from firmware import report
        tasks.append(asyncio.create_task(report.loop(gw, cfg.health_every_s), name='tanji-health-report'))
    for t in tasks + gw.tasks + (gw.sources.tasks if gw.sources else []):
        t.add_done_callback(on_done)
    await stop.wait()
    if page is not None:
        await page.cleanup()
    stuck = await _shutdown(gw, tasks, hurry)
    if stuck:
        log.warning('ALARM stopped within %.0f s leaving %d stuck task(s) behind (%s); everything durable is saved',
                    SHUTDOWN_S, len(stuck), ', '.join(sorted(t.get_name() for t in stuck)))
        logging.shutdown()
        if gw.reconfigurer.restart_requested.is_set() and not died:
            restart_process()
        os._exit(1 if died else 0)      # asyncio.run would wait for the stuck tasks forever
    if gw.reconfigurer.restart_requested.is_set() and not died:
        logging.shutdown()
        restart_process()
    return 1 if died else 0


CALIBRATION_CHECK_S = 60.0


async def _watch_calibration(watch) -> None:   # type: ignore[no-untyped-def]
    while True:
        watch.refresh()
        await asyncio.sleep(CALIBRATION_CHECK_S)


TALLY_SAVE_S = 60.0


async def _save_tally(gw) -> None:   # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(TALLY_SAVE_S)
        await asyncio.to_thread(gw.write_tally, gw.tally_snapshot())


async def _stop_on(event: asyncio.Event, stop: asyncio.Event) -> None:
    await event.wait()
    stop.set()


async def _shutdown(gw, tasks: list[asyncio.Task], hurry: asyncio.Event) -> list[asyncio.Task]:
    """Cancel every task at once (ours, the sources', the gateway's), give them SHUTDOWN_S
    to end (none after a second signal), then commit and save whatever they did; returns
    the tasks that did not end."""
    everything = tasks + (gw.sources.tasks if gw.sources is not None else []) + gw.tasks
    for t in everything:
        t.cancel()

    async def stopping() -> None:
        await asyncio.wait(everything)
        if gw.sources is not None:
            await gw.sources.stop()
    job = asyncio.create_task(stopping(), name='tanji-shutdown')
    hurried = asyncio.create_task(hurry.wait())
    await asyncio.wait({job, hurried}, timeout=SHUTDOWN_S, return_when=asyncio.FIRST_COMPLETED)
    hurried.cancel()
    if not job.done():
        job.cancel()
    gw.close()
    return [t for t in everything if not t.done()]


STATUS_BLOCK = 4096


def accounts_path(cfg) -> str:   # type: ignore[no-untyped-def]
    """The page's accounts and audit log: beside the log, never inside it."""
    directory = os.path.join(cfg.data_dir, 'web')
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, 'accounts.db')


async def _start_page(gw, cfg):   # type: ignore[no-untyped-def]
    """The local page on [web] listen; a page that cannot listen is an alarm, not the end of the gateway."""
    from aiohttp import web

    from firmware.network import Listener, NetworkChanges
    from firmware.web.app import make_app
    from firmware.web.network_page import NETWORK
    from shared.web.accounts import Accounts
    accounts = Accounts(accounts_path(cfg))
    app = make_app(gw, accounts)
    runner = web.AppRunner(app, access_log=None)
    listener = Listener(runner)
    app[NETWORK] = gw.network = NetworkChanges(gw, listener,
                                               lambda who, action, detail: accounts.audit(who, action, detail))
    await runner.setup()
    try:
        await listener.add(cfg.web.host, cfg.web.port)
    except OSError as e:
        logging.getLogger('tanji.web').error('ALARM the local page cannot listen on %s:%d: %s', cfg.web.host,
                                             cfg.web.port, e.strerror or e)
        await runner.cleanup()
        return None
    logging.getLogger('tanji.web').info('local page on http://%s:%d/%s', cfg.web.host, cfg.web.port,
                                        ' (no account yet: the first visit sets the administrator)'
                                        if accounts.empty() else '')
    return runner


async def _write_status(gw, path: str, every_s: float = 2.0) -> None:
    """The gateway's status as JSON beside the log, for operators and rigs (atomic replace).
    The file is padded to whole blocks, so on a full disk, where no new file can be made,
    it is overwritten in place instead and still tells the truth."""
    while True:
        await asyncio.sleep(every_s)
        text = json.dumps(gw.status(), indent=1, default=str).encode()
        text += b' ' * (-(len(text) + 1) % STATUS_BLOCK) + b'\n'
        try:
            _replace(path, text)
        except OSError as e:
            try:
                _overwrite(path, text)
            except OSError:
                if gw.disk_error is None:
                    log.warning('cannot write %s: %s', path, e)


def _replace(path: str, data: bytes) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def _overwrite(path: str, data: bytes) -> None:
    """Overwrite a file in place within its present size (no new blocks needed)."""
    with open(path, 'r+b') as f:
        size = f.seek(0, os.SEEK_END)
        if len(data) > size:
            raise OSError('%s: the status outgrew the file' % path)
        f.seek(0)
        f.write(data + b' ' * (size - len(data)))


def cmd_enter(args: argparse.Namespace) -> int:
    from shared.codec.text import ascii_digits
    from firmware.drivers.manual import EntryError
    from firmware.sources.manual import submit
    cfg = _manual_config(args.config)
    doc = {'code': args.code, 'value': args.value, 'unit': args.unit, 'from': args.period_from,
           'to': args.period_to, 'evidence': args.evidence, 'operator': args.operator}
    if args.corrects is not None or args.reason is not None:
        doc.update(corrects=args.corrects, reason=args.reason)
    place = owner_of(cfg.sources, int(args.code)) if ascii_digits(args.code) else None
    if place is not None:
        raise GatewayConfigError('entry refused: code %s is read by %s: a code identifies one monitoring point '
                                 '(seed 001 §7.2); enter it under its own code' % (args.code, place))
    try:
        journal = submit(cfg.data_dir, doc, int(cfg.utc_offset_h * 3600))
    except EntryError as e:
        raise GatewayConfigError('entry refused: %s' % e)
    print('entry %s queued: %s %s %s for %s .. %s (evidence: %s)%s' % (
        journal['id'], journal['code'], journal['value'], journal['unit'], args.period_from, args.period_to,
        journal['evidence'], ', correcting entry %s' % journal['corrects'] if 'corrects' in journal else ''))
    return 0


def _manual_config(path: str):
    cfg = load(path)
    if cfg.sources is None or not cfg.sources.manual:
        raise GatewayConfigError('manual entry is not enabled: add [manual] enabled = true to %s' % path)
    return cfg


def cmd_withdraw(args: argparse.Namespace) -> int:
    from firmware.drivers.manual import EntryError
    from firmware.sources.manual import submit_withdrawal
    cfg = _manual_config(args.config)
    try:
        journal = submit_withdrawal(cfg.data_dir, {'withdraws': args.entry, 'reason': args.reason,
                                                   'operator': args.operator}, int(cfg.utc_offset_h * 3600))
    except EntryError as e:
        raise GatewayConfigError('withdrawal refused: %s' % e)
    print('withdrawal %s of entry %s queued (%s: %s)' % (journal['id'], args.entry, journal['operator'],
                                                         journal['reason']))
    return 0


def cmd_entries(args: argparse.Namespace) -> int:
    from firmware.sources.manual import ledger
    from shared.civil import local_iso
    cfg = _manual_config(args.config)
    offset = int(cfg.utc_offset_h * 3600)
    book = ledger(cfg.data_dir)
    for rec in sorted(book.entries.values(), key=lambda r: r.get('entered_ms', 0)):
        when = local_iso(rec.get('entered_ms', 0), offset)
        if 'value' in rec:
            ender = book.ended_by.get(rec['id'])
            state = 'live' if ender is None else ('withdrawn by %s' % ender if 'withdraws' in book.entries[ender]
                                                  else 'corrected by %s' % ender)
            print('%s  %s  %s %s  %s .. %s  evidence %s  by %s at %s%s  [%s]' % (
                rec['id'], rec['code'], rec['value'], rec['unit'], local_iso(rec['from_ms'], offset),
                local_iso(rec['to_ms'], offset), rec.get('evidence'), rec.get('operator'), when,
                ', corrects %s: %s' % (rec['corrects'], rec['reason']) if 'corrects' in rec else '', state))
        else:
            print('%s  withdraws %s  by %s at %s: %s' % (rec['id'], rec['withdraws'], rec.get('operator'), when,
                                                       rec.get('reason')))
    if not book.entries:
        print('no manual entries yet')
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from firmware import summary
    cfg = load(args.config)
    path = os.path.join(cfg.data_dir, 'status.json')
    try:
        with open(path) as f:
            status = json.load(f)
    except FileNotFoundError:
        raise GatewayConfigError('no %s: the gateway has not run with this configuration yet '
                                 '(tanji gateway run --config %s)' % (path, args.config))
    except (OSError, ValueError) as e:
        raise GatewayConfigError('cannot read %s: %s' % (path, e))
    if args.json:
        print(json.dumps(status, indent=1, ensure_ascii=False))
    else:
        print('gateway %s (tanji %s)' % (status.get('gateway', cfg.id), status.get('version', '?')))
        print(summary.text(status, int(cfg.utc_offset_h * 3600)))
    stale = time.time() - float(status.get('time', 0)) > summary.STALE_S
    return 1 if summary.alarms(status) or stale else 0


def cmd_read_address(args: argparse.Namespace) -> int:
    from firmware.sources.commission import read_dlt645_address
    print(asyncio.run(read_dlt645_address(args.port, args.baud, args.parity, args.timeout)))
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    """Set an account's password for the local page, making the account when it does not exist
    (the first one is the administrator).  The password is asked twice, or read from stdin."""
    import getpass

    from shared.web.accounts import AccountError, Accounts
    from shared.web.i18n import translate
    cfg = load(args.config)
    accounts = Accounts(accounts_path(cfg))
    if args.password_stdin:
        password = sys.stdin.readline().rstrip('\n')
    else:
        password = getpass.getpass('new password for %s: ' % args.name)
        if getpass.getpass('again: ') != password:
            print('the two passwords differ; nothing changed', file=sys.stderr)
            return 2
    actor = 'cli:%s' % (os.environ.get('USER') or 'root')
    try:
        if any(a['name'] == args.name for a in accounts.list()):
            accounts.set_password(args.name, password, actor)
            print('password of %s changed; its sessions are ended' % args.name)
        else:
            role = args.role or ('admin' if accounts.empty() else 'viewer')
            accounts.create(args.name, password, role, actor)
            print('account %s (%s) made' % (args.name, role))
    except AccountError as e:
        print('%s: %s' % (e.field, translate(e.message, 'en')), file=sys.stderr)
        return 2
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    return asyncio.run(_run(args))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser('gateway', help='the gateway: log readings, deliver them to the centres')
    s = p.add_subparsers(dest='gateway_command', required=True)
    run = s.add_parser('run', help='run storage and delivery (SIGUSR1: upload now)')
    run.add_argument('--config', required=True, help='gateway TOML (docs/gateway.md)')
    run.add_argument('--report-durable', help='append each durable sequence number to this file (test rigs)')
    run.add_argument('--wall-clock-offset-file',
                     help='add the seconds written in this file to the wall clock (test rigs: a clock set wrong)')
    run.set_defaults(func=cmd_run)
    enter = s.add_parser('enter', help='enter a value by hand (seed 001 §6.2), with unit, period and evidence')
    enter.add_argument('--config', required=True, help='the gateway TOML ([manual] enabled = true)')
    enter.add_argument('--code', required=True, help='12-digit data-item code')
    enter.add_argument('--value', required=True, help='decimal value as written on the evidence')
    enter.add_argument('--unit', required=True, help='unit of the value, e.g. t, MWh, 10^4 Nm3')
    enter.add_argument('--from', dest='period_from', required=True, help='period start, YYYY-MM-DD[Thh:mm] local')
    enter.add_argument('--to', dest='period_to', required=True, help='period end (a date means end of that day)')
    enter.add_argument('--evidence', required=True, help='reference of the document (invoice no., ticket no.)')
    enter.add_argument('--operator', required=True, help='who enters the value')
    enter.add_argument('--corrects', help='the id of an entry this one corrects (it is withdrawn)')
    enter.add_argument('--reason', help='why the entry is corrected (with --corrects)')
    enter.set_defaults(func=cmd_enter)
    withdraw = s.add_parser('withdraw', help='withdraw a manual entry (it stays in the journal)')
    withdraw.add_argument('--config', required=True, help='the gateway TOML')
    withdraw.add_argument('--entry', required=True, help='the id of the entry (tanji gateway entries)')
    withdraw.add_argument('--reason', required=True, help='why it is withdrawn')
    withdraw.add_argument('--operator', required=True, help='who withdraws it')
    withdraw.set_defaults(func=cmd_withdraw)
    entries = s.add_parser('entries', help='list the manual entries: live, corrected or withdrawn, who, when, why')
    entries.add_argument('--config', required=True, help='the gateway TOML')
    entries.set_defaults(func=cmd_entries)
    status = s.add_parser('status', help='a readable summary of the running gateway: centres, buses, meters, points, '
                                         'alarms (exit 1 when there are alarms)')
    status.add_argument('--config', required=True, help='the gateway TOML')
    status.add_argument('--json', action='store_true', help='print status.json as it is')
    status.set_defaults(func=cmd_status)
    pw = s.add_parser('passwd', help='set the password of an account of the local page (made if missing; '
                                     'the first account is the administrator)')
    pw.add_argument('--config', required=True, help='the gateway TOML')
    pw.add_argument('--name', required=True, help='the account')
    pw.add_argument('--role', choices=('viewer', 'operator', 'admin'), help='for a new account (default: admin '
                                                                           'for the first, else viewer)')
    pw.add_argument('--password-stdin', action='store_true', help='read the password from the first line of stdin')
    pw.set_defaults(func=cmd_passwd)
    ra = s.add_parser('read-address', help='print the address of the one DL/T 645 meter on a serial line')
    ra.add_argument('--port', required=True, help='serial device, e.g. /dev/ttymxc1')
    ra.add_argument('--baud', type=int, default=2400)
    ra.add_argument('--parity', choices=('N', 'E', 'O'), default='E')
    ra.add_argument('--timeout', type=float, default=2.0, help='seconds to wait for the answer')
    ra.set_defaults(func=cmd_read_address)
