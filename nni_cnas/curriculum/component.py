"""The data curriculum of one search as one component, in the manner of a Lightning callback.

The strategy's training step calls it at four fixed points and never branches on a schedule, a
measure or a weighting itself:

* :meth:`Curriculum.attach` when the loaders are known (the size of the training split);
* :meth:`Curriculum.batch_weights` for each training batch's weights, or None (plain loss);
* :meth:`Curriculum.record` after each weight step, with its per-sample losses and weights;
* :meth:`Curriculum.end_epoch` when an epoch's training is done.

The strategy lends it two measurements (the K subnets' losses of a batch, and their loss sums
over the whole training split) as functions; the curriculum's measure decides whether either is
needed (:mod:`.measures`), its weighting how difficulty becomes weights (:mod:`.weightings`), its
schedule when, and for the ``sample`` schedule which samples the next epoch draws
(:meth:`Curriculum.sampling_order`, read by the training loader). Its whole state (the weights of
the epoch and sample schedules, the histories, its generator, the current epoch's records for the
diagnostics) is in its ``state_dict`` under the owner's ``curriculum.`` key.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn as nn

from ..data.batches import batch_device, batch_size, unpack
from .config import CurriculumConfig
from .diagnostics import class_mean_weights, spearman, top_share
from .measures import MeasureBatch, MeasureSplit, SubnetOutputs
from .parts import MEASURES, WEIGHTINGS
from .state import DataWeights, EpochMeans, LossHistory
from .weightings import WeighingContext
from .weights import weight_statistics

__all__ = ['Curriculum', 'StepWeights']


class StepWeights:
    """The weights of a batch that come from its own weight step's per-sample losses (a measure
    with ``from_step``): the step calls it with them after its forward pass."""

    def __init__(self, weigh: Callable[[torch.Tensor], torch.Tensor]):
        self._weigh = weigh
        self.weights: Optional[torch.Tensor] = None

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        self.weights = self._weigh(losses.detach())
        return self.weights


class Curriculum(nn.Module):
    """Per-sample data weights for a search: the config's measure, weighting and schedule
    (``epoch``, ``batch``, ``sample``, ``none``, from its start epoch on).

    ``seed`` seeds the curriculum's own generator (the K uniform or controller samples, the
    permuted control), kept apart from the base algorithm's so that a curriculum never changes
    which paths the algorithm trains.
    """

    def __init__(self, config: CurriculumConfig = CurriculumConfig(), seed: int = 0):
        super().__init__()
        self.config = config
        self.measure = MEASURES.get(config.measure).load()(config.measure_options)
        self.weighting = WEIGHTINGS.get(config.weighting).load()(config.alpha, config.weighting_options)
        self.data_weights = DataWeights()
        self.loss_history = LossHistory()
        self.step_means = EpochMeans()
        self.seed = seed
        self._num_samples: Optional[int] = None
        self.rng = random.Random(seed)
        self._records: Dict[str, List[torch.Tensor]] = _empty_records()
        self._steps = 0
        self._previous: Optional[torch.Tensor] = None
        #: Sums a tensor over the ranks in place, under DDP (set by the search module): batch
        #: weights are normalised over the global batch, the loss history combined each epoch.
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
    def uses_subnets(self) -> bool:
        """Whether the measure runs the K subnets of the search policy (the exact passes)."""
        return self.enabled and self.measure.uses_subnets

    @property
    def keeps_history(self) -> bool:
        """Whether the weight steps' last values are kept per sample (amortised, loss, disagreement-history)."""
        return self.enabled and self.measure.history_length(self.config.k) > 0 and self.needs_indices

    @property
    def keeps_means(self) -> bool:
        """Whether the weight steps' values are averaged per sample over each epoch (margin)."""
        return self.enabled and self.measure.epoch_means and self.needs_indices

    @property
    def amortised(self) -> bool:
        """Whether the measure must have per-sample histories whatever the schedule (no fallback)."""
        return self.enabled and self.measure.needs_indices

    @property
    def per_epoch(self) -> bool:
        """Whether weights are made for the whole split after each epoch (the epoch and sample schedules)."""
        return self.enabled and self.config.schedule in ('epoch', 'sample')

    @property
    def samples(self) -> bool:
        """Whether the weights choose the next epoch's samples (the sample schedule), not their losses' weights."""
        return self.enabled and self.config.schedule == 'sample'

    @property
    def needs_indices(self) -> bool:
        """Whether training batches must carry sample indices (an :class:`~nni_cnas.data.batches.IndexedBatch`)."""
        return self.per_epoch or self.amortised

    @property
    def history(self):
        """What the measure reads of the weight steps: the last K values, or the epoch means."""
        return self.step_means if self.measure.epoch_means else self.loss_history

    def fall_back_to_batch(self) -> None:
        """The ``batch`` schedule, for a training loader that cannot carry sample indices."""
        self.config = dataclasses.replace(self.config, schedule='batch')

    def uses_bf16(self, device: torch.device) -> bool:
        return self.config.uses_bf16(device)

    def active(self, epoch: int, max_epochs: int) -> bool:
        """Whether epoch ``epoch`` trains with data weights (on, and past the schedule's start)."""
        return self.enabled and epoch >= self.config.start_epoch(max_epochs)

    # ------------------------------------------------------------------ the four calls

    def attach(self, num_samples: int) -> None:
        """Size the state for a training split of ``num_samples`` samples."""
        if self.per_epoch:
            self.data_weights.reset(num_samples)
        if self.keeps_history:
            self.loss_history.reset(self.measure.history_length(self.config.k), num_samples)
        if self.keeps_means:
            self.step_means.reset(num_samples)
        self._num_samples = num_samples
        self.measure.attach(num_samples, self.seed)

    def set_seed(self, seed: int) -> None:
        """The curriculum's seed (rank 0's under DDP, the checkpoint's on resume): its draws and
        its measure's seeded state follow it."""
        self.seed = seed
        if self._num_samples is not None:
            self.measure.attach(self._num_samples, seed)

    def start_epoch(self, epoch: int = 0, max_epochs: int = 1) -> None:
        """A new epoch: its records start empty; a measure that needs no training (:attr:`~.measures.Measure.static`)
        gives the epoch and sample schedules their weights from the curriculum's first epoch on."""
        self._records = _empty_records()
        self._steps = 0
        if self.per_epoch and self.measure.static and self.active(epoch, max_epochs) and not self.data_weights.is_ready:
            self._set_split_weights(lambda *args, **kwargs: None, epoch, max_epochs)

    def sampling_order(self, epoch: int) -> Optional[torch.Tensor]:
        """The sample schedule's draw for epoch ``epoch``: N sample indices drawn with replacement with
        probabilities proportional to the weights (on the host), from the curriculum's seed and the
        epoch alone, so that every rank and a resumed search draw the same; None before the first
        weights (the loader's own order)."""
        if not self.samples or not self.data_weights.is_ready:
            return None
        weights = self.data_weights.weights.detach().to('cpu', torch.float64)
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch * 100_003 + 17) % (2 ** 63))
        return torch.multinomial(weights, weights.numel(), replacement=True, generator=generator)

    def batch_weights(self, batch, measure: MeasureBatch, epoch: int = 0, max_epochs: int = 1):
        """Weights of a training batch (with its sample indices where needed) in epoch ``epoch``: a tensor, a
        :class:`StepWeights` that the weight step calls with its own losses, or None for the plain
        (unweighted) loss (the curriculum is off or not started, or the epoch schedule has no
        weights before its first update)."""
        if not self.active(epoch, max_epochs):
            return None
        _, index = unpack(batch)
        if self.needs_indices and index is None:
            raise RuntimeError(f'the {self.schedule} schedule with the {self.config.measure} measure needs batches '
                               'with sample indices')
        if self.per_epoch:
            return None if self.samples else self.data_weights.lookup(index)
        context = self._context(epoch, max_epochs, self.reduce_sum)
        self._steps += 1
        if self.measure.from_step:
            return StepWeights(lambda losses: self.weighting(losses, context))
        return self.weighting(self.measure.batch(self.history, batch, measure), context)

    def record(self, batch, losses: Optional[torch.Tensor], weights, logits: Optional[torch.Tensor] = None) -> None:
        """After a weight step: its per-sample losses (None when the evaluator gives no per-sample
        losses) and, for a classifier, its logits (the histories keep the measure's
        :meth:`~.measures.Measure.step_values` of them), and the weights it applied (None: all 1;
        under the sample schedule, the sampling weights of its samples, for the diagnostics)."""
        if isinstance(weights, StepWeights):
            weights = weights.weights
        batch, index = unpack(batch)
        if (self.keeps_history or self.keeps_means) and losses is not None:
            targets = batch[1] if isinstance(batch, (tuple, list)) and len(batch) == 2 else None
            values = self.measure.step_values(SubnetOutputs(
                losses[None], None if logits is None else logits.detach()[None], targets))
            (self.loss_history if self.keeps_history else self.step_means).record(index, values)
        if weights is None and self.samples and index is not None:
            weights = self.data_weights.lookup(index)
        if weights is not None:
            applied = weights.detach()
        else:
            applied = torch.ones(len(losses) if losses is not None else batch_size(batch), device=batch_device(batch))
        self._records['applied'].append(applied)
        if losses is not None and len(losses) == len(applied):
            self._records['losses'].append(losses.detach().float())
        labels = batch[1] if isinstance(batch, (tuple, list)) and len(batch) == 2 else None
        # Class means are for class labels; a regression's targets (floats) have none.
        if isinstance(labels, torch.Tensor) and labels.dim() == 1 and not torch.is_floating_point(labels) \
                and len(labels) == len(applied):
            self._records['labels'].append(labels.detach())
        if index is not None:
            self._records['indices'].append(index.detach())

    def end_epoch(self, epoch: int, max_epochs: int, measure: MeasureSplit) -> None:
        """The epoch schedule's update for the next epoch (none after the last one, none before
        the schedule's start). Under DDP the loss history first takes every rank's records of the
        epoch. The epoch's weights become the previous ones of the diagnostics."""
        self._previous = self._weights_by_sample()
        if self.keeps_history and self.reduce_sum is not None:
            self.loss_history.merge_ranks()
        if self.keeps_means:
            self.step_means.close_epoch(self.reduce_sum)
        if not self.per_epoch or epoch + 1 >= max_epochs or not self.active(epoch + 1, max_epochs):
            return
        self._set_split_weights(measure, epoch + 1, max_epochs)

    def _set_split_weights(self, measure: MeasureSplit, epoch: int, max_epochs: int) -> None:
        """The weights of epoch ``epoch`` for the whole split."""
        difficulty = self.measure.split(self.history, measure)
        # Sample indices are global and the split's losses summed over the ranks: no reduction.
        self.data_weights.set(self.weighting(difficulty, self._context(epoch, max_epochs, None)))

    def _context(self, epoch: int, max_epochs: int, reduce_sum) -> WeighingContext:
        seed = (self.seed * 1_000_003 + epoch * 100_003 + self._steps) % (2 ** 63)
        return WeighingContext(epoch, max_epochs, self.config.start_epoch(max_epochs), seed, reduce_sum)

    # ------------------------------------------------------------------ what the weights did

    @property
    def last_applied(self) -> Optional[torch.Tensor]:
        """The weights of the last weight step (all 1 for a plain step), or None before any this epoch."""
        applied = self._records['applied']
        return applied[-1] if applied else None

    def _cat(self, name: str) -> Optional[torch.Tensor]:
        """The epoch's records of ``name`` on the host: joined on their device first, so that the
        epoch's steps come back in one copy (a resume may have put its first record on the host)."""
        records = self._records[name]
        if not records:
            return None
        device = records[-1].device
        return torch.cat([r.to(device) for r in records]).cpu()

    def _weights_by_sample(self) -> Optional[torch.Tensor]:
        """This epoch's applied weight of each sample by its index (:data:`_UNSEEN` where not trained
        on, e.g. the other ranks' samples), or None without indices."""
        applied, indices = self._cat('applied'), self._cat('indices')
        if applied is None or indices is None or len(indices) != len(applied):
            return None
        size = max(int(indices.max()) + 1, len(self.data_weights), self.loss_history.seen.numel())
        by_sample = torch.full((size,), _UNSEEN, dtype=torch.float64)
        by_sample[indices.long()] = applied.to(torch.float64)
        return by_sample

    def epoch_statistics(self) -> Optional[Dict[str, Any]]:
        """Statistics of the weights applied this epoch (None before any step), with what they
        did: the mean weight per class, the share of the total weight on the top 10% of samples,
        and Spearman's rank correlation with the samples' training losses and with the previous
        epoch's weights (None where undefined, e.g. uniform weights)."""
        applied = self._cat('applied')
        if applied is None:
            return None
        statistics = weight_statistics(applied).as_dict()
        losses, labels = self._cat('losses'), self._cat('labels')
        statistics['top10_share'] = top_share(applied)
        statistics['class_mean'] = class_mean_weights(applied, labels) if labels is not None else None
        statistics['rank_corr_loss'] = (spearman(applied, losses)
                                        if losses is not None and len(losses) == len(applied) else None)
        statistics['rank_corr_previous'] = None
        current = self._weights_by_sample()
        if current is not None and self._previous is not None:
            size = min(len(current), len(self._previous))
            both = (current[:size] != _UNSEEN) & (self._previous[:size] != _UNSEEN)
            statistics['rank_corr_previous'] = spearman(current[:size][both], self._previous[:size][both])
        return statistics

    # ------------------------------------------------------------------ state beyond the buffers

    def get_extra_state(self) -> Dict[str, Any]:
        return {'rng': self.rng.getstate(), 'applied': self._cat('applied'), 'config': dataclasses.asdict(self.config),
                'records': {name: self._cat(name) for name in ('losses', 'labels', 'indices')},
                'steps': self._steps, 'previous': self._previous, 'seed': self.seed}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        self.rng.setstate(state['rng'])
        records = {'applied': state['applied'], **state.get('records', {})}
        self._records = {name: [records[name]] if records.get(name) is not None else [] for name in _RECORDS}
        self._steps = state.get('steps', 0)
        self._previous = state.get('previous')
        self.set_seed(state.get('seed', self.seed))

    @classmethod
    def migrate(cls, checkpoint: Dict[str, Any], prefix: str = 'curriculum.') -> None:
        """Bring a checkpoint of an earlier version to this layout: 0.1's (:meth:`migrate_v0_1`), and
        one from before the epoch means (empty ones: no measure of that search used them)."""
        cls.migrate_v0_1(checkpoint, prefix)
        state_dict = checkpoint['state_dict']
        if any(key.startswith(prefix) for key in state_dict):
            for name, value in EpochMeans().state_dict().items():
                state_dict.setdefault(f'{prefix}step_means.{name}', value)

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


#: The weight by sample of a sample not trained on (weights are never negative; not NaN, so that
#: checkpoints of one search compare equal).
_UNSEEN = -1.0
#: What the curriculum records of each weight step for the epoch's diagnostics.
_RECORDS = ('applied', 'losses', 'labels', 'indices')


def _empty_records() -> Dict[str, List[torch.Tensor]]:
    return {name: [] for name in _RECORDS}
