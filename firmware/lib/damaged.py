"""Damaged bytes kept for inspection (docs/gateway.md "Faults"): a damaged file is
never deleted; what recovery replaced is copied to `damaged/` under the data
directory first, bounded so damage cannot fill the disk.  Portable."""

import os

from firmware.lib.durable import fsync, fsync_dir

DIRECTORY = 'damaged'
KEEP_MAX = 16


def keep(data_dir, name, data):
    """Copy data to data_dir/damaged/name.N; returns where it went, or why it did not."""
    where = '%s/%s' % (data_dir, DIRECTORY)
    try:
        os.mkdir(where)
        fsync_dir(data_dir)
    except OSError:
        pass
    try:
        names = os.listdir(where)
    except OSError as e:
        return 'not kept: %s' % e
    if len(names) >= KEEP_MAX:
        return 'not kept: %s already holds %d files; inspect and remove them' % (where, len(names))
    n = 1
    while ('%s.%d' % (name, n)) in names:
        n += 1
    target = '%s/%s.%d' % (where, name, n)
    try:
        f = open(target, 'wb')
        try:
            f.write(data)
            fsync(f)
        finally:
            f.close()
        fsync_dir(where)
    except OSError as e:
        return 'not kept: %s' % e
    return 'kept as %s' % target
