"""Found cells as genotypes: DARTS' ``Genotype(normal=..., reduce=...)`` text, and JSON.

A cell is a list of nodes (blocks); each node has two ``(op, input)`` pairs, where inputs 0 and 1
are the cell's inputs (the outputs of the two previous cells) and ``2 + n`` is node ``n``. The
cell's output concatenates the nodes in ``concat``. DARTS genotypes are DARTS' own text
(``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=..., reduce_concat=...)``,
``range(2, 6)`` accepted); NASNet genotypes add ``normal_combine`` and ``reduce_combine``, the
combine of each block (``add`` or ``concat``), which is what marks them as NASNet cells.

Pure Python (no torch): parsing and checks are cheap and run before any work starts.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import UserError
from .ops import DARTS_OPS, NASNET_OPS

__all__ = ['GenotypeError', 'CellGenotype', 'Genotype', 'SPACE_OPS', 'COMBINES', 'loose_ends', 'text_fields', 'json_fields',
           'check_declared_space', 'pairs_of', 'indices_of']

#: Ops a genotype of each space may use (DARTS' ``none`` is never part of a found cell).
SPACE_OPS = {'darts': tuple(op for op in DARTS_OPS if op != 'none'), 'nasnet': NASNET_OPS}
COMBINES = ('add', 'concat')
CELL_TYPES = ('normal', 'reduce')


class GenotypeError(UserError):
    """Not a valid genotype (unknown op, bad input index, malformed text)."""


Pair = Tuple[str, int]


def loose_ends(nodes: Sequence[Tuple[Pair, Pair]]) -> Tuple[int, ...]:
    """State indices of the nodes no other node uses (NASNet's cell output)."""
    used = {index for node in nodes for _, index in node}
    return tuple(2 + n for n in range(len(nodes)) if 2 + n not in used)


@dataclasses.dataclass(frozen=True)
class CellGenotype:
    nodes: Tuple[Tuple[Pair, Pair], ...]
    concat: Tuple[int, ...]
    combine: Optional[Tuple[str, ...]] = None  # NASNet cells; None: DARTS (sum)

    def check(self, space: str, where: str) -> None:
        ops = SPACE_OPS[space]
        if not self.nodes:
            raise GenotypeError(f'{where}: a cell needs at least one node')
        for n, node in enumerate(self.nodes):
            for op, index in node:
                if op not in ops:
                    raise GenotypeError(f'{where}: node {n} has unknown op {op!r}; {space} ops are {", ".join(ops)}')
                if not 0 <= index < 2 + n:
                    raise GenotypeError(f'{where}: node {n} takes input {index}, but only 0..{n + 1} exist before it '
                                        '(0, 1: the cell inputs; 2 + m: node m)')
            if space == 'darts' and node[0][1] == node[1][1]:
                raise GenotypeError(f'{where}: node {n} takes input {node[0][1]} twice; a DARTS node has two '
                                    'distinct inputs')
        if not self.concat or len(set(self.concat)) != len(self.concat):
            raise GenotypeError(f'{where}_concat must list distinct node indices, not {list(self.concat)}')
        for index in self.concat:
            if not 2 <= index < 2 + len(self.nodes):
                raise GenotypeError(f'{where}_concat: {index} is not a node (nodes are 2..{len(self.nodes) + 1})')
        if space == 'nasnet':
            if self.combine is None or len(self.combine) != len(self.nodes):
                raise GenotypeError(f'{where}_combine must give one combine per node ({len(self.nodes)})')
            for combine in self.combine:
                if combine not in COMBINES:
                    raise GenotypeError(f'{where}_combine: unknown combine {combine!r}; use add or concat')
            if tuple(sorted(self.concat)) != loose_ends(self.nodes):
                raise GenotypeError(f'{where}_concat must be the nodes no node uses, {list(loose_ends(self.nodes))} '
                                    '(NASNet concatenates its unused hidden states)')


@dataclasses.dataclass(frozen=True)
class Genotype:
    normal: CellGenotype
    reduce: CellGenotype

    @property
    def space(self) -> str:
        return 'darts' if self.normal.combine is None else 'nasnet'

    def cells(self) -> Dict[str, CellGenotype]:
        return {'normal': self.normal, 'reduce': self.reduce}

    def check(self) -> 'Genotype':
        if (self.normal.combine is None) != (self.reduce.combine is None):
            raise GenotypeError('both cells need a combine list (NASNet), or neither (DARTS)')
        for name, cell in self.cells().items():
            cell.check(self.space, name)
        return self

    # ------------------------------------------------------------------ text

    def text(self) -> str:
        parts = []
        for name, cell in self.cells().items():
            pairs = ', '.join(f'({op!r}, {index})' for node in cell.nodes for op, index in node)
            parts.append(f'{name}=[{pairs}]')
            parts.append(f'{name}_concat={list(cell.concat)}')
            if cell.combine is not None:
                parts.append(f'{name}_combine={list(cell.combine)}')
        return f'Genotype({", ".join(parts)})'

    __str__ = text

    @classmethod
    def from_text(cls, text: str) -> 'Genotype':
        """Parse DARTS' genotype text (a ``Genotype(...)`` call of literals; nothing is executed)."""
        return cls.from_fields(text_fields(text))

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {'space': self.space}
        for name, cell in self.cells().items():
            out[name] = [[op, index] for node in cell.nodes for op, index in node]
            out[f'{name}_concat'] = list(cell.concat)
            if cell.combine is not None:
                out[f'{name}_combine'] = list(cell.combine)
        return out

    @classmethod
    def from_json(cls, data: Any) -> 'Genotype':
        fields, space = json_fields(data)
        if 'recurrent' in fields:
            raise GenotypeError('this JSON is a recurrent genotype, not a DARTS or NASNet one')
        return check_declared_space(cls.from_fields(fields), space)

    @classmethod
    def from_fields(cls, fields: Dict[str, Any]) -> 'Genotype':
        allowed = {f'{c}{suffix}' for c in CELL_TYPES for suffix in ('', '_concat', '_combine')}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise GenotypeError(f'unknown genotype field(s) {", ".join(map(str, unknown))}; '
                                f'fields are {", ".join(sorted(allowed))}')
        cells = {}
        for name in CELL_TYPES:
            if name not in fields or f'{name}_concat' not in fields:
                raise GenotypeError(f'the genotype has no {name} cell (needs {name}=[...] and {name}_concat=[...])')
            cells[name] = CellGenotype(_nodes(fields[name], name), indices_of(fields[f'{name}_concat'], f'{name}_concat'),
                                       _combines(fields.get(f'{name}_combine'), name))
        return cls(**cells).check()


def text_fields(text: str) -> Dict[str, Any]:
    """The keyword values of a ``Genotype(...)`` text, as Python literals (nothing is executed)."""
    try:
        tree = ast.parse(text.strip(), mode='eval')
    except SyntaxError as error:
        raise GenotypeError(f'not a genotype: {error.msg} in {_short(text)!r}') from None
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        raise GenotypeError(f'not a genotype: {_short(text)!r} is not readable Python literal text') from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == 'Genotype'
            and not call.args):
        raise GenotypeError(f'a genotype is Genotype(normal=[...], normal_concat=[...], reduce=[...], '
                            f'reduce_concat=[...]) or Genotype(recurrent=[...], concat=[...]), not {_short(text)!r}')
    return {keyword.arg: _literal(keyword.value, keyword.arg) for keyword in call.keywords}


