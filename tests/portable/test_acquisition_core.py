"""The portable acquisition core: Modbus codec, register decoding, 4-20 mA loops, the
bus scheduler, rollover/reset flags, the intake, MQTT packets and payloads, manual
entries, HJ 212 readings, units, calendar.  Runs on CPython and MicroPython."""

import json

from firmware.drivers import analog, hj212, manual, modbus, mqtt, polled, registers
from firmware.lib import cumulative, polling
from firmware.lib.intake import Intake
from portable_helpers import raises
from shared import civil, units
from shared.codec.flags import FLAG_INVALID, FLAG_MANUAL, FLAG_MISSING, FLAG_RESET, FLAG_ROLLOVER, FLAG_SUSPECT


# -- Modbus ---------------------------------------------------------------------------------

def test_modbus_crc_check_value():
    assert modbus.crc16(b'123456789') == 0x4B37          # CRC-16/MODBUS check value (meters.md §3)


def test_modbus_rtu_read_request_known_frame():
    # read 2 holding registers at 0 from unit 1: the frame every Modbus tool prints
    assert modbus.rtu_adu(1, modbus.pdu_read(modbus.READ_HOLDING, 0, 2)) == bytes.fromhex('010300000002c40b')


def test_modbus_rtu_reply_byte_by_byte_and_errors():
    reply = modbus.rtu_adu(1, modbus.pdu_registers(modbus.READ_HOLDING, [0x1234, 0xFFFF]))
    r = modbus.RtuReply(1, modbus.READ_HOLDING, 2)
    for b in reply[:-1]:
        assert r.feed(bytes((b,))) is None
    assert r.feed(reply[-1:]) == [0x1234, 0xFFFF]
    bad = bytearray(reply)
    bad[3] ^= 1
    assert raises(modbus.ModbusError, modbus.RtuReply(1, 3, 2).feed, bytes(bad)).code == 'checksum'
    exc = modbus.rtu_adu(1, modbus.pdu_exception(3, 2))
    e = raises(modbus.ModbusError, modbus.RtuReply(1, 3, 2).feed, exc)
    assert e.code == 'refused' and 'illegal data address' in e.reason
    assert raises(modbus.ModbusError, modbus.RtuReply(2, 3, 2).feed, reply).code == 'address'
    short = modbus.rtu_adu(1, modbus.pdu_registers(3, [1]))
    assert raises(modbus.ModbusError, modbus.RtuReply(1, 3, 2).feed, short).code == 'format'


def test_modbus_tcp_reply_skips_a_late_answer_to_an_earlier_request():
    late = modbus.tcp_adu(6, 1, modbus.pdu_registers(3, [1]))
    now = modbus.tcp_adu(7, 1, modbus.pdu_registers(3, [2]))
    r = modbus.TcpReply(7, 1, 3, 1)
    assert r.feed(late) is None
    assert r.feed(now) == [2]


def test_modbus_server_side_parses_requests_and_resyncs():
    reqs = modbus.RtuRequests()
    frame = modbus.rtu_adu(5, modbus.pdu_read(modbus.READ_INPUT, 10, 4))
    got = reqs.feed(b'\x00\xff' + frame)
    assert len(got) == 1 and (got[0].unit, got[0].function, got[0].address, got[0].count) == (5, 4, 10, 4)
    w = modbus.RtuRequests().feed(modbus.rtu_adu(1, modbus.pdu_write(3, [7, 8])))[0]
    assert (w.function, w.address, w.values) == (modbus.WRITE_MULTIPLE, 3, [7, 8])


def test_register_types_and_orders():
    for kind, value in (('u16', 65535), ('s16', -2), ('u32', 4000000000), ('s32', -123456), ('u64', 2 ** 63 + 5),
                        ('s64', -5), ('f32', 1.5), ('f64', -0.1)):
        for wo in ('big', 'little'):
            for bo in ('big', 'little'):
                assert registers.raw_value(registers.to_words(value, kind, wo, bo), kind, wo, bo) == value
    # word order little: the low word first (a common power-meter layout)
    assert registers.raw_value([0x5678, 0x1234], 'u32', 'little') == 0x12345678
    assert registers.raw_value([0x3412, 0x7856], 'u32', 'big', 'little') == 0x12345678
    raises(registers.RegisterError, registers.width, 'u24')


def test_scaling_is_exact():
    assert registers.Scaling('0.01').apply(1234567890123) == (1234567890123, -2)
    assert registers.Scaling('0.1', '-40').apply(655) == (655 - 400, -1)     # 65.5 - 40 = 25.5
    assert registers.Scaling('2.5').apply(3) == (75, -1)
    value, exp = registers.Scaling('0.5', '1').apply(3.0)
    assert (value, exp) == (2.5, 0)


