"""Found recurrent cells: DARTS' ``Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9))``.

Node ``n + 1`` (the n-th entry of ``recurrent``) applies its activation to one earlier state
(0: the cell's initial state ``s0``, ``m``: node m); the cell's output is the mean of the nodes in
``concat``: all nodes in DARTS' space, the loose ends (nodes no node takes) in ENAS'.
Pure Python (no torch), like :mod:`.genotype`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

from .genotype import GenotypeError, indices_of, pairs_of

__all__ = ['RNN_ACTIVATIONS', 'RecurrentGenotype', 'recurrent_loose_ends']

#: Activations a found recurrent cell may use (``none`` is never part of one).
RNN_ACTIVATIONS = ('tanh', 'relu', 'sigmoid', 'identity')


def recurrent_loose_ends(recurrent) -> Tuple[int, ...]:
    """Nodes no other node takes as input (ENAS' cell output)."""
    used = {index for _, index in recurrent}
    return tuple(n for n in range(1, len(recurrent) + 1) if n not in used)


@dataclasses.dataclass(frozen=True)
class RecurrentGenotype:
    recurrent: Tuple[Tuple[str, int], ...]
    concat: Tuple[int, ...]

    space = 'rnn'

    @property
    def nodes(self) -> int:
        return len(self.recurrent)

    def check(self) -> 'RecurrentGenotype':
        if not self.recurrent:
            raise GenotypeError('recurrent: a recurrent cell needs at least one node')
        for n, (op, index) in enumerate(self.recurrent):
            if op not in RNN_ACTIVATIONS:
                raise GenotypeError(f'recurrent: node {n + 1} has unknown activation {op!r}; '
                                    f'use one of {", ".join(RNN_ACTIVATIONS)}')
            if not 0 <= index <= n:
                raise GenotypeError(f'recurrent: node {n + 1} takes state {index}, but only 0..{n} exist before it '
                                    '(0: the initial state, m: node m)')
        if not self.concat or len(set(self.concat)) != len(self.concat):
            raise GenotypeError(f'concat must list distinct node indices, not {list(self.concat)}')
        for index in self.concat:
            if not 1 <= index <= self.nodes:
                raise GenotypeError(f'concat: {index} is not a node (nodes are 1..{self.nodes})')
        return self

    def text(self) -> str:
        pairs = ', '.join(f'({op!r}, {index})' for op, index in self.recurrent)
        return f'Genotype(recurrent=[{pairs}], concat={list(self.concat)})'

    __str__ = text

    def to_json(self) -> Dict[str, Any]:
        return {'space': self.space, 'recurrent': [[op, index] for op, index in self.recurrent],
                'concat': list(self.concat)}

    @classmethod
    def from_fields(cls, fields: Dict[str, Any]) -> 'RecurrentGenotype':
        unknown = sorted(set(fields) - {'recurrent', 'concat'})
        if unknown:
            raise GenotypeError(f'unknown field(s) of a recurrent genotype: {", ".join(map(str, unknown))}; '
                                'fields are recurrent, concat')
        if 'concat' not in fields:
            raise GenotypeError('the recurrent genotype has no concat=[...] (the nodes averaged into the output)')
        pairs = pairs_of(fields['recurrent'], 'recurrent', "('tanh', 0)")
        concat = indices_of(fields['concat'], 'concat')
        return cls(tuple(pairs), concat).check()
