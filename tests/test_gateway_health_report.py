"""Remote maintenance behind NAT, first half (issue 15, item 9): the gateway reports its
health to the platform on a schedule, signed with its key; the platform keeps the latest
and shows the fleet.  A forged, stale or replayed report is refused and nothing kept."""

from __future__ import annotations

import json
import time

from firmware import report
from gateway_process import GatewayProcess, Platform, gateway_config
from server_process import tanji
from shared.codec import sm2


def _report(platform: Platform, gateway: str, token: str) -> tuple[int, dict]:
    return platform.server.request('GET', '/api/v1/gateways/%s/health' % gateway, token=token)


def test_the_platform_sees_each_gateways_signed_health(tmp_path):
    platform = Platform(tmp_path, 'GW-FAULT')
    token = tanji('server', 'tokens', 'add', 'ops', '--role', 'operator', '--db', platform.server.db).stdout.strip()
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data',
                                synthetic='points = 2\nrate_per_s = 5')
        config.write_text(config.read_text().replace('[gateway]\n', '[gateway]\nhealth_every_s = 1\n'))
        gw = GatewayProcess(tmp_path, config)
        try:
            deadline = time.monotonic() + 60
            while True:
                status, doc = _report(platform, 'GW-FAULT', token)
                if doc.get('report') and doc['report']['durable_seq'] >= 10:
                    break
                assert time.monotonic() < deadline, doc
                time.sleep(0.5)
        finally:
            gw.stop()
        r = doc['report']
        assert r['gateway'] == 'GW-FAULT' and r['version'] and r['health']['disk_free'] > 0
        assert [c['centre'] for c in r['centres']] == ['platform'] and r['alarms'] == []
        assert doc['age_s'] < 60 and doc['enterprise'] == 'e'
        status, fleet = platform.server.request('GET', '/api/v1/fleet', token=token)
        assert status == 200 and fleet['gateways'][0]['gateway'] == 'GW-FAULT'
        assert fleet['gateways'][0]['version'] == r['version'] and fleet['gateways'][0]['alarms'] == 0

        key = sm2.PrivateKey.load(platform.key_path.read_bytes())
        url = '/api/v1/gateways/GW-FAULT/health'

        def post(body: bytes, signature: str) -> tuple[int, dict]:
            import urllib.request
            req = urllib.request.Request(platform.server.url + url, data=body, method='POST', headers={
                'Content-Type': 'application/json', 'X-Tanji-Signature': signature})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        fresh = dict(r, t=int(time.time() * 1000), alarms=['forged'])
        body, _ = report.signed(fresh, key.sign)
        _, forged_sig = report.signed(fresh, sm2.PrivateKey.generate().sign)
        assert post(body, forged_sig)[0] == 401                               # not the gateway's key
        assert post(body, 'zz')[1]['error'] == 'bad_query'
        stale, stale_sig = report.signed(dict(r, t=int(time.time() * 1000) - 3_600_000), key.sign)
        assert post(stale, stale_sig)[1]['error'] == 'time_range'             # an hour old
        replay, replay_sig = report.signed(r, key.sign)
        assert post(replay, replay_sig)[0] == 422                              # no newer than the kept one
        other, other_sig = report.signed(dict(fresh, gateway='GW-OTHER'), key.sign)
        assert post(other, other_sig)[0] == 400                                # another gateway's name inside
        assert _report(platform, 'GW-FAULT', token)[1]['report']['alarms'] == []
        status, doc = post(body, report.signed(fresh, key.sign)[1])
        assert status == 200 and _report(platform, 'GW-FAULT', token)[1]['report']['alarms'] == ['forged']
    finally:
        platform.stop()
    assert 'Traceback' not in (tmp_path / 'server.log').read_text()


def test_the_health_url_sits_beside_the_frames_url():
    assert report.health_url('https://p.example/api/v1/frames', 'G1') == 'https://p.example/api/v1/gateways/G1/health'
    assert report.health_url('https://p.example/api/v1/frames/', 'G1').endswith('/api/v1/gateways/G1/health')
