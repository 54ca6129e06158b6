"""The OpenAPI 3.1 description of the server, served at /api/v1/openapi.json."""

from __future__ import annotations

from aiohttp import web

from server.ingest import STATUS

ERROR = {'type': 'object', 'required': ['error', 'detail'],
         'properties': {'error': {'type': 'string'}, 'detail': {'type': 'string'}}}
RECORD = {'type': 'object', 'properties': {
    'gateway': {'type': 'string'}, 'seq': {'type': 'integer'}, 'code': {'type': 'string', 'pattern': '^[0-9]{12}$'},
    'time': {'type': 'string', 'format': 'date-time'}, 'ts_ms': {'type': 'integer'},
    'value': {'type': ['string', 'null'], 'description': 'exact decimal text'}, 'unit': {'type': 'string'},
    'flags': {'type': 'integer'}, 'flag_names': {'type': 'array', 'items': {'type': 'string'}},
    'mantissa': {'type': ['integer', 'null']}, 'float': {'type': ['number', 'null']}, 'exp': {'type': 'integer'},
    'frame': {'type': 'string', 'description': 'SM3 fingerprint (hex) of the frame that carried it'}}}
PROOF = {'type': 'object', 'required': ['index', 'size', 'path', 'root'], 'properties': {
    'index': {'type': 'integer'}, 'size': {'type': 'integer'},
    'path': {'type': 'array', 'items': {'type': 'string'}}, 'root': {'type': 'string'}}}
VERDICT = {'type': 'object', 'required': ['match', 'reason'],
           'properties': {'match': {'type': 'boolean'}, 'reason': {'type': 'string'}}}


def _json(schema: dict) -> dict:
    return {'content': {'application/json': {'schema': schema}}}


def _op(summary: str, role: str | None, responses: dict, **extra) -> dict:
    op = {'summary': summary, 'responses': responses, **extra}
    if role:
        op['security'] = [{'bearer': []}]
        op['description'] = 'Needs an %s token.' % role
        op['responses'] = dict(responses, **{'401': dict(description='no or unknown token', **_json(ERROR))})
        if role == 'admin':
            op['responses']['403'] = dict(description='not an admin token', **_json(ERROR))
    return op


def _param(name: str, where: str, description: str, required: bool = False) -> dict:
    return {'name': name, 'in': where, 'required': required or where == 'path', 'description': description,
            'schema': {'type': 'string'}}


