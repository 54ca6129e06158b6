"""Configuration versions, edits and forms without a running gateway (issue 15, item 4):
what the page writes is what the TOML loader accepts, the file keeps the engineer's
comments, every applied text is a version, and the gateway's identity is not editable."""

from __future__ import annotations

import tomllib

import pytest

from firmware.confedit import Document
from firmware.reconfigure import SOURCE_SECTIONS, changed_sections
from firmware.settings import GatewayConfigError
from firmware.versions import Versions, check
from firmware.web import forms
from gateway_process import energy_codes

CODES = energy_codes(3)


def _text(tmp_path) -> str:
    from shared.codec import sm2
    key = tmp_path / 'gw.key'
    if not key.exists():
        key.write_bytes(sm2.PrivateKey.generate().to_der())
    return '''# the test gateway: keep this comment
[gateway]
id = "GW-T"          # its id
key = "%s"
data_dir = "%s"

[[centre]]
name = "platform"
url = "http://127.0.0.1:9/api/v1/frames"

[[bus]]
name = "line1"
protocol = "modbus-tcp"
host = "127.0.0.1"

[[meter]]
name = "m1"
bus = "line1"

[[point]]
meter = "m1"
code = "%s"
unit = "kWh"
register = { address = 0, type = "u32", scale = "0.01" }
''' % (key, tmp_path / 'data', CODES[0])


def test_an_edit_keeps_the_files_comments_and_renames_carry_their_meters_and_points(tmp_path):
    doc = Document(_text(tmp_path))
    doc.put('bus', 'line1', {'name': 'lineA', 'protocol': 'modbus-tcp', 'host': '127.0.0.1', 'tcp_port': 1502})
    doc.put('point', None, {'meter': 'm1', 'code': CODES[1], 'unit': 'kWh', 'register': {'address': 2}})
    text = doc.text()
    assert '# the test gateway: keep this comment' in text and '# its id' in text
    parsed = tomllib.loads(text)
    assert parsed['meter'][0]['bus'] == 'lineA' and [p['code'] for p in parsed['point']] == CODES[:2]
    check(text)                                                  # the loader accepts it as it is
    assert doc.children('bus', 'lineA') == [('meter', 'm1'), ('point', CODES[0]), ('point', CODES[1])]
    assert doc.remove('meter', 'm1') == [('meter', 'm1'), ('point', CODES[0]), ('point', CODES[1])]
    assert 'point' not in tomllib.loads(doc.text()) and 'meter' not in tomllib.loads(doc.text())


def test_a_form_becomes_the_values_the_file_would_hold_and_its_mistakes_stay_next_to_their_field():
    fields = forms.fields_for('point', 'modbus-tcp', {'meter': ['m1'], 'bus': ['line1']})
    names = [f.name for f in fields]
    assert names[:4] == ['meter', 'code', 'unit', 'every'] and 'register.address' in names and 'register.type' in names
    values, errors = forms.from_form(fields, {'meter': 'm1', 'code': CODES[1], 'unit': 'kWh', 'every': 'minute',
                                              'register.address': '4', 'register.type': 'f32', 'register.scale': '1',
                                              'low': '', 'high': '5000'})
    assert errors == {}
    # a default is left out (every, scale), so the file says only what was chosen
    assert values == {'meter': 'm1', 'code': CODES[1], 'unit': 'kWh', 'high': '5000',
                      'register': {'address': 4, 'type': 'f32'}}
    values, errors = forms.from_form(fields, {'meter': 'm9', 'code': '', 'unit': 'kWh', 'every': 'often',
                                              'register.address': '70000', 'register.type': 'u32'})
    assert {k: e.key for k, e in errors.items()} == {'meter': 'err_choice', 'code': 'err_required',
                                                     'every': 'err_number', 'register.address': 'err_setting'}
    assert 'register.address' not in values
    assert 'address must be' in errors['register.address'].values['message']
    bus = forms.fields_for('bus', 'dlt645', {})
    values, errors = forms.from_form(bus, {'name': 'b', 'protocol': 'dlt645', 'port': '/dev/ttyS1', 'baud': 'fast',
                                           'parity': 'X'})
    assert {k: e.key for k, e in errors.items()} == {'baud': 'err_integer', 'parity': 'err_choice'}
    centre = forms.fields_for('centre', None, {})
    values, errors = forms.from_form(centre, {'name': 'province', 'url': 'https://p.example/api/v1/frames',
                                              'times': '02:00, 14:00', 'plain_http': ''})
    assert errors == {} and values == {'name': 'province', 'url': 'https://p.example/api/v1/frames',
                                       'times': ['02:00', '14:00']}
    assert forms.to_form(centre, values)['times'] == '02:00, 14:00'


