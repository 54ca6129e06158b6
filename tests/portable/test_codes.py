from shared.codec import codes
from portable_helpers import raises


def test_default_tables_load_with_their_version():
    t = codes.tables()
    assert t.version == codes.DEFAULT_VERSION
    assert codes.DEFAULT_VERSION in codes.available_versions()
    assert t.length == 12


def test_encode_parse_and_grouped_form():
    t = codes.tables()
    code = t.encode('08', '01', '002', '01', 2)
    assert code == '080100201002'
    assert t.grouped(code) == '08-01-002-01-002'
    assert t.validate('08-01-002-01-002') == code
    seg = t.parse(code)
    assert seg['industry'] == '08' and seg['source'] == '002' and seg['point'] == '002'


def test_describe_in_chinese_and_english():
    t = codes.tables()
    assert t.describe('080100201002', 'zh') == '水泥 · 化石燃料燃烧 · 烟煤 · 累计消耗量 · 监测点 002'
    assert t.describe('080100201002', 'en') == (
        'Cement · Fossil fuel combustion · Bituminous coal · Cumulative consumption (register) · point 002')
    raises(codes.CodeError, t.describe, '080100201002', 'fr')


def test_every_table_entry_is_named_in_both_languages():
    t = codes.tables()
    for seg in ('industry', 'activity', 'source', 'parameter'):
        assert t.tables[seg]
        for key in t.tables[seg]:
            entry = t.tables[seg][key]
            assert entry['zh'] and entry['en'], (seg, key)


def test_seed_001_table_1_industries_are_present():
    names = [e['zh'] for e in codes.tables().tables['industry'].values()]
    for name in ('发电', '电网', '钢铁', '化工', '电解铝', '平板玻璃', '水泥', '民航', '石油化工', '造纸和纸制品'):
        assert name in names, name


def test_invalid_codes_are_refused_with_reasons():
    t = codes.tables()
    e = raises(codes.CodeError, t.parse, '0801002010')
    assert '12 digits' in str(e)
    raises(codes.CodeError, t.parse, '08010020100A')
    raises(codes.CodeError, t.parse, 80100201002)
    e = raises(codes.CodeError, t.parse, '990100201001')
    assert 'industry 99' in str(e)
    raises(codes.CodeError, t.parse, '089900201001')
    raises(codes.CodeError, t.parse, '080199901001')
    raises(codes.CodeError, t.parse, '080100299001')
    e = raises(codes.CodeError, t.parse, '080100201000')
    assert 'must not be zero' in str(e)
    # electricity is no fuel: source 201 does not occur in fuel combustion
    e = raises(codes.CodeError, t.parse, '080120101001')
    assert 'does not occur' in str(e)
    raises(codes.CodeError, t.encode, '08', '01', '002', '01', 1000)


def test_units_are_checked_per_parameter_and_source():
    t = codes.tables()
    t.check_unit('080100201002', 't')
    t.check_unit('080100201002', 'kt')
    e = raises(codes.CodeError, t.check_unit, '080100201002', 'kWh')
    assert 'expected one of' in str(e)
    t.check_unit('080101601003', '10^4 Nm3')
    raises(codes.CodeError, t.check_unit, '080101601003', 't')
    t.check_unit('080420101001', 'kWh')
    t.check_unit('080420114001', 'kW')
    raises(codes.CodeError, t.check_unit, '080420114001', 'kWh')
    t.check_unit('080100206001', '%')


def test_unknown_table_version_is_refused():
    e = raises(codes.CodeError, codes.tables, 'db35-official-2099')
    assert 'not installed' in str(e)


def test_a_table_file_with_a_wrong_layout_is_refused():
    doc = {'version': 'x', 'layout': [['industry', 2], ['point', 3]], 'industry': {}}
    raises(codes.CodeError, codes.CodeTables, doc)
    doc = {'version': 'x', 'layout': [['industry', 2], ['activity', 2], ['source', 3], ['parameter', 2], ['point', 3]],
           'industry': {'1': {'zh': 'a', 'en': 'a'}}, 'activity': {}, 'source': {}, 'parameter': {}}
    raises(codes.CodeError, codes.CodeTables, doc)
