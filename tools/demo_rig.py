"""The driver part of `make demo`: the desk rig (hardware/rigs/desk.toml) with a
gateway configured by hardware/rigs/desk-gateway.toml, on free loopback ports and
in the demo's directory, reading every few seconds and delivering to the platform."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from firmware.config import parse
from firmware.gateway import Gateway
from firmware.sources import Acquisition
from firmware.sources.manual import submit
from hardware.rig import Rig

REPO = Path(__file__).resolve().parent.parent
GATEWAY = 'GW-DEMO-DESK'
READ_EVERY_S = 3
RUN_S = 20


def _configs(workdir: Path, platform_url: str, key_path: Path, free_port) -> tuple[dict, dict]:
    rig = tomllib.loads((REPO / 'hardware' / 'rigs' / 'desk.toml').read_text())
    gw = tomllib.loads((REPO / 'hardware' / 'rigs' / 'desk-gateway.toml').read_text())
    ports = {p: free_port() for p in ('tcp', 'opcua', 'mqtt', 'hj212')}
    rig['tcp'][0]['port'] = ports['tcp']
    rig['opcua'][0]['url'] = 'opc.tcp://127.0.0.1:%d/tanji/' % ports['opcua']
    rig['mqtt'][0].update(port=ports['mqtt'], every_s=READ_EVERY_S)
    rig['cems'][0].update(gateway='127.0.0.1:%d' % ports['hj212'], realtime_s=READ_EVERY_S)
    board = workdir / 'desk-board.toml'
    board.write_text('[board]\nname = "desk"\n[board.serial]\n' + ''.join(
        '%s = "%s"\n' % (name, workdir / 'rig' / link) for name, link in
        (('RS485-1', 'rs485-1'), ('RS485-2', 'rs485-2'), ('MBUS-1', 'mbus-1'))))
    gw['gateway'].update(id=GATEWAY, key=str(key_path), board=str(board), data_dir=str(workdir / 'desk-gw'),
                         commit_interval_ms=500)
    gw['centre'] = [{'name': 'platform', 'url': platform_url, 'every_s': 5}]
    for point in gw['point']:
        point['every'] = READ_EVERY_S
    for bus in gw['bus']:
        if bus['name'] == 'flow-tcp':
            bus['tcp_port'] = ports['tcp']
    gw['opcua'][0]['url'] = rig['opcua'][0]['url']
    gw['opcua'][0]['node'][1]['every'] = READ_EVERY_S
    gw['mqtt'][0]['port'] = ports['mqtt']
    gw['hj212'][0]['listen'] = '127.0.0.1:%d' % ports['hj212']
    return rig, gw


async def run(workdir: Path, platform_url: str, key_path: Path, free_port, step: int) -> str:
    """Runs the rig phase; returns the gateway id (for the operator queries that follow)."""
    rig_doc, gw_doc = _configs(workdir, platform_url, key_path, free_port)
    rig = Rig(rig_doc, base_dir=str(workdir / 'rig'))
    where = await rig.start()
    print('%d. desk rig: simulated meters on ptys and loopback TCP (hardware/rigs/desk.toml):' % step)
    for name, place in where.items():
        print('   %-18s %s' % (name, place))
    cfg = parse(gw_doc)
    gw = Gateway(cfg)
    await gw.start()
    gw.sources = Acquisition(cfg.sources, gw, gw.clock, int(cfg.utc_offset_h * 3600))
    await gw.sources.start()
    submit(cfg.data_dir, {'code': '080100202001', 'value': '812.40', 'unit': 't', 'from': '2026-10-01',
                          'to': '2026-10-31', 'evidence': 'weighbridge tickets 2026-10', 'operator': 'li.wei'},
           int(cfg.utc_offset_h * 3600))
    print('   gateway %s reads them every %d s for %d s (board profile "desk", real line speeds, '
          '5 %% faults on the raw-mill meter); a manual entry for October coal' % (cfg.id, READ_EVERY_S, RUN_S))
    await asyncio.sleep(RUN_S)
    gw.commit()
    gw.send_now()
    for _ in range(100):
        if gw.deliveries['platform'].cursor >= gw.ring.durable_seq:
            break
        await asyncio.sleep(0.1)
    status = gw.status()
    await gw.sources.stop()
    await gw.stop()
    await rig.stop()
    for s in status['sources']:
        if 'bus' in s:
            print('   bus %-9s %-11s %3d readings, %2d missing | %3d transactions, %d retries, %d garbled replies, '
                  '%d timeouts' % (s['bus'], s['protocol'], s['readings'], s['missing'], s['transactions'],
                                   s['retries'], s['garbled'], s['timeouts']))
        elif 'mqtt' in s:
            print('   mqtt %-22s %3d readings in %d messages' % (s['mqtt'], s['readings'], s['messages']))
        elif 'opcua' in s:
            print('   opcua %-40s %3d readings' % (s['opcua'], s['readings']))
        elif 'hj212' in s:
            print('   hj212 listener %-15s %3d readings, %d acks, %d CRC errors dropped' % (
                s['hj212'], s['readings'], s['acks'], s['crc_errors']))
        elif 'manual' in s:
            print('   manual entries: %d' % s['entries'])
    print('   delivered to the platform: %d readings (ack %d)' % (status['durable_seq'] + 1,
                                                                  gw.deliveries['platform'].cursor))
    return cfg.id
