"""The package's layering: no import cycle among its modules, function-local imports included."""

import ast
from pathlib import Path

import nni_cnas

PACKAGE = Path(nni_cnas.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def import_graph() -> dict:
    """``{module: {modules it imports}}`` over nni_cnas, from every import statement in its files."""
    files = {module_name(path): path for path in PACKAGE.rglob('*.py')}
    graph = {}
    for name, path in files.items():
        package = name if path.name == '__init__.py' else name.rpartition('.')[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                    base = '.'.join(anchor + ([node.module] if node.module else []))
                targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in files else base for alias in node.names]
            else:
                continue
            edges.update(target for target in targets if target in files and target != name)
        graph[name] = edges
    return graph


def cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def test_the_import_graph_sees_function_local_and_relative_imports():
    graph = import_graph()
    assert 'nni_cnas.spaces.drawing' in graph['nni_cnas.run.search']  # a function-local relative import
    assert 'nni_cnas.errors' in graph['nni_cnas.run.search']


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_benchmarks_and_scripts_import_what_exists():
    """Every ``from nni_cnas... import name`` in benchmarks/ and scripts/ names something the package
    has (a benchmark is not run in CI; a moved function must not break it silently)."""
    import importlib

    missing = []
    for path in sorted([*PACKAGE.parent.glob('benchmarks/**/*.py'), *PACKAGE.parent.glob('scripts/*.py')]):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('nni_cnas') and not node.level:
                module = importlib.import_module(node.module)
                missing += [f'{path.name}: {node.module}.{alias.name}' for alias in node.names
                            if not hasattr(module, alias.name)
                            and importlib.util.find_spec(f'{node.module}.{alias.name}') is None]
    assert not missing