def test_analog_loop_namur_states():
    loop = analog.Loop('0', '800')
    assert loop.convert(12000, -3)[:3] == (400, 0, 0)
    assert loop.convert(4, 0)[:3] == (0, 0, 0)
    assert loop.convert(20, 0)[:3] == (800, 0, 0)
    assert loop.convert(2, 0)[2] == FLAG_MISSING and loop.convert(2, 0)[0] is None
    assert loop.convert(3700, -3)[2] == FLAG_INVALID          # under range, value kept
    assert loop.convert(20800, -3)[:3] == (840, 0, FLAG_INVALID)
    assert loop.convert(22, 0)[0] is None
    value, exp, _, _ = analog.Loop('-50', '150').convert(5, 0)    # 1/16 of the span above low
    assert (value, exp) == (-375, -1)
    raises(analog.AnalogError, analog.Loop, '5', '5')


# -- scheduling, flags, intake ------------------------------------------------------------------

def test_scheduler_slots_degradation_and_recovery():
    s = polling.BusScheduler({'a': {'a/e': 60}, 'b': {'b/e': 60, 'b/h': 3600}}, now=1000, degrade_after=2,
                             probe_s=300, probe_max_s=600)
    assert s.next(1000) == (polling.WAIT, 1020)            # the next full minute
    action = s.next(1020)
    assert action[0] == polling.POLL and action[1] == 'a'
    assert s.done('a', ['a/e'], True, 1020.5) == []
    action = s.next(1021)
    assert action[0] == polling.POLL and action[1] == 'b' and action[2] == ['b/e']
    s.done('b', ['b/e'], False, 1021)
    assert s.next(1080)[1] == 'a'
    s.done('a', ['a/e'], True, 1080.1)
    assert s.next(1080.2)[1] == 'b'
    s.done('b', ['b/e'], False, 1081)                       # second failure: degraded, probe in 300 s
    assert s.meters['b'].degraded
    # its slots pass unread (logged as missing by the caller) until the probe at 1381; others carry on
    assert s.next(1140) == (polling.SKIP, 'b', [('b/e', 1140)])
    assert s.next(1140)[:2] == (polling.POLL, 'a')
    s.done('a', ['a/e'], True, 1140.1)
    assert s.next(1141) == (polling.WAIT, 1200)
    # a bus that fell behind reports the slots it could not serve
    s2 = polling.BusScheduler({'m': {'p': 10}}, now=0)
    s2.next(0)
    assert s2.done('m', ['p'], True, 35) == [('p', 10), ('p', 20), ('p', 30)]
    # a good answer while degraded brings the meter back
    s3 = polling.BusScheduler({'m': {'p': 10}}, now=0, degrade_after=1, probe_s=30)
    s3.next(0)
    s3.done('m', ['p'], False, 0.5)
    assert s3.next(10)[0] == polling.SKIP
    assert s3.next(30.5)[0] == polling.POLL
    s3.done('m', ['p'], True, 30.6)
    assert not s3.meters['m'].degraded and s3.next(40)[0] == polling.POLL


def test_cumulative_rollover_reset_and_jump():
    assert cumulative.increment(999990, 10, 10 ** 6) == (20, FLAG_ROLLOVER)
    assert cumulative.increment(500000, 10, 10 ** 6) == (None, FLAG_RESET)
    assert cumulative.increment(100, 150, 10 ** 6, max_increment=100) == (50, 0)
    assert cumulative.increment(100, 50000, 10 ** 6, max_increment=100) == (None, FLAG_SUSPECT)
    t = cumulative.Tracker()
    assert t.check('k', 999900, -2, 0, modulus_digits=4) == (0, None)
    assert t.check('k', 50, -2, 60000, modulus_digits=4) == (FLAG_ROLLOVER, None)
    flag, why = t.check('k', 10, -2, 120000, modulus_digits=4, unit='kWh')
    assert flag == FLAG_RESET and 'fell from 0.50 to 0.10 kWh' in why
    # no modulus known: a drop cannot be told from a wrong register type (u16 for u32)
    assert t.check('n', 98765432, -2, 0) == (0, None)
    flag, why = t.check('n', 1507, -2, 60000, unit='kWh')
    assert flag == FLAG_SUSPECT and 'fell from 987654.32 to 15.07 kWh' in why and 'register type' in why
    # mixed exponents and floats compare by value
    assert t.check('f', 12.5, 0, 0) == (0, None) and t.check('f', 1251, -2, 1000)[0] == 0
    assert t.check('f', 12.0, 0, 2000)[0] == FLAG_SUSPECT


