"""The NASNet search space (Zoph et al., CVPR 2018) in NNI 3.0's model-space API.

A normal and a reduction cell type of ``blocks`` (B=5) blocks. Block ``b`` picks two hidden states
among the cell's two inputs and the earlier blocks (``input_{b}_{k}``, k = 0, 1, independently:
both may pick the same state), applies one of the 13 ops to each (``op_{b}_{k}``) and combines them
(``combine_{b}``: ``add``, or ``concat`` followed by a 1x1 ReLU-conv-BN back to C channels so that
every hidden state has the same width). The cell output concatenates the hidden states that no
block uses. In reduction cells, ops on the cell inputs have stride 2.

How it is declared: the input choice of a slot is a ``LayerChoice`` whose candidate ``j`` applies
the slot's op choice (one shared label, weights of its own for each input ``j``) to state ``j``.
So a path-sampling supernet runs only the chosen op on the chosen input, DARTS' relaxation is
``sum_j p(j) sum_o p(o) o_j(h_j)``, and every strategy of this package runs on NNI's own mixed layers.

The supernet keeps a fixed output width (all B blocks): when the architecture is known (a sampled
path, a fixed subnet, a GDAS draw) the blocks that some block uses are multiplied by zero, which
computes exactly the loose-end concatenation of the subnet; the differentiable mixture keeps all
blocks (NNI's one-shot ``Cell`` does the same, treating loose ends as ``all``). Differences from
NNI's hub ``NASNet``: that one has no combine choice and lets one-shot supernets concatenate every
block; its op names are the ones used here.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Set

import torch
import torch.nn as nn
from nni.mutable import label_scope
from nni.nas.nn.pytorch import LayerChoice, ModelSpace

from ..arch.supernet import active_value
from .darts import preprocessors
from .genotype import CellGenotype, Genotype, loose_ends
from .network import CellNetwork
from .ops import NASNET_OPS, ReLUConvBN, make_op

__all__ = ['NasnetSpace', 'NasnetSearchCell', 'Add', 'ConcatCombine', 'nasnet_sample_to_genotype',
           'nasnet_genotype_to_sample']


class Add(nn.Module):
    def forward(self, a, b):
        return a + b


class ConcatCombine(nn.Module):
    """NASNet's concat combine, projected back to ``c`` channels."""

    def __init__(self, c: int, affine: bool):
        super().__init__()
        self.project = ReLUConvBN(2 * c, c, 1, 1, 0, affine)

    def forward(self, a, b):
        return self.project(torch.cat([a, b], dim=1))


def make_combine(name: str, c: int, affine: bool) -> nn.Module:
    return Add() if name == 'add' else ConcatCombine(c, affine)


class InputEdge(nn.Module):
    """Candidate ``index`` of a slot's input choice: the slot's op on hidden state ``index``."""

    def __init__(self, index: int, op: nn.Module):
        super().__init__()
        self.index, self.op = index, op

    def forward(self, states):
        return self.op(states[self.index])

    def active_value(self) -> int:
        # In a frozen network this module replaces its input choice: it knows the chosen input.
        return self.index


class NasnetSearchCell(nn.Module):
    def __init__(self, cell_type: str, ops: Sequence[str], blocks: int, c_pprev: int, c_prev: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessors(c_pprev, c_prev, c, reduction_prev, affine=False)
        self.inputs = nn.ModuleList()
        self.combines = nn.ModuleList()
        with label_scope(cell_type):
            for b in range(blocks):
                for k in range(2):
                    edges = [InputEdge(j, LayerChoice(
                        {op: make_op(op, c, 2 if reduction and j < 2 else 1, affine=False, search=True) for op in ops},
                        label=f'op_{b}_{k}')) for j in range(b + 2)]
                    self.inputs.append(LayerChoice(edges, label=f'input_{b}_{k}'))
                self.combines.append(LayerChoice({name: make_combine(name, c, affine=False) for name in ('add', 'concat')},
                                                 label=f'combine_{b}'))

    def used_states(self) -> Optional[Set[int]]:
        """Hidden states some block takes, when every input choice is known (else None)."""
        used = set()
        for choice in self.inputs:
            value = active_value(choice)
            if value is None:
                return None
            used.add(value)
        return used

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for b, combine in enumerate(self.combines):
            states.append(combine(self.inputs[2 * b](states), self.inputs[2 * b + 1](states)))
        used = self.used_states()
        if used is None:
            return torch.cat(states[2:], dim=1)
        return torch.cat([state.mul(0.0) if index in used else state
                          for index, state in enumerate(states[2:], start=2)], dim=1)


class NasnetSpace(CellNetwork, ModelSpace):
    """NASNet's search network: ``3 * cells + 2`` cells of width ``channels``, ``blocks`` (5) blocks
    per cell, the 13 ops, ``cifar`` or ``imagenet`` stem."""

    def __init__(self, channels: int = 16, cells: int = 2, num_classes: int = 10, in_channels: int = 3,
                 blocks: int = 5, ops: Sequence[str] = NASNET_OPS, stem: str = 'cifar'):
        super().__init__()
        self.blocks, self.ops = blocks, tuple(ops)

        def make_cell(index, c_pprev, c_prev, c, reduction, reduction_prev):
            cell = NasnetSearchCell('reduce' if reduction else 'normal', self.ops, blocks, c_pprev, c_prev, c,
                                    reduction, reduction_prev)
            return cell, blocks * c

        self.build_network(make_cell, channels, cells, num_classes, in_channels, stem)

    def genotype(self, sample: Mapping[str, Any]) -> Genotype:
        return nasnet_sample_to_genotype(sample, self.blocks)


def nasnet_sample_to_genotype(sample: Mapping[str, Any], blocks: int = 5) -> Genotype:
    cells = {}
    for cell in ('normal', 'reduce'):
        nodes = tuple(tuple((sample[f'{cell}/op_{b}_{k}'], int(sample[f'{cell}/input_{b}_{k}'])) for k in range(2))
                      for b in range(blocks))
        combine = tuple(sample[f'{cell}/combine_{b}'] for b in range(blocks))
        cells[cell] = CellGenotype(nodes, loose_ends(nodes), combine)
    return Genotype(**cells)


def nasnet_genotype_to_sample(genotype: Genotype) -> dict:
    sample = {}
    for cell, cell_genotype in genotype.cells().items():
        for b, node in enumerate(cell_genotype.nodes):
            for k, (op, index) in enumerate(node):
                sample[f'{cell}/op_{b}_{k}'] = op
                sample[f'{cell}/input_{b}_{k}'] = index
            sample[f'{cell}/combine_{b}'] = cell_genotype.combine[b]
    return sample
