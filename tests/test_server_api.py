"""Operator API: queries, proofs, the fingerprint registry, tokens, roles, audit, OpenAPI."""

import json

import msgpack

from portable_helpers import COAL, ENERGY, POWER
from shared.codec import frame, merkle, sm2


async def test_records_by_gateway_code_point_and_time_with_paging(harness):
    a, b = harness.gateways['gw-a'], harness.gateways['gw-b']
    await harness.post_frame(a.frame(0, 60))
    await harness.post_frame(b.frame(0, 60))
    _, page = await harness.get('/api/v1/records', code=ENERGY)
    assert len(page['records']) == 40 and {r['code'] for r in page['records']} == {ENERGY}
    _, page = await harness.get('/api/v1/records', gateway='gw-b', code=ENERGY[:2])
    assert {r['code'] for r in page['records']} == {ENERGY, POWER, COAL} and len(page['records']) == 60
    _, page = await harness.get('/api/v1/records', code='08-04-201', point=POWER[-3:])
    assert {r['code'] for r in page['records']} == {ENERGY, POWER}
    since, until = a.t0_ms + 10_000, a.t0_ms + 20_000
    _, page = await harness.get('/api/v1/records', gateway='gw-a', **{'from': str(since), 'to': str(until)})
    assert [r['seq'] for r in page['records']] == list(range(10, 20))
    iso_from = page['records'][0]['time']
    _, page2 = await harness.get('/api/v1/records', gateway='gw-a', **{'from': iso_from, 'to': str(until)})
    assert page2['records'] == page['records']
    seen, after = [], None
    while True:
        params = {'limit': '7'}
        if after:
            params['after'] = after
        _, page = await harness.get('/api/v1/records', **params)
        seen += [(r['gateway'], r['seq']) for r in page['records']]
        after = page['next']
        if after is None:
            break
    assert len(seen) == 120 and len(set(seen)) == 120


async def test_record_values_are_exact_and_flagged(harness):
    a = harness.gateways['gw-a']
    await harness.post_frame(a.frame(0, 12))
    _, page = await harness.get('/api/v1/records', gateway='gw-a')
    by_seq = {r['seq']: r for r in page['records']}
    assert by_seq[0]['value'] == '100000.00' and by_seq[0]['unit'] == 'kWh'
    assert by_seq[2]['value'] == '10000.034' and by_seq[2]['unit'] == 't'
    assert by_seq[1]['value'] is None and by_seq[1]['flag_names'] == ['missing']


async def test_bad_queries_are_400(harness):
    for params in ({'code': 'abc'}, {'point': '12'}, {'from': 'yesterday'}, {'limit': '0'},
                   {'after': 'x'}, {'colour': 'red'}):
        status, doc = await harness.get('/api/v1/records', **params)
        assert (status, doc['error']) == (400, 'bad_query'), params


async def test_tokens_and_roles(harness):
    status, doc = await harness.get('/api/v1/records', role=None)
    assert (status, doc['error']) == (401, 'unauthorized')
    harness.tokens['forged'] = 'tj_not-a-token'
    assert (await harness.get('/api/v1/records', role='forged'))[0] == 401
    status, doc = await harness.post_json('/api/v1/gateways/gw-a/revoke', {'reason': 'x'}, role='operator')
    assert (status, doc['error']) == (403, 'forbidden')
    assert (await harness.get('/api/v1/audit', role='operator'))[0] == 403
    status, doc = await harness.post_json('/api/v1/tokens', {'name': 'auditor', 'role': 'operator'})
    assert status == 201
    harness.tokens['auditor'] = doc['token']
    assert (await harness.get('/api/v1/gateways', role='auditor'))[0] == 200
    assert (await harness.post_json('/api/v1/tokens/auditor/revoke', {}))[0] == 200
    assert (await harness.get('/api/v1/gateways', role='auditor'))[0] == 401
    _, tokens = await harness.get('/api/v1/tokens', role='admin')
    assert all('token' not in t for t in tokens['tokens'])


async def test_enrol_revoke_and_audit(harness):
    key = sm2.PrivateKey.generate()
    status, doc = await harness.post_json('/api/v1/gateways', {
        'gateway': 'gw-new', 'public_key': key.public_key.to_pem(), 'enterprise': 'Acme', 'site': 'Xiamen'})
    assert status == 201 and doc['ack'] == -1
    status, doc = await harness.post_json('/api/v1/gateways', {
        'gateway': 'gw-new', 'public_key': key.public_key.to_hex(), 'enterprise': 'Acme', 'site': 'Xiamen'})
    assert (status, doc['error']) == (409, 'conflict')
    status, doc = await harness.post_json('/api/v1/gateways', {
        'gateway': 'gw-bad', 'public_key': '04' + '11' * 64, 'enterprise': 'Acme', 'site': 'Xiamen'})
    assert status == 409 and 'not on the SM2 curve' in doc['detail']
    status, doc = await harness.post_json('/api/v1/gateways', {'gateway': 'gw-x'})
    assert (status, doc['error']) == (400, 'bad_query')
    recs = [frame.Record(0, ENERGY, harness.gateways['gw-a'].t0_ms, 5, 0, 0)]
    assert await harness.post_frame(frame.encode('gw-new', recs, {ENERGY: 'kWh'}, key.sign)) == (200, {'ack': 0})
    await harness.post_json('/api/v1/gateways/gw-new/revoke', {'reason': 'moved'})
    _, audit = await harness.get('/api/v1/audit', role='admin')
    actions = [(e['action'], e['target'], e['actor']) for e in audit['audit']]
    assert actions[:2] == [('gateway.revoke', 'gw-new', 'token:test-admin'), ('gateway.enrol', 'gw-new', 'token:test-admin')]
    assert audit['audit'][0]['detail'] == {'reason': 'moved'}


