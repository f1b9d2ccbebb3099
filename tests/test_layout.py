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
    assert 'nni_cnas.spaces.drawing' in graph['nni_cnas.run.outputs']  # a function-local relative import
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


#: The layers of docs/architecture.md, top to bottom: a module imports from its own layer and the
#: layers below it, never from one above (function-local imports included). ``nni_cnas`` is the
#: package's own ``__init__`` (the public names); the last layer is every top-level module.
LAYERS = ('nni_cnas', 'cli', 'nnictl', 'experiments', 'retrain', 'run', 'strategies', 'curriculum', 'benchmarks',
          'spaces', 'arch', 'data', 'foundation')


def layer_of(module: str) -> str:
    parts = module.split('.')
    if len(parts) == 1:
        return 'nni_cnas'
    return parts[1] if parts[1] in LAYERS else 'foundation'


def upward_imports(graph: dict) -> list:
    order = {name: index for index, name in enumerate(LAYERS)}
    return sorted(f'{a} ({layer_of(a)}) imports {b} ({layer_of(b)})' for a, targets in graph.items() for b in targets
                  if order[layer_of(b)] < order[layer_of(a)])


def test_the_layer_check_finds_an_upward_import():
    assert upward_imports({'nni_cnas.run.search': {'nni_cnas.experiments.sweep', 'nni_cnas.errors'}}) == \
        ['nni_cnas.run.search (run) imports nni_cnas.experiments.sweep (experiments)']


def test_every_package_is_a_layer():
    packages = {path.name for path in PACKAGE.iterdir() if (path / '__init__.py').is_file()}
    assert packages == set(LAYERS) - {'nni_cnas', 'foundation'}


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(import_graph()) == []


def test_the_architecture_page_draws_the_layers_in_this_order():
    text = (PACKAGE.parent / 'docs' / 'architecture.md').read_text(encoding='utf-8')
    diagram = text.split('## Layers', 1)[1].split('```')[1]
    drawn = [line.split()[0].rstrip('/') for line in diagram.strip().splitlines() if line[:1] not in (' ', '')]
    assert drawn == [name for name in LAYERS if name != 'nni_cnas']


def test_the_product_cites_no_issue_tracker():
    """Code, docs and benchmarks speak of the product itself: a reader cannot see this project's
    tracker, so a tracker number tells them nothing (NNI's own public issues may be cited as NNI's)."""
    import re

    root = PACKAGE.parent
    files = [*PACKAGE.rglob('*.py'), *root.glob('docs/**/*.md'), *root.glob('benchmarks/**/*.py'),
             *root.glob('benchmarks/*.yaml'), root / 'README.md', root / 'BENCHMARKS.md', *root.glob('tests/*.py')]
    pattern = re.compile(r'\bissues? #?\d+', re.IGNORECASE)
    found = [f'{path.relative_to(root)}: {match.group(0)}' for path in files
             for match in pattern.finditer(path.read_text(encoding='utf-8')) if 'NNI' not in match.string[max(0, match.start() - 40):match.start()]]
    assert found == []
