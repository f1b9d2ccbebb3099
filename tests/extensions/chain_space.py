"""A space added in one file, as docs/architecture.md's "add a space" says: an NNI model space of
convolution layers, each a ``LayerChoice`` of kernel sizes or a skip, and a classifier. It offers none of the contract's optional hooks, so nni_cnas uses its defaults
(NNI's labels as decisions, the sample as JSON for its description, no genotype, no benchmark).
Its one option of its own, ``kernel_sizes``, is declared with its registration: the search config's
keyword, ``--kernel-sizes`` and the ``config.yaml`` key, checked before a search starts.

Registered on import; tests/test_extension.py searches it with every strategy.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from nni.nas.nn.pytorch import LayerChoice, ModelSpace

from nni_cnas.option import Option
from nni_cnas.spaces import SpaceSpec, register


class ChainSpace(ModelSpace):
    def __init__(self, channels: int, layers: int, num_classes: int, in_channels: int, kernel_sizes=(1, 3, 5)):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.layers = nn.ModuleList([
            LayerChoice({f'conv{k}x{k}': nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, k, padding=k // 2),
                                                     nn.BatchNorm2d(channels, affine=False))
                         for k in kernel_sizes} | {'skip': nn.Identity()}, label=f'layer{i}')
            for i in range(layers)])
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x.mean((2, 3)))


def kernel_sizes(text: str):
    return tuple(int(size) for size in text.split(','))


def build(config, data) -> ChainSpace:
    return ChainSpace(config.channels, config.cells, data.num_classes, data.in_channels, kernel_sizes(config.kernel_sizes))


def check(values, config):
    """Odd sizes only (the padding keeps the image's size)."""
    try:
        sizes = kernel_sizes(values['kernel_sizes'])
    except ValueError:
        sizes = ()
    if not sizes or any(size < 1 or size % 2 == 0 for size in sizes):
        return f'--kernel-sizes takes odd sizes separated by commas, such as 3,5, not {values["kernel_sizes"]!r}'
    return None


register(SpaceSpec('chain', 'image', build, 'a chain of layer choices (tests)', default_cells=3,
                   options=(Option('kernel_sizes', str, '1,3,5', 'the convolutions each layer chooses from, besides a skip'),),
                   validate=check))
