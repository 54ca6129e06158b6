"""A gateway with its local page, for the page tests: a platform, a gateway process with
synthetic meters and `[web]`, and a small HTTP client that keeps cookies and reads the
CSRF token from forms."""

from __future__ import annotations

import contextlib
import http.client
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

from gateway_process import GatewayProcess, ModbusRig, Platform, gateway_config
from server_process import REPO, free_port


class PageGateway:
    """With `meters`, three energy points read every second from a Modbus rig; with `sources`,
    the buses, meters and points of that TOML text; else synthetic readings."""

    def __init__(self, workdir: Path, meters: bool = False, manual: bool = False, sources: str | None = None,
                 extra: str = '') -> None:
        self.platform = Platform(workdir, 'GW-FAULT')
        self.port = free_port()
        self.rig = ModbusRig(workdir) if meters else None
        source = {'modbus_port': self.rig.port, 'points': 3} if self.rig else \
            {} if sources is not None else {'synthetic': 'points = 3\nrate_per_s = 5'}
        self.config = gateway_config(workdir, self.platform.key_path, self.platform.url, workdir / 'data',
                                     upload_every_s=3600, **source)
        self.config.write_text(self.config.read_text() + (sources or '') + '\n[web]\nlisten = "127.0.0.1:%d"\n'
                               % self.port + ('\n[manual]\nenabled = true\n' if manual else '') + extra)
        self.gateway = GatewayProcess(workdir, self.config)
        self.gateway.wait_log('local page on')
        self.url = 'http://127.0.0.1:%d' % self.port

    def passwd(self, name: str, password: str, role: str | None = None) -> subprocess.CompletedProcess:
        args = [sys.executable, '-m', 'shared.cli', 'gateway', 'passwd', '--config', str(self.config), '--name', name,
                '--password-stdin'] + (['--role', role] if role else [])
        return subprocess.run(args, input=password + '\n', capture_output=True, text=True, cwd=REPO, timeout=60)

    def stop(self) -> None:
        self.gateway.stop()
        self.platform.stop()
        if self.rig is not None:
            self.rig.stop()


class Browserless:
    """HTTP as a browser does it: cookies kept, redirects seen (not followed)."""

    def __init__(self, port: int, host: str = '127.0.0.1') -> None:
        self.port = port
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        send = dict(headers or {})
        if self.cookies:
            send['Cookie'] = '; '.join('%s=%s' % kv for kv in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            send['Content-Type'] = 'application/x-www-form-urlencoded'
        try:
            conn.request(method, path, body, send)
            r = conn.getresponse()
            text = r.read().decode('utf-8', 'replace')
            got = {k.lower(): v for k, v in r.getheaders()}
            for k, v in r.getheaders():
                if k.lower() == 'set-cookie':
                    name, _, rest = v.partition('=')
                    value = rest.split(';', 1)[0]
                    if value in ('', '""'):
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = value
                    got.setdefault('set-cookie-all', []).append(v)  # type: ignore[union-attr]
            return r.status, got, text
        finally:
            conn.close()

    def csrf(self, path: str = '/') -> str:
        status, _, text = self.request('GET', path)
        m = re.search(r'name="csrf" value="([^"]+)"', text)
        assert m, (status, text[:500])
        return m.group(1)


def signed_in(port: int, name: str, password: str, host: str = '127.0.0.1') -> Browserless:
    """A client with a session of this account."""
    client = Browserless(port, host)
    status, _, text = client.request('POST', '/signin', {'name': name, 'password': password})
    assert status == 303, (name, status, re.findall(r'class="error"[^>]*>([^<]*)', text))
    return client


def errors_of(html: str) -> dict[str, str]:
    """Each error on a page by the field it stands beside ('form' for the one above the form)."""
    out = {m.group(1): m.group(2) for m in re.finditer(r'<p class="error" id="e-([\w.-]+)">([^<]*)</p>', html)}
    for m in re.finditer(r'<p class="error" role="alert">([^<]*)</p>', html):
        out['form'] = m.group(1)
    return out


@contextlib.contextmanager
def running_page(workdir: Path, accounts: list[tuple], **options):
    """A PageGateway with these accounts ((name, password) or (name, password, role)), stopped
    whatever the test does."""
    page = PageGateway(workdir, **options)
    try:
        for account in accounts:
            made = page.passwd(*account)
            assert made.returncode == 0, made.stderr
        yield page
    finally:
        page.stop()
