"""The macro network around DARTS-style cells, shared by the search spaces and the retrained networks.

``cells`` normal cells per stage and a reduction cell between stages (``3 * cells + 2`` cells, as
DARTS' 8-cell search network for ``cells=2`` and its 20-cell CIFAR network for ``cells=6``); each
cell takes the outputs of the two previous cells. Stems: ``cifar`` (one 3x3 conv to ``3C``
channels) or ``imagenet`` (three stride-2 convs, DARTS' ``NetworkImageNet``), for ImageNet-size
inputs. An optional auxiliary head reads the output of the second reduction cell.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn

from .contract import STEMS

__all__ = ['CellNetwork', 'AuxiliaryHead', 'num_layers', 'reduction_indices']


def num_layers(cells_per_stage: int) -> int:
    return 3 * cells_per_stage + 2


def reduction_indices(cells_per_stage: int) -> Tuple[int, int]:
    layers = num_layers(cells_per_stage)
    return layers // 3, 2 * layers // 3


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier (ReLU, 5x5 avg-pool, 1x1 and 2x2 convs, linear) on any input size."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


#: ``make_cell(index, c_pprev, c_prev, c, reduction, reduction_prev) -> (cell, out_channels)``
CellFactory = Callable[[int, int, int, int, bool, bool], Tuple[nn.Module, int]]


class CellNetwork:
    """Mixin for ``nn.Module`` subclasses (a :class:`~nni.nas.nn.pytorch.ModelSpace` for the search,
    a plain module for retraining): builds and runs stem, cells and classifier."""

    auxiliary_head: Optional[nn.Module]

    def build_network(self, make_cell: CellFactory, channels: int, cells: int, num_classes: int,
                      in_channels: int, stem: str, auxiliary: bool = False) -> None:
        if stem not in STEMS:
            raise ValueError(f'unknown stem {stem!r}; choose one of {", ".join(STEMS)}')
        if cells < 1 or channels < 2:
            raise ValueError('a cell network needs cells >= 1 and channels >= 2')
        self.stem_kind, self.channels, self.cells_per_stage = stem, channels, cells
        if stem == 'cifar':
            self.stem = nn.Sequential(nn.Conv2d(in_channels, 3 * channels, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(3 * channels))
            c_pprev = c_prev = 3 * channels
            reduction_prev = False
        else:
            self.stem0 = nn.Sequential(
                nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels // 2), nn.ReLU(inplace=True),
                nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels))
            self.stem1 = nn.Sequential(nn.ReLU(inplace=True),
                                       nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
                                       nn.BatchNorm2d(channels))
            c_pprev = c_prev = channels
            reduction_prev = True
        reductions = reduction_indices(cells)
        self.auxiliary_index = reductions[1]
        self.cells = nn.ModuleList()
        c = channels
        self.auxiliary_head = None
        for index in range(num_layers(cells)):
            reduction = index in reductions
            if reduction:
                c *= 2
            cell, c_out = make_cell(index, c_pprev, c_prev, c, reduction, reduction_prev)
            self.cells.append(cell)
            c_pprev, c_prev, reduction_prev = c_prev, c_out, reduction
            if auxiliary and index == self.auxiliary_index:
                self.auxiliary_head = AuxiliaryHead(c_out, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor):
        if self.stem_kind == 'cifar':
            s0 = s1 = self.stem(x)
        else:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        logits_aux = None
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if index == self.auxiliary_index and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, logits_aux) if logits_aux is not None else logits
