"""What an architecture of a space is, as independent decisions, and how it becomes an NNI sample.

The samplers (:mod:`nni_cnas.arch.sampling`) and the ENAS controller work on independent categorical
decisions. In most spaces these are NNI's labels themselves (:class:`Decisions`). DARTS' space is
not: each edge is a choice among ops including ``none``, and a valid cell keeps exactly two edges
per node. :class:`DartsDecisions` makes each *node* one decision (its two inputs and their ops), so
that uniform draws, top-K and the controller only ever produce valid cells.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Dict, List, Mapping, Sequence

from nni.mutable import Sample

__all__ = ['Decisions', 'DartsDecisions', 'decisions_of']



class Decisions:
    """One decision per NNI label; an architecture is its NNI sample."""

    def __init__(self, options: Mapping[str, Sequence[Any]]):
        self.options: Dict[str, List[Any]] = {label: list(values) for label, values in options.items()}

    def expand(self, decided: Mapping[str, Any]) -> Sample:
        """The NNI sample of an architecture given as decisions."""
        return dict(decided)

    def probabilities(self, probs: Mapping[str, Mapping[Any, float]]) -> Dict[str, Dict[Any, float]]:
        """Each decision's options and their (possibly unnormalised) probabilities under a policy
        given as NNI's ``export_probs()``."""
        return {label: dict(probs[label]) for label in self.options}


class DartsDecisions(Decisions):
    """DARTS cells: the decision of node ``i`` of cell type ``c`` (label ``c/node_i``) is a tuple
    of ``inputs`` pairs ``((a, op_a), (b, op_b))``, ``a < b < i``, ops other than ``none``. Its NNI
    sample sets edge ``c/{j}_{i}`` to ``op_a`` for ``j = a``, ``op_b`` for ``j = b`` and ``none``
    otherwise. Nodes are numbered from ``first`` (the cell's inputs come before): DARTS' CNN cells
    have two inputs per node and two cell inputs; its recurrent cell one input per node and one
    initial state (``inputs=1, first=1``).

    Under DARTS' alphas (a softmax over all ops, ``none`` included, on each edge), a node's
    probability is ``p_a(op_a) * p_b(op_b)``: its most probable value is exactly DARTS' derivation
    (the edges with the strongest non-``none`` op), so top-1 is the genotype DARTS exports.
    """

    def __init__(self, cell_types: Sequence[str], nodes: int, ops: Sequence[str], inputs: int = 2, first: int = 2):
        self.cell_types, self.nodes, self.inputs, self.first = tuple(cell_types), nodes, inputs, first
        self.ops = [op for op in ops if op != 'none']
        options = {}
        for cell in self.cell_types:
            for i in self.node_indices:
                options[f'{cell}/node_{i}'] = [
                    tuple(zip(chosen, ops_chosen))
                    for chosen in itertools.combinations(range(i), inputs)
                    for ops_chosen in itertools.product(self.ops, repeat=inputs)
                ]
        super().__init__(options)

    @property
    def node_indices(self) -> range:
        return range(self.first, self.first + self.nodes)

    def expand(self, decided):
        sample = {}
        for cell in self.cell_types:
            for i in self.node_indices:
                chosen = dict(decided[f'{cell}/node_{i}'])
                for j in range(i):
                    sample[f'{cell}/{j}_{i}'] = chosen.get(j, 'none')
        return sample

    def contract(self, sample: Mapping[str, Any]) -> Sample:
        """The decisions of an NNI sample; it must keep exactly ``inputs`` edges per node."""
        decided = {}
        for cell in self.cell_types:
            for i in self.node_indices:
                kept = tuple((j, sample[f'{cell}/{j}_{i}']) for j in range(i) if sample[f'{cell}/{j}_{i}'] != 'none')
                if len(kept) != self.inputs:
                    raise ValueError(f'{cell} node {i} keeps {len(kept)} edges; a node here keeps exactly {self.inputs}')
                decided[f'{cell}/node_{i}'] = kept
        return decided

    def probabilities(self, probs):
        out = {}
        for label, values in self.options.items():
            cell, node = label.split('/node_')
            out[label] = {value: math.prod(probs[f'{cell}/{j}_{node}'][op] for j, op in value) for value in values}
        return out


def decisions_of(model) -> Decisions:
    """The space's own decisions (``architecture_decisions()``), else one per NNI label."""
    own = getattr(model, 'architecture_decisions', None)
    if callable(own):
        return own()
    from .sampling import space_options

    return Decisions(space_options(model))
