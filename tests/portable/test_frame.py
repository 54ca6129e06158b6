from shared.codec import frame, mp, sm2
from shared.codec import flags
from shared.codec.frame import FrameError, Record
from portable_helpers import COAL, ENERGY, POWER, T0, UNITS, raises, sample_records

KEY = sm2.PrivateKey.generate()


def _frame(records=None, units=None, gw='GW-SZ-0001'):
    return frame.encode(gw, records or sample_records(), units or UNITS, KEY.sign)


def _code(fn, *args):
    return raises(FrameError, fn, *args).code


def _envelope(body_doc, sig=None):
    body = mp.packb(body_doc)
    return mp.packb([1, body, sig or KEY.sign(body)])


def _body_doc(data):
    return mp.unpackb(mp.unpackb(data)[1])


def test_round_trip_keeps_every_field_exactly():
    recs = sample_records(12)
    f = frame.decode(_frame(recs))
    assert f.gateway_id == 'GW-SZ-0001'
    assert (f.seq_first, f.seq_last) == (100, 111)
    assert [r.as_tuple() for r in f.records] == [r.as_tuple() for r in recs]
    assert f.records[0].value_text() == '123456789.012'
    assert f.records[4].value is None and f.records[4].flags == flags.FLAG_MISSING
    assert flags.flag_names(f.records[2].flags) == ['manual']
    assert f.unit_of(ENERGY) == 'kWh' and f.unit_of(COAL) == 't'
    assert f.verify(KEY.public_key)


def test_body_is_deterministic_and_carries_each_code_once():
    recs = sample_records(30)
    b1, _ = frame.build_body('GW-1', recs, UNITS)
    b2, _ = frame.build_body('GW-1', recs, UNITS)
    assert b1 == b2
    doc = mp.unpackb(b1)
    assert [c[0] for c in doc['codes']] == [ENERGY, POWER, COAL]
    assert doc['s0'] == 100 and len(doc['recs']) == 30


def test_large_registers_and_mixed_precision_round_trip():
    recs = [Record(1, ENERGY, T0, 99999999999999999, -4, 0),     # 17 significant digits
            Record(2, ENERGY, T0 + 1000, 123, -1, 0),            # coarser: rescaled exactly
            Record(3, POWER, T0 + 2000, 1.25, 0, 0),             # a float stays a float
            Record(4, POWER, T0 + 3000, -42, 0, 0)]
    f = frame.decode(_frame(recs))
    assert f.records[0].value_text() == '9999999999999.9999'
    assert f.records[1].value_text() == '12.3000'
    assert f.records[2].value == 1.25 and isinstance(f.records[2].value, float)
    assert f.records[3].value_text() == '-42'


def test_time_unit_is_the_coarsest_exact_one_and_steps_may_go_back():
    minute = [Record(i, ENERGY, T0 + (i % 3) * 60000 - (i // 3) * 120000, 100 + i, 0, 0) for i in range(6)]
    f = frame.decode(_frame(minute))
    assert f.tu == 60000
    assert [r.ts_ms for r in f.records] == [r.ts_ms for r in minute]
    ms = [Record(1, ENERGY, T0 + 7, 1, 0, 0), Record(2, ENERGY, T0 + 1000, 2, 0, 0)]
    f = frame.decode(_frame(ms))
    assert f.tu == 1 and f.records[0].ts_ms == T0 + 7


def test_flipping_any_body_byte_fails_verification():
    data = _frame(sample_records(3))
    f = frame.decode(data)
    body = f.body
    for i in range(len(body)):
        flipped = body[:i] + bytes((body[i] ^ 0x01,)) + body[i + 1:]
        assert not KEY.public_key.verify(flipped, f.signature), i
    sig = f.signature
    for i in (0, 31, 32, 63):
        assert not KEY.public_key.verify(body, sig[:i] + bytes((sig[i] ^ 0x80,)) + sig[i + 1:])


def test_every_record_has_a_short_inclusion_proof():
    recs = sample_records(25)
    f = frame.decode(_frame(recs))
    for i, rec in enumerate(f.records):
        path = f.proof(i)
        assert len(path) <= 5
        assert frame.verify_record_proof(f.gateway_id, rec, i, len(f.records), path, f.root)
    altered = Record(recs[3].seq, recs[3].code, recs[3].ts_ms, recs[3].value + 1, recs[3].exp, recs[3].flags)
    assert not frame.verify_record_proof(f.gateway_id, altered, 3, 25, f.proof(3), f.root)
    assert not frame.verify_record_proof('GW-OTHER', f.records[3], 3, 25, f.proof(3), f.root)


def test_encoder_refuses_bad_records():
    good = sample_records(3)
    assert _code(frame.encode, 'GW 1', good, UNITS, KEY.sign) == 'body'
    assert _code(frame.encode, 'GW-1', [], UNITS, KEY.sign) == 'records'
    backwards = [good[1], good[0]]
    assert _code(frame.encode, 'GW-1', backwards, UNITS, KEY.sign) == 'body'
    assert _code(frame.encode, 'GW-1', [good[0], good[0]], UNITS, KEY.sign) == 'body'
    assert _code(frame.encode, 'GW-1', good, UNITS, KEY.sign, 'tanji-db35-2021-v1', good[0].seq + 1) == 'body'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, None, 0, 0)], UNITS, KEY.sign) == 'records'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, 'x', 0, 0)], UNITS, KEY.sign) == 'records'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, 1, 0, 70000)], UNITS, KEY.sign) == 'records'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, 2 ** 63, 0, 0)], UNITS, KEY.sign) == 'records'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, float('nan'), 0, 0)], UNITS, KEY.sign) == 'records'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, 5, 1, 0, 0)], UNITS, KEY.sign) == 'records'
    assert _code(frame.encode, 'GW-1', [Record(1, '990420101001', T0, 1, 0, 0)], UNITS, KEY.sign) == 'codes'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, 1, 0, 0)], {ENERGY: 't'}, KEY.sign) == 'codes'
    assert _code(frame.encode, 'GW-1', [Record(1, ENERGY, T0, 1, 0, 0)], {}, KEY.sign) == 'codes'
    assert _code(frame.encode, 'GW-1', good, UNITS, lambda body: b'short') == 'signature'


