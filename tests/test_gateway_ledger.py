"""The instrument ledger and calibration (issue 15, item 7; seed 001 §11.1, §11.10): its
checks, due dates, the lists and the rates, calibrations with certificates, table import
and export; on a running gateway, an instrument past its due date flags its meter's
readings `calibration` until it is calibrated."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from firmware.ledger import Ledger, LedgerError, add_months
from page_helpers import Browserless, running_page, signed_in
from shared import civil
from shared.codec.flags import FLAG_CALIBRATION

OFFSET = 8 * 3600
TODAY = (2026, 12, 15)


def _ledger(tmp_path) -> Ledger:
    now = (civil.days_from_civil(*TODAY) * 86400 - OFFSET + 10 * 3600)         # 10:00 local on the 15th
    return Ledger(str(tmp_path), clock=lambda: now, utc_offset_s=OFFSET)


def _instrument(**overrides) -> dict:
    return dict({'number': 'JL-001', 'name': '进线总表', 'enterprise': '闽东水泥', 'region': '宁德', 'industry': '08',
                 'level': '1', 'category': 'electricity', 'accuracy_class': '0.5S', 'required_count': '1',
                 'fitted_count': '1', 'basis': 'JJG 596-2012', 'interval_months': '12',
                 'last_calibrated': '2026-01-10', 'state': 'in_use'}, **overrides)


def test_due_dates_lists_and_rates(tmp_path):
    assert add_months('2026-01-31', 1) == '2026-02-28' and add_months('2025-12-15', 12) == '2026-12-15'
    ledger = _ledger(tmp_path)
    ledger.put(_instrument(), 'olga')                                            # due 2027-01-10: next month
    ledger.put(_instrument(number='JL-002', last_calibrated='2025-12-20', level='2'), 'olga')   # due 2026-12-20
    ledger.put(_instrument(number='JL-003', last_calibrated='2025-11-30', level='2', meter='m1'), 'olga')   # overdue
    ledger.put(_instrument(number='JL-004', state='in_calibration', level='3', required_count='2',
                           fitted_count='1'), 'olga')
    every = ledger.all()
    lists = ledger.lists(every)
    assert {k: [i['number'] for i in v] for k, v in lists.items()} == {
        'overdue': ['JL-003'], 'due_this_month': ['JL-002'], 'due_next_month': ['JL-001'],
        'in_calibration': ['JL-004']}
    assert ledger.overdue_meters() == {'m1': 'JL-003'}
    rates = {r['level']: r for r in ledger.rates(every)}
    assert rates[None]['required'] == 5 and rates[None]['fitted'] == 4 and rates[None]['fitting_rate'] == 0.8
    assert (rates[None]['qualified'], rates[None]['in_use']) == (2, 3)           # the overdue one is not
    assert [i['number'] for i in ledger.all({'level': '2', 'enterprise': '闽东水泥'})] == ['JL-002', 'JL-003']
    assert [i['number'] for i in ledger.all({'text': 'jl-004'})] == ['JL-004']


def test_mistakes_are_named_by_their_column(tmp_path):
    ledger = _ledger(tmp_path)
    for overrides, column in (({'number': 'JL 1'}, 'number'), ({'level': '4'}, 'level'),
                              ({'interval_months': '0'}, 'interval_months'), ({'last_calibrated': '2026-02-30'},
                                                                              'last_calibrated'),
                              ({'fitted_count': 'one'}, 'fitted_count'), ({'basis': ''}, 'basis')):
        with pytest.raises(LedgerError) as e:
            ledger.put(_instrument(**overrides), 'olga')
        assert e.value.field == column, (overrides, e.value)
    ledger.put(_instrument(), 'olga')
    with pytest.raises(LedgerError, match='in the ledger already'):
        ledger.put(_instrument(), 'olga')
    with pytest.raises(LedgerError, match='cannot be in the future'):
        ledger.calibrate('JL-001', '2026-12-16', 'pass', 'C-1', '', 'olga')
    with pytest.raises(LedgerError, match='PDF, JPEG or PNG'):
        ledger.calibrate('JL-001', '2026-12-14', 'pass', 'C-1', '', 'olga', ('cert.exe', b'MZ'))
    assert ledger.calibrations('JL-001') == []


def test_tables_go_out_and_come_back_and_a_bad_row_imports_nothing(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.put(_instrument(), 'olga')
    ledger.put(_instrument(number='JL-002', meter='m1', notes='东侧, 二层'), 'olga')
    text = ledger.export_csv(ledger.all()).decode('utf-8-sig')
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ['number', 'name', 'enterprise'] and rows[2][rows[0].index('notes')] == '东侧, 二层'
    other = Ledger(str(tmp_path / 'other'), clock=ledger.clock, utc_offset_s=OFFSET)
    assert other.import_file('ledger.csv', text.encode('gb18030'), 'ivan') == 2      # a Chinese spreadsheet's CSV
    assert [i['notes'] if 'notes' in i else None for i in other.all()] == [None, '东侧, 二层']
    xlsx = ledger.export_xlsx(ledger.all())
    third = Ledger(str(tmp_path / 'third'), clock=ledger.clock, utc_offset_s=OFFSET)
    assert third.import_file('ledger.xlsx', xlsx, 'ivan') == 2                        # Chinese headers read back
    assert third.get('JL-002')['meter'] == 'm1' and third.get('JL-001')['last_calibrated'] == '2026-01-10'
    bad = text.replace('JL-002', 'JL-003').replace(',12,', ',twelve,')
    with pytest.raises(LedgerError, match='row 2, interval_months') as e:
        third.import_file('bad.csv', bad.encode(), 'ivan')
    assert e.value.field == 'file' and third.get('JL-003') is None                    # nothing imported
    with pytest.raises(LedgerError, match='not an XLSX workbook'):
        third.import_file('x.xlsx', b'PK\x03\x04 not a workbook', 'ivan')


@pytest.fixture
def page(tmp_path):
    accounts = [(name, name + ' password 1', role) for name, role in (('admin', 'admin'), ('olga', 'operator'),
                                                                      ('vera', 'viewer'))]
    with running_page(tmp_path, accounts, meters=True) as p:
        yield p


def _client(page, name: str) -> Browserless:
    return signed_in(page.port, name, name + ' password 1')


def _multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = 'tanjiboundary7'
    out = b''
    for k, v in fields.items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, k, v)).encode()
    for k, (name, data) in files.items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: '
                'application/octet-stream\r\n\r\n' % (boundary, k, name)).encode() + data + b'\r\n'
    return out + ('--%s--\r\n' % boundary).encode(), 'multipart/form-data; boundary=%s' % boundary


def _post_multipart(client: Browserless, path: str, fields: dict, files: dict) -> tuple[int, dict, str]:
    import http.client
    body, content_type = _multipart(fields, files)
    conn = http.client.HTTPConnection('127.0.0.1', client.port, timeout=30)
    conn.request('POST', path, body, {'Content-Type': content_type,
                                      'Cookie': '; '.join('%s=%s' % kv for kv in client.cookies.items())})
    r = conn.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode('utf-8', 'replace')


def test_an_overdue_meter_flags_its_readings_until_it_is_calibrated(page):
    olga, vera = _client(page, 'olga'), _client(page, 'vera')
    form = dict(_instrument(meter='m1', last_calibrated='2020-01-01'), csrf=olga.csrf('/ledger'))
    assert vera.request('POST', '/ledger/add', dict(form, csrf=vera.csrf('/ledger')))[0] == 403   # a viewer sees only
    status, _, text = olga.request('POST', '/ledger/add', dict(form, interval_months='0'))
    assert status == 400 and 'id="e-interval_months"' in text
    status, headers, _ = olga.request('POST', '/ledger/add', form)
    assert status == 303 and headers['location'] == '/ledger/item/JL-001?done=saved'
    page.gateway.wait_log('ALARM instrument JL-001 (meter m1) is past its calibration due date')
    s = page.gateway.wait_status(lambda s: s['calibration_overdue'] == {'m1': 'JL-001'})
    assert 'meter m1: instrument JL-001 is past its calibration due date; its readings are flagged calibration' \
        in s['alarms']
    _, _, listing = vera.request('GET', '/ledger?view=overdue')
    assert 'JL-001' in listing and '已过检定有效期' in listing

    def flagged_since(t_ms: int) -> list[bool]:
        return [bool(r[5] & FLAG_CALIBRATION) for r in page.platform.records() if r[2] > t_ms]
    deadline = time.monotonic() + 60
    while True:
        olga.request('POST', '/centres/platform/send', {'csrf': olga.csrf('/')})
        seen = flagged_since(0)
        if seen and any(seen):
            break
        assert time.monotonic() < deadline, 'no reading flagged calibration reached the platform'
        time.sleep(1)

    pdf = b'%PDF-1.4 certificate of calibration JL-001\n%%EOF\n'
    status, headers, text = _post_multipart(olga, '/ledger/item/JL-001/calibration', {
        'csrf': olga.csrf('/ledger/item/JL-001'), 'date': civil.local_iso(int(time.time() * 1000), OFFSET)[:10],
        'result': 'pass', 'certificate_no': 'FJ-2026-0815', 'basis': 'JJG 596-2012'}, {'certificate': ('c.pdf', pdf)})
    assert status == 303, re.findall(r'class="error"[^>]*>([^<]*)', text)
    page.gateway.wait_log('RECOVERED instrument JL-001 (meter m1) is within its calibration period again')
    assert page.gateway.wait_status(lambda s: not s['calibration_overdue'])['alarms'] == []
    calibrated_at = int(time.time() * 1000)
    _, _, item = vera.request('GET', '/ledger/item/JL-001')
    link = re.search(r'href="(/ledger/item/JL-001/certificate/\d+)"', item).group(1)
    status, headers, body = vera.request('GET', link)
    assert status == 200 and headers['content-type'] == 'application/pdf' and 'JL-001' in body
    deadline = time.monotonic() + 60
    while True:                                     # readings taken after the calibration are not flagged
        olga.request('POST', '/centres/platform/send', {'csrf': olga.csrf('/')})
        after = flagged_since(calibrated_at + 2000)
        if len(after) >= 3:
            break
        assert time.monotonic() < deadline
        time.sleep(1)
    assert not any(after)
    # export and import through the page
    status, headers, body = vera.request('GET', '/ledger.csv?level=1')
    assert status == 200 and 'JL-001' in body and headers['content-disposition'].startswith('attachment')
    rows = body.lstrip('\ufeff').replace('JL-001', 'JL-009')
    status, headers, text = _post_multipart(olga, '/ledger/import', {'csrf': olga.csrf('/ledger')},
                                            {'table': ('ledger.csv', rows.encode('utf-8'))})
    assert status == 303 and headers['location'] == '/ledger?done=imported&count=1'
    status, _, text = _post_multipart(olga, '/ledger/import', {'csrf': olga.csrf('/ledger')},
                                      {'table': ('ledger.txt', b'x')})
    assert status == 400 and 'id="e-table"' in text
    _, _, audit = _client(page, 'admin').request('GET', '/audit')
    for action in ('ledger.add', 'ledger.calibration', 'ledger.import'):
        assert action in audit
