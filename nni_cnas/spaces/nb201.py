"""NAS-Bench-201 (NATS-Bench topology) search space in NNI 3.0's model-space API.

The cell is NNI's own :class:`~nni.nas.hub.pytorch.modules.NasBench201Cell` (subclassed only for
faster node sums): a LayerChoice on each of the 6 edges, labelled ``cell/{j}_{i}`` for the edge from
node j to node i, shared by all cells.
Unlike NNI's hub ``NasBench201`` space, the candidates carry the benchmark's names
(``nor_conv_3x3``, not ``conv_3x3``) and search-time BatchNorm as NATS-Bench searches
(``affine=False, track_running_stats=False``), so found cells are the benchmark's cells.

Arch strings and NNI samples are mapped in :mod:`nni_cnas.spaces.nb201_arch`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from nni.nas.hub.pytorch.modules import NasBench201Cell
from nni.nas.nn.pytorch import ModelSpace

from .nb201_arch import NUM_NODES, OPS, sample_to_arch

__all__ = ['NasBench201Space', 'make_op']

# ---------------------------------------------------------------------------------------------
# Operations, as NATS-Bench defines them (xautodl cell_operations), with configurable BatchNorm.

class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, kernel, stride, padding, affine, track):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=not affine),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track),
        )


class AvgPool(nn.Module):
    def __init__(self, c_in, c_out, affine, track):
        super().__init__()
        self.preprocess = None if c_in == c_out else ReLUConvBN(c_in, c_out, 1, 1, 0, affine, track)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        x = x if self.preprocess is None else self.preprocess(x)
        if x.device.type == 'cpu':
            # PyTorch's CPU avg_pool2d is much slower on NCHW tensors than on channels-last ones:
            # with both layout copies the pool is still 3-4.5x faster (benchmarks/op_layout.py).
            # Values and gradients are bitwise the same (tested).
            return self.pool(x.contiguous(memory_format=torch.channels_last)).contiguous()
        return self.pool(x)


class Zero(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.c_out = c_out
        self.same = c_in == c_out

    def forward(self, x):
        if self.same:
            return x.mul(0.0)
        shape = list(x.shape)
        shape[1] = self.c_out
        return x.new_zeros(shape)


def make_op(name: str, c_in: int, c_out: int, affine: bool, track: bool) -> nn.Module:
    if name == 'none':
        return Zero(c_in, c_out)
    if name == 'skip_connect':
        if c_in != c_out:
            raise ValueError('skip_connect between different widths does not occur in NAS-Bench-201 cells')
        return nn.Identity()
    if name == 'nor_conv_1x1':
        return ReLUConvBN(c_in, c_out, 1, 1, 0, affine, track)
    if name == 'nor_conv_3x3':
        return ReLUConvBN(c_in, c_out, 3, 1, 1, affine, track)
    if name == 'avg_pool_3x3':
        return AvgPool(c_in, c_out, affine, track)
    raise ValueError(f'unknown NAS-Bench-201 op {name!r}')


def sum_nodes(tensors: list) -> torch.Tensor:
    """The sum of a node's incoming edges. NNI's cell stacks them and reduces (a copy of every
    input); chained adds give the same values bitwise (tested) for a third to a half of the time."""
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total


class SearchCell(NasBench201Cell):
    """NNI's NAS-Bench-201 cell (same LayerChoices, labels and NNI mutation), with node sums by
    :func:`sum_nodes`; NNI's ``forward`` is only overridden, nothing private is touched."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        tensors = [inputs]
        for layer in self.layers:
            tensors.append(sum_nodes([op(tensors[i]) for i, op in enumerate(layer)]))
        return tensors[-1]


class ResNetBasicBlock(nn.Module):
    """The fixed reduction block between stages (affine, tracked BatchNorm, as in NATS-Bench)."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, True, True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, True, True)
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1, 0, True, True)
        else:
            self.downsample = None

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


class NasBench201Space(ModelSpace):
    """The NAS-Bench-201 network: stem, three stages of ``cells`` searched cells joined by
    residual reduction blocks, global pooling and a classifier.

    Parameters
    ----------
    channels
        Width C of the first stage (16 in the benchmark).
    cells
        Cells per stage N (5 in the benchmark).
    num_classes, in_channels
        Output classes and input image channels.
    affine, track_running_stats
        BatchNorm of the searched cells; ``False, False`` as NATS-Bench's weight-sharing searches.
    """

    def __init__(self, channels: int = 16, cells: int = 5, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = False, track_running_stats: bool = False):
        super().__init__()
        self.channels, self.cells_per_stage, self.num_classes = channels, cells, num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        widths = [channels] * cells + [channels * 2] + [channels * 2] * cells + [channels * 4] + [channels * 4] * cells
        reductions = [False] * cells + [True] + [False] * cells + [True] + [False] * cells
        ops = {name: self._op_factory(name, affine, track_running_stats) for name in OPS}
        self.cells = nn.ModuleList()
        c_prev = channels
        for width, reduction in zip(widths, reductions):
            if reduction:
                self.cells.append(ResNetBasicBlock(c_prev, width, 2))
            else:
                self.cells.append(self.make_cell(ops, c_prev, width))
            c_prev = width
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    @staticmethod
    def _op_factory(name, affine, track):
        return lambda c_in, c_out: make_op(name, c_in, c_out, affine, track)

    def make_cell(self, ops, c_in: int, c_out: int) -> nn.Module:
        """One searched cell; ``ops`` maps op names to ``(c_in, c_out) -> module`` factories."""
        return SearchCell(ops, c_in, c_out, num_tensors=NUM_NODES, label='cell')

    def classify(self, feature: torch.Tensor) -> torch.Tensor:
        """Logits from the last cell's output."""
        return self.classifier(self.global_pooling(self.lastact(feature)).flatten(1))

    def describe(self, sample) -> str:
        """The benchmark's arch string of an architecture (the space contract's description)."""
        return sample_to_arch(sample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature)
        return self.classify(feature)
