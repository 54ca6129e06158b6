"""Gateway configuration: every mistake is one line naming the setting, exit 2."""

import pytest

from firmware.config import DEFAULT_RING_MB, GatewayConfigError, parse
from server_process import tanji

BASE = {'gateway': {'id': 'GW-1', 'key': 'k', 'data_dir': 'd'},
        'centre': [{'name': 'platform', 'url': 'http://127.0.0.1:1/api/v1/frames'}]}


def _with(section, **changes):
    doc = {'gateway': dict(BASE['gateway']), 'centre': [dict(BASE['centre'][0])]}
    if section == 'gateway':
        doc['gateway'].update(changes)
    else:
        doc['centre'][0].update(changes)
    return doc


def test_defaults_and_times_of_day():
    cfg = parse(_with('centre', times=['02:00', '14:30']))
    assert cfg.ring_mb == DEFAULT_RING_MB and cfg.policy == 'thin' and cfg.commit_interval_ms == 1000
    assert cfg.centres[0].times == [7200, 52200] and cfg.segment_count == DEFAULT_RING_MB // 16


@pytest.mark.parametrize('doc, message', [
    (_with('gateway', policy='keep'), 'gateway.policy'),
    (_with('gateway', ring_mb=20), 'at least three segments'),
    (_with('gateway', commit_interval_ms=0), 'commit_interval_ms'),
    (_with('gateway', colour='red'), 'unknown setting'),
    (_with('centre', url='ftp://x'), 'centre[1].url'),
    (_with('centre', times=['25:00']), 'HH:MM'),
    (_with('centre', max_bytes=10), 'max_bytes'),
    (_with('centre', every_s=-1), 'every_s'),
    ({'gateway': BASE['gateway']}, 'at least one [[centre]]'),
    ({'centre': BASE['centre']}, '[gateway] section'),
])
def test_mistakes_name_the_setting(doc, message):
    with pytest.raises(GatewayConfigError, match=message.replace('[', r'\[').replace(']', r'\]')):
        parse(doc)


def test_command_line_errors_are_one_line(tmp_path):
    cfg = tmp_path / 'gw.toml'
    cfg.write_text('[gateway]\nid = "GW-1"\nkey = "%s/missing.key"\ndata_dir = "%s/data"\n\n'
                   '[[centre]]\nname = "p"\nurl = "http://127.0.0.1:1/api/v1/frames"\n' % (tmp_path, tmp_path))
    r = tanji('gateway', 'run', '--config', str(cfg), check=False)
    assert r.returncode == 2 and 'missing.key' in r.stderr and 'Traceback' not in r.stderr
    r = tanji('gateway', 'run', '--config', str(tmp_path / 'nope.toml'), check=False)
    assert r.returncode == 2 and 'cannot read' in r.stderr
