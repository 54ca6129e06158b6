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


def replace_file(path, text):
    """Write a whole small file so that a power cut leaves the old one or the new one, never
    a mix: a temporary file beside it, synced, renamed over it, the directory synced."""
    tmp = path + '.new'
    with open(tmp, 'wb') as f:
        f.write(text.encode('utf-8'))
        fsync(f)
    os.rename(tmp, path)
    fsync_dir(os.path.dirname(path) or '.')
