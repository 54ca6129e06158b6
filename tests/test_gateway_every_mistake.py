"""Issue 13: one configuration with every mistake of items 1-6 at once, walked the way a
field engineer would — run, read the one-line refusal, fix that, run again — then the
mistakes only running shows.  Each is reported (a start-up refusal naming the setting,
or a named alarm in the log and the status), and nothing reaches the centre unflagged:
no register falls without a flag, and the readings of a meter that cannot be read are
missing readings, never values."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

from shared.codec.flags import FLAG_MISSING, FLAG_RESET, FLAG_ROLLOVER, FLAG_SUSPECT
from gateway_process import GatewayProcess, ModbusRig, Platform, energy_codes, gateway_config
from server_process import tanji
from test_gateway_mistakes import _point, _publish


def _everything(tmp_path, platform: Platform, rig: ModbusRig, mosquitto_port: int):
    a, b, serial = energy_codes(3)
    config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=rig.port,
                            points=1, every_s=1)
    text = config.read_text()
    text = text.replace('tcp_port = %d' % rig.port, 'port = %d' % rig.port)           # 6: port meant tcp_port
    text += '''
[[centre]]
name = "province"
url = "http://127.0.0.1:9/api/v1/frames"
every_s = 1

[[meter]]
name = "m2"
bus = "meters"
unit_id = 7

[[point]]
meter = "m2"
code = "%(b)s"
unit = "kWh"
every = 1
register = { address = 0, type = "u32", scale = "0.01" }

[[point]]
meter = "m2"
code = "%(a)s"
unit = "kWh"
every = 1
register = { address = 0, type = "u32", scale = "0.01" }

[[bus]]
name = "rs485-1"
protocol = "dlt645"
port = "/dev/null"
baud = 2400
parity = "E"
timeout_ms = 200

[[meter]]
name = "kiln"
bus = "rs485-1"
address = "000000000001"

[[point]]
meter = "kiln"
code = "%(serial)s"
unit = "kWh"
item = "00010000"
every = 1

[[mqtt]]
host = "127.0.0.1"
port = %(mqtt)d
topics = ["plant/#"]

[manual]
enabled = true
''' % {'a': a, 'b': b, 'serial': serial, 'mqtt': mosquitto_port}
    config.write_text(text)
    return config, a, b, serial


def _refused(config) -> str:
    r = tanji('gateway', 'run', '--config', str(config), check=False)
    assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
    return r.stderr


def test_every_mistake_at_once_is_reported_and_nothing_reaches_the_centre_unflagged(tmp_path, mosquitto):
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config, a, b, serial = _everything(tmp_path, platform, rig, mosquitto.port)
        # start-up refusals, one at a time, each naming the setting; nothing is written
        first = _refused(config)
        assert 'bus[1]: port: not a setting of a modbus-tcp bus' in first and 'did you mean tcp_port?' in first
        config.write_text(config.read_text().replace('port = %d' % rig.port, 'tcp_port = %d' % rig.port))
        second = _refused(config)
        assert 'point[3]: code %s is already read by point[1] (meter m1 on bus meters)' % a in second, second
        assert not (tmp_path / 'data').exists() or not any((tmp_path / 'data').iterdir())
        text = config.read_text()
        duplicate = text[text.index('[[point]]\nmeter = "m2"\ncode = "%s"' % a):text.index('[[bus]]\nname = "rs485-1"')]
        config.write_text(text.replace(duplicate, ''))
        wrong_unit = tanji('gateway', 'enter', '--config', str(config), '--code', '080100202001', '--value',
                           '812.4', '--unit', 'MWh', '--from', '2026-11-01', '--to', '2026-11-30', '--evidence',
                           'WB-11', '--operator', 'li', check=False)
        assert wrong_unit.returncode == 2 and "unit 'MWh' is not valid" in wrong_unit.stderr
        owned = tanji('gateway', 'enter', '--config', str(config), '--code', a, '--value', '5', '--unit', 'kWh',
                      '--from', '2026-11-01', '--to', '2026-11-30', '--evidence', 'x', '--operator', 'li',
                      check=False)
        assert owned.returncode == 2 and 'code %s is read by point[1]' % a in owned.stderr

        # the mistakes only running shows: each a named alarm
        gw = GatewayProcess(tmp_path, config)
        gw.wait_log('subscribed to', timeout_s=30)
        message = json.dumps({'readings': [{'code': a, 't': int(time.time() * 1000), 'v': '99999.99',
                                            'unit': 'kWh'}]}).encode()
        asyncio.run(_publish(mosquitto.port, 'plant/packing', message))
        for line in ('refused: code %s is read by point[1] (meter m1 on bus meters)' % a,      # 1: MQTT
                     'ALARM bus rs485-1: cannot open /dev/null',                              # 3: the port
                     'point m2/%s: meter m2 (unit id 7 on 127.0.0.1:%d)' % (b, rig.port),     # 6: the unit id
                     'ALARM centre province: down'):                                           # 6: a centre
            gw.wait_log(line)
        status = gw.wait_status(lambda s: len(s['alarms']) >= 3)
        shown = tanji('gateway', 'status', '--config', str(config), check=False).stdout
        for alarm in ('ALARM centre province', 'ALARM bus rs485-1 is down', 'ALARM point m2/%s' % b,
                      'ALARM point kiln/%s' % serial):
            assert alarm in shown, shown
        assert _point(status, 'm1/%s' % a)['missing'] == 0
        gw.stop()

        # 4: the register type changed between runs
        config.write_text(config.read_text().replace('type = "u32"', 'type = "u16"', 1))
        gw = GatewayProcess(tmp_path, config)
        gw.wait_log('point m1/%s: register fell from' % a)
        flagged = gw.wait_status(lambda s: (_point(s, 'm1/%s' % a) or {}).get('flagged', 0) >= 1)['durable_seq']
        end = gw.wait_status(lambda s: s['durable_seq'] >= flagged + 3)['durable_seq']
        assert platform.wait_ack(end)['ack'] >= end
        gw.stop()

        # 2: a reinstall with a wiped data directory continues after the numbers the platform holds
        held = platform.gateway_row()['last_seq']
        shutil.move(str(tmp_path / 'data'), str(tmp_path / 'data-old'))
        gw = GatewayProcess(tmp_path, config)
        gw.wait_log('ALARM a new data directory for gateway GW-FAULT')
        assert gw.started_durable == held
        end = gw.wait_status(lambda s: s['durable_seq'] >= held + 3)['durable_seq']
        assert platform.wait_ack(end)['ack'] >= end
        gw.stop()

        row = platform.gateway_row()
        assert row['conflicts'] == 0 and row['alarms'] == [], row
        records = platform.records()
        by_code: dict[str, list] = {}
        for seq, code, ts_ms, mantissa, exp, flags in records:
            by_code.setdefault(code, []).append((seq, mantissa, exp, flags))
        assert all(m is None and f & FLAG_MISSING for _, m, _, f in by_code[b])            # never a value
        assert all(m is None and f & FLAG_MISSING for _, m, _, f in by_code[serial])
        assert all(m != 9999999 for _, m, _, _ in by_code[a])                              # the MQTT value
        values = [(m * 10.0 ** e, f) for _, m, e, f in by_code[a] if m is not None]
        falls = [(prev, now) for (prev, _), (now, f) in zip(values, values[1:])
                 if now < prev and not f & (FLAG_SUSPECT | FLAG_RESET | FLAG_ROLLOVER)]
        assert falls == [], falls                                                          # no unflagged fall
        assert any(f & FLAG_SUSPECT for _, f in values)
        assert 'Traceback' not in gw.log()
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        rig.stop()
