"""Meter configuration ([[bus]], [[meter]], [[point]], [[mqtt]], [[opcua]], [[hj212]],
[manual]): checked as a whole before the gateway starts; each mistake names its setting."""

from __future__ import annotations

import copy
import re

import pytest

from firmware.config import GatewayConfigError, parse
from firmware.drivers.dlt645 import Dlt645Meter
from firmware.drivers.modbus import ModbusDevice
from server_process import tanji

DOC = {
    'gateway': {'id': 'GW-1', 'key': 'k', 'data_dir': 'd', 'board': 'tanji-a1'},
    'centre': [{'name': 'platform', 'url': 'http://127.0.0.1:1/api/v1/frames'}],
    'bus': [{'name': 'b1', 'protocol': 'dlt645', 'port': 'RS485-1'},
            {'name': 'b2', 'protocol': 'modbus-tcp', 'host': '127.0.0.1', 'tcp_port': 502}],
    'meter': [{'name': 'm1', 'bus': 'b1', 'address': '000012345678'},
              {'name': 'm2', 'bus': 'b2', 'unit_id': 3}],
    'point': [{'meter': 'm1', 'code': '080420101001', 'unit': 'MWh', 'item': '00010000', 'register_digits': 6},
              {'meter': 'm2', 'code': '080420114001', 'unit': 'kW', 'every': 'hour',
               'register': {'address': 4, 'type': 'f32', 'word_order': 'little'}}],
    'mqtt': [{'host': '127.0.0.1', 'topics': ['plant/#']}],
    'hj212': [{'listen': '127.0.0.1:9212', 'map': [{'cn': '2061', 'pollutant': 'a21026', 'field': 'Avg',
                                                     'code': '080100212001', 'unit': '%'}]}],
    'manual': {'enabled': True},
}


def _changed(path: str, value):
    doc = copy.deepcopy(DOC)
    target = doc
    keys = path.split('.')
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


def test_valid_configuration_with_board_port_names():
    cfg = parse(copy.deepcopy(DOC))
    b1, b2 = cfg.sources.buses
    assert b1.port == '/dev/ttymxc1' and b1.parity == 'E' and b1.baud == 2400 and b1.time_sync_s == 86400
    assert isinstance(b1.meters['m1'], Dlt645Meter) and isinstance(b2.meters['m2'], ModbusDevice)
    point = b1.points['m1'][0]
    assert point.item == 0x00010000 and point.period_s == 60 and point.unit == 'MWh'
    assert point.key == 'm1/080420101001'              # status and logs show the code with its leading zero
    assert b2.points['m2'][0].period_s == 3600
    assert cfg.sources.mqtt[0].client_id == 'tanji-GW-1' and cfg.sources.manual


def test_board_gives_the_data_directory():
    doc = copy.deepcopy(DOC)
    del doc['gateway']['data_dir']
    assert parse(doc).data_dir == '/data/tanji'


@pytest.mark.parametrize('path, value, message', [
    ('bus.0.protocol', 'iec104', 'bus[1]: protocol must be one of'),
    ('bus.0.port', 'COM9', 'bus[1]: port \'COM9\' is neither'),
    ('bus.0.parity', 'X', 'bus[1]: parity'),
    ('bus.0.timeout_ms', 0, 'bus[1]: timeout_ms'),
    ('bus.1.time_sync_h', 24, 'bus[2]: time_sync_h'),
    ('meter.0.address', '12345', 'meter[1]: address must be the 12-digit'),
    ('meter.0.bus', 'b9', "meter[1]: bus 'b9'"),
    ('meter.1.unit_id', 300, 'meter[2]: unit_id'),
    ('point.0.code', '080420101', 'point[1]: code'),
    ('point.0.unit', 'GJ', "point[1]: unit 'GJ' is not valid"),
    ('point.0.item', '0201FF00', 'point[1]: data item 201FF00'),
    ('point.0.every', 'fortnight', 'point[1]: every'),
    ('point.0.register_digits', 40, 'point[1]: register_digits'),
    ('point.0.meter', 'nobody', "point[1]: meter 'nobody'"),
    ('point.1.register', {'address': 4, 'type': 'f24'}, "point[2]: register type 'f24'"),
    ('point.1.register', {'address': 4, 'type': 'u16', 'scale': 'x'}, 'point[2]: scale/offset'),
    ('point.1.register', {'address': 70000}, 'point[2]: register address'),
    ('point.1.register', {'address': 4, 'loop': ['20', '4']}, 'point[2]: analog range'),
    ('point.1.register', {'address': 4, 'unit': 'GJ'}, 'point[2]: the meter reports GJ'),
    ('mqtt.0.topics', [], 'mqtt[1]: topics'),
    ('hj212.0.listen', 'nowhere', 'hj212[1]: listen'),
    ('hj212.0.map.0.cn', '1234', 'hj212[1].map[1]: cn'),
    ('manual.colour', 'red', 'manual: unknown setting'),
    ('gateway.board', 'toaster', "no board profile 'toaster'"),
])
def test_mistakes_name_the_setting(path, value, message):
    with pytest.raises(GatewayConfigError, match=re.escape(message)):
        parse(_changed(path, value))


