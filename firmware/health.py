"""The figures of the gateway's health that its status does not hold: load, memory,
disk and uptime, read from /proc and the file system (Linux)."""

from __future__ import annotations

import os
import shutil
import time

STARTED = time.monotonic()


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                name, _, rest = line.partition(':')
                out[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def _rss() -> int | None:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def figures(data_dir: str) -> dict:
    mem = _meminfo()
    try:
        disk = shutil.disk_usage(data_dir)
        disk_figures = {'disk_total': disk.total, 'disk_free': disk.free}
    except OSError:
        disk_figures = {'disk_total': None, 'disk_free': None}
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {'load_1min': load, 'cpus': os.cpu_count(), 'memory_total': mem.get('MemTotal'),
            'memory_available': mem.get('MemAvailable'), 'process_rss': _rss(),
            'uptime_s': time.monotonic() - STARTED, **disk_figures}
