"""GDAS (Dong & Yang, CVPR 2019) with the data curriculum.

One op per edge in each forward: a hard Gumbel-softmax sample of the alphas, with straight-through
weights so that the gradient reaches every alpha; temperature tau falls linearly from 10 to 0.1
over the epochs. NNI's ``GumbelDARTS`` is soft (it runs every op) and is not GDAS.

On any NNI space: every architecture parameter gets one hard draw per step (however many modules
share it), made in :meth:`GdasModule.resample` with one read back to the host. Layer choices and
cell edges run only their drawn op; input choices, ``Repeat`` depths and mixed operations take the
draw as their (one-hot, straight-through) mixture weights, which is GDAS' forward, computed as
NNI's differentiable modules compute a mixture.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from nni.nas.oneshot.pytorch.differentiable import LinearTemperatureScheduler
from nni.nas.oneshot.pytorch.supermodule.differentiable import DifferentiableMixedCell, DifferentiableMixedLayer
from nni.nas.oneshot.pytorch.supermodule.sampling import preprocess_cell_inputs

from ...arch.gumbel import gumbel_noise, straight_through
from ...arch.supernet import FixableMixedCell, FixableMixedLayer, alphas_on_host
from .. import registry
from ..registry import defaults
from .darts import DARTS, DartsModule
from ..base import Sample

__all__ = ['GDAS', 'GdasModule', 'GdasMixedLayer', 'GdasMixedCell', 'GumbelDraws']

_DEFAULTS = defaults('gdas')


class GumbelDraws(nn.Module):
    """The "softmax" of GDAS' mixed modules: the current step's hard straight-through draw of each
    architecture parameter. The draws live in one store for the whole supernet (a label shared by
    several modules has one draw): :class:`GdasModule` gives every ``GumbelDraws`` of its supernet
    its own store and fills it in :meth:`GdasModule.resample`."""

    def __init__(self, store: Optional[Dict[int, Tuple[torch.Tensor, int]]] = None):
        super().__init__()
        self.store = {} if store is None else store

    def draw(self, alpha: torch.Tensor) -> Tuple[torch.Tensor, int]:
        """``(one-hot straight-through weights, drawn index)`` of ``alpha`` in this step."""
        try:
            return self.store[id(alpha)]
        except KeyError:
            raise RuntimeError('a GDAS supernet needs resample() before its forward') from None

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:
        return self.draw(alpha)[0]

    @staticmethod
    def policy_softmax(alpha: torch.Tensor) -> torch.Tensor:
        """The policy itself (export_probs, top-K): the plain softmax of the alphas."""
        return torch.softmax(alpha, -1)

    def __deepcopy__(self, memo):
        # An exported instance is a deep copy of the supernet: it must not carry this step's draws
        # (non-leaf tensors, which refuse to be deep-copied).
        return GumbelDraws()


def _one_op(run: Callable[[], torch.Tensor], weights: torch.Tensor, index: int) -> torch.Tensor:
    """GDAS' edge: the drawn op's output scaled by its straight-through weight, plus the other
    weights (exactly 0 in value) so that every alpha stays in the graph, as xautodl's GDAS cell."""
    others = [weights[i] for i in range(weights.shape[-1]) if i != index]
    out = run() * weights[index]
    return out + sum(others) if others else out


class GdasMixedLayer(FixableMixedLayer):
    """A LayerChoice that runs only its drawn op."""

    def forward(self, *args, **kwargs):
        if self._fixed is not None:
            return super().forward(*args, **kwargs)
        weights, index = self._softmax.draw(self._arch_alpha)
        return _one_op(lambda: self[self.names[index]](*args, **kwargs), weights, index)

    def active_value(self):
        if self._fixed is not None:
            return super().active_value()
        draw = self._softmax.store.get(id(self._arch_alpha))
        return None if draw is None else self.names[draw[1]]


class GdasMixedCell(FixableMixedCell):
    """NNI's cell under GDAS: each edge ``j -> i`` runs its drawn op, or nothing when it draws
    "not chosen" (the cell's extra alpha entry)."""

    def forward(self, *inputs):
        if self._fixed is not None:
            return super().forward(*inputs)
        processed = preprocess_cell_inputs(self.num_predecessors, *inputs)
        states: List[torch.Tensor] = self.preprocessor(processed)
        for i, ops in enumerate(self.ops, start=self.num_predecessors):
            outputs, zeros = [], []
            for j in range(i):
                weights, index = self._softmax.draw(self._arch_alpha[f'{self.label}/{i}_{j}'])
                names = list(ops[j].keys())
                if index < len(names):
                    outputs.append(_one_op(lambda: ops[j][names[index]](states[j]), weights, index))
                else:
                    zeros.append(weights[:len(names)].sum())  # exactly 0 in value; keeps the alphas
            if not outputs:  # every edge drew "not chosen": a zero state of the node's shape
                outputs = [ops[0][next(iter(ops[0].keys()))](states[0]) * 0]
            states.append(sum(outputs) + sum(zeros))
        return self.postprocessor(torch.cat(states[self.num_predecessors:], self.concat_dim), processed)