@pytest.mark.parametrize('where, place', [
    ('point', 'point[1] (meter m1 on bus b1)'),
    ('opcua', 'point[1] (meter m1 on bus b1)'),
    ('hj212', 'point[1] (meter m1 on bus b1)'),
])
def test_one_code_is_read_by_one_place_only(where, place):
    """Issue 13, item 1: two places with one code interleave two meters' values under it."""
    doc = copy.deepcopy(DOC)
    taken = doc['point'][0]['code']
    if where == 'point':
        doc['point'].append({'meter': 'm2', 'code': taken, 'unit': 'MWh', 'register': {'address': 8, 'type': 'u32'}})
        message = 'point[3]: code %s is already read by %s' % (taken, place)
    elif where == 'opcua':
        doc['opcua'] = [{'url': 'opc.tcp://127.0.0.1:4840/', 'node': [{'node': 'ns=2;s=Feed', 'code': taken,
                                                                        'unit': 'MWh'}]}]
        message = 'opcua[1].node[1]: code %s is already read by %s' % (taken, place)
    else:
        doc['hj212'][0]['map'].append({'cn': '2051', 'pollutant': 'a21026', 'field': 'Avg', 'code': taken,
                                       'unit': 'MWh'})
        message = 'hj212[1].map[2]: code %s is already read by %s' % (taken, place)
    with pytest.raises(GatewayConfigError, match=re.escape(message)):
        parse(doc)


def test_one_hj212_quantity_is_mapped_once():
    doc = copy.deepcopy(DOC)
    doc['hj212'][0]['map'].append(dict(doc['hj212'][0]['map'][0], code='080100212002'))
    with pytest.raises(GatewayConfigError, match=re.escape('hj212[1].map[2]: cn 2061 pollutant a21026 field Avg '
                                                           'is already mapped, to code 080100212001')):
        parse(doc)


def test_meter_without_points_and_mixing_synthetic(tmp_path):
    doc = copy.deepcopy(DOC)
    doc['point'] = doc['point'][1:]
    with pytest.raises(GatewayConfigError, match=r'meter m1: has no \[\[point\]\]'):
        parse(doc)
    doc = copy.deepcopy(DOC)
    doc['source'] = {'kind': 'synthetic'}
    with pytest.raises(GatewayConfigError, match='cannot be combined'):
        parse(doc)


def test_cli_reports_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / 'gw.toml'
    cfg.write_text('[gateway]\nid = "G"\nkey = "k"\ndata_dir = "%s"\n[[centre]]\nname = "p"\n'
                   'url = "http://127.0.0.1:1/"\n[[bus]]\nname = "b"\nprotocol = "dlt645"\nport = "/dev/null"\n'
                   '[[meter]]\nname = "m"\nbus = "b"\naddress = "1"\n' % tmp_path)
    r = tanji('gateway', 'run', '--config', str(cfg), check=False)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'meter[1]: address' in r.stderr
    rig = tmp_path / 'rig.toml'
    rig.write_text('[[line]]\nname = "x"\nprotocol = "iec104"\n')
    r = tanji('rig', 'up', str(rig), '--dir', str(tmp_path / 'rig'), check=False)
    assert r.returncode == 2 and 'line[1].protocol' in r.stderr and 'Traceback' not in r.stderr
