"""`tanji gateway run`: the gateway's storage-and-delivery process."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import logging
import signal
import time

from firmware.config import GatewayConfigError, load
from firmware.ports import PortError

ERRORS = (GatewayConfigError, PortError)


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


async def _run(args: argparse.Namespace) -> int:
    from firmware.gateway import Gateway
    cfg = load(args.config)
    source = _source(cfg)
    try:
        gw = Gateway(cfg, report_durable=args.report_durable)
    except OSError as e:
        raise GatewayConfigError('cannot open %s: %s' % (e.filename, e.strerror))
    await gw.start()
    if cfg.sources is not None and not cfg.sources.empty():
        from firmware.sources import Acquisition
        gw.sources = Acquisition(cfg.sources, gw, gw.clock, int(cfg.utc_offset_h * 3600))
        await gw.sources.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, gw.send_now)     # manual upload to every centre
    tasks = [asyncio.create_task(source.run(gw, gw.clock))] if source else []
    print('tanji gateway %s: log at %s, durable up to %d, %d centre(s)' % (
        cfg.id, cfg.data_dir, gw.ring.durable_seq, len(cfg.centres)), flush=True)
    tasks.append(asyncio.create_task(_write_status(gw, os.path.join(cfg.data_dir, 'status.json'))))
    await stop.wait()
    for t in tasks:
        t.cancel()
    if gw.sources is not None:
        await gw.sources.stop()
    await gw.stop()
    return 0


async def _write_status(gw, path: str, every_s: float = 2.0) -> None:
    """The gateway's status as JSON beside the log, for operators and rigs (atomic replace)."""
    while True:
        await asyncio.sleep(every_s)
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(gw.status(), f, indent=1, default=str)
        os.replace(tmp, path)


def cmd_enter(args: argparse.Namespace) -> int:
    from firmware.drivers.manual import EntryError
    from firmware.sources.manual import submit
    cfg = load(args.config)
    if cfg.sources is None or not cfg.sources.manual:
        raise GatewayConfigError('manual entry is not enabled: add [manual] enabled = true to %s' % args.config)
    doc = {'code': args.code, 'value': args.value, 'unit': args.unit, 'from': args.period_from,
           'to': args.period_to, 'evidence': args.evidence, 'operator': args.operator}
    try:
        journal = submit(cfg.data_dir, doc, int(cfg.utc_offset_h * 3600))
    except EntryError as e:
        raise GatewayConfigError('entry refused: %s' % e)
    print('entry %s queued: %s %s %s for %s .. %s (evidence: %s)' % (
        journal['id'], journal['code'], journal['value'], journal['unit'], args.period_from, args.period_to,
        journal['evidence']))
    return 0


def cmd_read_address(args: argparse.Namespace) -> int:
    from firmware.sources.commission import read_dlt645_address
    print(asyncio.run(read_dlt645_address(args.port, args.baud, args.parity, args.timeout)))
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
    enter.set_defaults(func=cmd_enter)
    ra = s.add_parser('read-address', help='print the address of the one DL/T 645 meter on a serial line')
    ra.add_argument('--port', required=True, help='serial device, e.g. /dev/ttymxc1')
    ra.add_argument('--baud', type=int, default=2400)
    ra.add_argument('--parity', choices=('N', 'E', 'O'), default='E')
    ra.add_argument('--timeout', type=float, default=2.0, help='seconds to wait for the answer')
    ra.set_defaults(func=cmd_read_address)