def test_the_loaders_verdict_lands_on_the_field_it_names():
    fields = forms.fields_for('point', 'modbus-tcp', {'meter': ['m1']})
    assert forms.place_error("point[2]: unit 't' is not valid for 08-04", fields, 'point', 1) == \
        ('unit', "unit 't' is not valid for 08-04")
    assert forms.place_error('point[2]: register.address must be ...', fields, 'point', 1)[0] == 'register.address'
    # about another entry, or about the whole: above the form, said in full
    assert forms.place_error('point[1]: unit x', fields, 'point', 1) == ('form', 'point[1]: unit x')
    assert forms.place_error('at least one [[centre]] is required', fields, 'point', 1)[0] == 'form'


def test_every_applied_text_is_a_version_and_the_gateways_identity_is_not_editable(tmp_path):
    text = _text(tmp_path)
    path = tmp_path / 'gw.toml'
    path.write_text(text)
    versions = Versions(str(tmp_path / 'data'), str(path))
    first = versions.adopt_file()
    assert first.number == 1 and first.origin == 'file' and first.why == 'first start'
    assert versions.adopt_file() is None                         # the file is the latest version already
    running = check(text)
    doc = Document(text)
    doc.put('point', None, {'meter': 'm1', 'code': CODES[1], 'unit': 'kWh', 'register': {'address': 2}})
    second, cfg = versions.apply(doc.text(), 'admin', 'a second point', 'page', running)
    assert second.number == 2 and path.read_text() == doc.text() and len(cfg.sources.buses[0].points['m1']) == 2
    assert any(line.startswith('+code = "%s"' % CODES[1]) for line in versions.diff(2))
    with pytest.raises(GatewayConfigError, match='nothing changed'):
        versions.apply(doc.text(), 'admin', 'again', 'page', running)
    for key, value in (('id', '"GW-OTHER"'), ('data_dir', '"/tmp/elsewhere"')):
        edited = doc.text().replace('%s = ' % key, '%s = %s\nold_%s = ' % (key, value, key), 1)
        edited = '\n'.join(line for line in edited.splitlines() if not line.startswith('old_'))
        with pytest.raises(GatewayConfigError, match='gateway.%s: is changed only in the file' % key):
            versions.apply(edited, 'admin', 'take over', 'platform', running)
    with pytest.raises(GatewayConfigError, match='centre'):      # what the loader refuses is never written
        versions.apply(doc.text().replace('[[centre]]', '[[centres]]'), 'admin', 'typo', 'page', running)
    assert path.read_text() == doc.text() and versions.numbers() == [1, 2]
    path.write_text(text + '\n# edited by hand\n')
    hand = versions.adopt_file()
    assert hand.number == 3 and hand.origin == 'file' and 'edited at the gateway' in hand.why
    assert [v.number for v in versions.history()] == [3, 2, 1]


def test_only_changes_to_the_reading_sources_apply_without_a_restart(tmp_path):
    text = _text(tmp_path)
    doc = Document(text)
    doc.put('meter', None, {'name': 'm2', 'bus': 'line1', 'unit_id': 2})
    assert changed_sections(text, doc.text()) == {'meter'} and changed_sections(text, doc.text()) <= SOURCE_SECTIONS
    doc.put('centre', 'platform', {'name': 'platform', 'url': 'http://127.0.0.1:9/api/v1/frames', 'every_s': 5})
    assert changed_sections(text, doc.text()) == {'meter', 'centre'}


def test_the_page_listens_on_the_maintenance_interface_by_default(tmp_path):
    text = _text(tmp_path) + '\n[web]\n'
    assert (check(text).web.host, check(text).web.port) == ('127.0.0.1', 8480)     # this machine alone
    with_network = text + '\n[network]\napply = "/bin/true"\ninterface = "eth1"\naddress = "192.168.10.1/24"\n'
    assert (check(with_network).web.host, check(with_network).web.port) == ('192.168.10.1', 8480)
    for address, message in (('192.168.10.0/24', 'not a host address'), ('192.168.10.1', 'with its prefix')):
        with pytest.raises(GatewayConfigError, match=message):
            check(with_network.replace('192.168.10.1/24', address))
    with pytest.raises(GatewayConfigError, match='not in the network'):
        check(with_network + 'router = "10.0.0.1"\n')
