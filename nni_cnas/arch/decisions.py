"""What an architecture of a space is, as independent decisions, and how it becomes an NNI sample.

The samplers (:mod:`nni_cnas.arch.sampling`) and the ENAS controller work on independent categorical
decisions. In most spaces these are NNI's labels themselves (:class:`Decisions`): a ``LayerChoice``,
a value choice (a width, a kernel size, a ``Repeat``'s depth), or an ``InputChoice`` choosing
``n_chosen`` inputs, whose decision is the set of inputs it keeps. Cells are not: in NNI's
``nn.Cell`` every node has ``num_ops_per_node`` (op, input) slots, labelled ``op_{i}_{k}`` and
``input_{i}_{k}``, and in this project's DARTS space each edge is a choice among ops including
``none`` with exactly two edges kept per node. :class:`CellDecisions` and :class:`DartsDecisions`
make each *node* one decision (its inputs and their ops), so that uniform draws, top-K and the
controller only ever produce valid cells, and top-K is exact over what differs between cells.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from nni.mutable import CategoricalMultiple, Sample

__all__ = ['Decisions', 'CellDecisions', 'DartsDecisions', 'decisions_of']


class Decisions:
    """One decision per NNI label; an architecture is its NNI sample.

    ``multiple`` names the labels that choose several inputs (``InputChoice``): their decision
    values are sorted tuples of input indices (hashable, so that policies can be keyed by them), their
    NNI values lists, and a value's probability under a policy is the product of its inputs'.
    """

    def __init__(self, options: Mapping[str, Sequence[Any]], multiple: Iterable[str] = ()):
        self.options: Dict[str, List[Any]] = {label: list(values) for label, values in options.items()}
        self.multiple = frozenset(multiple)

    def expand(self, decided: Mapping[str, Any]) -> Sample:
        """The NNI sample of an architecture given as decisions."""
        return {label: list(value) if label in self.multiple else value for label, value in decided.items()}

    def probabilities(self, probs: Mapping[str, Mapping[Any, float]]) -> Dict[str, Dict[Any, float]]:
        """Each decision's options and their (possibly unnormalised) probabilities under a policy
        given as NNI's ``export_probs()``."""
        out = {}
        for label, values in self.options.items():
            if label not in probs:
                raise KeyError(f'the search policy has no probabilities for {label}')
            if label in self.multiple:
                out[label] = {value: math.prod(probs[label][i] for i in value) for value in values}
            else:
                out[label] = dict(probs[label])
        return out


class CellDecisions(Decisions):
    """The decisions of a space with NNI ``nn.Cell`` modules: one per cell node, the rest per label.

    Node ``i`` of the cell labelled ``c`` has ``slots`` (op, input) pairs, NNI labels ``c/op_{i}_{k}``
    and ``c/input_{i}_{k}`` (``k < slots``). Its decision (label ``c/node_{i}``) is a tuple of
    ``(input, op)`` pairs on distinct inputs, sorted by input: a node's slots are summed, so their
    order does not matter, and distinct inputs are the DARTS relaxation's structure (one op per
    edge; NNI's own export prefers distinct inputs too). A node with fewer predecessors than slots
    repeats inputs. Under a differentiable cell's alphas (NNI's ``c/{i}_{j}``: a softmax over the
    ops and "not chosen" on edge ``j -> i``), a node's probability is the product over its pairs of
    ``p_{i,j}(op)``: its most probable value is DARTS' derivation (the strongest edges with their
    strongest ops).
    """

    def __init__(self, options: Mapping[str, Sequence[Any]], multiple: Iterable[str],
                 cells: Mapping[str, Tuple[range, int]]):
        self.cells = dict(cells)
        nodes: Dict[str, Tuple[str, int, int]] = {}
        for cell, (node_indices, slots) in self.cells.items():
            for i in node_indices:
                nodes[f'{cell}/node_{i}'] = (cell, i, slots)
        covered = {label for cell, i, slots in nodes.values() for label in self._labels(cell, i, slots)}
        # A node's decision takes the place of its first op label, in the space's label order.
        first_op = {f'{cell}/op_{i}_0': node for node, (cell, i, _) in nodes.items()}
        merged: Dict[str, List[Any]] = {}
        for label, values in options.items():
            if label in first_op:
                _, i, slots = nodes[first_op[label]]
                merged[first_op[label]] = self._node_values(i, slots, values)
            elif label not in covered:
                merged[label] = list(values)
        self.nodes = nodes
        super().__init__(merged, multiple)

    @staticmethod
    def _labels(cell: str, i: int, slots: int) -> List[str]:
        return [f'{cell}/{kind}_{i}_{k}' for k in range(slots) for kind in ('op', 'input')]

    @staticmethod
    def _node_values(i: int, slots: int, ops: Sequence[str]) -> List[tuple]:
        inputs = itertools.combinations(range(i), slots) if i >= slots else \
            itertools.combinations_with_replacement(range(i), slots)
        values = {}
        for chosen in inputs:
            for chosen_ops in itertools.product(ops, repeat=slots):
                values.setdefault(tuple(sorted(zip(chosen, chosen_ops))), None)
        return list(values)

    def expand(self, decided):
        sample = super().expand({label: value for label, value in decided.items() if label not in self.nodes})
        for node, value in decided.items():
            if node in self.nodes:
                cell, i, _ = self.nodes[node]
                for k, (j, op) in enumerate(value):
                    sample[f'{cell}/op_{i}_{k}'] = op
                    sample[f'{cell}/input_{i}_{k}'] = [j]
        return sample

    def probabilities(self, probs):
        plain = Decisions({label: values for label, values in self.options.items() if label not in self.nodes},
                          self.multiple).probabilities(probs)
        out = {}
        for label, values in self.options.items():
            if label in self.nodes:
                cell, i, _ = self.nodes[label]
                out[label] = {value: math.prod(probs[f'{cell}/{i}_{j}'][op] for j, op in value) for value in values}
            else:
                out[label] = plain[label]
        return out


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


def _cells(model) -> Dict[str, Tuple[range, int]]:
    """``{label: (node indices, slots per node)}`` of the NNI cells of a model space or supernet
    (cells repeated with one label share their decisions)."""
    from nni.nas.nn.pytorch import Cell
    from nni.nas.oneshot.pytorch.supermodule.sampling import PathSamplingCell

    cells = {}
    for module in model.modules():
        if isinstance(module, (Cell, PathSamplingCell)):
            first = module.num_predecessors
            cells.setdefault(module.label, (range(first, first + module.num_nodes), module.num_ops_per_node))
    return cells


def decisions_of(model) -> Decisions:
    """The space's own decisions (``architecture_decisions()``), else one per NNI label, with one per
    node of each NNI ``nn.Cell``."""
    own = getattr(model, 'architecture_decisions', None)
    if callable(own):
        return own()
    from .sampling import space_options

    multiple = [label for label, mutable in model.simplify().items() if isinstance(mutable, CategoricalMultiple)]
    cells = _cells(model)
    if cells:
        return CellDecisions(space_options(model), multiple, cells)
    return Decisions(space_options(model), multiple)
