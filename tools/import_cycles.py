"""Import cycles between Tanji's modules, found by reading the source (every import
statement, including those inside functions).  Prints each cycle and exits 1 when
there is one.

    python -m tools.import_cycles [PACKAGE ...]      (default: server firmware shared hardware)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ('server', 'firmware', 'shared', 'hardware')


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def imports(path: Path, known: set[str], root: Path = REPO) -> set[str]:
    """The project modules a file imports (a package import counts as its __init__)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
    here = module_name(path, root)
    package = here if path.name == '__init__.py' else here.rpartition('.')[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1] + ([base] if base else []))
            names = [base] + ['%s.%s' % (base, a.name) for a in node.names]
        else:
            continue
        for name in names:
            if name in known:
                out.add(name)
    out.discard(here)
    return out


def graph(packages: tuple[str, ...] = PACKAGES, root: Path = REPO) -> dict[str, set[str]]:
    files = [p for pkg in packages for p in (root / pkg).rglob('*.py')]
    known = {module_name(p, root) for p in files}
    return {module_name(p, root): imports(p, known, root) for p in files}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    found = cycles(graph(tuple(argv) or PACKAGES))
    for group in found:
        print('import cycle: %s' % ' <-> '.join(group))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