def _short(text: str, limit: int = 80) -> str:
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _literal(node: ast.AST, name: Optional[str]) -> Any:
    """A keyword's value: a Python literal, or ``range(a, b)`` (DARTS writes concat that way)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'range'
            and not node.keywords and 1 <= len(node.args) <= 2):
        bounds = [_literal(arg, name) for arg in node.args]
        if not all(isinstance(b, int) and not isinstance(b, bool) and abs(b) < 10 ** 6 for b in bounds):
            raise GenotypeError(f'{name}: range() takes small whole numbers, not {bounds}')
        return list(range(*bounds))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise GenotypeError(f'{name}: only literals (and range(a, b)) are allowed in a genotype') from None


def pairs_of(value: Any, name: str, example: str) -> List[Pair]:
    """``(op, input)`` pairs of a genotype field (a non-empty list); ``example`` shows one."""
    if not isinstance(value, (list, tuple)) or not value:
        raise GenotypeError(f'{name} must be a non-empty list of (op, input) pairs')
    pairs: List[Pair] = []
    for entry in value:
        if (not isinstance(entry, (list, tuple)) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], int) or isinstance(entry[1], bool)):
            raise GenotypeError(f'{name}: {entry!r} is not an (op, input) pair like {example}')
        pairs.append((entry[0], entry[1]))
    return pairs


def _nodes(value: Any, name: str) -> Tuple[Tuple[Pair, Pair], ...]:
    if isinstance(value, (list, tuple)) and len(value) % 2:
        raise GenotypeError(f'{name} must be a non-empty list of (op, input) pairs, two per node')
    pairs = pairs_of(value, name, "('sep_conv_3x3', 0)")
    return tuple((pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2))


def indices_of(value: Any, name: str) -> Tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise GenotypeError(f'{name} must be a list of node indices, not {value!r}')
    return tuple(value)


def _combines(value: Any, name: str) -> Optional[Tuple[str, ...]]:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise GenotypeError(f'{name}_combine must be a list of "add"/"concat", not {value!r}')
    return tuple(value)


def json_fields(data: Any) -> Tuple[Dict[str, Any], Optional[str]]:
    """``(fields, declared space)`` of a genotype's JSON object (a ``genotype.json``)."""
    if not isinstance(data, dict):
        raise GenotypeError(f'a JSON genotype is an object with normal, reduce, ... (or recurrent, concat); '
                            f'not {type(data).__name__}')
    return {key: value for key, value in data.items() if key != 'space'}, data.get('space')


def check_declared_space(genotype, space: Optional[str]):
    """``genotype``, if its cells are of the ``space`` its JSON declares (or it declares none)."""
    if space is not None and space != genotype.space:
        raise GenotypeError(f'the JSON says space {space!r}, but its cells are {genotype.space} cells')
    return genotype
