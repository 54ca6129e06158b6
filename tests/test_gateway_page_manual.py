"""Manual entry through the gateway's page, entered by one operator and approved by a
second (seed 001 §11.6, §11.13; issue 15 item 6): the same checks as `tanji gateway
enter` with the error beside its field, no self-approval, and an approved value logged
durably, journalled with both names and delivered to the platform as a manual reading."""

from __future__ import annotations

import json
import re
import time

import pytest

from page_helpers import Browserless, PageGateway

COAL = '080100202001'          # cement · fossil fuel combustion · bituminous coal · consumption in period


@pytest.fixture(scope='module')
def page(tmp_path_factory):
    p = PageGateway(tmp_path_factory.mktemp('manual'), meters=True, manual=True)
    for name, role in (('admin', 'admin'), ('alice', 'operator'), ('bob', 'operator'), ('vera', 'viewer')):
        made = p.passwd(name, name + ' password 1', role)
        assert made.returncode == 0, made.stderr
    yield p
    p.stop()


def _client(page, name: str) -> Browserless:
    c = Browserless(page.port)
    status, _, text = c.request('POST', '/signin', {'name': name, 'password': name + ' password 1'})
    assert status == 303, text[:300]
    return c


def _form(**overrides) -> dict:
    return dict({'code': COAL, 'value': '125.5', 'unit': 't', 'from': '2026-11-01', 'to': '2026-11-30',
                 'evidence': 'INV-2026-1187'}, **overrides)


def test_an_entry_needs_a_second_operator_and_then_reaches_the_platform(page):
    alice, bob = _client(page, 'alice'), _client(page, 'bob')
    status, _, text = alice.request('POST', '/manual', dict(_form(unit='MWh'), csrf=alice.csrf('/manual')))
    assert status == 400 and 'id="e-unit"' in text and 'MWh' in text        # the error beside the unit
    status, _, text = alice.request('POST', '/manual', dict(_form(evidence=''), csrf=alice.csrf('/manual')))
    assert status == 400 and 'id="e-evidence"' in text
    assert not any(r[1] == COAL for r in page.platform.records())

    status, headers, _ = alice.request('POST', '/manual', dict(_form(), csrf=alice.csrf('/manual')))
    assert status == 303 and headers['location'] == '/manual?done=proposed'
    status, _, text = alice.request('POST', '/manual', dict(_form(), csrf=alice.csrf('/manual')))
    assert status == 400 and 'already has entry' in text and 'overlapping period' in text, text[-2000:]
    _, _, text = alice.request('GET', '/manual')
    proposal = re.search(r'/manual/([0-9a-f]{12})/approve', text).group(1)

    status, _, text = alice.request('POST', '/manual/%s/approve' % proposal, {'csrf': alice.csrf('/manual')})
    assert status == 400 and '录入人不能审核自己录入的数据' in text         # no self-approval
    vera = _client(page, 'vera')
    status, _, _ = vera.request('POST', '/manual/%s/approve' % proposal, {'csrf': vera.csrf()})
    assert status == 403                                                   # a viewer approves nothing
    status, headers, _ = bob.request('POST', '/manual/%s/approve' % proposal, {'csrf': bob.csrf('/manual')})
    assert status == 303 and headers['location'] == '/manual?done=approve'

    deadline = time.monotonic() + 60       # logged by the gateway, then sent with the next upload
    while True:
        alice.request('POST', '/centres/platform/send', {'csrf': alice.csrf()})
        coal = [r for r in page.platform.records() if r[1] == COAL]
        if coal:
            break
        assert time.monotonic() < deadline, 'the approved entry never reached the platform'
        time.sleep(1)
    seq, code, ts_ms, mantissa, exp, flags = coal[0]
    assert (mantissa, exp) == (1255, -1) and flags & 0x0008               # 125.5 t, flagged manual
    _, _, text = bob.request('GET', '/manual')
    assert 'alice (approved by bob)' in text and 'INV-2026-1187' in text
    _, _, text = _client(page, 'admin').request('GET', '/audit')
    assert 'manual.propose' in text and 'manual.approve' in text


