"""A filesystem that loses what was not synced, as a real power cut does (after Jepsen's
LazyFS): the power-cut tests run the gateway and the server on it.

Every file and directory lives in memory twice.  The current view is what programs
see.  The durable view changes only when they sync: fsync/fdatasync of a file makes
its bytes durable; fsync of a directory makes its entries durable (creations,
renames and removals), each entry with whatever bytes its file has made durable.
Writing "cut" to the control file /.lazyfs (after the programs using the mount have
died) replaces the current view with the durable one: everything unsynced is gone.
Writes reach this process at once (no write-back cache), attributes are never cached,
and the kernel drops a file's cached pages when it is opened again, so a program
started after a cut sees only what survived.

    python tests/lazyfs.py MOUNTPOINT        (foreground; umount MOUNTPOINT to end)
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
import time

import mfusepy

CONTROL = '/.lazyfs'


class Node:
    __slots__ = ('ino', 'mode', 'data', 'children')

    def __init__(self, ino: int, mode: int) -> None:
        self.ino = ino
        self.mode = mode
        self.data = bytearray() if stat.S_ISREG(mode) else None
        self.children: dict[str, Node] | None = {} if stat.S_ISDIR(mode) else None


class LazyFS(mfusepy.Operations):
    use_ns = True

    def __init__(self) -> None:
        self._inos = itertools.count(2)
        self.root = Node(1, stat.S_IFDIR | 0o755)
        self.durable_data: dict[int, bytes] = {}                    # file ino -> synced bytes
        self.durable_dirs: dict[int, dict[str, tuple[int, int]]] = {1: {}}   # dir ino -> name -> (ino, mode)

    # -- the two views -----------------------------------------------------------

    def cut(self) -> None:
        """The power goes: only what was synced remains."""
        def build(ino: int, mode: int) -> Node:
            node = Node(ino, mode)
            if node.data is not None:
                node.data[:] = self.durable_data.get(ino, b'')
            else:
                for name, (child, child_mode) in self.durable_dirs.get(ino, {}).items():
                    node.children[name] = build(child, child_mode)
            return node
        self.root = build(1, self.root.mode)
        live: set[int] = set()

        def walk(node: Node) -> None:
            live.add(node.ino)
            for child in (node.children or {}).values():
                walk(child)
        walk(self.root)
        self.durable_data = {k: v for k, v in self.durable_data.items() if k in live}
        self.durable_dirs = {k: v for k, v in self.durable_dirs.items() if k in live}

    def _lookup(self, path: str) -> Node:
        node = self.root
        for part in path.strip('/').split('/'):
            if not part:
                continue
            if node.children is None or part not in node.children:
                raise mfusepy.FuseOSError(errno.ENOENT)
            node = node.children[part]
        return node

    def _parent(self, path: str) -> tuple[Node, str]:
        head, name = os.path.split(path.rstrip('/'))
        parent = self._lookup(head or '/')
        if parent.children is None:
            raise mfusepy.FuseOSError(errno.ENOTDIR)
        return parent, name

    # -- FUSE operations -----------------------------------------------------------

    def getattr(self, path: str, fh=None) -> dict:
        now = time.time_ns()
        if path == CONTROL:
            return {'st_mode': stat.S_IFREG | 0o666, 'st_nlink': 1, 'st_size': 0,
                    'st_atime': now, 'st_mtime': now, 'st_ctime': now}
        node = self._lookup(path)
        size = len(node.data) if node.data is not None else 0
        return {'st_mode': node.mode, 'st_nlink': 2 if node.children is not None else 1, 'st_size': size,
                'st_ino': node.ino, 'st_atime': now, 'st_mtime': now, 'st_ctime': now,
                'st_uid': os.getuid(), 'st_gid': os.getgid(), 'st_blksize': 4096, 'st_blocks': (size + 511) // 512}

    def readdir(self, path: str, fh: int):
        node = self._lookup(path)
        return ['.', '..', *node.children]

    def mkdir(self, path: str, mode: int) -> int:
        parent, name = self._parent(path)
        if name in parent.children:
            raise mfusepy.FuseOSError(errno.EEXIST)
        parent.children[name] = Node(next(self._inos), stat.S_IFDIR | mode)
        return 0

    def rmdir(self, path: str) -> int:
        parent, name = self._parent(path)
        node = self._lookup(path)
        if node.children:
            raise mfusepy.FuseOSError(errno.ENOTEMPTY)
        del parent.children[name]
        return 0

    def create(self, path: str, mode: int, fi=None) -> int:
        if path == CONTROL:
            return 0
        parent, name = self._parent(path)
        node = parent.children.get(name)
        if node is None:
            parent.children[name] = Node(next(self._inos), stat.S_IFREG | (mode & 0o7777))
        else:
            node.data.clear()
        return 0

    def open(self, path: str, flags: int) -> int:
        if path == CONTROL:
            return 0
        node = self._lookup(path)
        if flags & os.O_TRUNC and node.data is not None:
            node.data.clear()
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        if path == CONTROL:
            return b''
        return bytes(self._lookup(path).data[offset:offset + size])

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if path == CONTROL:
            if data.strip() == b'cut':
                self.cut()
            return len(data)
        buf = self._lookup(path).data
        if offset > len(buf):
            buf.extend(bytes(offset - len(buf)))
        buf[offset:offset + len(data)] = data
        return len(data)

    def truncate(self, path: str, length: int, fh=None) -> int:
        if path == CONTROL:
            return 0
        buf = self._lookup(path).data
        if length < len(buf):
            del buf[length:]
        else:
            buf.extend(bytes(length - len(buf)))
        return 0

    def unlink(self, path: str) -> int:
        parent, name = self._parent(path)
        if name not in parent.children:
            raise mfusepy.FuseOSError(errno.ENOENT)
        del parent.children[name]
        return 0

    def rename(self, old: str, new: str) -> int:
        src_parent, src_name = self._parent(old)
        node = self._lookup(old)
        dst_parent, dst_name = self._parent(new)
        del src_parent.children[src_name]
        dst_parent.children[dst_name] = node
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        if path != CONTROL:
            node = self._lookup(path)
            if node.data is not None:
                self.durable_data[node.ino] = bytes(node.data)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        node = self._lookup(path)
        self.durable_dirs[node.ino] = {name: (child.ino, child.mode) for name, child in node.children.items()}
        for child in node.children.values():
            if child.children is not None:
                self.durable_dirs.setdefault(child.ino, {})
        return 0

    def chmod(self, path: str, mode: int) -> int:
        node = self._lookup(path)
        node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
        return 0

    def utimens(self, path: str, times=None) -> int:
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        return 0

    def statfs(self, path: str) -> dict:
        return {'f_bsize': 4096, 'f_frsize': 4096, 'f_blocks': 1 << 20, 'f_bfree': 1 << 19, 'f_bavail': 1 << 19,
                'f_files': 1 << 16, 'f_ffree': 1 << 15, 'f_namemax': 255}


def main(mountpoint: str) -> None:
    mfusepy.FUSE(LazyFS(), mountpoint, foreground=True, nothreads=True, attr_timeout=0, entry_timeout=0,
                 negative_timeout=0)


if __name__ == '__main__':
    main(sys.argv[1])
