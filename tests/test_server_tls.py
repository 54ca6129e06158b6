"""TLS by default outside loopback (issue 14, item 9; seed 001 §7.4): the centre serves
HTTPS with a certificate it makes itself, a gateway trusts it only by its pin or a CA
file, and http:// to a host that is not loopback is refused unless asked for."""

from __future__ import annotations

import os
import re
import stat

import pytest

from firmware.config import load as load_gateway_config
from firmware.settings import GatewayConfigError
from gateway_process import GatewayProcess, Platform, gateway_config
from server.app import ssl_context
from server.config import ConfigError, ServerConfig, load as load_server_config

TIMEOUT_S = 120


def _tls_platform(tmp_path) -> tuple[Platform, str]:
    (tmp_path / 'server.toml').write_text('[server]\ntls = "on"\ntls_dir = "%s"\n' % (tmp_path / 'tls'))
    platform = Platform(tmp_path, 'GW-FAULT', '--config', str(tmp_path / 'server.toml'), tls=True)
    pin = re.search(r'pin_sha256 = "([0-9a-f]{64})"', (tmp_path / 'server.log').read_text()).group(1)
    return platform, pin


def test_a_gateway_delivers_to_a_centre_it_knows_by_its_pin_and_to_no_other(tmp_path):
    platform, pin = _tls_platform(tmp_path)
    key_file = tmp_path / 'tls' / 'server.key'
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    try:
        good = tmp_path / 'good'
        good.mkdir()
        config = gateway_config(good, platform.key_path, platform.url, good / 'data',
                                synthetic='points = 2\nrate_per_s = 20', centre_extra='pin_sha256 = "%s"' % pin)
        gateway = GatewayProcess(good, config)
        try:
            assert platform.wait_ack(50, TIMEOUT_S)['ack'] >= 50
        finally:
            gateway.stop()

        wrong = tmp_path / 'wrong'
        wrong.mkdir()
        stored = len(platform.records())
        config = gateway_config(wrong, platform.key_path, platform.url, wrong / 'data',
                                synthetic='points = 2\nrate_per_s = 20', centre_extra='pin_sha256 = "%s"' % ('ab' * 32))
        gateway = GatewayProcess(wrong, config)
        try:
            gateway.wait_log('does not match pin_sha256', TIMEOUT_S)
        finally:
            gateway.stop()
        assert len(platform.records()) == stored

        by_ca = tmp_path / 'by_ca'
        by_ca.mkdir()
        config = gateway_config(by_ca, platform.key_path, platform.url, by_ca / 'data',
                                synthetic='points = 2\nrate_per_s = 20',
                                centre_extra='ca_file = "%s"' % (tmp_path / 'tls' / 'server.crt'))
        gateway = GatewayProcess(by_ca, config)
        try:
            seen = platform.gateway_row()['ack']
            assert platform.wait_ack(seen + 50, TIMEOUT_S)['ack'] >= seen + 50
        finally:
            gateway.stop()
    finally:
        platform.stop()


def test_tls_is_the_default_outside_loopback(tmp_path):
    """The decision alone (binding a public address has no place in a test)."""
    outside = ServerConfig(host='0.0.0.0', tls_dir=str(tmp_path / 'tls')).validate()
    ctx, fingerprint = ssl_context(outside)
    assert ctx is not None and len(fingerprint) == 64
    assert (tmp_path / 'tls' / 'server.crt').exists()
    assert ssl_context(ServerConfig(host='127.0.0.1').validate()) == (None, '')
    assert ssl_context(ServerConfig(host='0.0.0.0', tls='off').validate()) == (None, '')
    again = ssl_context(ServerConfig(host='10.0.0.5', tls_dir=str(tmp_path / 'tls')).validate())
    assert again[1] == fingerprint                               # made once, then kept
    with pytest.raises(ConfigError, match='tls must be'):
        ServerConfig(tls='yes').validate()


def test_plain_http_to_a_host_that_is_not_loopback_must_be_asked_for(tmp_path):
    base = ('[gateway]\nid = "g"\nkey = "k"\ndata_dir = "%s"\n[[centre]]\nname = "p"\nurl = "%s"\n%s'
            '\n[source]\nkind = "synthetic"\n')
    path = tmp_path / 'gw.toml'
    path.write_text(base % (tmp_path, 'http://192.0.2.7/api/v1/frames', ''))
    with pytest.raises(GatewayConfigError, match='in the clear to 192.0.2.7.*plain_http'):
        load_gateway_config(path)
    path.write_text(base % (tmp_path, 'http://192.0.2.7/api/v1/frames', 'plain_http = true'))
    assert load_gateway_config(path).centres[0].plain_http is True
    path.write_text(base % (tmp_path, 'https://192.0.2.7/api/v1/frames', 'pin_sha256 = "12:34"'))
    with pytest.raises(GatewayConfigError, match='64 hex digits'):
        load_gateway_config(path)
    server_toml = tmp_path / 'server.toml'
    server_toml.write_text('[[downstream]]\nname = "prov"\nurl = "http://192.0.2.8/api/v1/frames"\n')
    with pytest.raises(ConfigError, match='downstream prov.url: http:// would send readings in the clear'):
        load_server_config(server_toml)
