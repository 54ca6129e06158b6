"""`tanji server run` as a separate process on a free loopback port, set up with the CLI."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tanji(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, '-m', 'shared.cli', *args], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
    if check and r.returncode:
        raise AssertionError('tanji %s failed: %s' % (' '.join(args), r.stderr))
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, workdir: Path, *extra: str, port: int | None = None, db: str | None = None,
                 tls: bool = False) -> None:
        self.db = db or str(workdir / 'tanji.db')
        self.port = port or free_port()
        self.url = '%s://127.0.0.1:%d' % ('https' if tls else 'http', self.port)
        # the tests' own client takes whatever certificate answers; the gateway's trust is what tests check
        self.ssl = ssl._create_unverified_context() if tls else None
        self.log = open(workdir / 'server.log', 'a')
        self.proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'server', 'run', '--db', self.db,
                                      '--port', str(self.port), *extra], cwd=REPO, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED='1'))
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + '/api/v1/health', timeout=1, context=self.ssl):
                    break
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError('server did not start: %s' % (workdir / 'server.log').read_text())
                time.sleep(0.1)

    def request(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None,
                token: str | None = None) -> tuple[int, dict]:
        headers = {}
        if content_type:
            headers['Content-Type'] = content_type
        if token:
            headers['Authorization'] = 'Bearer ' + token
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def enrol(self, gateway: str, public_key_pem: str, enterprise: str = 'e', site: str = 's') -> None:
        """Enrol a gateway with the command line, as an operator does."""
        pub = Path(self.db).with_name('%s.pub' % gateway)
        pub.write_text(public_key_pem)
        tanji('server', 'gateways', 'add', gateway, '--key', '@%s' % pub, '--enterprise', enterprise, '--site', site,
              '--db', self.db)

    def post_frame(self, raw: bytes) -> tuple[int, dict]:
        return self.request('POST', '/api/v1/frames', raw, 'application/x-msgpack')

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
