"""The gateway's log lines kept beside its data for the local page (seed 001 §11.12):
written to DATA_DIR/logs/gateway.log (rotated at 2 MB, five files kept) as well as to
stderr, and read back filtered by kind, level and text.  Kinds come from the logger
and the line: acquisition (buses, meters, MQTT, OPC UA, HJ 212, manual entries),
upload (data centres), storage (the log, the disk, the clock), configuration (versions
applied, reverted, waiting for a restart), accounting (the scenario and the factor and
method libraries the live emissions use), page (the local page)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys

FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5
KINDS = ('acquisition', 'upload', 'storage', 'configuration', 'accounting', 'page')
LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
LINE = re.compile(r'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ ([A-Z]+) ([\w.]+): (.*)')
ACQUISITION = ('tanji.bus', 'tanji.hj212', 'tanji.mqtt', 'tanji.opcua', 'tanji.sources', 'tanji.manual')


def path_of(data_dir: str) -> str:
    return os.path.join(data_dir, 'logs', 'gateway.log')


class _FileHandler(logging.handlers.RotatingFileHandler):
    """A line that cannot be written (a full disk) is skipped; the first failure is one line
    on stderr, not a traceback per line, and so is the recovery.  stderr keeps every line."""

    failed = False
    _this_failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._this_failed = True
        if not self.failed:
            self.failed = True
            sys.stderr.write('ALARM the page\'s copy of the log (%s) cannot be written; lines go to stderr only '
                             'until it can\n' % self.baseFilename)

    def emit(self, record: logging.LogRecord) -> None:
        self._this_failed = False
        super().emit(record)
        if self.failed and not self._this_failed:
            self.failed = False
            sys.stderr.write('the page\'s copy of the log (%s) is written again\n' % self.baseFilename)


def install(data_dir: str) -> str:
    """Also write the process's log lines to DATA_DIR/logs/gateway.log."""
    path = path_of(data_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handler = _FileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding='utf-8', delay=True)
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.getLogger().addHandler(handler)
    return path


def kind_of(logger: str, message: str) -> str:
    if logger.startswith(ACQUISITION):
        return 'acquisition'
    if logger.startswith('tanji.web'):
        return 'page'
    if logger.startswith('tanji.config'):
        return 'configuration'
    if logger.startswith('tanji.accounting'):
        return 'accounting'
    if 'centre' in message or 'upload' in message:
        return 'upload'
    return 'storage'


def read(data_dir: str, kind: str = '', level: str = '', text: str = '', limit: int = 500) -> list[dict]:
    """The newest `limit` lines that match, newest first.  A line of a multi-line message
    (a traceback) belongs to the line above it."""
    path = path_of(data_dir)
    files = [path + '.%d' % i for i in range(BACKUPS, 0, -1)] + [path]
    entries: list[dict] = []
    floor = LEVELS.index(level) if level in LEVELS else 0
    for name in files:
        try:
            with open(name, encoding='utf-8', errors='replace') as f:
                for line in f:
                    m = LINE.match(line)
                    if m is None:
                        if entries:
                            entries[-1]['message'] += '\n' + line.rstrip('\n')
                        continue
                    at, lvl, logger, message = m.groups()
                    entries.append({'at': at, 'level': lvl, 'logger': logger, 'message': message,
                                    'kind': kind_of(logger, message)})
        except OSError:
            continue
    needle = text.lower()
    out = [e for e in entries if (not kind or e['kind'] == kind)
           and (e['level'] not in LEVELS or LEVELS.index(e['level']) >= floor)
           and (not needle or needle in e['message'].lower())]
    return out[::-1][:limit]
