"""What each polled protocol declares (firmware/drivers/descriptor.py): settings a form can
be rendered from and the configuration loader checks against; portable."""

from firmware.drivers import registry
from firmware.drivers.descriptor import Field
from portable_helpers import raises


def test_every_protocol_describes_its_settings_for_a_form():
    assert sorted(registry.PROTOCOLS) == ['cjt188', 'dlt645', 'dlt645-1997', 'modbus-rtu', 'modbus-tcp']
    for name, p in registry.PROTOCOLS.items():
        doc = p.describe()
        assert doc['protocol'] == name and doc['transport'] in ('serial', 'tcp')
        assert doc['title']['zh'] and doc['title']['en']
        fields = doc['bus'] + doc['meter'] + doc['point']
        for f in fields + [s for f in fields for s in f.get('fields', [])]:
            assert f['help'].get('zh') and f['help'].get('en'), (name, f['name'])
            assert f['required'] or 'default' in f
        bus = {f['name'] for f in doc['bus']}
        assert ({'port', 'baud', 'parity'} <= bus) if p.transport == 'serial' else ({'host', 'tcp_port'} <= bus)
    assert registry.PROTOCOLS['dlt645'].time_sync is not None
    assert registry.PROTOCOLS['modbus-tcp'].time_sync is None


def test_a_protocol_builds_its_meter_and_items_from_checked_settings():
    p = registry.PROTOCOLS['dlt645']
    meter = p.make_meter({'address': p.meter_fields[0].parse('000012345678')})
    assert meter.address == '000012345678'
    assert p.point_item({'item': p.point_fields[0].parse('00010000')}) == 0x00010000
    e = raises(ValueError, p.meter_fields[0].parse, '12345')
    assert '12-digit' in str(e)
    modbus = registry.PROTOCOLS['modbus-tcp']
    item = modbus.point_item({'register': {'address': 4, 'type': 'f32', 'word_order': 'little'}})
    assert item.count == 2 and item.word_order == 'little'
    assert 'register type' in str(raises(ValueError, modbus.point_item, {'register': {'address': 4, 'type': 'f24'}}))


def test_fields_check_kind_range_and_choice():
    baud = Field('baud', 'int', 2400, low=300, high=921600)
    assert baud.value({}) == 2400 and baud.value({'baud': 9600}) == 9600
    for bad in (True, 12.5, 100, '9600'):
        assert 'baud' in str(raises(ValueError, baud.parse, bad))
    parity = Field('parity', 'choice', 'E', choices=('N', 'E', 'O'))
    assert 'one of N, E, O' in str(raises(ValueError, parity.parse, 'X'))
    di = Field('item', 'hex', lengths=(4, 8))
    assert di.parse('9010') == 0x9010 and di.parse('0201ff00') == 0x0201FF00
    raises(ValueError, di.parse, '02G1FF00')
    assert 'is required' in str(raises(ValueError, Field('host', 'text').value, {}))
