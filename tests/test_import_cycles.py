"""No import cycles between Tanji's modules (tools/import_cycles.py reads every import
statement, those inside functions included)."""

from tools import import_cycles


def test_no_module_of_tanji_imports_itself_round_a_cycle():
    assert import_cycles.cycles(import_cycles.graph()) == []


def test_a_cycle_hidden_inside_a_function_is_found(tmp_path):
    pkg = tmp_path / 'pkg'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    (pkg / 'app.py').write_text('from pkg import api\n')
    (pkg / 'api.py').write_text('def handler():\n    from pkg.app import make_app\n    return make_app\n')
    (pkg / 'leaf.py').write_text('import pkg.api\n')
    assert import_cycles.cycles(import_cycles.graph(('pkg',), tmp_path)) == [['pkg.api', 'pkg.app']]
