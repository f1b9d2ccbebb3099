"""The data curriculum of one search as one component, in the manner of a Lightning callback.

The strategy's training step calls it at four fixed points and never branches on a schedule or
an estimator itself:

* :meth:`Curriculum.attach` when the loaders are known (the size of the training split);
* :meth:`Curriculum.batch_weights` for each training batch's weights, or None (plain loss);
* :meth:`Curriculum.record` after each weight step, with its per-sample losses and weights;
* :meth:`Curriculum.end_epoch` when an epoch's training is done.

The strategy lends it two measurements (the K subnets' losses of a batch, and their loss sums
over the whole training split) as functions; the curriculum decides when either is needed. Its
whole state (the epoch schedule's weights, the amortised history, its generator and the current
epoch's applied weights) is in its ``state_dict`` under the owner's ``curriculum.`` key.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .config import CurriculumConfig
from .state import DataWeights, LossHistory
from .weights import data_weights, sigma_from_sums, weight_statistics, weights_from_losses

__all__ = ['Curriculum']

#: ``[K, B]`` per-sample losses of a batch under the K subnets of the search policy.
MeasureBatch = Callable[[Any], torch.Tensor]
#: ``(loss sums, counts)`` per training sample over the whole split under the K subnets.
MeasureSplit = Callable[[], Tuple[torch.Tensor, torch.Tensor]]


class Curriculum(nn.Module):
    """Per-sample data weights for a search (Eq. 10-11 of the paper), by the config's schedule
    (``epoch``, ``batch``, ``none``) and estimator (``exact``, ``amortised``).

    ``seed`` seeds the curriculum's own generator (the K uniform or controller samples), kept apart
    from the base algorithm's so that a curriculum never changes which paths the algorithm trains.
    """

    def __init__(self, config: CurriculumConfig = CurriculumConfig(), seed: int = 0):
        super().__init__()
        self.config = config
        self.data_weights = DataWeights()
        self.loss_history = LossHistory()
        self.rng = random.Random(seed)
        self._applied: List[torch.Tensor] = []
        #: Sums a tensor over the ranks in place, under DDP (set by the search module): batch
        #: weights are normalised over the global batch, the amortised history combined each epoch.
        self.reduce_sum: Optional[Callable[[torch.Tensor], None]] = None

    # ------------------------------------------------------------------ what the config says

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def schedule(self) -> str:
        return self.config.schedule

    @property
    def k(self) -> int:
        return self.config.k

    @property
    def amortised(self) -> bool:
        return self.enabled and self.config.estimator == 'amortised'

    @property
    def per_epoch(self) -> bool:
        return self.enabled and self.config.schedule == 'epoch'

    @property
    def needs_indices(self) -> bool:
        """Whether training batches must carry sample indices ``(x, y, index)``."""
        return self.per_epoch or self.amortised

    def fall_back_to_batch(self) -> None:
        """The ``batch`` schedule, for a training loader that cannot carry sample indices."""
        self.config = dataclasses.replace(self.config, schedule='batch')

    def uses_bf16(self, device: torch.device) -> bool:
        return self.config.uses_bf16(device)

    # ------------------------------------------------------------------ the four calls

    def attach(self, num_samples: int) -> None:
        """Size the state for a training split of ``num_samples`` samples."""
        if self.per_epoch:
            self.data_weights.reset(num_samples)
        if self.amortised:
            self.loss_history.reset(self.config.k, num_samples)

    def start_epoch(self) -> None:
        self._applied = []

    def batch_weights(self, batch, measure: MeasureBatch) -> Optional[torch.Tensor]:
        """Weights of a training batch ``(x, y[, index])``, or None for the plain (unweighted) loss
        (the curriculum is off, or the epoch schedule has no weights before its first update)."""
        if not self.enabled:
            return None
        if self.needs_indices and len(batch) < 3:
            raise RuntimeError('the epoch schedule and the amortised estimator need batches (x, y, index)')
        if self.per_epoch:
            return self.data_weights.lookup(batch[2])
        if self.amortised:
            sums = self.loss_history.loss_sums(batch[2].to(self.loss_history.losses.device))
            return data_weights(sigma_from_sums(*sums), self.reduce_sum)
        return weights_from_losses(measure(batch), self.reduce_sum)

    def record(self, batch, losses: Optional[torch.Tensor], weights: Optional[torch.Tensor]) -> None:
        """After a weight step: its per-sample losses (the amortised history; None when the
        evaluator gives no per-sample losses) and the weights it applied (None: all 1)."""
        if self.amortised and losses is not None:
            self.loss_history.record(batch[2], losses)
        self._applied.append(weights.detach() if weights is not None
                             else torch.ones(len(batch[0]), device=batch[0].device))

    def end_epoch(self, epoch: int, max_epochs: int, measure: MeasureSplit) -> None:
        """The epoch schedule's update for the next epoch (none after the last one). Under DDP the
        amortised history first takes every rank's records of the epoch."""
        if self.amortised and self.reduce_sum is not None:
            self.loss_history.merge_ranks()
        if not self.per_epoch or epoch + 1 >= max_epochs:
            return
        sums, counts = self.loss_history.loss_sums() if self.amortised else measure()
        self.data_weights.update_from_loss_sums(sums, counts)

    def epoch_statistics(self) -> Optional[Dict[str, Any]]:
        """Statistics of the weights applied this epoch (None before any step)."""
        if not self._applied:
            return None
        return weight_statistics(torch.cat([weights.cpu() for weights in self._applied])).as_dict()

    # ------------------------------------------------------------------ state beyond the buffers

    def get_extra_state(self) -> Dict[str, Any]:
        applied = torch.cat([weights.cpu() for weights in self._applied]) if self._applied else None
        return {'rng': self.rng.getstate(), 'applied': applied, 'config': dataclasses.asdict(self.config)}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        self.rng.setstate(state['rng'])
        self._applied = [state['applied']] if state['applied'] is not None else []

    @staticmethod
    def migrate_v0_1(checkpoint: Dict[str, Any], prefix: str = 'curriculum.') -> None:
        """Rewrite a checkpoint of nni_cnas 0.1, whose curriculum state lay in its owner's buffers
        ``data_weights.*`` and ``loss_history.*`` and in ``checkpoint['nni_cnas']``, to this layout."""
        state_dict, own = checkpoint['state_dict'], checkpoint.get('nni_cnas', {})
        if f'{prefix}_extra_state' in state_dict or 'curriculum_rng' not in own:
            return
        for key in [key for key in state_dict if key.startswith(('data_weights.', 'loss_history.'))]:
            state_dict[prefix + key] = state_dict.pop(key)
        state_dict[f'{prefix}_extra_state'] = {'rng': own.pop('curriculum_rng'), 'config': own.pop('curriculum'),
                                               'applied': own['epoch_state'].pop('applied')}
