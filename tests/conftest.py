import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'tests' / 'portable'))
sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(scope='session')
def openssl() -> str:
    path = shutil.which('openssl')
    if path is None:
        pytest.fail('the openssl command is required (make test installs it through tools/sysdeps.sh)')
    return path


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, timeout=120, **kw)


@pytest.fixture(scope='session')
def pg_cluster():
    """A PostgreSQL cluster for the session, or None where no server binaries exist."""
    from pg_cluster import Cluster, find_bin_dir
    bin_dir = find_bin_dir()
    if bin_dir is None:
        yield None
        return
    cluster = Cluster(bin_dir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=['sqlite', 'postgresql'])
def db_url(request, tmp_path) -> str:
    """Every server test runs on SQLite and on PostgreSQL."""
    if request.param == 'sqlite':
        return str(tmp_path / 'tanji.db')
    cluster = request.getfixturevalue('pg_cluster')
    if cluster is None:
        pytest.skip('no PostgreSQL server binaries (initdb) found; install Debian\'s postgresql package')
    return cluster.new_database()


@pytest.fixture
async def harness(db_url):
    import server_harness
    h = await server_harness.start(db_url)
    yield h
    await h.close()


@pytest.fixture
def mosquitto(tmp_path):
    """A real Debian mosquitto on a loopback port, started for the test."""
    from hardware.mosquitto import Mosquitto, binary
    from tests.server_process import free_port
    if binary() is None:
        pytest.skip('mosquitto is not installed (make sysdeps installs the Debian package)')
    broker = Mosquitto(str(tmp_path / 'mosquitto'), free_port())
    broker.start()
    yield broker
    broker.stop()