def document() -> dict:
    upload_errors = {}
    for code, status in STATUS.items():
        upload_errors.setdefault(str(status), []).append(code)
    frame_responses = {'200': dict(description='stored; ack is the highest gap-free sequence number',
                                   **_json({'type': 'object', 'required': ['ack'],
                                            'properties': {'ack': {'type': 'integer', 'minimum': -1}}}))}
    for status, codes in sorted(upload_errors.items()):
        frame_responses[status] = dict(description='error ' + ', '.join(codes), **_json(ERROR))
    ok = lambda description, schema: {'200': dict(description=description, **_json(schema))}  # noqa: E731
    gateway = {'type': 'object'}
    return {
        'openapi': '3.1.0',
        'info': {'title': 'Tanji ingest server', 'version': '1',
                 'description': 'Upload exchange of docs/protocol.md and the operator API of docs/server.md.'},
        'components': {'securitySchemes': {'bearer': {'type': 'http', 'scheme': 'bearer'}},
                       'schemas': {'Error': ERROR, 'Record': RECORD, 'Proof': PROOF}},
        'paths': {
            '/api/v1/frames': {'post': _op(
                'Upload one signed frame (docs/protocol.md §7), plain or sealed (§10); any route answers 429 '
                'with Retry-After beyond an address\'s budgets (docs/server.md "Limits")', None, frame_responses,
                requestBody={'required': True, 'content': {
                    'application/x-msgpack': {'schema': {'type': 'string', 'format': 'binary'}},
                    'application/x-tanji-sealed': {'schema': {'type': 'string', 'format': 'binary'}}}})},
            '/api/v1/frames/position': {'get': _op(
                'How far a gateway\'s sequence numbers go here, for a gateway that lost its log; signed by the '
                'gateway (docs/protocol.md §7)', None,
                dict(ok('position', {'type': 'object', 'properties': {
                    'gateway': {'type': 'string'}, 'ack': {'type': 'integer'}, 'last_seq': {'type': 'integer'}}}),
                     **{k: v for k, v in frame_responses.items() if k != '200'}),
                parameters=[_param('gateway', 'query', 'gateway id', True),
                            _param('t', 'query', 'the time of the question, Unix ms', True),
                            _param('sig', 'query', 'SM2 r||s (hex) over "tanji-position\\n<gateway>\\n<t>"',
                                   True)])},
            '/api/v1/health': {'get': _op('Liveness: up or down, no details (no token)', None,
                                          ok('up', {'type': 'object'}))},
            '/api/v1/status': {'get': _op('Database, uptime and ingest counters', 'operator',
                                          ok('status', {'type': 'object'}))},
            '/api/v1/openapi.json': {'get': _op('This document', None, ok('OpenAPI', {'type': 'object'}))},
            '/api/v1/records': {'get': _op(
                'Records by gateway, code (prefix), point and time range, oldest first', 'operator',
                dict(ok('a page of records', {'type': 'object', 'properties': {
                    'records': {'type': 'array', 'items': RECORD}, 'next': {'type': ['string', 'null']}}}),
                    **{'400': dict(description='bad_query', **_json(ERROR))}),
                parameters=[_param('gateway', 'query', 'gateway id'),
                            _param('code', 'query', 'data-item code or prefix, 1-12 digits, dashes allowed'),
                            _param('point', 'query', '3-digit measuring point'),
                            _param('from', 'query', 'inclusive start: ms since 1970 or ISO 8601'),
                            _param('to', 'query', 'exclusive end: ms since 1970 or ISO 8601'),
                            _param('limit', 'query', '1..10000, default 1000'),
                            _param('after', 'query', 'the next value of the previous page')])},
            '/api/v1/records/{gateway}/{seq}/proof': {'get': _op(
                'A stored record with its hash-tree proof, signed body, signature and public key', 'operator',
                dict(ok('proof', {'type': 'object'}), **{'404': dict(description='not stored', **_json(ERROR))}),
                parameters=[_param('gateway', 'path', 'gateway id'), _param('seq', 'path', 'sequence number')])},
            '/api/v1/fingerprints/verify': {'post': _op(
                'Check a frame, or one record with its proof, against what the gateway signed and the centre '
                'stored (seed 001 §7.4)', 'operator', ok('verdict', VERDICT),
                requestBody={'required': True, 'content': {
                    'application/x-msgpack': {'schema': {'type': 'string', 'format': 'binary'}},
                    'application/json': {'schema': {'type': 'object', 'required': ['gateway', 'record', 'proof'],
                                                    'properties': {'gateway': {'type': 'string'},
                                                                   'record': RECORD, 'proof': PROOF}}}}})},
            '/api/v1/gateways': {
                'get': _op('Enrolled gateways with their status', 'operator', ok('gateways', {'type': 'object'})),
                'post': _op('Enrol a gateway', 'admin', {'201': dict(description='enrolled', **_json(gateway)),
                                                         '409': dict(description='conflict', **_json(ERROR))},
                            requestBody={'required': True, 'content': {'application/json': {'schema': {
                                'type': 'object', 'required': ['gateway', 'public_key', 'enterprise', 'site'],
                                'properties': {'gateway': {'type': 'string'},
                                               'public_key': {'type': 'string', 'description': 'PEM or hex'},
                                               'enterprise': {'type': 'string'}, 'site': {'type': 'string'},
                                               'first_seq': {'type': 'integer'}}}}}})},
            '/api/v1/gateways/{gateway}': {'get': _op(
                'One gateway: last frame, ack, gaps, signature failures, conflicts', 'operator',
                ok('gateway', gateway), parameters=[_param('gateway', 'path', 'gateway id')])},
            '/api/v1/gateways/{gateway}/revoke': {'post': _op(
                'Revoke a gateway: its frames are refused from now on', 'admin', ok('revoked', gateway),
                parameters=[_param('gateway', 'path', 'gateway id')],
                requestBody={'required': True, 'content': {'application/json': {'schema': {
                    'type': 'object', 'required': ['reason'], 'properties': {'reason': {'type': 'string'}}}}}})},
            '/api/v1/gateways/{gateway}/health': {
                'post': _op('A gateway\'s signed health report (docs/protocol.md §11); the signature in '
                            'X-Tanji-Signature authenticates', None,
                            dict(ok('kept', {'type': 'object'}), **{k: v for k, v in frame_responses.items()
                                                                     if k != '200'}),
                            parameters=[_param('gateway', 'path', 'gateway id'),
                                        _param('X-Tanji-Signature', 'header', 'SM2 r||s over the body, hex', True)],
                            requestBody={'required': True, 'content': {'application/json': {
                                'schema': {'type': 'object', 'required': ['gateway', 't']}}}}),
                'get': _op('The latest health report of a gateway, with when it arrived', 'operator',
                           ok('health', {'type': 'object'}), parameters=[_param('gateway', 'path', 'gateway id')])},
            '/api/v1/gateways/{gateway}/config': {
                'put': _op('Stage a configuration for a gateway (docs/protocol.md §12): signed with the platform\'s '
                           'config_key and offered in the answer to its next health report', 'admin',
                           {'201': dict(description='staged', **_json({'type': 'object'})),
                            '409': dict(description='this platform has no config_key', **_json({'type': 'object'}))},
                           parameters=[_param('gateway', 'path', 'gateway id')],
                           requestBody={'required': True, 'content': {'application/json': {'schema': {
                               'type': 'object', 'required': ['toml'],
                               'properties': {'toml': {'type': 'string'}, 'why': {'type': 'string'}}}}}}),
                'get': _op('The configurations staged for a gateway and what became of each (offered, on '
                           'probation, applied, refused, reverted)', 'operator', ok('configurations',
                                                                                    {'type': 'object'}),
                           parameters=[_param('gateway', 'path', 'gateway id')])},
            '/api/v1/fleet': {'get': _op('Every gateway with a summary of its latest health report', 'operator',
                                         ok('fleet', {'type': 'object'}))},
            '/api/v1/centres': {'get': _op('Downstream centres: cursor, backlog, errors', 'operator',
                                           ok('centres', {'type': 'object'}))},
            '/api/v1/centres/{centre}/rejects': {'get': _op(
                'Frames a downstream centre refused for good', 'operator', ok('rejects', {'type': 'object'}),
                parameters=[_param('centre', 'path', 'centre name')])},
            '/api/v1/tokens': {
                'get': _op('API tokens (never the secrets)', 'admin', ok('tokens', {'type': 'object'})),
                'post': _op('Create a token; the secret is shown once', 'admin',
                            {'201': dict(description='created', **_json({'type': 'object'}))},
                            requestBody={'required': True, 'content': {'application/json': {'schema': {
                                'type': 'object', 'required': ['name', 'role'],
                                'properties': {'name': {'type': 'string'},
                                               'role': {'enum': ['operator', 'admin']}}}}}})},
            '/api/v1/tokens/{name}/revoke': {'post': _op('Revoke a token', 'admin', ok('revoked', {'type': 'object'}),
                                                         parameters=[_param('name', 'path', 'token name')])},
            '/api/v1/audit': {'get': _op('Audit log of administrative actions, newest first', 'admin',
                                         ok('audit', {'type': 'object'}),
                                         parameters=[_param('limit', 'query', '1..10000')])},
            '/api/v1/accounting/libraries': {'get': _op('Versions of the factor and method libraries', 'operator',
                                                        ok('versions', {'type': 'object'}))},
            '/api/v1/accounting/libraries/factors': {'get': _op(
                'The factor library (defaults and the records added here) for gateways to download', 'operator',
                ok('library', {'type': 'object'}))},
            '/api/v1/accounting/libraries/methods': {'get': _op('The method library', 'operator',
                                                                ok('library', {'type': 'object'}))},
            '/api/v1/accounting/factors': {'post': _op(
                'Add a factor record (user or measured value, or a new version of a record)', 'admin',
                {'201': dict(description='added', **_json({'type': 'object'}))})},
            '/api/v1/accounting/scenarios': {'get': _op('Stored scenarios', 'operator', ok('list', {'type': 'object'}))},
            '/api/v1/accounting/scenarios/{name}': {'put': _op(
                'Store a scenario (docs/accounting.md); sources may be bound to a gateway and code', 'admin',
                {'200': dict(description='replaced', **_json({'type': 'object'})),
                 '201': dict(description='stored', **_json({'type': 'object'}))},
                parameters=[_param('name', 'path', 'scenario name')])},
            '/api/v1/accounting/results': {'get': _op(
                'Results of a stored scenario for a period from the stored readings; factor versions are kept '
                'from the previous computation of that period unless recalculate=1', 'operator',
                dict(ok('result', {'type': 'object'}), **{'422': dict(description='scenario cannot be evaluated',
                                                                       **_json(ERROR))}),
                parameters=[_param('scenario', 'query', 'scenario name', True),
                            _param('period', 'query', 'YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD (local time)', True),
                            _param('node', 'query', 'a boundary node name'), _param('scope', 'query', '1 or 2'),
                            _param('recalculate', 'query', '1: use the current factor versions')])},
            '/api/v1/accounting/evaluate': {'post': _op(
                'Evaluate a scenario JSON; with "period", meter-bound sources take their stored readings',
                'operator', dict(ok('result', {'type': 'object'}),
                                 **{'422': dict(description='scenario cannot be evaluated', **_json(ERROR))}))},
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get('/api/v1/openapi.json', serve)
