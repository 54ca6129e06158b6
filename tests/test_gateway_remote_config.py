"""Remote configuration behind NAT (issue 15, item 9; docs/protocol.md §12): an admin
stages a configuration at the platform, the gateway takes it with the answer to its
health report, verifies the platform's signature, checks it as the page would, applies
it and confirms it by reaching the platform again; one with a bad signature or that
fails the check is refused, and one that cuts the gateway off is reverted by itself.
Every step is in the audit logs of both sides."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from gateway_process import GatewayProcess, ModbusRig, Platform, energy_codes, gateway_config
from server_process import tanji
from shared.codec import sm2

CODES = energy_codes(3)


class Remote:
    """A platform with a configuration key, a gateway trusting `trusted` (its public key),
    reporting its health every second, and an admin token."""

    def __init__(self, workdir, revert_after_s: int = 20, trust_another_key: bool = False) -> None:
        self.workdir = workdir
        config_key = sm2.PrivateKey.generate()
        (workdir / 'config.key').write_text(config_key.to_pem())
        trusted = sm2.PrivateKey.generate().public_key if trust_another_key else config_key.public_key
        (workdir / 'platform-config.pub').write_text(trusted.to_pem())
        (workdir / 'server.toml').write_text('[server]\nconfig_key = "%s"\n' % (workdir / 'config.key'))
        self.rig = ModbusRig(workdir)
        self.platform = Platform(workdir, 'GW-FAULT', '--config', str(workdir / 'server.toml'))
        self.token = tanji('server', 'tokens', 'add', 'root', '--role', 'admin', '--db',
                           self.platform.server.db).stdout.strip()
        self.config = gateway_config(workdir, self.platform.key_path, self.platform.url, workdir / 'data',
                                     modbus_port=self.rig.port, points=2, upload_every_s=1)
        text = self.config.read_text().replace('[gateway]\n', '[gateway]\nhealth_every_s = 1\n', 1)
        self.config.write_text(text + '\n[remote]\nkey = "%s"\nrevert_after_s = %d\n'
                               % (workdir / 'platform-config.pub', revert_after_s))
        self.gateway = GatewayProcess(workdir, self.config)

    def stage(self, text: str, why: str) -> tuple[int, dict]:
        return self.platform.server.request('PUT', '/api/v1/gateways/GW-FAULT/config',
                                            json.dumps({'toml': text, 'why': why}).encode(), 'application/json',
                                            token=self.token)

    def outcome(self, number: int, states: tuple, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            _, doc = self.platform.server.request('GET', '/api/v1/gateways/GW-FAULT/config', token=self.token)
            row = next((c for c in doc['configurations'] if c['number'] == number), None)
            if row is not None and row['state'] in states:
                return row
            assert time.monotonic() < deadline, (number, states, doc, self.gateway.log()[-3000:])
            time.sleep(0.5)

    def platform_audit(self) -> list[str]:
        _, doc = self.platform.server.request('GET', '/api/v1/audit', token=self.token)
        return [e['action'] for e in doc['audit']]

    def gateway_audit(self) -> list[dict]:
        conn = sqlite3.connect(self.gateway.data_dir / 'web' / 'accounts.db')
        try:
            return [{'who': w, 'action': a, 'detail': json.loads(d)} for w, a, d in
                    conn.execute('SELECT who, action, detail FROM audit ORDER BY id')]
        finally:
            conn.close()

    def stop(self) -> None:
        if self.gateway.proc.poll() is None:
            self.gateway.stop()
        self.platform.stop()
        self.rig.stop()


@pytest.fixture
def remote(tmp_path):
    r = Remote(tmp_path)
    try:
        yield r
    finally:
        r.stop()


def _points(status: dict) -> set[str]:
    return {key for s in status['sources'] for key in s.get('points', {})}


def test_a_staged_configuration_is_verified_applied_and_confirmed(remote):
    text = remote.config.read_text() + '''
[[point]]
meter = "m1"
code = "%s"
unit = "kWh"
every = 1
register = { address = 0, type = "u32", scale = "0.01" }
''' % CODES[2]
    status, staged = remote.stage(text, 'a third feeder')
    assert status == 201 and staged == {'gateway': 'GW-FAULT', 'number': 1, 'state': 'staged'}
    row = remote.outcome(1, ('applied',))
    assert row['version'] == 2 and row['staged_by'] == 'token:root' and row['why'] == 'a third feeder'
    s = remote.gateway.wait_status(lambda s: 'm1/' + CODES[2] in _points(s))
    assert s['config'] == {'version': 2, 'pending': None}
    version = json.loads((remote.gateway.data_dir / 'config' / '000002.json').read_text())
    assert version['origin'] == 'platform' and version['who'] == 'platform:token:root'
    assert version['why'] == 'platform configuration #1: a third feeder'
    assert remote.config.read_text() == text
    actions = remote.platform_audit()
    for step in ('gateway.config.stage', 'gateway.config.offered', 'gateway.config.on_probation',
                 'gateway.config.applied'):
        assert step in actions, actions
    assert [e['action'] for e in remote.gateway_audit()] == ['config.remote.on_probation', 'config.remote.applied']
    # the staged text must be the gateway's own
    status, doc = remote.stage(text.replace('id = "GW-FAULT"', 'id = "GW-OTHER"'), 'wrong gateway')
    assert status == 400 and 'gateway.id' in doc['detail']


def test_a_configuration_that_fails_the_gateways_check_is_refused_and_said(remote):
    text = remote.config.read_text().replace('[[centre]]', '[[centres]]')
    assert remote.stage(text, 'a typo')[0] == 201
    row = remote.outcome(1, ('refused',))
    assert 'unknown section(s): centres' in row['reason']
    assert remote.gateway.wait_status(lambda s: s['config'] is not None)['config'] == {'version': 1, 'pending': None}
    assert 'gateway.config.refused' in remote.platform_audit()
    refused = remote.gateway_audit()[-1]
    assert refused['action'] == 'config.remote.refused' and 'centres' in refused['detail']['reason']
    # one that would make the gateway sign as another: refused by the gateway's own rule too
    text = remote.config.read_text().replace('data_dir = "', 'data_dir = "/tmp/elsewhere-', 1)
    assert remote.stage(text, 'move the log')[0] == 201
    assert 'gateway.data_dir: is changed only in the file' in remote.outcome(2, ('refused',))['reason']


def test_a_configuration_with_a_bad_signature_is_refused(tmp_path):
    remote = Remote(tmp_path, trust_another_key=True)
    try:
        text = remote.config.read_text().replace('every_s = 1\n', 'every_s = 2\n', 1)
        assert remote.stage(text, 'signed by a key the gateway does not trust')[0] == 201
        row = remote.outcome(1, ('refused',))
        assert "does not verify with the platform's configuration key" in row['reason']
        assert remote.config.read_text() != text
        assert remote.gateway.wait_status(lambda s: s['config'] is not None)['config']['version'] == 1
        assert 'ALARM remote configuration #1 refused' in remote.gateway.log()
    finally:
        remote.stop()


def test_a_configuration_that_cuts_the_gateway_off_is_reverted_by_itself(tmp_path):
    remote = Remote(tmp_path, revert_after_s=10)
    try:
        dead = 'http://127.0.0.1:9/api/v1/frames'                 # nobody listens on the discard port
        original = remote.config.read_text()
        assert remote.stage(original.replace(remote.platform.url, dead), 'move to the new platform')[0] == 201
        # applied (a centre changed: the gateway restarts for it), then nothing reaches the platform...
        remote.gateway.wait_log('remote configuration #1 applied as version 2')
        remote.gateway.wait_log('reverted to version 1 as version 3', timeout_s=60)
        row = remote.outcome(1, ('reverted',), timeout_s=60)
        assert 'no health report reached the platform within 10 s' in row['reason'] and row['version'] == 3
        assert remote.config.read_text() == original
        s = remote.gateway.wait_status(lambda s: s['config'] == {'version': 3, 'pending': None})
        assert s['centres'][0]['centre'] == 'platform'
        durable = remote.gateway.wait_status(lambda s: s['durable_seq'] > 5)['durable_seq']
        remote.platform.wait_ack(durable, timeout_s=60)            # delivering to the platform again
        versions = [json.loads((remote.gateway.data_dir / 'config' / ('%06d.json' % n)).read_text())['origin']
                    for n in (1, 2, 3)]
        assert versions == ['file', 'platform', 'revert']
        assert 'gateway.config.reverted' in remote.platform_audit()
    finally:
        remote.stop()


def test_staging_needs_an_admin_and_a_platform_that_can_sign(tmp_path):
    platform = Platform(tmp_path, 'GW-FAULT')                       # no config_key
    try:
        server = platform.server
        admin = tanji('server', 'tokens', 'add', 'root', '--role', 'admin', '--db', server.db).stdout.strip()
        ops = tanji('server', 'tokens', 'add', 'ops', '--role', 'operator', '--db', server.db).stdout.strip()
        body = json.dumps({'toml': '[gateway]\nid = "GW-FAULT"\n', 'why': 'x'}).encode()
        status, doc = server.request('PUT', '/api/v1/gateways/GW-FAULT/config', body, 'application/json', token=ops)
        assert status == 403
        status, doc = server.request('PUT', '/api/v1/gateways/GW-FAULT/config', body, 'application/json', token=admin)
        assert status == 409 and doc['error'] == 'remote_config_off' and 'config_key' in doc['detail']
        status, doc = server.request('PUT', '/api/v1/gateways/GW-NONE/config', body, 'application/json', token=admin)
        assert status == 409                                          # nothing staged anywhere without the key
    finally:
        platform.stop()
