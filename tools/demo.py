"""`make demo`: Tanji end to end on its embedded defaults (SQLite, simulated meters).

A gateway with 20 synthetic energy meters read every minute runs for one
simulated hour (on a clock 600 times faster than real time).  It logs every
reading durably and delivers signed frames on its own to three data centres
(seed 001 §7.3): the platform, a provincial centre and a city centre that is
down for the first half hour and catches up when it comes back.  The platform
forwards every signed frame to a national archive.  Then a forged frame is
refused, an operator queries readings and proves one against the fingerprint
registry.  Then the desk rig (tools/demo_rig.py): simulated DL/T 645, CJ/T 188,
Modbus, OPC UA, MQTT and HJ 212 meters on ptys and loopback TCP, read by a second
gateway through the real drivers and delivered to the platform; finally the
platform computes today's emissions from those signed readings (docs/accounting.md).
"""

import asyncio
import logging
import socket
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from firmware.clock import AcceleratedClock
from firmware.config import parse
from firmware.sources.synthetic import SyntheticMeters
from firmware.gateway import Gateway
from server import admin
from server.app import make_app
from server.config import Downstream, ServerConfig
from server.db import Connection, DatabaseURL
from shared.accounting.exact import present
from shared.codec import codes, frame, sm2
from tools import demo_rig

GATEWAY = 'GW-DEMO-0001'
FACTOR = 600.0
POINTS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def enrol(db: str, key: sm2.PrivateKey, gateway: str = GATEWAY, token: bool = True) -> str | None:
    conn = Connection(DatabaseURL.parse(db))
    conn.migrate()
    now = int(time.time() * 1000)
    conn.begin()
    admin.enrol(conn, 'cli:demo', gateway, key.public_key.to_pem(), '闽东水泥 (demo)', '宁德工厂', 0, now)
    secret = admin.add_token(conn, 'cli:demo', 'demo-operator', 'operator', now) if token else None
    conn.commit()
    conn.close()
    return secret


