"""The network of a found genotype, for retraining from scratch (DARTS' ``NetworkCIFAR`` and
``NetworkImageNet``, NASNet cells too), with ScheduledDropPath and an optional auxiliary head.

Only the chosen ops exist, so parameter counts are those of the found network. A NASNet cell's
output concatenates its loose ends (``concat``), so cell widths follow the genotype.
"""

from __future__ import annotations

from typing import Dict, Iterator, Tuple

import torch
import torch.nn as nn

from .darts import preprocessors
from .genotype import CellGenotype, Genotype
from .nasnet import make_combine
from .network import CellNetwork
from .ops import make_op

__all__ = ['ScheduledDropPath', 'FixedCell', 'GenotypeNetwork', 'drop_path_probability', 'count_parameters',
           'count_macs']


def drop_path_probability(final: float, epoch: int, epochs: int) -> float:
    """ScheduledDropPath (NASNet, Sec. 4.1): the probability rises linearly from 0 to ``final``
    over training (DARTS' ``drop_path_prob * epoch / epochs``)."""
    return final * epoch / epochs


class ScheduledDropPath(nn.Module):
    """Drops a whole path per sample with probability ``drop_prob`` (training only), scaling the
    kept ones by ``1 / (1 - drop_prob)``; ``drop_prob`` is set from outside every epoch."""

    def __init__(self):
        super().__init__()
        self.drop_prob = 0.0

    def forward(self, x):
        if not self.training or self.drop_prob <= 0:
            return x
        keep = 1.0 - self.drop_prob
        mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
        return x / keep * mask


class FixedCell(nn.Module):
    def __init__(self, cell: CellGenotype, c_pprev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessors(c_pprev, c_prev, c, reduction_prev, affine=True)
        self.inputs = [index for node in cell.nodes for _, index in node]
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and index < 2 else 1, affine=True)
                                 for node in cell.nodes for op, index in node)
        self.drop_paths = nn.ModuleList(ScheduledDropPath() for _ in self.ops)
        self.combines = nn.ModuleList(make_combine(name, c, affine=True) for name in cell.combine) \
            if cell.combine is not None else None
        self.concat = list(cell.concat)
        self.out_channels = len(self.concat) * c

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for n in range(len(self.ops) // 2):
            hidden = []
            for k in (2 * n, 2 * n + 1):
                h = self.ops[k](states[self.inputs[k]])
                if not isinstance(self.ops[k], nn.Identity):  # DARTS never drops a skip connection
                    h = self.drop_paths[k](h)
                hidden.append(h)
            states.append(self.combines[n](*hidden) if self.combines is not None else hidden[0] + hidden[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class GenotypeNetwork(CellNetwork, nn.Module):
    """``3 * cells + 2`` cells of the genotype (20 for ``cells=6``, DARTS' CIFAR-10 network), width
    ``channels``; ``auxiliary`` adds the auxiliary head (training returns ``(logits, aux_logits)``)."""

    def __init__(self, genotype: Genotype, channels: int = 36, cells: int = 6, num_classes: int = 10,
                 in_channels: int = 3, stem: str = 'cifar', auxiliary: bool = False):
        super().__init__()
        self.genotype = genotype

        def make_cell(index, c_pprev, c_prev, c, reduction, reduction_prev):
            cell = FixedCell(genotype.reduce if reduction else genotype.normal, c_pprev, c_prev, c, reduction,
                             reduction_prev)
            return cell, cell.out_channels

        self.build_network(make_cell, channels, cells, num_classes, in_channels, stem, auxiliary)

    def drop_paths(self) -> Iterator[ScheduledDropPath]:
        return (module for module in self.modules() if isinstance(module, ScheduledDropPath))

    def set_drop_path(self, probability: float) -> None:
        for module in self.drop_paths():
            module.drop_prob = probability


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """Parameters of the network used at test time, and of the auxiliary head (counted apart, as
    DARTS reports its sizes without it)."""
    auxiliary = sum(p.numel() for name, p in model.named_parameters() if name.startswith('auxiliary_head.'))
    total = sum(p.numel() for p in model.parameters())
    return {'params': total - auxiliary, 'auxiliary_params': auxiliary}


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: Tuple[int, ...]) -> int:
    """Multiply-accumulates of one inference forward (convolutions and linear layers; the "FLOPs"
    of DARTS and NASNet tables) for one input of ``input_shape`` (C, H, W)."""
    total = [0]

    def conv(module, inputs, output):
        kh, kw = module.kernel_size
        total[0] += output.numel() // output.shape[0] * (module.in_channels // module.groups) * kh * kw

    def linear(module, inputs, output):
        total[0] += module.in_features * module.out_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total[0]