def test_a_jump_above_twice_the_recent_monthly_total_is_suspect():
    """seed 001 §8.1.2, judged once a day of history exists."""
    t = cumulative.Tracker()
    hour = 3600000
    value = 100000                                   # 1000.00 kWh, 1 kWh per hour
    for h in range(25):
        assert t.check('k', value + h * 100, -2, h * hour) == (0, None)
    assert abs(t.monthly('k') - 720.0) < 1e-6       # 1 kWh/h × 30 days
    flag, why = t.check('k', value + 24 * 100 + 144100, -2, 25 * hour, unit='kWh')
    assert flag == FLAG_SUSPECT and 'twice its recent monthly total' in why and '§8.1.2' in why
    assert t.check('k', value + 24 * 100 + 144100 + 144000, -2, 26 * hour)[0] == 0   # 1440 kWh: twice the month
    # an idle point (nothing consumed yet) and a young one are not judged
    idle = cumulative.Tracker()
    for h in range(30):
        idle.check('i', 500, 0, h * hour)
    assert idle.check('i', 900000, 0, 30 * hour) == (0, None)
    # an amount per period, by the same rule
    a = cumulative.Tracker()
    for h in range(26):
        assert a.check_amount('a', 10, 0, h * hour) == (0, None)
    assert a.check_amount('a', 15000, 0, 26 * hour)[0] == FLAG_SUSPECT and a.check_amount('a', 14400, 0, 27 * hour)[0] == 0


def test_intake_units_range_and_missing():
    point = polled.Point('m/e', 80420101001, 'MWh', 60, 0x00010000, low=(0, 0), high=(1000, 0), register_digits=6)
    intake = Intake()
    r = intake.measured(point, 1234567, -2, 'kWh', 1000)
    assert r == (80420101001, 1000, 1234567, -5, 0, 'MWh')           # 12345.67 kWh = 12.34567 MWh, same digits
    r = intake.measured(point, 123456789, -2, 'kWh', 2000)
    assert r[4] == FLAG_INVALID                                      # 1234.56789 MWh > 1000
    r = intake.measured(point, 5, 0, 'GJ', 3000)
    assert r[2] is None and r[4] == FLAG_MISSING and 'cannot convert GJ to MWh' in intake.last_reason['m/e']
    assert intake.missing(point, 4000, 'no answer') == (80420101001, 4000, None, 0, FLAG_MISSING, 'MWh')
    assert intake.counts['m/e'] == [1, 2, 1, 0]


def test_intake_judges_physical_range_and_registers_in_the_points_unit():
    register = polled.Point('m/e', 80420101001, 'MWh', 60, 0x00010000, register_digits=6)
    intake = Intake()
    assert intake.measured(register, 99999990, -2, 'kWh', 0)[4] == 0               # 999999.90 kWh
    assert intake.measured(register, 10, -2, 'kWh', 60000)[4] == FLAG_ROLLOVER      # wrapped at 10^6 kWh
    r = intake.measured(register, -5, 0, 'kWh', 120000)
    assert r[4] == FLAG_INVALID and r[2] == -5 and 'below 0' in intake.last_reason['m/e']
    # a register read without digits configured, judged against the log after a restart
    plain = polled.Point('m/p', 80420101002, 'kWh', 60, 0x00010000)
    fresh = Intake()
    fresh.seed(plain, (-86400000, 98760000, -2), (0, 98765432, -2))      # 54.32 kWh over the last day
    assert abs(fresh.tracker.monthly('m/p') - 54.32 * 30) < 1e-6
    r = fresh.measured(plain, 1507, -2, 'kWh', 60000)
    assert r[4] == FLAG_SUSPECT and r[2] == 1507 and 'register type' in fresh.last_reason['m/p']
    # a percentage above 100 is impossible; an instantaneous rate may be anything
    percent = polled.Point('q/o', 80100106001, '%', 60, 0)
    assert Intake().measured(percent, 1005, -1, '%', 0)[4] == FLAG_INVALID


def test_units():
    assert units.convert(1234567, -2, 'kWh', 'MWh') == (1234567, -5)
    assert units.convert(5, 0, '10^4 Nm3', 'Nm3') == (5, 4)
    assert units.convert(2.5, 0, 't', 'kg') == (2500.0, 0)
    raises(units.UnitError, units.convert, 1, 0, 'm3', 'Nm3')
    raises(units.UnitError, units.convert, 1, 0, 'kWh', 'GJ')


def test_civil_round_trip():
    for days in (-719468, -1, 0, 59, 10957, 20000, 47482):
        assert civil.days_from_civil(*civil.civil_from_days(days)) == days
    assert civil.civil_from_days(0) == (1970, 1, 1)
    assert civil.local_fields(1795000000000, 8 * 3600) == (2026, 11, 18, 19, 6, 40)


