"""GDAS (Dong & Yang, CVPR 2019) with the data curriculum.

One op per edge in each forward: a hard Gumbel-softmax sample of the alphas, with straight-through
weights so that the gradient reaches every alpha; temperature tau falls linearly from 10 to 0.1
over the epochs. NNI's ``GumbelDARTS`` is soft (it runs every op) and is not GDAS.
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch
from nni.nas.oneshot.pytorch.strategy import no_default_hook

from ...arch.gumbel import straight_through_gumbel
from ...arch.supernet import FixableMixedLayer, supernet_modules
from ..registry import defaults
from .darts import DARTS, DartsModule
from ..base import Sample

__all__ = ['GDAS', 'GdasModule', 'GdasMixedLayer']

_DEFAULTS = defaults('gdas')




class GdasMixedLayer(FixableMixedLayer):
    """A LayerChoice that runs only its sampled op, scaled by the straight-through weight."""

    _draw = None

    def forward(self, *args, **kwargs):
        if self._fixed is not None:
            return super().forward(*args, **kwargs)
        if self._draw is None:
            raise RuntimeError('a GDAS layer needs resample() before its forward')
        weights, index = self._draw
        out = self[self.names[index]](*args, **kwargs) * weights[index]
        # The other weights are exactly 0 in value; adding them keeps every alpha in the graph.
        others = [weights[i] for i in range(len(self.names)) if i != index]
        return out + sum(others) if others else out

    def active_value(self):
        if self._fixed is not None or self._draw is None:
            return super().active_value()
        return self.names[self._draw[1]]


class GdasModule(DartsModule):
    """DARTS module whose forwards use one hard Gumbel sample per label, redrawn at each resample."""

    single_path = True

    def __init__(self, training_module, *, tau_max: float = _DEFAULTS['tau_max'], tau_min: float = _DEFAULTS['tau_min'],
                 **kwargs):
        super().__init__(training_module, **kwargs)
        if not tau_max >= tau_min > 0:
            raise ValueError(f'GDAS needs tau_max >= tau_min > 0, got {tau_max}, {tau_min}')
        self.tau_max, self.tau_min = tau_max, tau_min
        self.tau = tau_max

    def temperature(self, epoch: int) -> float:
        """tau falls linearly from tau_max (first epoch) to tau_min (last epoch)."""
        epochs = max(self.trainer.max_epochs - 1, 1)
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / epochs

    def on_train_epoch_start(self):
        self.tau = self.temperature(self.current_epoch)
        self.log('gumbel_tau', self.tau)
        return super().on_train_epoch_start()

    def on_load_checkpoint(self, checkpoint):
        super().on_load_checkpoint(checkpoint)
        self.tau = self.temperature(checkpoint['epoch'])  # a resume mid-epoch skips on_train_epoch_start

    def resample(self) -> Sample:
        layers = [module for module in supernet_modules(self.model) if isinstance(module, GdasMixedLayer)]
        draws: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}
        for module in layers:
            if module.label not in draws:
                draws[module.label] = straight_through_gumbel(module._arch_alpha, self.tau)
        # The forwards need the chosen ops on the host: one read for all labels (one device sync).
        indices = dict(zip(draws, torch.stack([index for _, index in draws.values()]).tolist())) if draws else {}
        for module in layers:
            module._draw = (draws[module.label][0], indices[module.label])
        return indices


class GDAS(DARTS):
    """GDAS with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain GDAS.

    It derives from NNI's DARTS strategy, not from ``GumbelDARTS``, which is soft.

    Same arguments as :class:`~nni_cnas.DARTS`, plus ``tau_max`` and ``tau_min`` (defaults in the registry:
    10 and 0.1).
    Supports spaces of LayerChoices (such as NAS-Bench-201).
    """

    module_class = GdasModule

    def __init__(self, *, tau_max: float = _DEFAULTS['tau_max'], tau_min: float = _DEFAULTS['tau_min'], **kwargs):
        super().__init__(**kwargs)
        self.tau_max, self.tau_min = tau_max, tau_min

    def default_mutation_hooks(self):
        return [GdasMixedLayer.mutate, no_default_hook]

    def module_kwargs(self):
        return dict(super().module_kwargs(), tau_max=self.tau_max, tau_min=self.tau_min)

