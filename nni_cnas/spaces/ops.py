"""Operations of the DARTS and NASNet cell spaces, for search (``affine=False``) and retraining.

All ops map ``C`` channels to ``C`` channels; ``stride=2`` halves the resolution (reduction cells
apply it to the cell's two inputs). ReLU-conv-BN order throughout, as DARTS and NASNet. Separable
convolutions are applied twice (NASNet's rule, which DARTS keeps). Pooling is followed by a
BatchNorm during the search only (DARTS' ``MixedOp``), so that its scale matches the convolutions'.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['DARTS_OPS', 'NASNET_OPS', 'make_op', 'FactorizedReduce', 'ReLUConvBN', 'Zero']

#: DARTS' candidates (Liu et al., 2019), ``none`` first as in its genotypes.
DARTS_OPS: Tuple[str, ...] = ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3',
                              'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5')
#: NASNet's 13 candidates (Zoph et al., 2018, Sec. 3), named as in NNI's hub ``NASNet`` space.
NASNET_OPS: Tuple[str, ...] = ('skip_connect', 'conv_7x1_1x7', 'avg_pool_3x3', 'max_pool_5x5', 'conv_1x1',
                               'sep_conv_3x3', 'sep_conv_5x5', 'sep_conv_7x7', 'conv_3x1_1x3', 'dil_conv_3x3',
                               'max_pool_3x3', 'max_pool_7x7', 'conv_3x3')


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, kernel, stride, padding, affine=True, dilation=1, groups=1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, dilated depthwise conv, pointwise conv, BN (DARTS' ``DilConv``)."""

    def __init__(self, c, kernel, stride, padding, dilation, affine):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=padding, dilation=dilation, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class SepConv(nn.Sequential):
    """A depthwise-separable convolution applied twice; only the first one strides."""

    def __init__(self, c, kernel, stride, padding, affine):
        super().__init__(DilConv(c, kernel, stride, padding, 1, affine), DilConv(c, kernel, 1, padding, 1, affine))


class FactorizedConv(nn.Sequential):
    """``1xk`` then ``kx1`` convolution (NASNet's ``1x7 then 7x1``), one BN."""

    def __init__(self, c, k, stride, affine):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (1, k), stride=(1, stride), padding=(0, k // 2), bias=False),
            nn.Conv2d(c, c, (k, 1), stride=(stride, 1), padding=(k // 2, 0), bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x.mul(0.0) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 convs of stride 2 (the strided identity)."""

    def __init__(self, c_in, c_out, affine=True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f'FactorizedReduce needs an even number of output channels, not {c_out}')
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        # The second conv sees the input shifted by one pixel; padding keeps odd sizes aligned.
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], 1))


def _pool(kind, kernel, stride):
    if kind == 'max':
        return nn.MaxPool2d(kernel, stride=stride, padding=kernel // 2)
    return nn.AvgPool2d(kernel, stride=stride, padding=kernel // 2, count_include_pad=False)


_BUILDERS: Dict[str, Callable[[int, int, bool], nn.Module]] = {
    'none': lambda c, s, a: Zero(s),
    'skip_connect': lambda c, s, a: nn.Identity() if s == 1 else FactorizedReduce(c, c, a),
    'avg_pool_3x3': lambda c, s, a: _pool('avg', 3, s),
    'max_pool_3x3': lambda c, s, a: _pool('max', 3, s),
    'max_pool_5x5': lambda c, s, a: _pool('max', 5, s),
    'max_pool_7x7': lambda c, s, a: _pool('max', 7, s),
    'conv_1x1': lambda c, s, a: ReLUConvBN(c, c, 1, s, 0, a),
    'conv_3x3': lambda c, s, a: ReLUConvBN(c, c, 3, s, 1, a),
    'conv_3x1_1x3': lambda c, s, a: FactorizedConv(c, 3, s, a),
    'conv_7x1_1x7': lambda c, s, a: FactorizedConv(c, 7, s, a),
    'sep_conv_3x3': lambda c, s, a: SepConv(c, 3, s, 1, a),
    'sep_conv_5x5': lambda c, s, a: SepConv(c, 5, s, 2, a),
    'sep_conv_7x7': lambda c, s, a: SepConv(c, 7, s, 3, a),
    'dil_conv_3x3': lambda c, s, a: DilConv(c, 3, s, 2, 2, a),
    'dil_conv_5x5': lambda c, s, a: DilConv(c, 5, s, 4, 2, a),
}
KNOWN_OPS = tuple(_BUILDERS)


def make_op(name: str, channels: int, stride: int, affine: bool, search: bool = False) -> nn.Module:
    """The op ``name`` on ``channels`` channels; ``search`` adds DARTS' BatchNorm after pooling."""
    if name not in _BUILDERS:
        raise ValueError(f'unknown op {name!r}; known ops are {", ".join(KNOWN_OPS)}')
    op = _BUILDERS[name](channels, stride, affine)
    if search and 'pool' in name:
        op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
    return op
