"""`tanji gateway run`: the gateway's storage-and-delivery process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time

from firmware.config import GatewayConfigError, load

ERRORS = (GatewayConfigError,)


def _source(cfg):
    kind = cfg.source.get('kind')
    if kind is None:
        return None
    if kind != 'synthetic':
        raise GatewayConfigError('source.kind %r: only "synthetic" is available until the meter drivers land' % kind)
    from firmware.drivers.synthetic import SyntheticMeters
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, gw.send_now)     # manual upload to every centre
    tasks = [asyncio.create_task(source.run(gw, gw.clock))] if source else []
    print('tanji gateway %s: log at %s, durable up to %d, %d centre(s)' % (
        cfg.id, cfg.data_dir, gw.ring.durable_seq, len(cfg.centres)), flush=True)
    await stop.wait()
    for t in tasks:
        t.cancel()
    await gw.stop()
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
