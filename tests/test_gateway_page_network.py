"""Changing the gateway's address from its page with confirm-or-revert (issue 15, item 4):
the new settings are applied by the board's command and the page answers on the new
address as well; unconfirmed, everything goes back by itself; confirmed from the new
address, the old one closes; a command that refuses changes nothing.  127.0.0.2 is
another loopback address, so the test moves the page without touching a real network."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from page_helpers import running_page, signed_in
from server_process import free_port

ADMIN = ('admin', 'admin password 1')


@pytest.fixture
def page(tmp_path):
    script = tmp_path / 'apply-network'
    script.write_text('#!/bin/sh\n# the board\'s command: record what it was asked to apply\n'
                      'settings=$(cat)\ncase "$settings" in *10.9.9.9*) echo "eth1: no such address" >&2; exit 1;; '
                      'esac\necho "$settings" >> %s\n' % (tmp_path / 'applied.jsonl'))
    script.chmod(0o755)
    extra = ('\n[network]\napply = "%s"\ninterface = "eth1"\naddress = "192.168.10.1/24"\nconfirm_s = 30\n'
             % script)
    with running_page(tmp_path, [ADMIN], extra=extra) as p:
        yield p


def _applied(page) -> list[dict]:
    path = page.gateway.workdir / 'applied.jsonl'
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def test_an_unconfirmed_change_goes_back_and_a_confirmed_one_stays(page):
    admin = signed_in(page.port, *ADMIN)
    original = page.config.read_text()
    new_port = free_port()
    form = {'listen': '127.0.0.2:%d' % new_port, 'interface': 'eth1', 'address': '192.168.20.1/24', 'router': '',
            'dns': '', 'confirm_s': '30', 'why': 'the new plant network'}
    # a command that refuses: its words, nothing changed
    status, _, text = admin.request('POST', '/network', dict(form, address='10.9.9.9/24', csrf=admin.csrf('/network')))
    assert status == 400 and 'eth1: no such address' in text and page.config.read_text() == original
    assert not _listening('127.0.0.2', new_port)

    status, _, text = admin.request('POST', '/network', dict(form, csrf=admin.csrf('/network')))
    assert status == 200 and '秒内从 127.0.0.2:%d 确认' % new_port in text, re.findall(r'class="error"[^>]*>([^<]*)', text)
    assert _applied(page)[-1] == {'interface': 'eth1', 'address': '192.168.20.1/24', 'router': '', 'dns': []}
    assert _listening('127.0.0.2', new_port) and _listening('127.0.0.1', page.port)   # both, until confirmed
    s = page.gateway.wait_status(lambda s: s['network_pending'] is not None)
    assert any(a.startswith('a network change waits for confirmation from 127.0.0.2:%d' % new_port)
               for a in s['alarms'])
    status, _, text = admin.request('POST', '/network/confirm', {'csrf': admin.csrf('/network')})
    assert status == 400 and '请从新地址确认' in text                  # reaching the old address proves nothing
    # nobody confirms: everything goes back by itself
    page.gateway.wait_log('ALARM network change (version 2) put back', timeout_s=60)
    assert not _listening('127.0.0.2', new_port) and _listening('127.0.0.1', page.port)
    assert _applied(page)[-1] == {'interface': 'eth1', 'address': '192.168.10.1/24', 'router': '', 'dns': []}
    assert page.gateway.wait_status(lambda s: s['network_pending'] is None)['alarms'] == []
    assert page.config.read_text() == original
    origins = [json.loads((page.gateway.data_dir / 'config' / ('%06d.json' % n)).read_text())['origin']
               for n in (1, 2, 3)]
    assert origins == ['file', 'page', 'revert']

    # again, confirmed from the new address: the old one closes, the file says the new one
    status, _, _ = admin.request('POST', '/network', dict(form, csrf=admin.csrf('/network')))
    assert status == 200
    there = signed_in(new_port, *ADMIN, host='127.0.0.2')                    # a new address: the session cookie does not follow
    status, _, text = there.request('GET', '/network')
    assert 'action="/network/confirm"' in text
    status, headers, _ = there.request('POST', '/network/confirm', {'csrf': there.csrf('/network')})
    assert status == 303 and headers['location'] == '/network?done=confirmed'
    deadline = time.monotonic() + 10
    while _listening('127.0.0.1', page.port):
        assert time.monotonic() < deadline, 'the old address still answers'
        time.sleep(0.2)
    assert 'listen = "127.0.0.2:%d"' % new_port in page.config.read_text()
    assert 'address = "192.168.20.1/24"' in page.config.read_text()
    _, _, audit = there.request('GET', '/audit')
    for action in ('network.propose', 'network.revert', 'network.confirm'):
        assert action in audit, action
    assert page.gateway.wait_status(lambda s: s['config'] is not None)['config']['pending'] is None
