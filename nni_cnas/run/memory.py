"""How much memory a search needs, estimated before anything large is allocated, and a one-line
refusal (with a size that fits) when it cannot fit in what this machine or GPU has.

The estimate is a lower bound: the data on the device, the parameters with their gradients and
SGD momentum, and the activations of one training step on one path (the DARTS mixture keeps more).
Parameters and activations come from building the space on PyTorch's ``meta`` device, where
tensors have shapes but no storage, at two and three cells per stage, and extrapolating linearly in
the cells, so that a request for 100,000 cells is refused in a second instead of filling the machine.
"""

from __future__ import annotations

import dataclasses
import random
from typing import List, Optional

from ..errors import UserError
from ..resources import available_bytes, format_bytes

__all__ = ['MemoryEstimate', 'check_search_memory', 'estimate_search', 'memory_advice']

#: Bytes per parameter in training: the weight, its gradient and its SGD momentum (fp32).
TRAINING_BYTES_PER_PARAMETER = 3 * 4


@dataclasses.dataclass
class MemoryEstimate:
    data: int
    parameters: int
    activations: int

    @property
    def total(self) -> int:
        return self.data + self.parameters + self.activations


def _meta_space_cost(spec, config, data, cells: Optional[int]):
    """``(parameters, activation bytes of one path)`` of the space built on the meta device."""
    import torch

    from ..arch.decisions import decisions_of
    from ..arch.sampling import uniform_samples
    from ..arch.supernet import fixed_architecture
    from ..strategies.differentiable.darts import DARTS

    sized = dataclasses.replace(config, cells=cells) if cells is not None else config
    outputs = []
    with torch.device('meta'):
        supernet = DARTS().mutate_model(spec.build(sized, data))
        parameters = sum(p.numel() for p in supernet.parameters())
        hooks = [module.register_forward_hook(
            lambda module, inputs, output: outputs.append(output.numel() * output.element_size()
                                                          if torch.is_tensor(output) else 0))
                 for module in supernet.modules() if not list(module.children())]
        decisions = decisions_of(supernet)
        path = decisions.expand(uniform_samples(decisions.options, 1, random.Random(0))[0])
        try:
            with fixed_architecture(supernet, path):
                supernet(data.meta_batch(config.batch_size))
        except (RuntimeError, NotImplementedError):
            # A forward that reads tensor values (CLOSE reads its block count) cannot run on the meta
            # device: count no activations, which keeps the estimate a lower bound.
            outputs.clear()
        for hook in hooks:
            hook.remove()
    return parameters, sum(outputs)


class _Costs:
    """Parameters and activations of the space at ``cells`` cells per stage: linear in the cells from
    two on (the first cell of a stage differs: it follows the reduction), so they are measured at
    two and three cells and extrapolated, or at the config's own size when it has three or fewer or
    the space is not linear in its cells (NNI's hub spaces spread theirs over the stages)."""

    BASE = 2

    def __init__(self, spec, config, data):
        self.cells = config.cells if spec.kind == 'image' else None
        if self.cells is not None and self.cells > self.BASE + 1 and spec.linear_cells:
            self.base = _meta_space_cost(spec, config, data, self.BASE)
            next_ = _meta_space_cost(spec, config, data, self.BASE + 1)
            self.per_cell = (next_[0] - self.base[0], next_[1] - self.base[1])
        else:
            self.base, self.per_cell = _meta_space_cost(spec, config, data, None), (0, 0)

    def at(self, cells: Optional[int]):
        extra = 0 if self.per_cell == (0, 0) else cells - self.BASE
        return self.base[0] + extra * self.per_cell[0], self.base[1] + extra * self.per_cell[1]


def estimate_search(spec, config, data, costs: Optional[_Costs] = None) -> MemoryEstimate:
    """The lower bound of the module docstring for a resolved config and its loaded data."""
    costs = costs or _Costs(spec, config, data)
    parameters, activations = costs.at(config.cells)
    return MemoryEstimate(data.device_bytes(), parameters * TRAINING_BYTES_PER_PARAMETER, activations)


def _fitting(costs: '_Costs', config, estimate: MemoryEstimate, available: int) -> List[str]:
    """The largest ``--batch-size`` and ``--cells`` (each alone) whose estimate fits in ``available``."""
    room = available - estimate.data - estimate.parameters
    hint = []
    if room > 0 and estimate.activations > 0:
        hint.append(f'--batch-size {max(int(config.batch_size * room / estimate.activations), 1)}')
    if costs.per_cell != (0, 0):
        base = estimate.data + costs.base[0] * TRAINING_BYTES_PER_PARAMETER + costs.base[1]
        per_cell = costs.per_cell[0] * TRAINING_BYTES_PER_PARAMETER + costs.per_cell[1]
        if per_cell > 0 and available > base:
            hint.append(f'--cells {costs.BASE + int((available - base) / per_cell)}')
    return hint


def memory_advice(spec, config, data, device) -> str:
    """For a search that ran out of memory although its estimate fitted (the estimate is a lower
    bound): the figures, and the sizes whose estimate fits in half of what is available."""
    costs = _Costs(spec, config, data)
    estimate = estimate_search(spec, config, data, costs)
    available = available_bytes(device)
    hint = _fitting(costs, config, estimate, available // 2)
    fits = f'at most {" or ".join(hint)} fits in half of that' if hint else 'use a smaller network, batch or dataset'
    return (f'the estimate was at least {format_bytes(estimate.total)} and {format_bytes(available)} is available on '
            f'the {getattr(device, "type", device)} now; {fits}')


def check_search_memory(spec, config, data, device, available: Optional[int] = None) -> MemoryEstimate:
    """Refuse a search whose estimate exceeds the memory available on ``device``, naming what fits."""
    costs = _Costs(spec, config, data)
    estimate = estimate_search(spec, config, data, costs)
    available = available_bytes(device) if available is None else available
    if estimate.total <= available:
        return estimate
    hint = _fitting(costs, config, estimate, available)
    fits = f'; at most {" or ".join(hint)} fits' if hint else '; use a smaller network, batch or dataset'
    raise UserError(f'this search needs at least {format_bytes(estimate.total)} of memory ({format_bytes(estimate.data)} '
                    f'data, {format_bytes(estimate.parameters)} parameters with gradients and momentum, '
                    f'{format_bytes(estimate.activations)} activations of a step at batch {config.batch_size}) and '
                    f'{format_bytes(available)} is available on the {getattr(device, "type", device)}{fits}')
