"""Real processes for the gateway's fault tests: `tanji gateway run`, a Modbus TCP rig
(`tanji rig up`), and a platform (`tanji server run`) with the gateway enrolled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from server_harness import new_gateways
from server_process import REPO, ServerProcess, free_port, tanji
from shared.codec import codes

ENERGY_UNIT = 'kWh'


def energy_codes(n: int) -> list[str]:
    """n distinct electricity data-item codes (seed 001 §7.2)."""
    tables = codes.tables()
    return [tables.encode('08', '04', '201', '01', p + 1) for p in range(n)]


class Platform:
    """A `tanji server run` with one gateway enrolled; the gateway's key is written to workdir."""

    def __init__(self, workdir: Path, gateway_id: str, *extra: str, tls: bool = False) -> None:
        self.workdir = workdir
        self.gateway_id = gateway_id
        gw = new_gateways([gateway_id])[gateway_id]
        self.key_path = workdir / 'gw.key'
        self.key_path.write_text(gw.key.to_pem())
        (workdir / 'gw.pub').write_text(gw.key.public_key.to_pem())
        self.server = ServerProcess(workdir, *extra, tls=tls)
        tanji('server', 'gateways', 'add', gateway_id, '--key', '@%s' % (workdir / 'gw.pub'),
              '--enterprise', 'e', '--site', 's', '--db', self.server.db)
        self.url = self.server.url + '/api/v1/frames'

    def gateway_row(self) -> dict:
        return json.loads(tanji('server', 'gateways', 'list', '--json', '--db', self.server.db).stdout)[0]

    def wait_ack(self, seq: int, timeout_s: float = 120) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            row = self.gateway_row()
            if row['ack'] >= seq or time.monotonic() > deadline:
                return row
            time.sleep(0.3)

    def records(self) -> list[tuple]:
        import sqlite3
        conn = sqlite3.connect(self.server.db)
        try:
            return conn.execute('SELECT seq, code, ts_ms, mantissa, exp, flags FROM records ORDER BY seq').fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.stop()


class ModbusRig:
    """`tanji rig up` serving one Modbus TCP device on a loopback port; its register 0 is
    an energy register (kWh, 2 decimals) growing at `rate` kWh per hour."""

    def __init__(self, workdir: Path, rate: float = 3600.0) -> None:
        self.port = free_port()
        rig = workdir / 'rig.toml'
        rig.write_text('''[rig]
name = "faults"
dir = "%s"

[[tcp]]
name = "meters"
protocol = "modbus-tcp"
port = %d

  [[tcp.device]]
  unit_id = 1
  profile = { rate = %r, start = 1000.0, decimals = 2 }
  registers = [{ address = 0, kind = "u32", what = "energy" }]
''' % (workdir / 'rig', self.port, rate))
        self.log = open(workdir / 'rig.log', 'w')
        self.proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'rig', 'up', str(rig)], cwd=REPO,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, workdir / 'rig.log')

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    import socket
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError('rig did not start: %s' % log.read_text())
            time.sleep(0.1)


def gateway_config(workdir: Path, key: Path, url: str, data_dir: Path, *, modbus_port: int | None = None,
                   points: int = 0, every_s: int = 1, upload_every_s: int = 1, synthetic: str | None = None,
                   commit_interval_ms: int = 200, ring_mb: int = 8, centre_extra: str = '') -> Path:
    """A gateway TOML: the platform as its centre, and optionally `points` energy points read
    every `every_s` from the Modbus rig, or a synthetic source ('points = .., rate_per_s = ..')."""
    text = '''[gateway]
id = "GW-FAULT"
key = "%s"
data_dir = "%s"
ring_mb = %d
segment_mb = 1
commit_interval_ms = %d

[[centre]]
name = "platform"
url = "%s"
every_s = %d
%s
''' % (key, data_dir, ring_mb, commit_interval_ms, url, upload_every_s, centre_extra)
    if modbus_port is not None:
        text += '''
[[bus]]
name = "meters"
protocol = "modbus-tcp"
host = "127.0.0.1"
tcp_port = %d
timeout_ms = 1000

[[meter]]
name = "m1"
bus = "meters"
unit_id = 1
''' % modbus_port
        for code in energy_codes(points):
            text += '''
[[point]]
meter = "m1"
code = "%s"
unit = "%s"
every = %d
register = { address = 0, type = "u32", scale = "0.01" }
''' % (code, ENERGY_UNIT, every_s)
    if synthetic is not None:
        text += '\n[source]\nkind = "synthetic"\n%s\n' % synthetic
    path = workdir / 'gw.toml'
    path.write_text(text)
    return path


class GatewayProcess:
    """`tanji gateway run`; its log (stderr) goes to workdir/gateway.log, appended across runs."""

    def __init__(self, workdir: Path, config: Path, *extra: str, env: dict | None = None) -> None:
        self.workdir = workdir
        self.data_dir = Path(_data_dir(config))
        self.log_path = workdir / 'gateway.log'
        self._log = open(self.log_path, 'a')
        self.proc = subprocess.Popen([sys.executable, '-m', 'shared.cli', 'gateway', 'run', '--config', str(config),
                                      *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     env=dict(env or os.environ, PYTHONUNBUFFERED='1'))
        self.first_line = self.proc.stdout.readline()

    @property
    def started_durable(self) -> int:
        """The durable sequence number the gateway reported at start-up."""
        return int(self.first_line.split('durable up to ')[1].split(',')[0])

    def log(self) -> str:
        return self.log_path.read_text()

    def status(self) -> dict | None:
        try:
            return json.loads((self.data_dir / 'status.json').read_text())
        except (OSError, ValueError):
            return None

    def wait_status(self, predicate, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            s = self.status()
            if s is not None and predicate(s):
                return s
            time.sleep(0.2)
        raise AssertionError('gateway status never became as expected; last: %r\nlog:\n%s'
                             % (self.status(), self.log()[-3000:]))

    def wait_log(self, text: str, timeout_s: float = 60, count: int = 1) -> None:
        """Wait until text appears count times in the log."""
        deadline = time.monotonic() + timeout_s
        while self.log().count(text) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError('%r never appeared in the gateway log:\n%s' % (text, self.log()[-3000:]))
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> float:
        """Send sig and wait for the exit; returns the seconds it took."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self._log.close()
        return time.monotonic() - start


def _data_dir(config: Path) -> str:
    import tomllib
    return tomllib.loads(config.read_text())['gateway']['data_dir']




class SmallFilesystem:
    """A tmpfs of `size_kb` mounted at path for one test (the machine's disks are not touched)."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dk' % size_kb, 'tanji-test', str(path)],
                           capture_output=True, text=True)
        if r.returncode:
            import pytest
            pytest.skip('cannot mount a small tmpfs here (%s); the disk-full test needs root or CAP_SYS_ADMIN'
                        % r.stderr.strip())

    def fill(self) -> Path:
        """Fill the filesystem to the last byte with one file; returns it."""
        filler = self.path / 'filler'
        chunk = bytes(1 << 16)
        with open(filler, 'wb', buffering=0) as f:
            while True:
                try:
                    f.write(chunk)
                except OSError:
                    break
            for size in (4096, 512, 1):
                while True:
                    try:
                        f.write(bytes(size))
                    except OSError:
                        break
        return filler

    def unmount(self) -> None:
        subprocess.run(['umount', '-l', str(self.path)], check=False)
