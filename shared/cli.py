"""The `tanji` command. Each area registers its own subcommands."""

import argparse
import importlib
import sys

from shared.codec import cli as codec_cli
from shared.version import tanji_version


AREAS = ['server.cli', 'firmware.cli', 'hardware.cli', 'shared.accounting.cli']  # optional areas: registered when their dependencies are installed
ERRORS: tuple = codec_cli.ERRORS


def build_parser() -> argparse.ArgumentParser:
    global ERRORS
    parser = argparse.ArgumentParser(prog='tanji', description='Tanji carbon metering: gateway, server and test rigs')
    parser.add_argument('--version', action='version', version='tanji %s' % tanji_version())
    sub = parser.add_subparsers(dest='command', required=True)
    codec_cli.register(sub)
    for name in AREAS:
        try:
            area = importlib.import_module(name)
        except ImportError:
            continue
        area.register(sub)
        ERRORS = ERRORS + tuple(e for e in area.ERRORS if e not in ERRORS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ERRORS as e:
        print('tanji: error: %s' % e, file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
