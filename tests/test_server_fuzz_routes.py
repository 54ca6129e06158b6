"""Hypothesis against every route of a running `tanji server run` (issue 14): Unicode
digits, integers beyond 64 bits, deep and odd JSON, odd headers and path parameters,
with no token, an operator's and an admin's.  Every answer is below 500 and, when a
refusal, the JSON {"error", "detail"}; the server's log holds no traceback; nothing is
stored by a refused request.  The routes come from the application's own router, so a
new route is fuzzed the day it is added."""

from __future__ import annotations

import http.client
import json
import sqlite3
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.app import make_app
from server.config import ServerConfig
from server_harness import new_gateways
from server_process import ServerProcess, tanji


def _routes() -> list[tuple[str, str]]:
    app = make_app(ServerConfig(db=':memory:'))
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.method != 'HEAD'})


ROUTES = _routes()
ODD_DIGITS = ['²', '٠١٢', '１２３', '߀', '𝟗', '¹⁰', '٣']
ODD_NUMBERS = ['9' * 30, '-' + '9' * 30, '1e309', 'NaN', '-0', '0x10', ' 1', '1_000', '+5', '']
odd_text = (st.sampled_from(ODD_DIGITS + ODD_NUMBERS + ['\ud800'.encode('utf-8', 'surrogatepass').decode('latin-1'),
                                                         '../..', '%00', 'a' * 5000, '😀', 'GW-A', '080420101001'])
            | st.text(max_size=30))


def _deep(depth: int) -> str:
    return '[' * depth + ']' * depth


json_leaf = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False)
             | st.text(max_size=10) | st.sampled_from(ODD_DIGITS))
json_doc = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(['name', 'role', 'gateway', 'key', 'record', 'proof',
                                                           'code', 'from', 'to', 'utc_offset_h', 'first_seq',
                                                           'enterprise', 'site', 'value', 'unit', 'scenario']),
                                          inner, max_size=5), max_leaves=12)
bodies = (json_doc.map(lambda d: json.dumps(d, ensure_ascii=False).encode('utf-8', 'surrogatepass'))
          | st.sampled_from([b'DEEP', b'{"a": ' + b'9' * 400 + b'}', b'"\\ud800"',
                             b'{"name": "\\udfff"}', b'\xff\xfe', b'', b'null', b'{"first_seq": 1e400}',
                             b'{"utc_offset_h": "8"}', b'{"record": {"seq": 99999999999999999999999}}'])
          | st.binary(max_size=60))
odd_headers = st.dictionaries(
    st.sampled_from(['Authorization', 'Content-Type', 'Accept', 'Accept-Language', 'Cookie', 'X-Forwarded-For',
                     'Range', 'If-None-Match', 'Origin']),
    st.sampled_from([b'Bearer \xff\xfe', b'Bearer ' + '令牌'.encode(), b'Basic Zm9vOmJhcg==', b'Bearer', b'\x01',
                     b'application/json', b'application/json; charset=latin-1', b'application/x-msgpack',
                     b'application/x-tanji-sealed', b'text/plain', b'*/*;q=\xff', b'bytes=0-1,5-2',
                     b'a' * 4000, b'tanji_session=\xe4; csrf=1', b'zh-CN,zh;q=0.9', b'1.2.3.4, ::1']),
    max_size=4)


@pytest.fixture(scope='module')
def target(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('routes')
    server = ServerProcess(workdir)
    server.enrol('GW-A', new_gateways(['GW-A'])['GW-A'].key.public_key.to_pem())
    tokens = {'none': None}
    for role in ('operator', 'admin'):
        tokens[role] = tanji('server', 'tokens', 'add', 'fuzz-' + role, '--role', role,
                             '--db', server.db).stdout.strip()
    yield server, tokens, workdir
    server.stop()


def _counts(db: str) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute('SELECT count(*) FROM %s' % t).fetchone()[0] for t in ('records', 'frames'))
    finally:
        conn.close()


def _fill(path: str, values: list[str]) -> str:
    out, i = path, 0
    while '{' in out:
        a, b = out.index('{'), out.index('}')
        value = values[i % len(values)] if values else 'x'
        out = out[:a] + urllib.parse.quote(value, safe='') + out[b + 1:]
        i += 1
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), who=st.sampled_from(['none', 'operator', 'admin']),
       params=st.lists(odd_text, max_size=3), query=st.dictionaries(
           st.sampled_from(['from', 'to', 'after', 'limit', 'code', 'point', 'gateway', 't', 'sig', 'scenario',
                            'period', 'format', 'lang']), odd_text, max_size=4),
       body=bodies, headers=odd_headers)
def test_every_route_refuses_odd_input_with_a_4xx(target, route, who, params, query, body, headers):
    server, tokens, _ = target
    method, path = route
    url = _fill(path, params)
    if query:
        url += '?' + urllib.parse.urlencode(query)
    send = {k: v for k, v in headers.items()}
    if tokens[who] and 'Authorization' not in send:
        send['Authorization'] = ('Bearer ' + tokens[who]).encode()
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=60)
    try:
        conn.putrequest(method, url, skip_accept_encoding=True)
        for k, v in send.items():
            conn.putheader(k, v)
        data = (_deep(100_000).encode() if body == b'DEEP' else body) if method in ('POST', 'PUT') else b''
        conn.putheader('Content-Length', str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        status, raw = r.status, r.read()
    finally:
        conn.close()
    assert status < 500, (method, url, status, raw[:500])
    if status >= 400:
        doc = json.loads(raw)
        assert set(doc) == {'error', 'detail'}, doc


def test_the_route_fuzz_left_no_traceback_and_stored_no_frame(target):
    server, _, workdir = target
    assert _counts(server.db) == (0, 0)
    log = (workdir / 'server.log').read_text()
    assert 'Traceback' not in log and 'internal error' not in log, log[-3000:]
    assert len(ROUTES) >= 25, ROUTES
