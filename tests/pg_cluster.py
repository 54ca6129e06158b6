"""A throw-away PostgreSQL cluster for the tests, started from the local server
binaries (Debian's postgresql package; `make test` installs it).  It listens on
a Unix socket only.  PostgreSQL refuses to run as root, so under root the
cluster runs as the `postgres` (or `nobody`) user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def find_bin_dir() -> Path | None:
    candidates = [os.environ.get('TANJI_PG_BIN', '')] + sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True)
    for d in candidates:
        if d and (Path(d) / 'initdb').exists() and (Path(d) / 'pg_ctl').exists():
            return Path(d)
    initdb = shutil.which('initdb')
    return Path(os.path.realpath(initdb)).parent if initdb else None


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix='tanji-pg-'))
        self.data = self.dir / 'data'
        self.socket_dir = self.dir
        self.port = 5432
        self.user = None
        if os.geteuid() == 0:
            for name in ('postgres', 'nobody'):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._dbs = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ['runuser', '-u', self.user.pw_name, '--', *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(self.dir))

    def start(self) -> None:
        r = self._run('initdb', '-D', str(self.data), '-U', 'tanji', '--auth=trust', '-E', 'UTF8', '--no-sync')
        if r.returncode:
            raise RuntimeError('initdb failed: %s' % (r.stderr or r.stdout))
        opts = "-k %s -c listen_addresses='' -p %d -F -c max_connections=200" % (self.socket_dir, self.port)
        r = self._run('pg_ctl', '-D', str(self.data), '-o', opts, '-l', str(self.dir / 'log'), '-w', 'start')
        if r.returncode:
            raise RuntimeError('postgres did not start: %s %s' % (r.stderr, (self.dir / 'log').read_text()))

    def url(self, dbname: str = 'postgres') -> str:
        return 'postgresql:///%s?host=%s&port=%d&user=tanji' % (dbname, self.socket_dir, self.port)

    def new_database(self) -> str:
        import psycopg
        self._dbs += 1
        name = 'tanji_test_%d' % self._dbs
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE %s' % name)
        return self.url(name)

    def stop(self) -> None:
        self._run('pg_ctl', '-D', str(self.data), '-m', 'immediate', '-w', 'stop')
        shutil.rmtree(self.dir, ignore_errors=True)