@dataclasses.dataclass
class GumbelDraw:
    """One hard draw of every alpha: the straight-through ``weights``, the drawn ``indices`` on the
    device (the next architecture step's after this step's, where drawn with it), that step's
    ``next_noise``, and the indices read back to the host once (None until read)."""

    weights: List[torch.Tensor]
    indices: Optional[torch.Tensor]
    next_noise: Optional[List[torch.Tensor]] = None
    host_indices: Optional[List[int]] = None



class DrawAhead:
    """The next architecture step's Gumbel noise and drawn indices, drawn with this step's weight
    draw (:meth:`GdasModule.resample`): a part with its slice of the checkpoint, so that a resumed
    search draws as an uninterrupted one (nothing written when none waits)."""

    state_key = 'gdas_ahead'

    def __init__(self):
        self.noise: Optional[List[torch.Tensor]] = None
        self.indices: Optional[List[int]] = None

    def hold(self, noise: List[torch.Tensor], indices: List[int]) -> None:
        self.noise, self.indices = noise, indices

    def take(self) -> Optional[Tuple[List[torch.Tensor], List[int]]]:
        """The waiting draw, forgotten here; None when the next resample draws afresh."""
        if self.noise is None:
            return None
        held, self.noise, self.indices = (self.noise, self.indices), None, None
        return held

    def state_dict(self) -> Optional[Tuple[List[torch.Tensor], List[int]]]:
        return None if self.noise is None else ([gumbels.cpu() for gumbels in self.noise], self.indices)

    def load_state_dict(self, state: Tuple[List[torch.Tensor], List[int]]) -> None:
        self.hold(list(state[0]), state[1])  # on the host; resample moves them to the alphas' device

class GdasModule(DartsModule):
    """DARTS module whose forwards use one hard Gumbel draw per architecture parameter, redrawn at
    each resample."""

    single_path = True

    def __init__(self, training_module, *, tau_max: float = _DEFAULTS['tau_max'], tau_min: float = _DEFAULTS['tau_min'],
                 temperature_scheduler: Optional[LinearTemperatureScheduler] = None, **kwargs):
        super().__init__(training_module, **kwargs)
        problem = registry.tau_order_problem(tau_max, tau_min)
        if problem:
            raise ValueError(problem)
        self.tau_max, self.tau_min = tau_max, tau_min
        self.temperature_scheduler = temperature_scheduler
        self.draws: Dict[int, Tuple[torch.Tensor, int]] = {}
        self.ahead = DrawAhead()
        self.tau = tau_max if temperature_scheduler is None else temperature_scheduler.init

    def set_model(self, model) -> None:
        super().set_model(model)
        for module in self.model.modules():
            if isinstance(module, GumbelDraws):
                module.store = self.draws

    def temperature(self, epoch: int) -> float:
        """tau falls linearly from tau_max (first epoch) to tau_min (last epoch); with NNI's
        ``temperature`` argument, as NNI's GumbelDARTS schedules it."""
        if self.temperature_scheduler is not None:
            return self.temperature_scheduler.step(epoch, self.trainer.max_epochs)
        epochs = max(self.trainer.max_epochs - 1, 1)
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / epochs

    def on_train_epoch_start(self):
        self.tau = self.temperature(self.current_epoch)
        self.log('gumbel_tau', self.tau)
        return super().on_train_epoch_start()

    def architecture_step(self, batch, batch_idx: int, train_batch=None) -> None:
        self._in_architecture_step = True
        try:
            super().architecture_step(batch, batch_idx, train_batch)
        finally:
            self._in_architecture_step = False

    _in_architecture_step = False
    #: The batch schedule's early draw of this step's weight step (:meth:`measure_batch`).
    _prepared: Optional[GumbelDraw] = None

    def _forget_supernet(self) -> None:
        super()._forget_supernet()
        self._supernet_alphas: Optional[List[torch.Tensor]] = None

    def _alphas(self) -> List[torch.Tensor]:
        # The alphas are fixed once the supernet is built: walk its modules once, not every step.
        if self._supernet_alphas is None:
            self._supernet_alphas = self.arch_parameters()
        return self._supernet_alphas

    def _fresh_draw(self, alphas, with_next: bool) -> 'GumbelDraw':
        """This step's draw of every alpha, and with ``with_next`` the next architecture step's noise."""
        noise = [gumbel_noise(alpha) for alpha in alphas]
        drawn = [straight_through(alpha, gumbels, self.tau) for alpha, gumbels in zip(alphas, noise)]
        weights, index_tensors = [w for w, _ in drawn], [i for _, i in drawn]
        next_noise = None
        if with_next:
            next_noise = [gumbel_noise(alpha) for alpha in alphas]
            with torch.no_grad():
                index_tensors += [straight_through(alpha, gumbels, self.tau)[1] for alpha, gumbels in zip(alphas, next_noise)]
        return GumbelDraw(weights, torch.stack(index_tensors) if index_tensors else None, next_noise)

    def resample(self) -> Sample:
        """This forward's hard draw of every alpha, with one host read a training step: the weight
        step's draw and the next step's architecture draw come from the same alphas (only the
        architecture step changes them), so both are drawn together, in the order they were drawn
        one by one (the same random stream), and their indices read back at once (with the batch
        schedule, in the same transfer as the alphas its top-K reads: :meth:`measure_batch`)."""
        alphas = self._alphas()
        ahead = self.ahead.take()
        prepared, self._prepared = self._prepared, None
        if ahead is not None:
            noise, indices = ahead
            weights = [straight_through(alpha, gumbels.to(alpha.device), self.tau)[0]
                       for alpha, gumbels in zip(alphas, noise)]
        else:
            draw = prepared or self._fresh_draw(alphas, not self._in_architecture_step)
            weights, indices = draw.weights, draw.host_indices
            if indices is None:
                # The forwards need the drawn ops on the host: one read for all (one device sync).
                indices = draw.indices.tolist() if draw.indices is not None else []
            if draw.next_noise is not None:
                self.ahead.hold(draw.next_noise, indices[len(alphas):])
            indices = indices[:len(alphas)]
        self.draws.clear()
        self.draws.update({id(alpha): (w, index) for alpha, w, index in zip(alphas, weights, indices)})
        return {}

    def measure_batch(self, batch):
        # The batch schedule's top-K reads the alphas between the architecture step and the weight
        # step, which leaves them as they are: this step's weight draw is made first, and its
        # indices travel with that read (export_probs), not in one of their own.
        if self.ahead.noise is None and self._prepared is None:
            self._prepared = self._fresh_draw(self._alphas(), with_next=True)
        return super().measure_batch(batch)

    def export_probs(self):
        prepared = self._prepared
        if prepared is None or prepared.indices is None or prepared.host_indices is not None:
            return super().export_probs()
        with alphas_on_host(self.arch_parameters(), also=prepared.indices) as indices:
            prepared.host_indices = indices
            return super(DartsModule, self).export_probs()  # NNI's, on the host copy just made

    def _checkpoint_parts(self) -> tuple:
        return (*super()._checkpoint_parts(), self.ahead)

    def on_load_checkpoint(self, checkpoint):
        super().on_load_checkpoint(checkpoint)
        self.tau = self.temperature(checkpoint['epoch'])  # a resume mid-epoch skips on_train_epoch_start

    def on_train_end(self):
        self.draws.clear()
        self.ahead.take()
        self._prepared = None
        return super().on_train_end()


