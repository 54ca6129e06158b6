"""The accounting bindings and the boundary in the gateway's own configuration (seed 001
§9.2 a–c, §9.3 a–f), so the page edits them, versions them and rolls them back like
any other setting, and the platform can stage them:

    [accounting]                     # §9.3 a: the reporting entity
    name = "闽东水泥有限公司"
    credit_code = "91350900MA2XXXXXXX"
    contact = "林工 0593-1234567"
    gwp = "AR5"                      # SAR | AR4 | AR5, for gases other than CO2
    grid_series = "ets"              # ets | statistical | statistical_excl_nonfossil

    [[accounting_unit]]              # §9.3 b: accounting units, by use or by site
    name = "clinker-line-1"
    kind = "production line"

    [[emission_source]]              # §9.3 c–e, §9.2 a–c: a source bound to one of this gateway's points
    id = "kiln-coal"
    unit = "clinker-line-1"          # its accounting unit (none: the entity itself)
    industry = "08"                  # a registered industry (seed 001 Annex A)
    method = "fuel_combustion"       # one of the industry's methods
    subject = "bituminous_coal"      # what the method applies to, when it needs one (fuel, carbonate, ...)
    code = "080100202001"            # the point: its readings are the activity
      [[emission_source.parameter]]  # §9.2 c: a parameter given instead of the factor library's
      name = "NCV"
      value = "23.35"
      unit = "GJ/t"
      evidence = "lab report 2026-11"

They become the scenario of docs/accounting.md, whose boundary is the entity with its
units, each with its sources (§9.3 f draws it: the page's boundary view)."""

from __future__ import annotations

from firmware.drivers.descriptor import Field
from firmware.settings import GatewayConfigError, check_keys, fail, unique_name
from shared.accounting.methods import MethodLibrary
from shared.codec import codes


def _help(zh: str, en: str) -> dict:
    return {'zh': zh, 'en': en}


ENTITY_FIELDS = [
    Field('name', 'text', None, _help('报告主体名称（企业法人或视同法人的独立核算单位）', 'reporting entity (a legal person or an independent accounting unit)')),
    Field('credit_code', 'text', None, _help('统一社会信用代码', 'unified social credit code')),
    Field('contact', 'text', None, _help('联系人及电话', 'contact person and telephone')),
    Field('gwp', 'choice', None, _help('全球变暖潜势：非 CO2 气体需要', 'global warming potentials: needed for gases other than CO2'),
          choices=('SAR', 'AR4', 'AR5')),
    Field('grid_series', 'choice', 'ets', _help('电网排放因子系列', 'grid emission factor series'),
          choices=('ets', 'statistical', 'statistical_excl_nonfossil')),
    Field('libraries', 'text', None, _help('因子库与方法库目录（tanji accounting pull / import 的目录）', 'directory of the factor and method libraries (tanji accounting pull / import)')),
]
UNIT_FIELDS = [
    Field('name', 'text', help=_help('核算单元名称（字母、数字、. _ -）', 'name of the accounting unit (letters, digits, . _ -)')),
    Field('kind', 'text', None, _help('类别：按用途或场地，如 生产线、车间', 'kind: by use or by site, e.g. production line, workshop')),
]
SOURCE_FIELDS = [
    Field('id', 'text', help=_help('排放源标识（字母、数字、. _ -）', 'source id (letters, digits, . _ -)')),
    Field('unit', 'choice', None, _help('所属核算单元（空：报告主体本身）', 'its accounting unit (none: the entity itself)'), choices=()),
    Field('industry', 'choice', help=_help('所属行业（附录 A 已登记行业）', 'industry (registered, seed 001 Annex A)'), choices=()),
    Field('method', 'choice', help=_help('核算方法', 'accounting method'), choices=()),
    Field('subject', 'text', None, _help('对象：方法需要时填写，如 燃料 bituminous_coal、碳酸盐 caco3', 'what the method applies to, when it needs one: a fuel such as bituminous_coal, a carbonate such as caco3')),
    Field('code', 'text', help=_help('采集点：本网关的 12 位数据项编码，其读数即活动数据', 'the point: a 12-digit code of this gateway, whose readings are the activity')),
]
PARAMETER_ROW = ('parameter', [
    Field('name', 'text', help=_help('参数', 'parameter')),
    Field('value', 'decimal', help=_help('数值', 'value')),
    Field('unit', 'text', help=_help('单位', 'unit')),
    Field('evidence', 'text', None, _help('依据', 'evidence')),
])
SECTIONS = ('accounting', 'accounting_unit', 'emission_source')


