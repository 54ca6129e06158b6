"""`tanji rig up RIGFILE`: start a hardware-in-the-loop rig and keep it running."""

from __future__ import annotations

import argparse
import asyncio
import signal

from hardware.rig import Rig, RigError, load

ERRORS = (RigError,)


async def _up(args: argparse.Namespace) -> int:
    rig = Rig(load(args.rigfile), base_dir=args.dir)
    try:
        where = await rig.start()
    except RigError:
        await rig.stop()
        raise
    except (KeyError, TypeError, ValueError, OSError, RuntimeError) as e:
        await rig.stop()
        raise RigError('%s: %s' % (args.rigfile, e))
    for name, place in where.items():
        print('%-12s %s' % (name, place), flush=True)
    print('rig %s up; Ctrl-C stops it' % rig.name, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await rig.stop()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    return asyncio.run(_up(args))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser('rig', help='hardware-in-the-loop rigs: simulated meters on ptys and loopback TCP')
    s = p.add_subparsers(dest='rig_command', required=True)
    up = s.add_parser('up', help='start the rig a file describes (hardware/rigs/*.toml)')
    up.add_argument('rigfile')
    up.add_argument('--dir', help='where the pty links go (default: the rig file\'s rig.dir)')
    up.set_defaults(func=cmd_up)
