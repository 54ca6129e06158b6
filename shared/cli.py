"""The `tanji` command. Each area registers its own subcommands."""

import argparse
import sys

from shared.codec import cli as codec_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='tanji', description='Tanji carbon metering: gateway, server and test rigs')
    sub = parser.add_subparsers(dest='command', required=True)
    codec_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except codec_cli.ERRORS as e:
        print('tanji: error: %s' % e, file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