def _temperature_scheduler(temperature) -> LinearTemperatureScheduler:
    """NNI's GumbelDARTS ``temperature``: a float (fixed), ``(init, min)``, ``{'init', 'min'}`` or a
    ``LinearTemperatureScheduler``."""
    if isinstance(temperature, LinearTemperatureScheduler):
        return temperature
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        return LinearTemperatureScheduler(float(temperature), float(temperature))
    if isinstance(temperature, tuple) and len(temperature) == 2:
        return LinearTemperatureScheduler(float(temperature[0]), float(temperature[1]))
    if isinstance(temperature, dict) and set(temperature) == {'init', 'min'}:
        return LinearTemperatureScheduler(float(temperature['init']), float(temperature['min']))
    raise ValueError(f'invalid temperature {temperature!r}: give a float, (init, min), {{"init": ..., "min": ...}} '
                     'or a LinearTemperatureScheduler')


class GDAS(DARTS):
    """GDAS with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain GDAS.

    It derives from NNI's DARTS strategy, not from ``GumbelDARTS``, which is soft, but takes
    GumbelDARTS' arguments: ``temperature`` (a float, ``(init, min)``, ``{'init': ..., 'min': ...}``
    or NNI's ``LinearTemperatureScheduler``, annealed as NNI anneals it) or this project's
    ``tau_max`` and ``tau_min`` (defaults in the registry: 10 and 0.1, reached at the last epoch),
    and every argument of :class:`~nni_cnas.DARTS`.
    """

    module_class = GdasModule
    _replacements = {**DARTS._replacements, DifferentiableMixedLayer: GdasMixedLayer,
                     DifferentiableMixedCell: GdasMixedCell}

    def __init__(self, *, temperature=None, tau_max: float = _DEFAULTS['tau_max'], tau_min: float = _DEFAULTS['tau_min'],
                 **kwargs):
        super().__init__(**kwargs)
        # (A temperature with tau_max/tau_min at their defaults is NNI's way; other values are two schedules.)
        if temperature is not None and (tau_max, tau_min) != (_DEFAULTS['tau_max'], _DEFAULTS['tau_min']):
            raise ValueError('give GDAS either temperature (as NNI GumbelDARTS) or tau_max/tau_min, not both')
        self.temperature_scheduler = None if temperature is None else _temperature_scheduler(temperature)
        self.tau_max, self.tau_min = tau_max, tau_min

    def configure_softmax(self) -> nn.Module:
        # NNI's hook for the mixed modules' softmax (GumbelDARTS' noisy one); here the step's hard draws.
        return GumbelDraws()

    def module_kwargs(self):
        return dict(super().module_kwargs(), tau_max=self.tau_max, tau_min=self.tau_min,
                    temperature_scheduler=self.temperature_scheduler)
