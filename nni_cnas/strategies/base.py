"""What every curriculum strategy shares, written once.

:class:`SearchModule` is a mixin placed before one of NNI's one-shot Lightning modules
(``class DartsModule(SearchModule, DartsLightningModule)``). It owns the training step skeleton:

1. the base algorithm's architecture step on a validation batch, unweighted (DARTS, GDAS, ...);
2. the curriculum's data weights for the training batch (Eq. 10-11 in :mod:`nni_cnas.curriculum`);
3. the base algorithm's choice of the weight step's architecture (a path, a Gumbel draw, ...);
4. the weight step with the weighted loss ``mean_i(v_i * l_i)``, or the plain loss without weights.

NNI's own ``training_step`` uses a mean-reduced criterion, so per-sample weighting needs this one.
The algorithms fill in small hooks: :meth:`architecture_step`, :meth:`resample`, :meth:`top_k`,
:meth:`export_candidates` and :meth:`current_architecture`.

:class:`CurriculumStrategy` is the matching mixin for NNI strategies: curriculum options, and the
data plumbing (sample indices for the ``epoch`` schedule, loaders for the passes and selection).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import random
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..curriculum import (
    CurriculumConfig, DataWeights, LossHistory, data_weights, sigma_from_sums, weight_statistics, weights_from_losses,
)
from ..errors import NonFiniteLoss
from ..data.indexed import dataset_size, with_indices, yields_indices
from ..arch.supernet import fixed_architecture
from ..arch.decisions import Decisions, decisions_of

__all__ = ['SearchModule', 'CurriculumStrategy', 'Selection']

Sample = Dict[str, Any]


def split_batch(batch) -> Tuple[Any, Optional[Any]]:
    """``(train_batch, val_batch)`` from a combined ``{'train', 'val'}`` batch or a plain one."""
    if isinstance(batch, dict):
        return batch['train'], batch.get('val')
    return batch, None


@dataclasses.dataclass
class Selection:
    """The result of choosing the best of several candidates on one validation batch."""

    sample: Sample
    score: float
    num_candidates: int
    batch_size: int


class _EpochMeter:
    """Sums of loss and correct predictions over an epoch, kept on the device (no sync per step)."""

    def __init__(self):
        self.loss = self.correct = None
        self.count = 0

    def update(self, logits: torch.Tensor, y: torch.Tensor, losses: torch.Tensor) -> None:
        n = losses.numel()
        loss_sum = losses.detach().sum()
        self.loss = loss_sum if self.loss is None else self.loss + loss_sum
        if logits.dim() == 2 and not torch.is_floating_point(y):
            correct = (logits.detach().argmax(1) == y).sum()
            self.correct = correct if self.correct is None else self.correct + correct
        self.count += n

    def state(self) -> dict:
        return {'loss': self.loss, 'correct': self.correct, 'count': self.count}

    @classmethod
    def from_state(cls, state: dict) -> '_EpochMeter':
        meter = cls()
        meter.loss, meter.correct, meter.count = state['loss'], state['correct'], state['count']
        return meter

    def summary(self, prefix: str) -> Dict[str, float]:
        if not self.count:
            return {}
        out = {f'{prefix}_loss': float(self.loss) / self.count}
        if self.correct is not None:
            out[f'{prefix}_acc'] = float(self.correct) / self.count
        return out


def perplexity(loss: float) -> float:
    """``exp`` of a mean token cross-entropy, capped where it would overflow."""
    return math.exp(min(loss, 700.0))


@contextlib.contextmanager
def evaluation_mode(module: nn.Module):
    """``eval()`` and ``no_grad`` inside the block; the previous mode afterwards."""
    was_training = module.training
    module.train(False)
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class SearchModule:
    """Curriculum mixin for NNI one-shot modules (see the module docstring)."""

    #: Whether the weight step trains one subnet (a path), so that its per-sample losses are
    #: subnet losses the amortised estimator can reuse. DARTS trains the mixture: False.
    single_path = False

    def __init__(self, training_module, *, curriculum: CurriculumConfig = CurriculumConfig(),
                 num_candidates: int = 100, selection_size: int = 512, seed: Optional[int] = None, **kwargs):
        super().__init__(training_module, **kwargs)
        self.curriculum = curriculum
        self.num_candidates = num_candidates
        self.selection_size = selection_size
        self.data_weights = DataWeights()
        self.loss_history = LossHistory()
        seed = torch.initial_seed() % (2 ** 32) if seed is None else seed
        self.seed = seed
        # Our own seeded generators, saved in checkpoints: the base algorithm's sampling (rng) and the
        # curriculum's (curriculum_rng) never consume each other's random numbers, so k=0 is exactly
        # the base algorithm and the curriculum does not change which paths the base algorithm trains.
        self.rng = random.Random(seed)
        self.curriculum_rng = random.Random(seed + 1)
        self._loaders: Dict[str, Any] = {}
        self._cache: Dict[str, Any] = {}
        self._train_meter = _EpochMeter()
        self._arch_meter = _EpochMeter()
        self._applied_weights: List[torch.Tensor] = []
        self.epoch_summary: Dict[str, Any] = {}
        self.selection: Optional[Selection] = None

    # Lightning: the one-shot modules drive their optimisers themselves (as NNI's do).
    @property
    def automatic_optimization(self) -> bool:
        return False

    # ------------------------------------------------------------------ hooks for the algorithms

    def architecture_step(self, batch, batch_idx: int, train_batch=None) -> None:
        """Update the architecture policy on a validation batch (unweighted). Second-order
        algorithms also use the training batch of the step. Default: nothing."""

    def resample(self) -> Sample:
        """Choose the architecture of the next forward (a path, a Gumbel draw). Default: NNI's."""
        return super().resample()

    def top_k(self, k: int) -> List[Sample]:
        """The K subnets whose losses measure uncertainty (Sec. 3.4 of the paper)."""
        raise NotImplementedError

    def export_candidates(self) -> Optional[List[Sample]]:
        """Candidates for the final choice on a validation batch, or None to export directly."""
        return None

    def direct_export(self) -> Sample:
        """The architecture exported without candidates. Default: NNI's own export."""
        return super().export()

    def current_architecture(self) -> Optional[Sample]:
        """The architecture the search would return now, if that is cheap to know (for per-epoch
        metrics); None when only the final selection can tell (RSPS)."""
        return None

    @property
    def decisions(self) -> Decisions:
        """The space's independent decisions (read once): NNI's labels, or the space's own
        (DARTS cells: one decision per node, see :mod:`nni_cnas.arch.decisions`)."""
        decisions = self._cache.get('decisions')
        if decisions is None:
            decisions = self._cache['decisions'] = decisions_of(self.model)
        return decisions

    @property
    def options(self) -> Dict[str, List[Any]]:
        """``{decision: values}``; samplers draw from these and :meth:`expand` their draws."""
        return self.decisions.options

    def expand(self, decided: Sample) -> Sample:
        """The NNI sample of an architecture drawn from :attr:`options`."""
        return self.decisions.expand(decided)

    def policy(self) -> Optional[Dict[str, Dict[Any, float]]]:
        """The search policy as ``{label: {value: probability}}`` (recorded each epoch to trace
        ranks), or None when it has no closed form (RSPS, ENAS)."""
        return None

    def end_of_epoch(self) -> None:
        """Algorithm work at the end of each epoch (ENAS trains its controller here)."""

    # ------------------------------------------------------------------ data plumbing

    def attach_loaders(self, train, val, selection=None) -> None:
        """Loaders the module iterates itself: the whole training split (epoch schedule), the
        validation split (selection, ENAS controller). Called by :class:`CurriculumStrategy`."""
        self._loaders = {'train': train, 'val': val, 'selection': selection if selection is not None else val}
        self._cache.pop('selection_batch', None)
        if self.curriculum.enabled and self.curriculum.schedule == 'epoch':
            self.data_weights.reset(dataset_size(train))
        if self.amortised:
            self.loss_history.reset(self.curriculum.k, dataset_size(train))

    @property
    def amortised(self) -> bool:
        return self.curriculum.enabled and self.curriculum.estimator == 'amortised'

    def loader(self, name: str):
        """An attached loader, for the module's own passes. Its epoch is aligned with the search's:
        Lightning sets it for the loaders it iterates, but not for those only the module iterates
        (ENAS' validation loader), whose passes would otherwise depend on the run's history."""
        loader = self._loaders.get(name)
        if loader is None:
            raise RuntimeError(f'{type(self).__name__} needs a {name} loader; give the evaluator val_dataloaders')
        sampler = getattr(loader, 'sampler', None)
        if hasattr(sampler, 'set_epoch') and getattr(sampler, 'epoch', None) != self.current_epoch:
            sampler.set_epoch(self.current_epoch)
        return loader

    def on_fit_start(self):
        # Loaders that hold their data as tensors (nni_cnas.data) move it to the module's device once.
        for loader in self._loaders.values():
            if hasattr(loader, 'to_device'):
                loader.to_device(self.device)
        self._cache.pop('selection_batch', None)
        return super().on_fit_start()

    def _device_batch(self, batch):
        return self.transfer_batch_to_device(batch, self.device, 0)

    # ------------------------------------------------------------------ losses

    @property
    def _supervised(self) -> bool:
        return hasattr(self.training_module, 'criterion')

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of each sample, ``[B]``: the evaluator's ``per_sample_loss`` if it has one, else its
        ``criterion`` with ``reduction='none'`` (mean over any further dimensions)."""
        custom = getattr(self.training_module, 'per_sample_loss', None)
        if callable(custom):
            return custom(logits, y)
        unreduced = self._cache.get('unreduced_criterion')
        if unreduced is None:
            criterion = getattr(self.training_module, 'criterion', None)
            if criterion is None or not hasattr(criterion, 'reduction'):
                raise TypeError(
                    'the curriculum needs per-sample losses: the evaluator module must have a `criterion` with a '
                    '`reduction` attribute (any torch loss), or a method `per_sample_loss(logits, y)`'
                )
            unreduced = copy.copy(criterion)
            unreduced.reduction = 'none'
            self._cache['unreduced_criterion'] = unreduced
        loss = unreduced(logits, y)
        return loss.reshape(loss.shape[0], -1).mean(1) if loss.dim() > 1 else loss

    def _log_step(self, prefix: str, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Log as NNI's ``SupervisedLearningModule`` does (``train_loss``, ``train_<metric>``)."""
        self.log(f'{prefix}_loss', loss, prog_bar=True)
        for name, metric in getattr(self.training_module, 'metrics', {}).items():
            self.log(f'{prefix}_{name}', metric(logits, y), prog_bar=True)

    def supervised_loss(self, batch, meter: _EpochMeter,
                        weights: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, logits, per-sample losses)`` of a batch: the evaluator's own criterion (so that
        the plain algorithm is NNI's to the bit), or ``mean_i(v_i * l_i)`` with data weights."""
        x, y = batch[0], batch[1]
        logits = self.training_module(x)
        if weights is None:
            loss = self.training_module.criterion(logits, y)
            with torch.no_grad():
                losses = self.per_sample_loss(logits, y)
        else:
            losses = self.per_sample_loss(logits, y)
            loss = (losses * weights).mean()
        meter.update(logits, y, losses.detach())
        return loss, logits, losses.detach()

    def evaluator_loss(self, batch, step: int) -> torch.Tensor:
        """The loss of the evaluator's own ``training_step`` (evaluators without a ``criterion``)."""
        output = self.training_module.training_step((batch[0], batch[1]), step)
        return output['loss'] if isinstance(output, dict) else output

    def plain_loss(self, batch) -> torch.Tensor:
        """The unweighted training loss of a batch, without touching the epoch meters."""
        if self._supervised:
            return self.training_module.criterion(self.training_module(batch[0]), batch[1])
        return self.evaluator_loss(batch, 0)

    def check_finite(self, loss: torch.Tensor, what: str, batch_idx: int) -> None:
        """Stop the search on a NaN or infinite loss, naming where it happened."""
        if not bool(torch.isfinite(loss.detach()).all()):
            raise NonFiniteLoss(f'the {what} loss is {float(loss.detach())} at epoch {self.current_epoch}, '
                                f'step {batch_idx}')

    # ------------------------------------------------------------------ the training step

    def training_step(self, batch, batch_idx):
        train_batch, val_batch = split_batch(batch)
        if val_batch is not None:
            self.architecture_step(val_batch, batch_idx, train_batch)
        weights = self.training_weights(train_batch)
        self.resample()
        loss = self.weight_step(train_batch, batch_idx, weights)
        self.advance_lr_schedulers(batch_idx)
        if batch_idx + 1 == self.trainer.num_training_batches:
            # Epoch-end work happens inside the last step, so every callback's on_train_epoch_end
            # (run folder, checkpoints, NNI reports) sees the finished epoch, whatever its type.
            self.finish_epoch()
        return loss

    def weight_step(self, batch, batch_idx: int, weights: Optional[torch.Tensor]) -> torch.Tensor:
        if self._supervised:
            loss, logits, losses = self.supervised_loss(batch, self._train_meter, weights)
            self._log_step('train', loss, logits, batch[1])
            if weights is not None:
                self.log('train_weighted_loss', loss)
            if self.amortised:
                self.loss_history.record(batch[2], losses)
        else:
            loss = self.evaluator_loss(batch, 2 * batch_idx + 1)
        self.check_finite(loss, 'weight', batch_idx)
        self._applied_weights.append(
            weights.detach() if weights is not None else torch.ones(len(batch[0]), device=self.device))
        self.advance_optimization(loss, batch_idx, getattr(self, 'gradient_clip_val', None))
        return loss

    # ------------------------------------------------------------------ the curriculum

    def training_weights(self, batch) -> Optional[torch.Tensor]:
        """Data weights of a training batch, or None for the plain (unweighted) loss."""
        if not self.curriculum.enabled:
            return None
        if (self.curriculum.schedule == 'epoch' or self.amortised) and len(batch) < 3:
            raise RuntimeError('the epoch schedule and the amortised estimator need batches (x, y, index)')
        if self.curriculum.schedule == 'epoch':
            return self.data_weights.lookup(batch[2])
        if self.amortised:
            return data_weights(sigma_from_sums(*self.loss_history.loss_sums(batch[2].to(self.device))))
        return weights_from_losses(self.subnet_losses(self.top_k(self.curriculum.k), batch))

    def subnet_losses(self, archs: Sequence[Sample], batch) -> torch.Tensor:
        """``[K, B]`` per-sample losses of a batch under each of the K subnets, shared weights."""
        x, y = batch[0], batch[1]
        bf16 = self.curriculum.uses_bf16(self.device)
        with evaluation_mode(self), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            rows = []
            for arch in archs:
                with fixed_architecture(self.model, arch):
                    logits = self.training_module(x)
                    rows.append(self.per_sample_loss(logits.float() if bf16 else logits, y))
        return torch.stack(rows)

    def update_epoch_weights(self) -> None:
        """The ``epoch`` schedule: one pass over the training split under the current top-K."""
        archs = self.top_k(self.curriculum.k)
        n = len(self.data_weights)
        sums = torch.zeros(n, device=self.device, dtype=torch.float64)
        counts = torch.zeros(n, device=self.device, dtype=torch.float64)
        for batch in self.loader('train'):
            batch = self._device_batch(batch)
            losses = self.subnet_losses(archs, batch)
            index = batch[2].to(self.device)
            sums.index_add_(0, index, losses.sum(0).to(torch.float64))
            counts.index_add_(0, index, torch.full_like(index, len(archs), dtype=torch.float64))
        self.data_weights.update_from_loss_sums(sums, counts)

    # ------------------------------------------------------------------ epochs

    def on_train_epoch_start(self):
        self._train_meter, self._arch_meter = _EpochMeter(), _EpochMeter()
        self._applied_weights = []
        # Spaces with their own schedule (CLOSE's growing block pools) follow the search's epochs.
        # (A resume in the middle of an epoch skips this; such a space keeps its state in buffers.)
        start = getattr(self.model, 'on_search_epoch_start', None)
        if callable(start):
            start(self.current_epoch, self.trainer.max_epochs)
        return super().on_train_epoch_start()

    def finish_epoch(self) -> None:
        epoch = self.current_epoch
        summary: Dict[str, Any] = {'epoch': epoch}
        summary.update(self._train_meter.summary('train'))
        summary.update(self._arch_meter.summary('arch'))
        if self.sequence_task:
            for prefix in ('train', 'arch'):
                if f'{prefix}_loss' in summary:
                    summary[f'{prefix}_ppl'] = perplexity(summary[f'{prefix}_loss'])
        if self._applied_weights:
            summary['data_weights'] = weight_statistics(torch.cat(self._applied_weights)).as_dict()
        self.end_of_epoch()
        if (self.curriculum.enabled and self.curriculum.schedule == 'epoch'
                and epoch + 1 < self.trainer.max_epochs):
            if self.amortised:
                self.data_weights.update_from_loss_sums(*self.loss_history.loss_sums())
            else:
                self.update_epoch_weights()
        space_summary = getattr(self.model, 'search_summary', None)
        if callable(space_summary):
            summary.update(space_summary())
        policy = self.policy()
        if policy is not None:
            summary['policy'] = policy
        arch = self.current_architecture()
        if arch is not None:
            summary['arch'] = arch
            if self._loaders.get('selection') is not None:
                score = self.score(arch)
                if self.sequence_task:
                    summary['val_ppl'] = perplexity(-score)
                else:
                    summary['val_acc'] = score
        self.epoch_summary = summary
        for key, value in summary.items():
            if isinstance(value, (int, float)) and key != 'epoch':
                self.log(f'epoch/{key}', float(value))

    # ------------------------------------------------------------------ final selection

    def selection_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """One validation batch of ``selection_size`` samples (NATS-Bench scores candidates on 512)."""
        cached = self._cache.get('selection_batch')
        if cached is None:
            xs, ys, count = [], [], 0
            for batch in self.loader('selection'):
                batch = self._device_batch(batch)
                xs.append(batch[0])
                ys.append(batch[1])
                count += len(batch[0])
                if count >= self.selection_size:
                    break
            cached = (torch.cat(xs)[:self.selection_size], torch.cat(ys)[:self.selection_size])
            self._cache['selection_batch'] = cached
        return cached

    @property
    def sequence_task(self) -> bool:
        """Whether targets are token sequences (a language model): perplexities, not accuracies."""
        return bool(getattr(self.training_module, 'sequence_task', False))

    def quality(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """Higher is better: accuracy of class predictions, else the negative mean loss (a language
        model's log of 1 / perplexity)."""
        if logits.dim() == 2 and not torch.is_floating_point(y):
            return float((logits.argmax(1) == y).float().mean())
        return -float(self.per_sample_loss(logits, y).mean())

    def reward(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """ENAS' reward of a sampled subnet on a batch: accuracy, or ``80 / perplexity`` for a
        language model (ENAS' reward on Penn Treebank)."""
        quality = self.quality(logits, y)
        return 80.0 / perplexity(-quality) if self.sequence_task else quality

    def score(self, arch: Sample) -> float:
        """:meth:`quality` of a subnet on the selection batch."""
        x, y = self.selection_batch()
        with evaluation_mode(self), fixed_architecture(self.model, arch):
            return self.quality(self.training_module(x), y)

    def select_best(self, candidates: Sequence[Sample]) -> Selection:
        """The best candidate on one validation batch; the first one wins ties."""
        if not candidates:
            raise ValueError('no candidate architectures to select from')
        scores = [self.score(arch) for arch in candidates]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return Selection(dict(candidates[best]), scores[best], len(candidates), len(self.selection_batch()[1]))

    def export(self) -> Sample:
        candidates = self.export_candidates()
        if candidates is None:
            return self.direct_export()
        self.selection = self.select_best(candidates)
        return self.selection.sample

    # ------------------------------------------------------------------ checkpoints

    # The module's own state beyond its parameters and buffers: its generators, and the running
    # sums of the current epoch (Lightning does not call on_train_epoch_start when it resumes in
    # the middle of an epoch, so they must come back from the checkpoint).
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        applied = torch.cat(self._applied_weights).cpu() if self._applied_weights else None
        checkpoint['nni_cnas'] = {
            'rng': self.rng.getstate(),
            'curriculum_rng': self.curriculum_rng.getstate(),
            'curriculum': dataclasses.asdict(self.curriculum),
            'epoch_state': {'train': self._train_meter.state(), 'arch': self._arch_meter.state(), 'applied': applied},
        }

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        state = checkpoint.get('nni_cnas')
        if state:
            self.rng.setstate(state['rng'])
            self.curriculum_rng.setstate(state['curriculum_rng'])
            epoch_state = state['epoch_state']
            self._train_meter = _EpochMeter.from_state(epoch_state['train'])
            self._arch_meter = _EpochMeter.from_state(epoch_state['arch'])
            applied = epoch_state['applied']
            self._applied_weights = [applied.to(self.device)] if applied is not None else []


class CurriculumStrategy:
    """Mixin for NNI one-shot strategies: the curriculum's options and its data plumbing.

    Parameters
    ----------
    curriculum
        ``'epoch'`` (default; the authors' released code), ``'batch'`` (the paper's Algorithm 1), or
        ``None``/``'none'`` for the plain base algorithm.
    k
        Number of subnets whose losses measure each sample's uncertainty; ``0`` is the plain algorithm.
    estimator
        ``'exact'`` (K extra forward passes, the paper) or ``'amortised'`` (single-path strategies
        only: each sample's last K training losses, no extra pass; see :class:`~nni_cnas.curriculum.LossHistory`).
    uncertainty_precision
        Arithmetic of the exact estimator's passes: ``'auto'`` (bf16 autocast on a CUDA GPU with bf16,
        else fp32), ``'fp32'`` or ``'bf16'``. The weight and architecture steps are not affected.
    num_candidates
        Candidates scored on one validation batch for the final choice (where the algorithm selects).
    selection_size
        Samples in that validation batch.
    seed
        Seed of the strategy's own random choices; default: derived from ``torch.initial_seed()``.
    """

    #: The architecture step of differentiable algorithms needs a validation batch with each training batch.
    needs_validation_batches = True

    def __init__(self, *, curriculum: Optional[str] = 'epoch', k: int = 5, estimator: str = 'exact',
                 uncertainty_precision: str = 'auto', num_candidates: int = 100, selection_size: int = 512,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.curriculum_config = CurriculumConfig('none' if curriculum is None else curriculum, k, estimator,
                                                  uncertainty_precision)
        if estimator == 'amortised' and not self.module_class.single_path:
            raise ValueError(f'the amortised estimator reuses the losses of single-path weight steps (RSPS, GDAS, '
                             f'ENAS, SETN); {type(self).__name__} trains the whole mixture, use estimator="exact"')
        if num_candidates < 1 or selection_size < 1:
            raise ValueError('num_candidates and selection_size must be positive')
        self.num_candidates = num_candidates
        self.selection_size = selection_size
        self.seed = seed
        self._search_module: Optional[SearchModule] = None

    #: The one-shot module class of the algorithm (a :class:`SearchModule`).
    module_class: type

    def module_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :attr:`module_class`; algorithms add their own."""
        return dict(curriculum=self.curriculum_config, num_candidates=self.num_candidates,
                    selection_size=self.selection_size, seed=self.seed)

    def configure_oneshot_module(self, training_module) -> SearchModule:
        self._search_module = self.module_class(training_module, **self.module_kwargs())
        return self._search_module

    @property
    def search_module(self) -> SearchModule:
        """The one-shot module of the search (available once the evaluator is mutated)."""
        if self._search_module is None:
            raise RuntimeError('the strategy has not built its one-shot module yet')
        return self._search_module

    def train_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        train, val = train_dataloader_fn(), val_dataloader_fn()
        module = self._search_module
        if module is None:
            raise RuntimeError('configure_oneshot_module must run before train_dataloader')
        config = module.curriculum
        if config.enabled and (config.schedule == 'epoch' or module.amortised) and not yields_indices(train):
            indexed = with_indices(train)
            if indexed is None and module.amortised:
                raise ValueError('the amortised estimator keeps losses per sample and needs a training loader that '
                                 'can carry sample indices (a torch DataLoader over a map-style dataset)')
            if indexed is None:
                warnings.warn(
                    'the epoch curriculum needs sample indices and this training loader cannot be wrapped to add '
                    'them (use a torch DataLoader over a map-style dataset); falling back to the batch schedule',
                    UserWarning,
                )
                module.curriculum = dataclasses.replace(config, schedule='batch')
            else:
                train = indexed
        # Candidates are scored on the validation split in order and without augmentation, as
        # NATS-Bench scores them; nni_cnas loaders give that view for free, others are used as given.
        selection = val.view(shuffle=False, augment=None, batch_size=self.selection_size) if hasattr(val, 'view') else val
        module.attach_loaders(train, val, selection)
        if self.needs_validation_batches:
            if val is None:
                raise ValueError(f'{type(self).__name__} needs val_dataloaders in the evaluator for its architecture step')
            return {'train': train, 'val': val}
        return train

    def val_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        return None