def test_decoder_refuses_malformed_envelopes():
    data = _frame()
    env = mp.unpackb(data)
    assert _code(frame.decode, b'') == 'malformed'
    assert _code(frame.decode, data[:-1]) == 'malformed'
    assert _code(frame.decode, data + b'\x00') == 'malformed'
    assert _code(frame.decode, mp.packb({'v': 1})) == 'malformed'
    assert _code(frame.decode, mp.packb([1, env[1]])) == 'malformed'
    assert _code(frame.decode, mp.packb([2, env[1], env[2]])) == 'version'
    assert _code(frame.decode, mp.packb(['1', env[1], env[2]])) == 'malformed'
    assert _code(frame.decode, mp.packb([1, 'text', env[2]])) == 'malformed'
    assert _code(frame.decode, mp.packb([1, env[1], env[2][:63]])) == 'malformed'
    assert _code(frame.decode, mp.packb([1, env[1] + b'\x00', env[2]])) == 'malformed'
    assert _code(frame.decode, mp.packb([1, b'\xc1', env[2]])) == 'malformed'
    assert _code(frame.decode, data, 10) == 'too_large'
    assert _code(frame.decode, data, None, 2) == 'too_large'
    assert _code(frame.decode, 'text') == 'malformed'


def test_decoder_refuses_inconsistent_bodies():
    good = _body_doc(_frame())

    def with_(key, value):
        d = dict(good)
        if value is None:
            del d[key]
        else:
            d[key] = value
        return _envelope(d)

    assert _code(frame.decode, with_('extra', 1)) == 'body'
    assert _code(frame.decode, with_('gw', None)) == 'body'
    assert _code(frame.decode, with_('gw', '')) == 'body'
    assert _code(frame.decode, with_('s0', -1)) == 'body'
    assert _code(frame.decode, with_('s0', 2 ** 63)) == 'body'
    assert _code(frame.decode, with_('t0', 12)) == 'body'
    assert _code(frame.decode, with_('tu', 7)) == 'body'
    assert _code(frame.decode, with_('root', b'\x00' * 31)) == 'body'
    assert _code(frame.decode, with_('root', b'\x00' * 32)) == 'root_mismatch'
    assert _code(frame.decode, with_('cv', 'unknown-tables')) == 'codes'
    assert _code(frame.decode, with_('codes', [])) == 'codes'
    assert _code(frame.decode, with_('codes', [[ENERGY, -3, 'kWh'], [ENERGY, -3, 'kWh'], [COAL, -2, 't']])) == 'codes'
    assert _code(frame.decode, with_('codes', [[ENERGY, -3, 'GJ'], [POWER, -1, 'kW'], [COAL, -2, 't']])) == 'codes'
    assert _code(frame.decode, with_('codes', [[ENERGY, -30, 'kWh'], [POWER, -1, 'kW'], [COAL, -2, 't']])) == 'codes'
    assert _code(frame.decode, with_('codes', [['08-04-201-01-001', -3, 'kWh'], [POWER, -1, 'kW'], [COAL, -2, 't']])) == 'codes'
    assert _code(frame.decode, with_('recs', [])) == 'records'
    recs = good['recs']
    assert _code(frame.decode, with_('recs', [[9, 0, 1]] + recs[1:])) == 'records'
    assert _code(frame.decode, with_('recs', [[0, 0]] + recs[1:])) == 'records'
    assert _code(frame.decode, with_('recs', [[0, 0, None]] + recs[1:])) == 'records'
    assert _code(frame.decode, with_('recs', [[0, 0, True]] + recs[1:])) == 'records'
    assert _code(frame.decode, with_('recs', [[0, 2 ** 40, 1]] + recs[1:])) == 'records'
    assert _code(frame.decode, with_('recs', [[0, -2 ** 32, 1]] + recs[1:])) == 'records'
    assert _code(frame.decode, with_('recs', [[0, 0, 1, -1]] + recs[1:])) == 'records'
    # a changed value no longer matches the signed root
    assert _code(frame.decode, with_('recs', [[0, 0, 1]] + recs[1:])) == 'root_mismatch'