async def serve(config: ServerConfig) -> web.AppRunner:
    runner = web.AppRunner(make_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    return runner


async def main_async() -> None:
    tables = codes.tables()
    workdir = Path(tempfile.mkdtemp(prefix='tanji-demo-'))
    key = sm2.PrivateKey.generate()
    (workdir / 'gateway.key').write_text(key.to_pem())
    (workdir / 'gateway.pub').write_text(key.public_key.to_pem())
    print('1. gateway %s: SM2 key pair (backend %s), files in %s' % (GATEWAY, sm2.BACKEND, workdir))

    centres = {name: ServerConfig(db=str(workdir / ('%s.db' % name)), port=free_port())
               for name in ('archive', 'province', 'city')}
    centres['platform'] = ServerConfig(db=str(workdir / 'platform.db'), port=free_port(), downstream=[
        Downstream('archive', 'http://127.0.0.1:%d/api/v1/frames' % centres['archive'].port)])
    tokens = {name: enrol(c.db, key) for name, c in centres.items()}
    runners = {name: await serve(c) for name, c in centres.items() if name != 'city'}
    print('2. centres on loopback: platform (forwards to a national archive), province, city (down for now)')

    clock = AcceleratedClock(FACTOR, start=time.time() - 3600 - 120)
    cfg = parse({
        'gateway': {'id': GATEWAY, 'key': str(workdir / 'gateway.key'), 'data_dir': str(workdir / 'gateway'),
                    'ring_mb': 48, 'segment_mb': 1, 'commit_interval_ms': 60_000},
        'centre': [{'name': name, 'url': 'http://127.0.0.1:%d/api/v1/frames' % centres[name].port,
                    'every_s': 300} for name in ('platform', 'province', 'city')]})
    gw = Gateway(cfg, clock=clock, backoff_base_s=30, backoff_cap_s=300)
    meters = SyntheticMeters(points=POINTS, t0_ms=int(clock.now() * 1000), step_ms=60_000 // POINTS,
                             rate_per_s=POINTS / 60.0)
    await gw.start()
    source = asyncio.create_task(meters.run(gw, clock))
    print('3. %d simulated meters read every minute for one hour (clock x%d), uploads every 5 minutes:'
          % (POINTS, FACTOR))
    started = clock.now()
    try:
        for minute in range(10, 70, 10):
            await clock.sleep(started + minute * 60 - clock.now())
            if minute == 30:
                runners['city'] = await serve(centres['city'])
                print('   -- city centre comes back --')
            acks = ', '.join('%s %s' % (n, d.cursor if d.cursor >= 0 else 'nothing yet')
                             for n, d in gw.deliveries.items())
            print('   minute %2d: %4d readings durable; acknowledged: %s' % (minute, gw.ring.durable_seq + 1, acks))
        source.cancel()
        gw.commit()
        gw.send_now()
        final = gw.ring.durable_seq
        for _ in range(200):
            if all(d.cursor >= final for d in gw.deliveries.values()):
                break
            await asyncio.sleep(0.05)
        print('   all %d readings at every centre: %s' % (final + 1, all(d.cursor >= final for d in gw.deliveries.values())))
        await gw.stop()

        base = 'http://127.0.0.1:%d' % centres['platform'].port
        async with aiohttp.ClientSession() as http:
            forged = frame.encode(GATEWAY, [frame.Record(final + 1, '%012d' % meters.codes[0],
                                                         int(time.time() * 1000) - 1000, 1, 0, 0)],
                                  {'%012d' % meters.codes[0]: 'kWh'}, sm2.PrivateKey.generate().sign)
            async with http.post(base + '/api/v1/frames', data=forged,
                                 headers={'Content-Type': 'application/x-msgpack'}) as r:
                print('4. a frame signed with another key -> %d %s' % (r.status, (await r.json())['error']))

            auth = {'Authorization': 'Bearer ' + tokens['platform']}
            meter4 = '%012d' % meters.codes[3]
            async with http.get(base + '/api/v1/records', headers=auth, params={'code': meter4, 'limit': '4'}) as r:
                page = await r.json()
            print('5. operator query at the platform, meter 4 (%s):' % tables.describe(meter4, 'zh'))
            for rec in page['records']:
                print('   %s  %s %s' % (rec['time'], rec['value'], rec['unit']))

            seq = page['records'][2]['seq']
            async with http.get(base + '/api/v1/records/%s/%d/proof' % (GATEWAY, seq), headers=auth) as r:
                proof = await r.json()
            query = {'gateway': GATEWAY, 'record': proof['record'], 'proof': proof['proof']}
            async with http.post(base + '/api/v1/fingerprints/verify', json=query, headers=auth) as r:
                verdict = await r.json()
            print('6. reading seq %d (%s %s) proven against the fingerprint registry with %d hashes: %s'
                  % (seq, proof['record']['value'], proof['record']['unit'], len(proof['proof']['path']),
                     verdict['reason']))
            query['record'] = dict(query['record'], mantissa=query['record']['mantissa'] + 1)
            async with http.post(base + '/api/v1/fingerprints/verify', json=query, headers=auth) as r:
                print('   the same reading altered by 0.01 kWh: %s' % (await r.json())['reason'])

            archive = 'http://127.0.0.1:%d' % centres['archive'].port
            for _ in range(100):
                async with http.get(archive + '/api/v1/gateways/' + GATEWAY,
                                    headers={'Authorization': 'Bearer ' + tokens['archive']}) as r:
                    status = await r.json()
                if status['ack'] >= final:
                    break
                await asyncio.sleep(0.1)
            print('7. national archive received the signed frames from the platform and verified them itself: '
                  'ack %d, %d readings' % (status['ack'], status['records']))

            desk_key = sm2.PrivateKey.generate()
            (workdir / 'desk-gateway.key').write_text(desk_key.to_pem())
            for centre in ('platform', 'archive'):
                enrol(centres[centre].db, desk_key, demo_rig.GATEWAY, token=False)
            desk = await demo_rig.run(workdir, base + '/api/v1/frames', workdir / 'desk-gateway.key', free_port, 8)
            print('9. operator query at the platform, gateway %s:' % desk)
            for code, label in (('080420101002', 'raw mill energy, DL/T 645 with faults'),
                                ('080101601001', 'kiln natural gas, CJ/T 188'),
                                ('080101601002', 'natural gas flow meter, Modbus TCP'),
                                ('080100212001', 'stack CO2, HJ 212 CEMS'),
                                ('080100201001', 'coal fed to the kiln, OPC UA'),
                                ('080100202001', 'October coal, manual entry')):
                async with http.get(base + '/api/v1/records', headers=auth,
                                    params={'gateway': desk, 'code': code, 'limit': '2'}) as r:
                    page = await r.json()
                for rec in page['records']:
                    print('   %s  %s  %-38s %16s %-8s %s' % (rec['time'], code, label, rec['value'], rec['unit'],
                                                           ','.join(rec['flag_names'])))
            await demo_accounting(http, base, auth, centres['platform'].db, desk)
    finally:
        source.cancel()
        for runner in runners.values():
            await runner.cleanup()
    print('\nTry: .venv/bin/tanji server gateways list --db %s/platform.db' % workdir)


async def demo_accounting(http: aiohttp.ClientSession, base: str, auth: dict, db: str, desk: str) -> None:
    """10. Emissions of today at the platform, from the desk gateway's signed readings."""
    from server import accounting
    conn = Connection(DatabaseURL.parse(db))
    now = int(time.time() * 1000)
    conn.begin()
    # no grid factor is published for this reporting year yet: a provisional record, audited
    accounting.add_factor(conn, 'cli:demo', {
        'id': 'grid/national/ets/%d' % time.localtime().tm_year, 'kind': 'grid', 'subject': 'national',
        'series': 'ets', 'value': '0.5703', 'unit': 'tCO2/MWh', 'applies': [time.localtime().tm_year] * 2,
        'origin': 'user', 'u_rel': '0.05',
        'source': 'provisional: the 2023-2025 national grid factor until the next MEE notice'},
        now)
    meter = lambda code, digits: {'gateway': desk, 'code': code, 'register_digits': digits}  # noqa: E731
    accounting.put_scenario(conn, 'cli:demo', 'desk', {
        'name': 'desk rig, today', 'boundary': {'name': '闽东水泥 (demo)', 'children': [
            {'name': 'kiln', 'sources': ['kiln-gas']}, {'name': 'raw mill', 'sources': ['raw-mill', 'mill-motor']}]},
        'sources': [
            {'id': 'kiln-gas', 'method': 'fuel_combustion', 'industry': '08', 'fuel': 'natural_gas',
             'meter': meter('080101601001', 6)},
            {'id': 'raw-mill', 'method': 'purchased_electricity', 'industry': '08', 'meter': meter('080420101002', 6)},
            {'id': 'mill-motor', 'method': 'purchased_electricity', 'industry': '08',
             'meter': meter('080420101005', 6)}]}, now)
    conn.commit()
    conn.close()
    today = time.strftime('%Y-%m-%d', time.gmtime(time.time() + 8 * 3600))
    async with http.get(base + '/api/v1/accounting/results', headers=auth,
                        params={'scenario': 'desk', 'period': today}) as r:
        result = await r.json()
    print('10. emissions of %s at the platform from those signed readings (scenario "desk", exact, traceable):'
          % today)
    for src in result['sources']:
        factors = ', '.join('%s v%d' % (p['factor']['id'], p['factor']['version'])
                            for p in src['parameters'].values() if 'factor' in p)
        unit = src['activity']['unit']
        print('   %-10s %14s %-8s -> %12s tCO2 ± %s t (k=2)   [%s]' % (
            src['id'], present(src['activity']['value'], unit), unit, present(src['co2e_t'], 'tCO2'),
            present(src['uncertainty']['U_t'], 'tCO2'), factors))
    totals = result['totals']
    print('   total %s tCO2 (scope 1 %s, scope 2 %s)' % (present(totals['total_net_t'], 'tCO2'),
                                                      present(totals['scope1_t'], 'tCO2'),
                                                      present(totals['scope2_net_t'], 'tCO2')))


def main() -> None:
    # the narrative goes to the terminal; the components' own log lines (a garbled reply, a
    # dropped HJ 212 message: the faults the demo injects) go to a file beside its data
    log_path = Path(tempfile.gettempdir()) / 'tanji-demo.log'
    logging.basicConfig(filename=log_path, level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    asyncio.run(main_async())
    print('The components\' log: %s' % log_path)


if __name__ == '__main__':
    main()
