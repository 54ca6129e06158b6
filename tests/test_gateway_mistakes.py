"""A field engineer's ordinary mistakes (issue 13), each reproduced with real processes:
the mistake is refused before it can corrupt data, or shown, with the names a person
needs to put it right."""

from __future__ import annotations

import asyncio
import json
import time

from firmware.drivers import mqtt
from shared.codec.flags import FLAG_INVALID, FLAG_MANUAL, FLAG_SUSPECT
from gateway_process import GatewayProcess, ModbusRig, Platform, energy_codes, gateway_config
from server_process import tanji


def test_two_points_with_one_code_are_refused_with_both_places_named(tmp_path):
    """Item 1: two meters' values were interleaved under one code (1000 MWh booked for 0.054)."""
    platform = Platform(tmp_path, 'GW-FAULT')
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=1502,
                                points=1)
        code = energy_codes(1)[0]
        config.write_text(config.read_text() + '''
[[meter]]
name = "m2"
bus = "meters"
unit_id = 2

[[point]]
meter = "m2"
code = "%s"
unit = "kWh"
register = { address = 0, type = "u32", scale = "0.01" }
''' % code)
        r = tanji('gateway', 'run', '--config', str(config), check=False)
        assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
        assert 'point[2]: code %s is already read by point[1] (meter m1 on bus meters)' % code in r.stderr
        assert not (tmp_path / 'data').exists() or not any((tmp_path / 'data').iterdir())

        entry = tanji('gateway', 'enter', '--config', str(gateway_config(
            tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=1502, points=1)),
            '--code', code, '--value', '12.5', '--unit', 'kWh', '--from', '2026-11-01', '--to', '2026-11-30',
            '--evidence', 'INV-1', '--operator', 'li', check=False)
        assert entry.returncode == 2, entry.stderr            # manual entry is not even enabled here
        manual = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=1502,
                                points=1)
        manual.write_text(manual.read_text() + '\n[manual]\nenabled = true\n')
        entry = tanji('gateway', 'enter', '--config', str(manual), '--code', code, '--value', '12.5', '--unit',
                      'kWh', '--from', '2026-11-01', '--to', '2026-11-30', '--evidence', 'INV-1', '--operator',
                      'li', check=False)
        assert entry.returncode == 2 and 'code %s is read by point[1] (meter m1 on bus meters)' % code \
            in entry.stderr, entry.stderr
    finally:
        platform.stop()


def test_an_mqtt_message_with_a_code_a_meter_owns_is_refused_and_named(tmp_path, mosquitto):
    """Item 1 at run time: MQTT payloads carry their codes, so a collector publishing a code
    this gateway reads from a meter is refused when it arrives, not interleaved."""
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=rig.port,
                                points=1, every_s=1)
        config.write_text(config.read_text() + '\n[[mqtt]]\nhost = "127.0.0.1"\nport = %d\ntopics = ["plant/#"]\n'
                          % mosquitto.port)
        gw = GatewayProcess(tmp_path, config)
        gw.wait_log('subscribed to', timeout_s=30)
        code = energy_codes(1)[0]
        message = json.dumps({'readings': [{'code': code, 't': int(time.time() * 1000), 'v': '99999.99',
                                            'unit': 'kWh'}]}).encode()
        asyncio.run(_publish(mosquitto.port, 'plant/packing', message))
        gw.wait_log('refused: code %s is read by point[1] (meter m1 on bus meters)' % code)
        status = gw.wait_status(lambda s: any(x.get('refused') for x in s['sources'] if 'mqtt' in x))
        assert [x for x in status['sources'] if 'mqtt' in x][0]['readings'] == 0
        end = gw.wait_status(lambda s: s['durable_seq'] >= 3)['durable_seq']
        platform.wait_ack(end)
        values = [r[3] for r in platform.records() if r[1] == code]
        assert values and 9999999 not in values                # only the meter's own values under its code
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        rig.stop()


async def _publish(port: int, topic: str, payload: bytes) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(mqtt.connect('tanji-test-publisher', 30, clean=True))
    writer.write(mqtt.publish(topic, payload, qos=1, packet_id=1))
    await writer.drain()
    parser = mqtt.Parser()
    while not any(p.type == mqtt.PUBACK for p in parser.feed(await reader.read(4096))):
        pass
    writer.close()


