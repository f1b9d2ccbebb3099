"""The DARTS search space (Liu et al., ICLR 2019) in NNI 3.0's model-space API.

A normal and a reduction cell type; each cell has ``nodes`` (4) intermediate nodes, node ``i`` sums
one op on each earlier state (the two cell inputs and the earlier nodes), and the cell output
concatenates the nodes. Each edge ``j -> i`` is a ``LayerChoice`` labelled ``normal/{j}_{i}``
(or ``reduce/...``) over DARTS' 8 ops, ``none`` included; all cells of a type share labels. A
valid architecture keeps exactly two edges per node: :class:`~nni_cnas.arch.decisions.DartsDecisions`.
Search-time BatchNorm has no affine parameters, as in DARTS.

Why not NNI's hub ``DARTS`` space: it is built on ``nn.Cell``, whose one-shot versions let a node
take the same input twice (path sampling draws each input independently), do not include ``none``
among the labelled ops, and use affine BatchNorm while searching. Here NNI's own
``DifferentiableMixedLayer``/``PathSamplingLayer`` run the edges, so every strategy of this package
works unchanged.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
from nni.mutable import label_scope
from nni.nas.nn.pytorch import LayerChoice, ModelSpace

from ..arch.decisions import DartsDecisions
from .genotype import CellGenotype, Genotype
from .network import CellNetwork
from .ops import DARTS_OPS, FactorizedReduce, ReLUConvBN, make_op

__all__ = ['DartsSpace', 'DartsSearchCell', 'darts_sample_to_genotype', 'darts_genotype_to_sample']


def preprocessors(c_pprev: int, c_prev: int, c: int, reduction_prev: bool, affine: bool):
    """Bring the two cell inputs to ``c`` channels (and the older one to the same resolution)."""
    first = FactorizedReduce(c_pprev, c, affine) if reduction_prev else ReLUConvBN(c_pprev, c, 1, 1, 0, affine)
    return first, ReLUConvBN(c_prev, c, 1, 1, 0, affine)


class DartsSearchCell(nn.Module):
    def __init__(self, cell_type: str, ops: Sequence[str], nodes: int, c_pprev: int, c_prev: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessors(c_pprev, c_prev, c, reduction_prev, affine=False)
        self.edges = nn.ModuleList()
        with label_scope(cell_type):
            for i in range(2, 2 + nodes):
                self.edges.append(nn.ModuleList(
                    LayerChoice({op: make_op(op, c, 2 if reduction and j < 2 else 1, affine=False, search=True)
                                 for op in ops}, label=f'{j}_{i}')
                    for j in range(i)))

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for edges in self.edges:
            states.append(sum(edge(state) for edge, state in zip(edges, states)))
        return torch.cat(states[2:], dim=1)


class DartsSpace(CellNetwork, ModelSpace):
    """DARTS' search network: ``3 * cells + 2`` cells (8 for ``cells=2``, as DARTS searches), width
    ``channels`` (16), ``nodes`` (4) nodes per cell, ``ops`` (DARTS' 8), ``cifar`` or ``imagenet`` stem."""

    def __init__(self, channels: int = 16, cells: int = 2, num_classes: int = 10, in_channels: int = 3,
                 nodes: int = 4, ops: Sequence[str] = DARTS_OPS, stem: str = 'cifar'):
        super().__init__()
        if 'none' not in ops or len(ops) < 2:
            raise ValueError('the DARTS space needs "none" and at least one other op')
        self.nodes, self.ops = nodes, tuple(ops)

        def make_cell(index, c_pprev, c_prev, c, reduction, reduction_prev):
            cell = DartsSearchCell('reduce' if reduction else 'normal', self.ops, nodes, c_pprev, c_prev, c,
                                   reduction, reduction_prev)
            return cell, nodes * c

        self.build_network(make_cell, channels, cells, num_classes, in_channels, stem)

    def architecture_decisions(self) -> DartsDecisions:
        return DartsDecisions(('normal', 'reduce'), self.nodes, self.ops)

    def genotype(self, sample: Mapping[str, Any]) -> Genotype:
        return darts_sample_to_genotype(sample, self.nodes)


def darts_sample_to_genotype(sample: Mapping[str, Any], nodes: int = 4) -> Genotype:
    decided = DartsDecisions(('normal', 'reduce'), nodes, DARTS_OPS).contract(sample)
    cells = {}
    for cell in ('normal', 'reduce'):
        cells[cell] = CellGenotype(
            tuple(tuple((op, j) for j, op in decided[f'{cell}/node_{i}']) for i in range(2, 2 + nodes)),
            tuple(range(2, 2 + nodes)))
    return Genotype(**cells)


def darts_genotype_to_sample(genotype: Genotype) -> dict:
    """The NNI sample of a DARTS genotype (the inverse of :func:`darts_sample_to_genotype`)."""
    sample = {}
    for cell, cell_genotype in genotype.cells().items():
        for n, node in enumerate(cell_genotype.nodes):
            i = 2 + n
            ops = {index: op for op, index in node}
            for j in range(i):
                sample[f'{cell}/{j}_{i}'] = ops.get(j, 'none')
    return sample
