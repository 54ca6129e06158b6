"""`tanji server ...` administration and configuration errors: one clear line, exit 2."""

import json

import pytest

from server.config import ConfigError, load
from server_process import ServerProcess, tanji
from shared.codec import sm2


def test_gateways_tokens_and_audit_from_the_command_line(tmp_path):
    db = str(tmp_path / 't.db')
    pub = tmp_path / 'gw.pub'
    pub.write_text(sm2.PrivateKey.generate().public_key.to_pem())
    out = tanji('server', 'gateways', 'add', 'gw-cli', '--key', '@%s' % pub, '--enterprise', 'Acme',
                '--site', 'Putian', '--first-seq', '500', '--db', db).stdout
    assert 'acknowledging from sequence 500' in out
    (row,) = json.loads(tanji('server', 'gateways', 'list', '--json', '--db', db).stdout)
    assert (row['gateway'], row['ack'], row['revoked']) == ('gw-cli', 499, False)
    token = tanji('server', 'tokens', 'add', 'ops', '--role', 'operator', '--db', db).stdout.strip()
    assert token.startswith('tj_')
    tanji('server', 'gateways', 'revoke', 'gw-cli', '--reason', 'replaced', '--db', db)
    lines = [json.loads(x) for x in tanji('server', 'audit', '--db', db).stdout.splitlines()]
    assert [e['action'] for e in lines] == ['gateway.revoke', 'token.add', 'gateway.enrol']
    assert lines[0]['actor'].startswith('cli')


@pytest.mark.parametrize('args, message', [
    (['server', 'gateways', 'revoke', 'nobody', '--reason', 'x'], 'no gateway nobody is enrolled'),
    (['server', 'gateways', 'add', 'g', '--key', '04' + '22' * 64, '--enterprise', 'a', '--site', 's'],
     'not on the SM2 curve'),
    (['server', 'gateways', 'add', 'g', '--key', '@/nonexistent.pem', '--enterprise', 'a', '--site', 's'],
     'cannot read /nonexistent.pem'),
    (['server', 'gateways', 'add', 'bad id!', '--key', 'ab', '--enterprise', 'a', '--site', 's'], 'public key'),
    (['server', 'tokens', 'revoke', 'nobody'], 'no token named nobody'),
    (['server', 'migrate', '--db', 'mysql://x'], 'unsupported database URL'),
    (['server', 'migrate', '--db', '/no/such/dir/t.db'], 'does not exist'),
    (['server', 'migrate', '--db', 'postgresql://tanji@127.0.0.1:1/none'], 'cannot connect to PostgreSQL'),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    if '--db' not in args:
        args = args + ['--db', str(tmp_path / 't.db')]
    r = tanji(*args, check=False)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_config_file(tmp_path):
    cfg = tmp_path / 'tanji.toml'
    cfg.write_text('[server]\nport = 9000\nmax_records = 5000\n\n[[downstream]]\nname = "province"\n'
                   'url = "https://example.org/api/v1/frames"\n')
    c = load(cfg, db='x.db')
    assert (c.port, c.max_records, c.db, c.downstream[0].name, c.downstream[0].from_start) == \
        (9000, 5000, 'x.db', 'province', True)
    for text, message in [('[server]\nprot = 1\n', 'unknown setting server.prot'),
                          ('[server]\nport = "x"\n', 'server.port must be a non-negative integer'),
                          ('[server\n', 'not valid TOML'),
                          ('[[downstream]]\nname = "a"\n', 'needs name and url'),
                          ('[[downstream]]\nname = "a"\nurl = "ftp://x"\n', 'must start with http'),
                          ('[server]\ntls_cert = "c.pem"\n', 'go together')]:
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load(cfg)
    r = tanji('server', 'run', '--config', str(tmp_path / 'missing.toml'), check=False)
    assert r.returncode == 2 and 'cannot read' in r.stderr


def test_port_in_use_is_a_clear_error(tmp_path):
    srv = ServerProcess(tmp_path)
    try:
        r = tanji('server', 'run', '--db', str(tmp_path / 'other.db'), '--port', str(srv.port), check=False)
        assert r.returncode == 2 and 'cannot listen' in r.stderr and 'Traceback' not in r.stderr
    finally:
        srv.stop()