def test_a_data_directory_serves_one_gateway_with_one_key(tmp_path):
    """Item 2: a data directory started under another gateway id or another key is refused
    before anything in it is touched."""
    from shared.codec import sm2
    platform = Platform(tmp_path, 'GW-FAULT')
    try:
        data = tmp_path / 'data'
        config = gateway_config(tmp_path, platform.key_path, platform.url, data,
                                synthetic='points = 5\nrate_per_s = 10\nt0_ms = %d' % (int(time.time() * 1000)))
        gw = GatewayProcess(tmp_path, config)
        gw.wait_status(lambda s: s['durable_seq'] > 3)
        gw.stop()
        fingerprint = sm2.PrivateKey.load(platform.key_path.read_bytes()).public_key.fingerprint()
        assert json.loads((data / 'identity.json').read_text())['key'] == fingerprint
        before = sorted((p.name, p.stat().st_size) for p in data.iterdir())

        other = tmp_path / 'other.toml'
        other.write_text(config.read_text().replace('id = "GW-FAULT"', 'id = "GW-OTHER"'))
        r = tanji('gateway', 'run', '--config', str(other), check=False)
        assert r.returncode == 2 and 'belongs to gateway GW-FAULT, not GW-OTHER' in r.stderr, r.stderr

        new_key = tmp_path / 'new.key'
        new_key.write_text(sm2.PrivateKey.generate().to_pem())
        rekeyed = tmp_path / 'rekeyed.toml'
        rekeyed.write_text(config.read_text().replace(str(platform.key_path), str(new_key)))
        r = tanji('gateway', 'run', '--config', str(rekeyed), check=False)
        assert r.returncode == 2 and 'with the key %s, but gateway.key is the key' % fingerprint in r.stderr, r.stderr
        assert sorted((p.name, p.stat().st_size) for p in data.iterdir()) == before    # nothing touched
    finally:
        platform.stop()


def test_a_reinstalled_gateway_continues_after_the_numbers_its_centre_holds(tmp_path):
    """Item 2: a gateway reinstalled with a wiped data directory started again at 0; the
    centre kept the old values, counted the resends as conflicts, and nobody was told.
    Now it asks the centre where its numbers stand and continues after them; when it
    cannot ask, it says so, and a centre that receives new content for stored numbers
    raises an alarm in its log, its API and its CLI."""
    import shutil
    from server_process import ServerProcess
    platform = Platform(tmp_path, 'GW-FAULT')
    try:
        data = tmp_path / 'data'

        def life(n: int):
            t0 = int(time.time() * 1000) - 60_000 + n
            return gateway_config(tmp_path, platform.key_path, platform.url, data,
                                  synthetic='points = 5\nrate_per_s = 20\nt0_ms = %d' % t0)
        gw = GatewayProcess(tmp_path, life(1))
        platform.wait_ack(31)
        gw.stop()
        held = platform.gateway_row()['last_seq']
        shutil.rmtree(data)                                       # the reinstall
        gw = GatewayProcess(tmp_path, life(2))
        assert gw.started_durable == held                    # numbering goes on after what the centre holds
        gw.wait_log('numbering continues at %d' % (held + 1))
        end = gw.wait_status(lambda s: s['durable_seq'] > held + 20)['durable_seq']
        row = platform.wait_ack(end)
        gw.stop()
        assert (row['conflicts'], row['missing'], row['declared_lost'], row['alarms']) == (0, 0, 0, []), row

        port = platform.server.port
        platform.server.stop()                                    # reinstalled while the centre is away
        shutil.rmtree(data)
        gw = GatewayProcess(tmp_path, life(3))
        gw.wait_log('no centre answered where gateway GW-FAULT\'s sequence numbers stand')
        platform.server = ServerProcess(tmp_path, port=port, db=platform.server.db)
        deadline = time.monotonic() + 60
        while platform.gateway_row()['conflicts'] == 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        gw.stop()
        row = platform.gateway_row()
        assert row['conflicts'] > 0 and row['alarms'][0].startswith('sequence numbers reused:'), row
        listing = tanji('server', 'gateways', 'list', '--db', platform.server.db).stdout
        assert 'ALARM GW-FAULT: sequence numbers reused' in listing, listing
        assert 'ALARM gateway GW-FAULT sent different content' in (tmp_path / 'server.log').read_text()
    finally:
        platform.stop()


