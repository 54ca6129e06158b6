"""Starts Debian's mosquitto on loopback for rigs and tests (no systemd needed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

CANDIDATES = ('/usr/sbin/mosquitto', '/usr/bin/mosquitto')


def binary() -> str | None:
    found = shutil.which('mosquitto')
    if found:
        return found
    return next((c for c in CANDIDATES if os.path.exists(c)), None)


class Mosquitto:
    def __init__(self, workdir: str, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        exe = binary()
        if exe is None:
            raise RuntimeError('mosquitto not found: install the Debian package mosquitto (make sysdeps does)')
        os.makedirs(self.workdir, exist_ok=True)
        conf = os.path.join(self.workdir, 'mosquitto.conf')
        with open(conf, 'w') as f:
            f.write('listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n'
                    'log_type error\nlog_type warning\n' % self.port)
        self.proc = subprocess.Popen([exe, '-c', conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.workdir, 'mosquitto.log'), 'w'))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError('mosquitto exited: see %s/mosquitto.log' % self.workdir)
                time.sleep(0.05)
        raise RuntimeError('mosquitto did not listen on 127.0.0.1:%d' % self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