def present(doc: dict) -> bool:
    return any(doc.get(s) for s in SECTIONS)


def active(doc: dict) -> bool:
    """Whether the configuration has something to account: a scenario file or a bound source."""
    return bool((doc.get('accounting') or {}).get('scenario') or doc.get('emission_source'))


def scenario(doc: dict, gateway_id: str, methods: MethodLibrary) -> dict | None:
    """The scenario the configuration's accounting sections describe (None while no source is
    bound); GatewayConfigError naming the setting (as emission_source[2]: ...) otherwise."""
    entity = doc.get('accounting') or {}
    check_keys(entity, {f.name for f in ENTITY_FIELDS} | {'scenario'}, 'accounting')
    for f in ENTITY_FIELDS:
        try:
            f.value(entity)
        except ValueError as e:
            fail('accounting', str(e))
    units, seen = [], set()
    for i, u in enumerate(doc.get('accounting_unit', [])):
        where = 'accounting_unit[%d]' % (i + 1)
        check_keys(u, {f.name for f in UNIT_FIELDS}, where)
        units.append({'name': unique_name(u, where, seen), 'kind': u.get('kind') or 'accounting unit',
                      'sources': []})
    by_unit = {u['name']: u for u in units}
    tables = codes.tables()
    sources, ids, at_entity = [], set(), []
    for i, s in enumerate(doc.get('emission_source', [])):
        where = 'emission_source[%d]' % (i + 1)
        check_keys(s, {f.name for f in SOURCE_FIELDS} | {PARAMETER_ROW[0]}, where)
        sid = s.get('id')
        if not isinstance(sid, str) or not sid or sid in ids:
            fail(where, 'id must be a unique name of letters, digits, . _ -')
        ids.add(sid)
        industry = methods.industries.get(s.get('industry'))
        if industry is None:
            fail(where, 'industry must be one of %s, not %r' % (', '.join(sorted(methods.industries)),
                                                                s.get('industry')))
        if s.get('method') not in industry['methods']:
            fail(where, 'method must be one of industry %s\'s: %s, not %r' % (s['industry'],
                                                                             ', '.join(industry['methods']),
                                                                             s.get('method')))
        method = methods.methods[s['method']]
        source = {'id': sid, 'method': s['method'], 'industry': s['industry'],
                  'meter': {'gateway': gateway_id, 'code': _code(s.get('code'), where, tables)}}
        if method.get('subject'):
            if not isinstance(s.get('subject'), str) or not s['subject']:
                fail(where, 'subject is required: method %s applies to a %s (e.g. bituminous_coal)'
                     % (s['method'], method['subject']))
            source[method['subject']] = s['subject']
        parameters = {}
        for j, p in enumerate(s.get(PARAMETER_ROW[0], [])):
            w = '%s.parameter[%d]' % (where, j + 1)
            check_keys(p, {f.name for f in PARAMETER_ROW[1]}, w)
            if p.get('name') not in method['inputs']:
                fail(w, 'name must be one of method %s\'s inputs: %s, not %r' % (
                    s['method'], ', '.join(method['inputs']), p.get('name')))
            if not isinstance(p.get('unit'), str) or not p['unit'] or p.get('value') in (None, ''):
                fail(w, 'a parameter needs its value and its unit')
            parameters[p['name']] = {k: str(p[k]) for k in ('value', 'unit', 'evidence') if p.get(k) is not None}
        if parameters:
            source['parameters'] = parameters
        unit = s.get('unit')
        if unit:
            if unit not in by_unit:
                fail(where, 'unit %r is not a configured [[accounting_unit]]' % unit)
            by_unit[unit]['sources'].append(sid)
        else:
            at_entity.append(sid)
        sources.append(source)
    if not sources:
        return None                     # the entity and its units, no source bound yet: nothing to account
    out = {'name': entity.get('name') or gateway_id, 'reporting_year': 2000, 'sources': sources,
           'grid': {'series': entity.get('grid_series', 'ets')},
           'boundary': {'name': entity.get('name') or gateway_id, 'kind': 'organisation', 'sources': at_entity,
                        'children': units}}
    if entity.get('gwp'):
        out['gwp'] = entity['gwp']
    return out


def _code(value: object, where: str, tables) -> str:
    try:
        return '%012d' % int(tables.validate(value))
    except (codes.CodeError, TypeError, ValueError, AttributeError) as e:
        raise GatewayConfigError('%s: code %r: %s' % (where, value, e))