def test_a_port_the_device_refuses_is_an_alarm_and_every_owed_reading_is_missing(tmp_path):
    """Item 3: a serial port that cannot be configured gave 0 transactions, no log line and
    no missing readings.  (/dev/null opens but is no terminal: the same refusal.)"""
    from shared.codec.flags import FLAG_MISSING
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data')
        code = energy_codes(1)[0]
        config.write_text(config.read_text() + '''
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
code = "%s"
unit = "kWh"
item = "00010000"
every = 1
''' % code)
        gw = GatewayProcess(tmp_path, config)
        gw.wait_log('ALARM bus rs485-1: cannot open /dev/null')
        status = gw.wait_status(lambda s: any(b.get('state') == 'down' for b in s['sources']))
        bus = [b for b in status['sources'] if b.get('bus') == 'rs485-1'][0]
        assert 'cannot open /dev/null' in bus['down_reason'] and bus['missing'] >= 1
        end = gw.wait_status(lambda s: s['durable_seq'] >= 3)['durable_seq']
        platform.wait_ack(end)
        gw.stop()
        rows = [r for r in platform.records() if r[1] == code]
        assert len(rows) >= 3 and all(r[3] is None and r[5] & FLAG_MISSING for r in rows)
        assert gw.log().count('ALARM bus rs485-1: cannot open') == 1 and 'Traceback' not in gw.log()
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()


def test_a_register_type_changed_between_runs_is_flagged_suspect_with_the_reason(tmp_path):
    """Item 4: a u32 energy register re-configured as u16 stored 15.07 kWh after 987,654.32
    kWh without a flag.  The gateway judges the first value of the new run against the last
    one in its log: suspect, with the reason, the raw value kept."""
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=rig.port,
                                points=1, every_s=1)
        gw = GatewayProcess(tmp_path, config)
        gw.wait_status(lambda s: s['durable_seq'] >= 2)
        gw.stop()
        config.write_text(config.read_text().replace('type = "u32"', 'type = "u16"'))
        gw = GatewayProcess(tmp_path, config)
        code = energy_codes(1)[0]
        key = 'm1/%s' % code
        status = gw.wait_status(lambda s: (_point(s, key) or {}).get('flagged', 0) >= 1)
        flagged = _point(status, key)['last_flagged']
        assert flagged['flags'] == ['suspect'] and 'register type' in flagged['reason'], flagged
        gw.wait_log('point %s: register fell from 10' % key)
        end = gw.wait_status(lambda s: s['durable_seq'] >= 4)['durable_seq']
        assert platform.wait_ack(end)['ack'] >= end
        gw.stop()
        rows = [r for r in platform.records() if r[1] == code and r[3] is not None]
        first_u16 = next(r for r in rows if r[3] < 100)       # the register's high word: 0.01 kWh
        assert first_u16[5] & FLAG_SUSPECT and not rows[0][5] & FLAG_SUSPECT
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        rig.stop()


def _point(status: dict, key: str) -> dict | None:
    for source in status['sources']:
        if 'points' in source:
            return source['points'].get(key)
    return None