def test_sequence_gaps_are_declared_lost_and_round_trip():
    recs = sample_records(6, seq0=100)
    kept = [recs[0], recs[1], recs[4], recs[5]]
    kept = [Record(r.seq, r.code, r.ts_ms, r.value, r.exp, r.flags) for r in kept]
    kept[2].seq, kept[3].seq = 110, 111          # 102..109 thinned away
    data = frame.encode('GW-1', kept, UNITS, KEY.sign, 'tanji-db35-2021-v1', 97)   # 97..99 dropped before
    f = frame.decode(data)
    assert (f.seq_first, f.seq_last, len(f.records), f.declared_lost()) == (97, 111, 4, 11)
    assert f.lost_ranges() == [(97, 99), (102, 109)]
    assert [r.seq for r in f.records] == [100, 101, 110, 111]
    assert [r.value for r in f.records] == [r.value for r in kept]
    items = _body_doc(data)['recs']
    assert [len(i) for i in items] == [5, 3, 5, 3] and [i[4] for i in items if len(i) == 5] == [4, 9]
    for i, r in enumerate(f.records):
        assert frame.verify_record_proof('GW-1', r, i, len(f.records), f.proof(i), f.root)
    assert frame.decode(_frame()).declared_lost() == 0


def _gappy():
    recs = [Record(r.seq, r.code, r.ts_ms, r.value, r.exp, r.flags) for r in sample_records(4, seq0=100)]
    recs[2].seq, recs[3].seq = 110, 111           # 102..109 not held
    return recs


def test_declared_losses_carry_their_causes_signed():
    lost = [(97, 99, 'dropped'), (102, 104, 'corrupt'), (105, 105, 'unframeable'), (106, 109, 'thinned')]
    f = frame.decode(frame.encode('GW-1', _gappy(), UNITS, KEY.sign, 'tanji-db35-2021-v1', 97, lost))
    assert f.lost == lost and f.loss_causes() == lost
    partial = frame.decode(frame.encode('GW-1', _gappy(), UNITS, KEY.sign, 'tanji-db35-2021-v1', 97,
                                        [(103, 104, 'disk_full')]))
    assert partial.loss_causes() == [(97, 99, 'unknown'), (102, 102, 'unknown'), (103, 104, 'disk_full'),
                                     (105, 109, 'unknown')]
    assert 'lost' not in _body_doc(_frame())       # no losses, no key: bodies stay as they were


def test_loss_causes_must_describe_declared_losses():
    for bad in ([(100, 100, 'corrupt')],                       # a number the frame carries
                [(98, 103, 'corrupt')],                        # across a carried record
                [(102, 103, 'corrupt'), (103, 104, 'thinned')],    # overlapping
                [(105, 106, 'thinned'), (102, 103, 'corrupt')],    # unsorted
                [(102, 103, 'lost in the post')]):             # not a cause
        raises(FrameError, frame.encode, 'GW-1', _gappy(), UNITS, KEY.sign, 'tanji-db35-2021-v1', 97, bad)
        doc = _body_doc(frame.encode('GW-1', _gappy(), UNITS, KEY.sign, 'tanji-db35-2021-v1', 97))
        doc['lost'] = [list(e) for e in bad]
        assert _code(frame.decode, _envelope(doc)) == 'body', bad
    doc['lost'] = []
    assert _code(frame.decode, _envelope(doc)) == 'body'


def test_decoder_refuses_bad_skips():
    doc = _body_doc(_frame(sample_records(3)))
    for bad in (1, 0, -3, 'x', 2 ** 33):
        d = dict(doc)
        d['recs'] = [list(doc['recs'][0]) + ([0] if len(doc['recs'][0]) == 3 else []) + [bad]] + doc['recs'][1:]
        assert _code(frame.decode, _envelope(d)) == 'records', bad
    d = dict(doc)
    d['recs'] = [list(doc['recs'][0]) + [0, 2, 9]] + doc['recs'][1:]
    assert _code(frame.decode, _envelope(d)) == 'records'


def test_decoder_refuses_non_string_body_keys():
    doc = _body_doc(_frame(sample_records(3)))
    body = mp.packb(doc)
    # replace one key by a bin of the same text: a map with str and bin keys must not crash sorting
    mixed = body.replace(b'\xa2cv', b'\xc4\x02cv', 1)
    assert mixed != body
    assert _code(frame.decode, mp.packb([1, mixed, KEY.sign(mixed)])) in ('body', 'malformed')