async def test_record_proof_checks_out_independently(harness, openssl, tmp_path):
    import subprocess
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    a = harness.gateways['gw-a']
    await harness.post_frame(a.frame(0, 50))
    status, doc = await harness.get('/api/v1/records/gw-a/37/proof')
    assert status == 200
    rec, proof = doc['record'], doc['proof']
    leaf = msgpack.packb(['gw-a', rec['seq'], rec['code'], rec['ts_ms'], rec['mantissa'], rec['exp'], rec['flags']])
    h = merkle.leaf_hash(leaf)
    assert frame.verify_record_proof('gw-a', a.record(37), proof['index'], proof['size'],
                                     [bytes.fromhex(p) for p in proof['path']], bytes.fromhex(proof['root']))
    body = bytes.fromhex(doc['frame']['body'])
    assert msgpack.unpackb(body)['root'] == bytes.fromhex(proof['root'])
    assert h in [merkle.leaf_hash(frame.leaf_bytes('gw-a', r)) for r in a.records(0, 50)]
    sig = bytes.fromhex(doc['frame']['signature'])
    (tmp_path / 'body').write_bytes(body)
    (tmp_path / 'sig').write_bytes(encode_dss_signature(int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big')))
    (tmp_path / 'pub.pem').write_text(sm2.PublicKey.from_hex(doc['public_key']).to_pem())
    r = subprocess.run([openssl, 'dgst', '-sm3', '-verify', str(tmp_path / 'pub.pem'), '-sigopt',
                        'distid:1234567812345678', '-signature', str(tmp_path / 'sig'), str(tmp_path / 'body')],
                       capture_output=True, text=True)
    assert 'Verified OK' in r.stdout
    assert (await harness.get('/api/v1/records/gw-a/999/proof'))[0] == 404


async def test_fingerprint_registry_frames_and_records(harness):
    a = harness.gateways['gw-a']
    raw = a.frame(0, 20)
    await harness.post_frame(raw)
    status, doc = await harness.post_raw('/api/v1/fingerprints/verify', raw, 'application/x-msgpack')
    assert status == 200 and doc['match'] and doc['reason'] == 'ok' and doc['stored']
    never_sent = a.frame(20, 5)
    _, doc = await harness.post_raw('/api/v1/fingerprints/verify', never_sent, 'application/x-msgpack')
    assert (doc['match'], doc['reason'], doc['signature_valid']) == (False, 'not_stored', True)
    v, body, sig = msgpack.unpackb(raw)
    forged = msgpack.packb([v, body, sm2.PrivateKey.generate().sign(body)])
    _, doc = await harness.post_raw('/api/v1/fingerprints/verify', forged, 'application/x-msgpack')
    assert (doc['match'], doc['reason']) == (False, 'bad_signature')
    status, doc = await harness.post_raw('/api/v1/fingerprints/verify', b'\x00\x01', 'application/x-msgpack')
    assert (status, doc['error']) == (400, 'malformed')

    _, proof = await harness.get('/api/v1/records/gw-a/7/proof')
    query = {'gateway': 'gw-a', 'record': proof['record'], 'proof': proof['proof']}
    status, doc = await harness.post_json('/api/v1/fingerprints/verify', query, role='operator')
    assert status == 200 and doc['match'], doc
    altered = json.loads(json.dumps(query))
    altered['record']['mantissa'] += 1
    _, doc = await harness.post_json('/api/v1/fingerprints/verify', altered, role='operator')
    assert (doc['match'], doc['reason']) == (False, 'proof_mismatch')
    altered = json.loads(json.dumps(query))
    altered['proof']['path'][0] = '00' * 32
    _, doc = await harness.post_json('/api/v1/fingerprints/verify', altered, role='operator')
    assert doc['match'] is False
    # a proof that is internally consistent but for a frame the centre never stored
    other = a.records(100, 4)
    leaves = frame.leaf_hashes('gw-a', other)
    fake = {'gateway': 'gw-a', 'record': {'seq': 101, 'code': other[1].code, 'ts_ms': other[1].ts_ms,
                                          'mantissa': other[1].value, 'exp': other[1].exp, 'flags': other[1].flags},
            'proof': {'index': 1, 'size': 4, 'path': [h.hex() for h in merkle.inclusion_proof(leaves, 1)],
                      'root': merkle.root(leaves).hex()}}
    _, doc = await harness.post_json('/api/v1/fingerprints/verify', fake, role='operator')
    assert (doc['match'], doc['reason']) == (False, 'not_stored')
    status, doc = await harness.post_json('/api/v1/fingerprints/verify', {'gateway': 'gw-a'}, role='operator')
    assert (status, doc['error']) == (400, 'bad_query')


async def test_openapi_lists_every_route(harness):
    status, doc = await harness.get('/api/v1/openapi.json', role=None)
    assert status == 200 and doc['openapi'].startswith('3.')
    documented = {(p, m.upper()) for p, ops in doc['paths'].items() for m in ops}
    served = set()
    for route in harness.server.app.router.routes():
        if route.method in ('GET', 'POST', 'PUT', 'DELETE'):
            served.add((route.resource.canonical, route.method))
    assert served == documented
    assert {'400', '401', '403', '413', '415', '422', '429', '503'} <= set(doc['paths']['/api/v1/frames']['post']['responses'])


async def test_health(harness):
    status, doc = await harness.get('/api/v1/health', role=None)
    assert (status, doc) == (200, {'status': 'ok'})                   # issue 14, item 8: no path, no counters
    status, doc = await harness.get('/api/v1/status', role=None)
    assert status == 401
    status, doc = await harness.get('/api/v1/status')
    assert status == 200 and 'database' in doc and 'ingest' in doc