def test_manual_entries_refuse_other_dimensions_and_duplicates_and_are_corrected_not_edited(tmp_path):
    """Item 5: a unit of another dimension is refused (kg for t is a conversion and fine); a
    second entry for the same code and period is refused naming the first; a correction is a
    new entry that withdraws the old one (who, when, why in the journal), and the platform
    receives the withdrawal (manual + invalid) before the new value."""
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data')
        config.write_text(config.read_text() + '\n[manual]\nenabled = true\n')
        coal, ncv = '080100202001', '080100204001'           # bituminous coal: consumption, calorific value

        def enter(*extra: str, code: str = coal, value: str = '812.40', unit: str = 't',
                  period: tuple = ('2026-11-01', '2026-11-30')):
            return tanji('gateway', 'enter', '--config', str(config), '--code', code, '--value', value, '--unit',
                         unit, '--from', period[0], '--to', period[1], '--evidence', 'WB-2026-11', '--operator',
                         'li', *extra, check=False)

        for code, unit in ((coal, 'MWh'), (ncv, 'MJ/Nm3')):         # electricity; a gas's calorific value
            refused = enter(code=code, unit=unit, value='21.5')
            assert refused.returncode == 2 and "unit %r is not valid" % unit in refused.stderr, refused.stderr
        assert enter(code=ncv, unit='MJ/kg', value='21.5').returncode == 0
        first = enter()
        assert first.returncode == 0, first.stderr
        first_id = first.stdout.split()[1]
        duplicate = enter(unit='kg', value='812400', period=('2026-11-15', '2026-11-20'))
        assert duplicate.returncode == 2 and 'already has entry %s' % first_id in duplicate.stderr, duplicate.stderr
        assert '--corrects %s' % first_id in duplicate.stderr
        no_reason = enter('--corrects', first_id, value='802.40')
        assert no_reason.returncode == 2 and 'reason is required' in no_reason.stderr, no_reason.stderr

        gw = GatewayProcess(tmp_path, config)
        gw.wait_status(lambda s: s['durable_seq'] >= 1)
        corrected = enter('--corrects', first_id, '--reason', 'weighbridge ticket misread', value='802.40')
        assert corrected.returncode == 0, corrected.stderr
        correction_id = corrected.stdout.split()[1]
        again = enter('--corrects', first_id, '--reason', 'twice', value='800')
        assert again.returncode == 2 and 'already corrected by entry %s' % correction_id in again.stderr, \
            again.stderr
        gw.wait_log('correction of entry %s' % first_id)
        withdrawn = tanji('gateway', 'withdraw', '--config', str(config), '--entry', ncv_id(config, ncv),
                          '--reason', 'lab report was for another batch', '--operator', 'wang', check=False)
        assert withdrawn.returncode == 0, withdrawn.stderr
        gw.wait_log('withdrawal of entry')
        end = gw.wait_status(lambda s: s['durable_seq'] >= 4)['durable_seq']
        assert platform.wait_ack(end)['ack'] == end
        gw.stop()
        coal_rows = [(r[3], r[4], r[5]) for r in platform.records() if r[1] == coal]
        assert coal_rows == [(81240, -2, FLAG_MANUAL), (81240, -2, FLAG_MANUAL | FLAG_INVALID),
                             (80240, -2, FLAG_MANUAL)], coal_rows
        listing = tanji('gateway', 'entries', '--config', str(config)).stdout
        assert '[corrected by %s]' % correction_id in listing and 'weighbridge ticket misread' in listing
        assert '[withdrawn by' in listing and 'lab report was for another batch' in listing
        assert listing.count('[live]') == 1, listing
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()


def ncv_id(config, code: str) -> str:
    listing = tanji('gateway', 'entries', '--config', str(config)).stdout
    return next(line.split()[0] for line in listing.splitlines() if '  %s  ' % code in line)


def test_a_wrong_unit_id_is_named_and_a_serial_setting_on_a_tcp_bus_is_refused(tmp_path):
    """Item 6: `meter refused: other error` named neither meter address nor unit id, and
    `port = 17502` (meant: tcp_port) was accepted for a TCP bus."""
    rig = ModbusRig(tmp_path)
    platform = Platform(tmp_path, 'GW-FAULT')
    gw = None
    try:
        config = gateway_config(tmp_path, platform.key_path, platform.url, tmp_path / 'data', modbus_port=rig.port,
                                points=1, every_s=1)
        good = config.read_text()
        config.write_text(good.replace('tcp_port = %d' % rig.port, 'port = %d' % rig.port))
        r = tanji('gateway', 'run', '--config', str(config), check=False)
        assert r.returncode == 2 and 'bus[1]: port: not a setting of a modbus-tcp bus' in r.stderr \
            and 'did you mean tcp_port?' in r.stderr, r.stderr
        config.write_text(good.replace('unit_id = 1', 'unit_id = 7'))
        gw = GatewayProcess(tmp_path, config)
        key = 'm1/%s' % energy_codes(1)[0]
        gw.wait_log('point %s: meter m1 (unit id 7 on 127.0.0.1:%d)' % (key, rig.port))
        status = gw.wait_status(lambda s: (_point(s, key) or {}).get('missing', 0) >= 1)
        assert 'unit id 7' in _point(status, key)['last_reason']
        shown = tanji('gateway', 'status', '--config', str(config), check=False)
        assert shown.returncode == 1, shown.stderr                      # alarms: exit 1
        assert 'centre platform: ' in shown.stdout and 'bus meters (modbus-tcp): up' in shown.stdout
        assert '  ALARM point %s: meter m1 (unit id 7' % key in shown.stdout, shown.stdout
        gw.stop()
        assert 'NOT RUNNING?' not in shown.stdout
    finally:
        if gw is not None and gw.proc.poll() is None:
            gw.stop()
        platform.stop()
        rig.stop()
