"""The gateway's page in a real browser (issue 15): Debian's Chromium driven by
Playwright.  A field engineer's first minutes: the first visit sets the administrator,
the dashboard shows the meters' readings arriving, "send now" gets the centre's
acknowledgement, the page switches to English, works at a phone's width, and signing
out ends it.  Screenshots of every page, Chinese and English, desktop and phone, are
saved under test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from conftest import REPO
from page_helpers import PageGateway

SHOTS = REPO / 'test-artifacts' / 'screenshots'
MAIN_PAGES = (('dashboard', '/'), ('chart', '/chart'), ('boundary', '/boundary'), ('ledger', '/ledger'),
              ('instrument', '/ledger/item/JL-001'), ('manual', '/manual'), ('logs', '/logs'), ('config', '/config'),
              ('config-bus-form', '/config/bus/meters'), ('config-versions', '/config/versions'),
              ('config-version', '/config/versions/1'), ('network', '/network'), ('accounts', '/accounts'),
              ('audit', '/audit'), ('password', '/password'))
DESKTOP = {'width': 1280, 'height': 900}
PHONE = {'width': 375, 'height': 740}          # a phone; the page also serves a 3.5-inch screen (seed 001 §10.1)
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    executable = shutil.which('chromium') or shutil.which('chromium-browser')
    if executable is None:
        pytest.fail("Debian's chromium is required (make test installs it through tools/sysdeps.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / ('gateway-%s.png' % name)), full_page=True)


def _sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url + '/signin')
    page.get_by_label('用户名').fill(name)
    page.get_by_label('密码').fill(password)
    page.get_by_role('button', name='登录').click()


def test_a_field_engineers_first_minutes(tmp_path, browser):
    from test_gateway_live_emissions import _scenario
    gw = PageGateway(tmp_path, meters=True, manual=True, extra='\n[accounting]\nscenario = "%s"\n' % _scenario(tmp_path))
    today = time.strftime('%Y-%m-%d', time.gmtime(time.time() + 8 * 3600))
    try:
        context = browser.new_context(viewport=DESKTOP, locale='zh-CN')
        page = context.new_page()
        page.goto(gw.url + '/')
        assert page.url.endswith('/setup')
        _shot(page, 'setup-zh-desktop')
        page.get_by_label('用户名').fill('admin')
        page.get_by_label('密码', exact=True).fill('short')
        page.get_by_label('再次输入密码').fill('short')
        page.get_by_role('button', name='创建管理员').click()
        assert page.locator('#e-password').inner_text() == '密码至少 10 个字符'      # the error beside its field
        _shot(page, 'setup-error-zh-desktop')
        page.get_by_label('密码', exact=True).fill('correct horse 1')
        page.get_by_label('再次输入密码').fill('correct horse 1')
        page.get_by_role('button', name='创建管理员').click()
        page.wait_for_url(gw.url + '/')
        assert page.get_by_role('heading', name='网关状态').is_visible()

        deadline = time.monotonic() + 60          # the rig's meters arrive by themselves: the dashboard is live
        while page.locator('td.num', has_text='kWh').count() < 3:
            assert time.monotonic() < deadline, page.content()[-2000:]
            time.sleep(1)
        assert re.search(r'\d+\.\d+ kWh', page.locator('td.num', has_text='kWh').first.inner_text())
        durable = page.locator('dt:has-text("已落盘至序号") + dd')
        shown, deadline = durable.inner_text(), time.monotonic() + 30
        while durable.inner_text() == shown:        # refreshed in place, no reload
            assert time.monotonic() < deadline, 'the dashboard is not live'
            time.sleep(0.5)
        _shot(page, 'dashboard-zh-desktop')
        page.get_by_role('link', name='m1/080420101001').click()
        page.locator('svg.chart').wait_for(timeout=10_000)
        assert page.locator('svg.chart text', has_text='kWh').count() == 1
        _shot(page, 'chart-zh-desktop')
        page.goto(gw.url + '/')

        page.get_by_role('button', name='立即上传').click()
        assert page.get_by_text('已请求立即上传至 platform。').is_visible()
        deadline = time.monotonic() + 60
        while int(page.locator('tr', has_text='platform').locator('td.num').first.inner_text()) < 0:
            assert time.monotonic() < deadline, 'the centre never acknowledged'
            time.sleep(1)
            page.goto(gw.url + '/')
        assert gw.platform.gateway_row()['ack'] >= 0

        page.get_by_role('link', name='人工录入').click()
        page.get_by_label('数据项编码').fill('080100202001')
        page.get_by_label('数值').fill('125.5')
        page.get_by_label('单位').fill('MWh')
        page.get_by_label('期间起').fill(today)
        page.get_by_label('期间止').fill(today)
        page.get_by_label('凭证编号').fill('INV-2026-1187')
        page.get_by_role('button', name='提交审核').click()
        assert page.locator('#e-unit').is_visible()                       # coal is not in MWh
        _shot(page, 'manual-error-zh-desktop')
        page.get_by_label('单位').fill('t')
        page.get_by_role('button', name='提交审核').click()
        assert page.get_by_text('已提交，等待另一名操作员审核。').is_visible()
        assert page.get_by_text('该数值计入 kiln-coal：218.590 tCO2e').is_visible()     # before anyone approves
        _shot(page, 'manual-zh-desktop')
        assert gw.passwd('bob', 'bob password 1', 'operator').returncode == 0
        second = browser.new_context(viewport=DESKTOP, locale='zh-CN')
        bob = second.new_page()
        _sign_in(bob, gw.url, 'bob', 'bob password 1')
        bob.goto(gw.url + '/manual')
        bob.get_by_role('button', name='审核通过').click()
        assert bob.get_by_text('已通过审核，数据将写入日志并上传。').is_visible()
        bob.goto(gw.url + '/')
        deadline = time.monotonic() + 60          # the approved value reaches the live emissions
        while bob.locator('#emissions tr', has_text='kiln-coal').count() == 0:
            assert time.monotonic() < deadline, bob.locator('#emissions').inner_text()
            time.sleep(1)
            bob.reload()
        assert '218.590 t' in bob.locator('#emissions tr', has_text='kiln-coal').inner_text()
        _shot(bob, 'dashboard-emissions-zh-desktop')
        bob.goto(gw.url + '/boundary')                  # the boundary drawn, with the month's totals
        assert bob.locator('.bnode', has_text='kiln-coal').first.is_visible()
        _shot(bob, 'boundary-zh-desktop')
        second.close()
        page.goto(gw.url + '/')

        page.get_by_role('link', name='English').click()
        assert page.get_by_role('heading', name='Gateway health').is_visible()
        _shot(page, 'dashboard-en-desktop')
        page.goto(gw.url + '/audit')
        assert page.get_by_role('cell', name='centre.send_now').is_visible()
        _shot(page, 'audit-en-desktop')
        page.get_by_role('link', name='Logs').click()
        page.get_by_label('Kind').select_option('acquisition')
        page.get_by_role('button', name='Filter').click()
        assert 'kind=acquisition' in page.url
        _shot(page, 'logs-en-desktop')

        phone = browser.new_context(viewport=PHONE, locale='zh-CN', storage_state=context.storage_state())
        small = phone.new_page()
        for lang in ('zh', 'en'):
            for name, path in (('dashboard', '/'), ('manual', '/manual')):
                small.goto(gw.url + path + '?lang=' + lang)
                width = small.evaluate('document.documentElement.scrollWidth')
                assert width <= PHONE['width'], '%s is wider than the phone: %d px' % (path, width)
                _shot(small, '%s-%s-phone' % (name, lang))
        phone.close()

        page.get_by_role('button', name='Sign out').click()
        page.wait_for_url(re.compile(r'.*/signin$'))
        _shot(page, 'signin-en-desktop')
        page.goto(gw.url + '/?lang=zh')
        assert '/signin' in page.url                 # signed out: nothing opens
        context.close()
    finally:
        gw.stop()


def test_adding_a_meter_through_the_forms_and_rolling_it_back(tmp_path, browser):
    """A new bus to the rig's Modbus device, a meter on it with its first point read once
    before saving; its readings arrive without a restart; then a rollback takes it away."""
    from gateway_process import energy_codes
    code = energy_codes(4)[3]
    gw = PageGateway(tmp_path, meters=True)
    assert gw.passwd('admin', 'correct horse 1').returncode == 0
    try:
        context = browser.new_context(viewport=DESKTOP, locale='zh-CN')
        page = context.new_page()
        _sign_in(page, gw.url, 'admin', 'correct horse 1')
        page.get_by_role('link', name='配置').first.click()
        assert page.get_by_role('heading', name='配置', exact=True).is_visible()
        _shot(page, 'config-zh-desktop')
        page.get_by_role('link', name='添加总线').click()
        page.get_by_label('通信规约').select_option('modbus-tcp')
        page.get_by_role('button', name='下一步').click()
        page.get_by_label('总线名称', exact=True).fill('line2')
        page.get_by_label('设备的 IP 地址或主机名', exact=True).fill('127.0.0.1')
        page.get_by_label('TCP 端口', exact=True).fill(str(gw.rig.port))
        page.get_by_label('等待应答的时间 (ms)', exact=True).fill('fast')
        page.get_by_role('button', name='保存并应用').click()
        assert '应为数字' in page.locator('#e-timeout_ms').inner_text()    # the mistake beside its field
        _shot(page, 'config-bus-error-zh-desktop')
        page.get_by_label('等待应答的时间 (ms)', exact=True).fill('500')
        page.get_by_role('button', name='保存并应用').click()
        assert page.get_by_text('已保存为版本 2，已生效。').is_visible()

        page.locator('.tree', has_text='line2').get_by_role('link', name='添加仪表').click()
        page.get_by_label('仪表名称', exact=True).fill('kiln2')
        page.get_by_label('12 位数据项编码', exact=True).fill(code)
        page.get_by_label('上报单位', exact=True).fill('kWh')
        page.get_by_label('采集频率', exact=True).fill('1')
        page.get_by_label('寄存器地址', exact=True).fill('0')
        page.get_by_label('数据类型', exact=True).select_option('u32')
        page.get_by_label('乘数', exact=True).fill('0.01')
        _shot(page, 'config-meter-form-zh-desktop')
        page.get_by_role('button', name='读一次（不保存）').click()
        assert re.search(r'读数：[\d.]+ kWh（数据项 %s）' % code, page.get_by_role('status').first.inner_text())
        _shot(page, 'config-meter-read-once-zh-desktop')
        page.get_by_label('说明', exact=True).fill('the second kiln')
        page.get_by_role('button', name='保存并应用').click()
        assert page.get_by_text('已保存为版本 3，已生效。').is_visible()

        page.goto(gw.url + '/')                        # its reading arrives on the dashboard, no restart
        deadline = time.monotonic() + 60
        while page.get_by_role('link', name='kiln2/' + code).count() == 0:
            assert time.monotonic() < deadline, page.content()[-2000:]
            time.sleep(1)
            page.reload()
        assert 'kWh' in page.locator('tr', has_text='kiln2/' + code).inner_text()

        page.goto(gw.url + '/config/versions/3')
        assert page.locator('pre.diff .add', has_text=code).count() == 1
        _shot(page, 'config-version-zh-desktop')
        page.goto(gw.url + '/config/versions/1')
        page.get_by_role('button', name='回滚到版本 1').click()
        assert page.get_by_text('已生效').is_visible()
        assert page.locator('.tree', has_text='line2').count() == 0
        _shot(page, 'config-after-rollback-zh-desktop')
        page.goto(gw.url + '/config/add/emission_source?lang=zh')
        page.get_by_label('排放源标识', exact=True).fill('incomer')
        page.get_by_label('所属行业', exact=True).select_option('08')
        page.get_by_label('核算方法', exact=True).select_option('purchased_electricity')
        page.get_by_label('采集点', exact=True).fill('080420101001')
        page.get_by_role('button', name='保存并应用').click()
        assert page.get_by_text('已生效').is_visible()
        page.goto(gw.url + '/boundary')
        deadline = time.monotonic() + 60              # accounted from the readings that arrive from now on
        while page.locator('.bnode').count() == 0:
            assert time.monotonic() < deadline, page.locator('main').inner_text()
            time.sleep(1)
            page.reload()
        _shot(page, 'boundary-config-zh-desktop')
        page.goto(gw.url + '/config/versions?lang=en')
        assert page.get_by_role('cell', name='rollback to version 1').is_visible()
        _shot(page, 'config-versions-en-desktop')
        page.goto(gw.url + '/config/add/emission_source?lang=en')
        _shot(page, 'config-emission-source-form-en-desktop')
        page.goto(gw.url + '/config/add/bus?lang=en&protocol=dlt645')
        baud = page.get_by_label('baud rate', exact=True)
        assert baud.input_value() == '' and baud.get_attribute('placeholder') == 'default 2400'
        _shot(page, 'config-bus-form-en-desktop')

        phone = browser.new_context(viewport=PHONE, locale='zh-CN', storage_state=context.storage_state())
        small = phone.new_page()
        for lang in ('zh', 'en'):
            for name, path in (('config', '/config'), ('config-point-form', '/config/add/point?meter=m1'),
                               ('config-versions', '/config/versions')):
                small.goto(gw.url + path + ('&' if '?' in path else '?') + 'lang=' + lang)
                width = small.evaluate('document.documentElement.scrollWidth')
                assert width <= PHONE['width'], '%s is wider than the phone: %d px' % (path, width)
                _shot(small, '%s-%s-phone' % (name, lang))
        phone.close()
        context.close()
    finally:
        gw.stop()


def test_the_instrument_ledger_is_kept_exported_and_imported(tmp_path, browser):
    gw = PageGateway(tmp_path, meters=True)
    assert gw.passwd('admin', 'correct horse 1').returncode == 0
    try:
        context = browser.new_context(viewport=DESKTOP, locale='zh-CN', accept_downloads=True)
        page = context.new_page()
        _sign_in(page, gw.url, 'admin', 'correct horse 1')
        page.get_by_role('link', name='计量器具台账').click()
        page.get_by_role('link', name='添加器具').click()
        values = {'计量器具编号': 'JL-001', '器具名称': '进线总表', '企业名称': '闽东水泥', '所属区域': '宁德',
                  '所属行业': '08', '准确度等级': '0.5S', '网关仪表': 'm1', '应配数量': '1', '实配数量': '1',
                  '检定/校准依据': 'JJG 596-2012', '检定周期（月）': '12'}
        for label, value in values.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_label('上次检定日期', exact=True).fill('2020-01-01')
        page.get_by_role('button', name='保存').click()
        assert page.locator('dd.alarm', has_text='已过期').is_visible()
        _shot(page, 'instrument-zh-desktop')
        page.get_by_role('link', name='计量器具台账').first.click()
        assert page.get_by_text('1 台器具已过检定有效期').is_visible()
        _shot(page, 'ledger-zh-desktop')
        with page.expect_download() as download:
            page.get_by_role('link', name='导出 Excel').click()
        xlsx = tmp_path / 'ledger.xlsx'
        download.value.save_as(str(xlsx))
        from openpyxl import load_workbook
        book = load_workbook(xlsx)
        sheet = book.active
        assert sheet.cell(1, 1).value == '计量器具编号' and sheet.cell(2, 1).value == 'JL-001'
        sheet.cell(2, 1).value = 'JL-002'                          # the table edited in a spreadsheet...
        book.save(xlsx)
        page.get_by_label('表格文件').set_input_files(str(xlsx))    # ... and imported
        page.get_by_role('button', name='导入台账表格').click()
        assert page.get_by_text('台账已导入。').is_visible()
        assert page.get_by_role('link', name='JL-002').is_visible() and page.get_by_role('link', name='JL-001').is_visible()
        page.goto(gw.url + '/ledger?lang=en')
        _shot(page, 'ledger-en-desktop')
        # every main page, in both languages, at desktop and at phone width: for a person to look at
        phone = browser.new_context(viewport=PHONE, locale='zh-CN', storage_state=context.storage_state())
        small = phone.new_page()
        for lang in ('zh', 'en'):
            for name, path in MAIN_PAGES:
                for where, tab in (('desktop', page), ('phone', small)):
                    tab.goto(gw.url + path + ('&' if '?' in path else '?') + 'lang=' + lang)
                    assert tab.locator('main').count() == 1 and '500' not in tab.title(), path
                    if where == 'phone':
                        width = tab.evaluate('document.documentElement.scrollWidth')
                        assert width <= PHONE['width'], '%s is wider than the phone: %d px' % (path, width)
                    _shot(tab, 'page-%s-%s-%s' % (name, lang, where))
        phone.close()
        context.close()
    finally:
        gw.stop()
