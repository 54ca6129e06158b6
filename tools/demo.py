"""`make demo`: what works today, end to end from signed frames to two data centres.

A gateway key pair is made and an hour of minute readings from 20 simulated
energy meters is packed into signed frames.  A Tanji ingest server (SQLite) and
a second, provincial centre run on loopback; the gateway is enrolled at both.
The frames are uploaded out of order and one is resent, a forged frame is
refused, the platform fans the signed frames out to the provincial centre, an
operator queries the readings, and one reading is proven against the
fingerprint registry.  Simulated meters and the gateway's own store and sender
join this chain with their issues.
"""

import asyncio
import random
import socket
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from server import admin
from server.app import make_app
from server.config import Downstream, ServerConfig
from server.db import Connection, DatabaseURL
from shared.codec import codes, frame, sm2

GATEWAY = 'GW-DEMO-0001'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def readings(tables, t0_ms: int) -> tuple[list[frame.Record], dict[str, str]]:
    rnd = random.Random(7)
    registers = [rnd.randint(10 ** 7, 10 ** 9) for _ in range(20)]
    units, records = {}, []
    for minute in range(60):
        for meter in range(20):
            code = tables.encode('08', '04', '201', '01', meter + 1)
            units[code] = 'kWh'
            registers[meter] += rnd.randint(100, 900)
            value, flags = registers[meter], 0
            if meter == 3 and minute == 17:
                value, flags = None, frame.FLAG_MISSING  # meter 4 did not answer once
            records.append(frame.Record(len(records), code, t0_ms + minute * 60000 + meter * 40, value, -2, flags))
    return records, units


def enrol(db: str, key: sm2.PrivateKey) -> str:
    conn = Connection(DatabaseURL.parse(db))
    conn.migrate()
    now = int(time.time() * 1000)
    conn.begin()
    admin.enrol(conn, 'cli:demo', GATEWAY, key.public_key.to_pem(), '闽东水泥 (demo)', '宁德工厂', 0, now)
    token = admin.add_token(conn, 'cli:demo', 'demo-operator', 'operator', now)
    conn.commit()
    conn.close()
    return token


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
    print('1. gateway key pair (SM2, backend %s) in %s' % (sm2.BACKEND, workdir))

    t0_ms = (int(time.time()) // 3600 - 1) * 3_600_000
    records, units = readings(tables, t0_ms)
    frames = [frame.encode(GATEWAY, records[i:i + 200], units, key.sign) for i in range(0, len(records), 200)]
    size = sum(len(f) for f in frames)
    print('2. %d readings from 20 meters in %d signed frames: %d bytes (%.1f B/reading)'
          % (len(records), len(frames), size, size / len(records)))

    province = ServerConfig(db=str(workdir / 'province.db'), port=free_port())
    platform = ServerConfig(db=str(workdir / 'platform.db'), port=free_port(),
                            downstream=[Downstream('province', 'http://127.0.0.1:%d/api/v1/frames' % province.port)])
    token = enrol(platform.db, key)
    province_token = enrol(province.db, key)
    runners = [await serve(province), await serve(platform)]
    base = 'http://127.0.0.1:%d' % platform.port
    print('3. platform centre at %s and provincial centre at port %d (SQLite files in %s)'
          % (base, province.port, workdir))
    try:
        async with aiohttp.ClientSession() as http:
            async def upload(data: bytes) -> str:
                async with http.post(base + '/api/v1/frames', data=data,
                                     headers={'Content-Type': 'application/x-msgpack'}) as r:
                    return '%d %s' % (r.status, await r.text())

            order = [0, 1, 3, 2, 4, 5, 1]
            print('4. uploads in the order %s (frame 3 early, frame 1 resent):' % order)
            for i in order:
                print('   frame %d (seq %d..%d) -> %s' % (i, i * 200, i * 200 + 199, await upload(frames[i])))
            forged = frame.encode(GATEWAY, records[:5], units, sm2.PrivateKey.generate().sign)
            print('5. a frame signed with another key -> %s' % await upload(forged))

            auth = {'Authorization': 'Bearer ' + token}
            meter4 = tables.encode('08', '04', '201', '01', 4)
            async with http.get(base + '/api/v1/records', headers=auth,
                                params={'code': meter4, 'from': str(t0_ms + 15 * 60000),
                                        'to': str(t0_ms + 20 * 60000)}) as r:
                page = await r.json()
            print('6. operator query, meter 4 (%s), minutes 15-19:' % tables.describe(meter4, 'zh'))
            for rec in page['records']:
                print('   %s  %s %s %s' % (rec['time'], rec['value'] or '—', rec['unit'], ','.join(rec['flag_names'])))

            async with http.get(base + '/api/v1/records/%s/%d/proof' % (GATEWAY, 742), headers=auth) as r:
                proof = await r.json()
            query = {'gateway': GATEWAY, 'record': proof['record'], 'proof': proof['proof']}
            async with http.post(base + '/api/v1/fingerprints/verify', json=query, headers=auth) as r:
                verdict = await r.json()
            print('7. reading seq 742 (%s %s) checked with the fingerprint registry, %d-hash proof: %s'
                  % (proof['record']['value'], proof['record']['unit'], len(proof['proof']['path']), verdict['reason']))
            query['record'] = dict(query['record'], mantissa=query['record']['mantissa'] + 1)
            async with http.post(base + '/api/v1/fingerprints/verify', json=query, headers=auth) as r:
                print('   the same reading altered by 0.01 kWh: %s' % (await r.json())['reason'])

            prov = 'http://127.0.0.1:%d' % province.port
            for _ in range(100):
                async with http.get(prov + '/api/v1/gateways/' + GATEWAY,
                                    headers={'Authorization': 'Bearer ' + province_token}) as r:
                    status = await r.json()
                if status['ack'] == len(records) - 1:
                    break
                await asyncio.sleep(0.1)
            print('8. provincial centre received the signed frames by fan-out and verified them itself: '
                  'ack %d, %d readings' % (status['ack'], status['records']))
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    print('\nTry: .venv/bin/tanji server gateways list --db %s/platform.db' % workdir)


def main() -> None:
    asyncio.run(main_async())


if __name__ == '__main__':
    main()
