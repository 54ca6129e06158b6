"""Making writes durable: the one home of fsync for the gateway's files.  A write is
durable only once the file is synced, and a creation, rename or removal only once
its directory is.  Portable: MicroPython's unix port has os.fsync but no os.open
(its rename is still atomic)."""

import os


def fsync(f):
    """Flush and sync an open file."""
    f.flush()
    sync = getattr(os, 'fsync', None)
    if sync is not None:
        sync(f.fileno())


def fsync_dir(path):
    """Sync a directory, so creations, renames and removals in it survive a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (AttributeError, OSError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