def test_a_rejection_needs_a_reason_and_logs_nothing(page):
    alice, bob = _client(page, 'alice'), _client(page, 'bob')
    status, _, _ = alice.request('POST', '/manual', dict(_form(**{'from': '2026-10-01', 'to': '2026-10-31',
                                                                   'value': '99'}), csrf=alice.csrf('/manual')))
    assert status == 303
    _, _, text = bob.request('GET', '/manual')
    proposal = re.search(r'/manual/([0-9a-f]{12})/reject', text).group(1)
    status, _, text = bob.request('POST', '/manual/%s/reject' % proposal, {'csrf': bob.csrf('/manual'), 'note': ''})
    assert status == 400 and '请填写退回原因' in text
    status, _, _ = bob.request('POST', '/manual/%s/reject' % proposal,
                               {'csrf': bob.csrf('/manual'), 'note': 'wrong invoice'})
    assert status == 303
    _, _, text = bob.request('GET', '/manual?lang=en')
    assert 'wrong invoice' in text and 'rejected' in text
    assert not any(r[1] == COAL and r[3] == 99 for r in page.platform.records())


def _approve_pending(page, proposer: Browserless, approver: Browserless) -> None:
    _, _, text = approver.request('GET', '/manual')
    proposal = re.findall(r'/manual/([0-9a-f]{12})/approve', text)[-1]
    status, _, text = approver.request('POST', '/manual/%s/approve' % proposal, {'csrf': approver.csrf('/manual')})
    assert status == 303, text[-1500:]


def _live_entry(client: Browserless, evidence: str) -> str:
    """The id of the live entry with this evidence, once the gateway has journalled it."""
    deadline = time.monotonic() + 30
    while True:
        _, _, text = client.request('GET', '/manual')
        for row in re.findall(r'<tr>.*?</tr>', text, re.S):
            m = re.search(r'/manual\?correct=([0-9a-f]{12})', row)
            if m and '<td>%s</td>' % evidence in row:
                return m.group(1)
        assert time.monotonic() < deadline, 'entry %s never became live' % evidence
        time.sleep(0.5)


def test_corrections_and_withdrawals_are_reviewed_too(page):
    alice, bob = _client(page, 'alice'), _client(page, 'bob')
    status, _, _ = alice.request('POST', '/manual', dict(_form(**{'from': '2026-09-01', 'to': '2026-09-30',
                                                                   'value': '80', 'evidence': 'INV-9'}),
                                                          csrf=alice.csrf('/manual')))
    assert status == 303
    _approve_pending(page, alice, bob)
    entry = _live_entry(alice, 'INV-9')
    # the correction form starts from the entry it replaces; a reason is required
    _, _, text = alice.request('GET', '/manual?correct=' + entry)
    assert 'name="corrects" value="%s"' % entry in text
    form = dict(_form(**{'from': '2026-09-01', 'to': '2026-09-30', 'value': '82.5', 'evidence': 'INV-9b'}),
                corrects=entry, reason='')
    status, _, text = alice.request('POST', '/manual', dict(form, csrf=alice.csrf('/manual')))
    assert status == 400 and 'id="e-reason"' in text
    status, _, _ = alice.request('POST', '/manual', dict(form, reason='the invoice was amended',
                                                         csrf=alice.csrf('/manual')))
    assert status == 303
    _approve_pending(page, alice, bob)
    live = _live_entry(bob, 'INV-9b')
    _, _, text = bob.request('GET', '/manual?lang=en')
    assert text.count('corrected or withdrawn') >= 1 and '82.5 t' in text
    # the correction itself is withdrawn, reviewed by the other operator
    assert live != entry and entry not in re.findall(r'/manual\?correct=([0-9a-f]{12})', text)
    status, _, _ = bob.request('POST', '/manual', {'withdraws': live, 'reason': 'duplicate of the October entry',
                                                   'csrf': bob.csrf('/manual')})
    assert status == 303
    _, _, text = alice.request('GET', '/manual?lang=en')
    assert 'Withdrawal of entry %s' % live in text
    _approve_pending(page, bob, alice)
    deadline = time.monotonic() + 30          # the gateway takes its inbox every second
    while True:
        journal = [json.loads(line) for line in
                   (page.gateway.data_dir / 'manual-journal.jsonl').read_text().splitlines()]
        if any(j.get('withdraws') == live and 'approved by alice' in j['operator'] for j in journal):
            break
        assert time.monotonic() < deadline, journal
        time.sleep(0.5)
    assert any(j.get('corrects') == entry and j.get('reason') == 'the invoice was amended' for j in journal)
