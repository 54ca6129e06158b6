import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'tests' / 'portable'))


@pytest.fixture(scope='session')
def openssl() -> str:
    path = shutil.which('openssl')
    if path is None:
        pytest.fail('the openssl command is required (make test installs it through tools/sysdeps.sh)')
    return path


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, timeout=120, **kw)