# -- MQTT -------------------------------------------------------------------------------------

def test_mqtt_packets_round_trip():
    p = mqtt.Parser()
    wire = mqtt.publish('plant/a', b'x' * 300, qos=1, packet_id=513) + mqtt.puback(9) + mqtt.pingreq()
    packets = []
    for i in range(len(wire)):
        packets += p.feed(wire[i:i + 1])
    assert [x.type for x in packets] == [mqtt.PUBLISH, mqtt.PUBACK, mqtt.PINGREQ]
    topic, payload, qos, pid, retain, dup = packets[0].publish()
    assert (topic, len(payload), qos, pid, retain) == ('plant/a', 300, 1, 513, False)
    assert packets[1].packet_id() == 9
    c = mqtt.connect('gw', 30, clean=False, username='u', password='p')
    assert c[0] == 0x10 and c[8] == 4 and c[9] == 0xC0       # protocol level 4; user + password, no clean


def test_mqtt_payloads():
    doc = {'readings': [{'code': '08-04-201-01-001', 't': 1795000000000, 'v': '12345678901234.56', 'unit': 'kWh'},
                        {'code': '080420114001', 't': 1795000000000, 'v': None, 'unit': 'kW', 'flags': 1}]}
    got = mqtt.readings(json.dumps(doc).encode())
    assert got[0] == (80420101001, 1795000000000, 1234567890123456, -2, 0, 'kWh')
    assert got[1][2] is None and got[1][4] == FLAG_MISSING
    assert mqtt.readings(b'') == []
    for bad, words in (({'code': '080420101001', 't': 1795000000000, 'v': '1', 'unit': 'GJ'}, 'unit'),
                       ({'code': '080420101001', 'v': '1', 'unit': 'kWh'}, '"t"'),
                       ({'code': '080420101001', 't': 1795000000000, 'v': 'NaN', 'unit': 'kWh'}, 'decimal'),
                       ({'code': '999999999999', 't': 1795000000000, 'v': '1', 'unit': 'kWh'}, '999999999999')):
        e = raises(mqtt.PayloadError, mqtt.readings, json.dumps(bad).encode())
        assert words in str(e), (words, str(e))
    raises(mqtt.PayloadError, mqtt.readings, b'\xc1')


# -- manual entry, HJ 212 -------------------------------------------------------------------------

def test_manual_entry():
    now = 1795000000000
    doc = {'code': '080100202001', 'value': '1250.5', 'unit': 't', 'from': '2026-10-01', 'to': '2026-10-31',
           'evidence': 'weighbridge 2026-10', 'operator': 'li.wei'}
    reading, journal = manual.entry(doc, now)
    # the period ends at the end of 31 October, Beijing time
    assert reading == (80100202001, (civil.days_from_civil(2026, 11, 1) * 86400 - 8 * 3600) * 1000, 12505, -1,
                       FLAG_MANUAL, 't')
    assert journal['evidence'] == 'weighbridge 2026-10' and journal['from_ms'] < journal['to_ms']
    for change, words in (({'unit': 'MWh'}, 'unit'), ({'value': 12.5}, 'decimal text'), ({'evidence': ' '}, 'evidence'),
                          ({'to': '2026-09-01'}, 'end after'), ({'to': '2027-01-01'}, 'future'),
                          ({'from': '2026-13-01'}, 'valid'), ({'code': '08'}, 'code')):
        d = dict(doc)
        d.update(change)
        assert words in str(raises(manual.EntryError, manual.entry, d, now)), change


def test_hj212_readings_from_a_minute_message():
    seg = ('QN=20261118202640001;ST=31;CN=2051;PW=123456;MN=88888880000001;Flag=5;'
           'CP=&&DataTime=20261118202600;a00000-Cou=2999.97,a00000-Flag=N;a21026-Avg=11.50,a21026-Flag=M&&')
    msg = hj212.Parser().feed(hj212.frame(seg))[0]
    mapping = {('2051', 'a00000', 'Cou'): (80100213001, 'm3/h'), ('2051', 'a21026', 'Avg'): (80100212001, '%')}
    from shared.codec import decimals
    got, unmapped = hj212.readings(msg, mapping, 8 * 3600, decimals.parse)
    t = (civil.days_from_civil(2026, 11, 18) * 86400 + 20 * 3600 + 26 * 60 - 8 * 3600) * 1000
    assert (80100213001, t, 299997, -2, 0, 'm3/h') in got
    assert (80100212001, t, 1150, -2, FLAG_INVALID, '%') in got        # M: maintenance, not a valid measurement
    assert unmapped == []
