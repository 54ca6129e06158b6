"""`tanji keys|frame|codes` as a user runs them: real processes, real files."""

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import run

TANJI = [str(Path(sys.executable).parent / 'tanji')]

INPUT = {
    'gateway': 'GW-SZ-0001',
    'units': {'08-04-201-01-001': 'kWh'},
    'records': [
        {'seq': 7, 'code': '08-04-201-01-001', 'time': '2026-11-23T08:00:00+08:00', 'value': 12345678.91},
        {'seq': 8, 'code': '080420114001', 'unit': 'kW', 'time': '2026-11-23T00:00:00.250Z', 'value': '412.5'},
        {'seq': 9, 'code': '08-04-201-01-001', 'time': 1795392060000, 'value': None, 'flags': ['missing']},
    ],
}


def tanji(*args: str, cwd: Path, stdin: bytes | None = None):
    return run(TANJI + list(args), cwd=cwd, input=stdin)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    proc = tanji('keys', 'generate', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def test_generate_writes_a_private_key_only_its_owner_can_read(keys: Path) -> None:
    assert (keys / 'gateway.key').stat().st_mode & 0o777 == 0o600
    assert (keys / 'gateway.pub').read_text().startswith('-----BEGIN PUBLIC KEY-----')
    proc = tanji('keys', 'generate', cwd=keys)
    assert proc.returncode == 2 and b'exists' in proc.stderr
    proc = tanji('keys', 'show', 'gateway.key', cwd=keys)
    assert json.loads(proc.stdout)['public_hex'].startswith('04')


def test_encode_decode_verify_round_trip(keys: Path) -> None:
    (keys / 'in.json').write_text(json.dumps(INPUT))
    proc = tanji('frame', 'encode', '--key', 'gateway.key', 'in.json', '-o', 'f.bin', cwd=keys)
    assert proc.returncode == 0, proc.stderr
    proc = tanji('frame', 'decode', '--pubkey', 'gateway.pub', 'f.bin', cwd=keys)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['signature_valid'] is True
    assert out['gateway'] == 'GW-SZ-0001' and (out['seq_first'], out['seq_last']) == (7, 9)
    assert [r['value'] for r in out['records']] == ['12345678.91', '412.5', None]
    assert out['records'][0]['time'] == '2026-11-23T00:00:00.000Z'
    assert out['records'][2]['flags'] == ['missing']
    assert out['codes'][0]['name'].startswith('Cement · Purchased electricity')
    proc = tanji('frame', 'decode', '--lang', 'zh', 'f.bin', cwd=keys)
    assert json.loads(proc.stdout)['codes'][0]['name'].startswith('水泥')
    proc = tanji('frame', 'verify', '--pubkey', 'gateway.pub', 'f.bin', cwd=keys)
    assert proc.returncode == 0 and proc.stdout.startswith(b'valid signature')
    # stdin/stdout pipes
    frame_bytes = tanji('frame', 'encode', '--key', 'gateway.key', cwd=keys, stdin=json.dumps(INPUT).encode()).stdout
    assert tanji('frame', 'verify', '--pubkey', 'gateway.pub', cwd=keys, stdin=frame_bytes).returncode == 0


def test_wrong_key_and_tampered_frame_are_reported(keys: Path) -> None:
    (keys / 'in.json').write_text(json.dumps(INPUT))
    assert tanji('frame', 'encode', '--key', 'gateway.key', 'in.json', '-o', 'f.bin', cwd=keys).returncode == 0
    other = keys / 'other'
    other.mkdir()
    assert tanji('keys', 'generate', cwd=other).returncode == 0
    proc = tanji('frame', 'verify', '--pubkey', 'other/gateway.pub', 'f.bin', cwd=keys)
    assert proc.returncode == 1 and b'INVALID signature' in proc.stderr
    proc = tanji('frame', 'decode', '--pubkey', 'other/gateway.pub', 'f.bin', cwd=keys)
    assert proc.returncode == 1 and json.loads(proc.stdout)['signature_valid'] is False
    data = bytearray((keys / 'f.bin').read_bytes())
    data[len(data) // 2] ^= 0x01
    (keys / 'bad.bin').write_bytes(bytes(data))
    proc = tanji('frame', 'verify', '--pubkey', 'gateway.pub', 'bad.bin', cwd=keys)
    assert proc.returncode in (1, 2)
    assert b'Traceback' not in proc.stderr


@pytest.mark.parametrize('mutate,message', [
    (lambda d: d['records'][0].update(code='08-04-201-01'), b'12 digits'),
    (lambda d: d['units'].update({'08-04-201-01-001': 't'}), b"unit 't' is not valid"),
    (lambda d: d['records'][1].update(seq=d['records'][0]['seq']), b'increasing sequence numbers'),
    (lambda d: d['records'][0].update(time='2026-11-23 08:00'), b'needs a UTC offset'),
    (lambda d: d['records'][0].update(value='12,5'), b'is not a decimal number'),
    (lambda d: d['records'][2].update(flags=['missing', 'lost']), b"unknown flag 'lost'"),
    (lambda d: d['records'][2].update(flags=[]), b'missing value must carry a quality flag'),
    (lambda d: d['records'][0].pop('seq'), b'lacks "seq"'),
    (lambda d: d.pop('gateway'), b'no gateway id'),
])
def test_bad_input_gets_one_clear_line_and_exit_2(keys: Path, mutate, message: bytes) -> None:
    doc = json.loads(json.dumps(INPUT))
    mutate(doc)
    (keys / 'in.json').write_text(json.dumps(doc))
    proc = tanji('frame', 'encode', '--key', 'gateway.key', 'in.json', '-o', 'f.bin', cwd=keys)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert b'Traceback' not in proc.stderr
    assert not (keys / 'f.bin').exists()


def test_garbage_files_are_refused_cleanly(keys: Path) -> None:
    (keys / 'junk').write_bytes(os.urandom(300))
    for args in (['frame', 'decode', 'junk'], ['frame', 'verify', '--pubkey', 'gateway.pub', 'junk'],
                 ['frame', 'encode', '--key', 'gateway.key', 'junk'], ['frame', 'encode', '--key', 'junk', 'junk'],
                 ['frame', 'verify', '--pubkey', 'junk', 'junk'], ['frame', 'decode', 'missing-file']):
        proc = tanji(*args, cwd=keys)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith(b'tanji: error: '), (args, proc.stderr)
        assert b'Traceback' not in proc.stderr


def test_codes_describe_and_list(tmp_path: Path) -> None:
    proc = tanji('codes', 'describe', '08-01-002-01-001', cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert out['zh'] == '水泥 · 化石燃料燃烧 · 烟煤 · 累计消耗量 · 监测点 001'
    assert out['units'] == ['t', 'kt', 'kg']
    proc = tanji('codes', 'list', 'industry', cwd=tmp_path)
    assert '08  水泥  Cement' in proc.stdout.decode()
    proc = tanji('codes', 'describe', '99-01-002-01-001', cwd=tmp_path)
    assert proc.returncode == 2 and b'unknown industry 99' in proc.stderr


def test_version(tmp_path: Path) -> None:
    r = tanji('--version', cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(b'tanji ') and r.stdout.split()[1][:1].isdigit()
