"""Losses of a search step from the evaluator NNI gives the strategy: its own reduced criterion
(so that a plain search is NNI's to the bit), per-sample losses for the curriculum, and the
quality of a subnet (accuracy, or a language model's or a regression's negative loss).

Two kinds of evaluator module: a supervised one (NNI's ``Classification``, ``Regression``: a
``criterion`` and batches ``(inputs, targets)``), whose per-sample losses come from its criterion;
and a user's own LightningModule, whose batches are its business: plain searches call its
``training_step`` as NNI does, and the curriculum asks it for each sample's loss through
:data:`SAMPLE_LOSSES_HOOK`."""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..data.batches import inputs_and_targets, unpack
from ..errors import NonFiniteLoss
from .meters import EpochMeter

__all__ = ['LossesMixin', 'perplexity', 'evaluation_mode', 'FINITE_CHECK_EVERY', 'SAMPLE_LOSSES_HOOK',
           'check_sample_losses']

#: The method a user's own evaluator module (one without a ``criterion``) defines for the
#: curriculum: ``sample_losses(batch) -> Tensor[batch size]``, the loss of each sample of a batch
#: (as its loader gives it) under the architecture in place.
SAMPLE_LOSSES_HOOK = 'sample_losses'

#: Training steps between reads of the non-finite-loss record (each read is one host sync).
FINITE_CHECK_EVERY = 50
#: The losses :meth:`LossesMixin.check_finite` watches.
_CHECKED = ('weight', 'architecture')


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


def check_sample_losses(training_module) -> None:
    """Refuse, before any training, an evaluator module the curriculum cannot get per-sample
    losses from."""
    if callable(getattr(training_module, SAMPLE_LOSSES_HOOK, None)) or callable(getattr(training_module, 'per_sample_loss', None)):
        return
    criterion = getattr(training_module, 'criterion', None)
    if criterion is None:
        raise TypeError(f'the curriculum needs the loss of each sample, and {type(training_module).__name__} has no '
                        f'criterion: give it a method {SAMPLE_LOSSES_HOOK}(self, batch) that returns a tensor of one '
                        'loss per sample of the batch, or search with curriculum=None')
    if not hasattr(criterion, 'reduction'):
        raise TypeError(f'the curriculum needs the loss of each sample: the criterion {type(criterion).__name__} has '
                        "no `reduction` (any torch loss has); give the evaluator module a method "
                        'per_sample_loss(logits, y), or search with curriculum=None')


@contextlib.contextmanager
def _logging_muted(module):
    """``module.log`` and ``log_dict`` do nothing inside the block (Lightning refuses them outside
    its loops, e.g. when the final candidates are scored after the fit)."""
    saved = {name: module.__dict__[name] for name in ('log', 'log_dict') if name in module.__dict__}  # NNI's redirect
    module.log = module.log_dict = lambda *args, **kwargs: None
    try:
        yield
    finally:
        del module.log, module.log_dict
        module.__dict__.update(saved)


def check_classifier(training_module, measure: str) -> None:
    """Refuse, before any training, a module whose subnets give no class probabilities to a measure
    that reads them (its logits over classes, its targets class indices)."""
    criterion = getattr(training_module, 'criterion', None)
    if (not isinstance(criterion, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss))
            or getattr(training_module, 'sequence_task', False)):
        raise TypeError(f'the {measure} measure reads the subnets\' class probabilities, and '
                        f'{type(training_module).__name__} is not an image classifier with a cross-entropy criterion '
                        "(NNI's Classification is): choose another measure, e.g. measure='uncertainty'")


class LossesMixin:
    """Losses of the search module's ``training_module`` (NNI's evaluator module)."""

    @property
    def _supervised(self) -> bool:
        return hasattr(self.training_module, 'criterion')

    @property
    def sequence_task(self) -> bool:
        """Whether targets are token sequences (a language model): perplexities, not accuracies."""
        return bool(getattr(self.training_module, 'sequence_task', False))

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of each sample, ``[B]``: the evaluator's ``per_sample_loss`` if it has one, else its
        ``criterion`` with ``reduction='none'`` (mean over any further dimensions)."""
        custom = getattr(self.training_module, 'per_sample_loss', None)
        if callable(custom):
            return custom(logits, y)
        unreduced = self._unreduced_criterion
        if unreduced is None:
            check_sample_losses(self.training_module)  # the one message for a criterion without reduction
            unreduced = copy.copy(self.training_module.criterion)
            unreduced.reduction = 'none'
            self._unreduced_criterion = unreduced
        loss = unreduced(logits, y)
        return loss.reshape(loss.shape[0], -1).mean(1) if loss.dim() > 1 else loss

    def _log_step(self, prefix: str, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Log as NNI's ``SupervisedLearningModule`` does (``train_loss``, ``train_<metric>``)."""
        self.log(f'{prefix}_loss', loss, prog_bar=True)
        for name, metric in getattr(self.training_module, 'metrics', {}).items():
            self.log(f'{prefix}_{name}', metric(logits, y), prog_bar=True)

    def sample_losses(self, batch) -> torch.Tensor:
        """``[B]`` losses of a batch's samples under the architecture in place, for either kind of
        evaluator module."""
        if self._supervised:
            x, y = inputs_and_targets(batch)
            return self.per_sample_loss(self.training_module(x), y)
        return getattr(self.training_module, SAMPLE_LOSSES_HOOK)(unpack(batch)[0])

    def batch_quality(self, batch) -> float:
        """Higher is better, of a whole batch (the caller sets the architecture and the mode):
        :meth:`quality` of a supervised module's outputs; else the negative mean of the user
        module's per-sample losses, or of the loss its own ``training_step`` returns."""
        if self._supervised:
            x, y = inputs_and_targets(batch)
            return self.quality(self.training_module(x), y)
        if callable(getattr(self.training_module, SAMPLE_LOSSES_HOOK, None)):
            return -float(self.sample_losses(batch).mean())
        with _logging_muted(self.training_module):  # scoring is not a training step: nothing to log
            return -float(self.evaluator_loss(batch, 0))

    def supervised_loss(self, batch, meter: EpochMeter,
                        weights: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, logits, per-sample losses)`` of a batch: the evaluator's own criterion (so that
        the plain algorithm is NNI's to the bit), or ``mean_i(v_i * l_i)`` with data weights (or a
        function that makes them from the per-sample losses)."""
        x, y = inputs_and_targets(batch)
        logits = self.training_module(x)
        if weights is None:
            loss = self.training_module.criterion(logits, y)
            with torch.no_grad():
                losses = self.per_sample_loss(logits, y)
        else:
            losses = self.per_sample_loss(logits, y)
            if callable(weights):  # weights made from this step's own losses (the curriculum's StepWeights)
                weights = weights(losses)
            loss = (losses * weights).mean()
        meter.update(logits, y, losses.detach())
        return loss, logits, losses.detach()

    def evaluator_loss(self, batch, step: int) -> torch.Tensor:
        """The loss of the evaluator's own ``training_step`` (evaluators without a ``criterion``)."""
        output = self.training_module.training_step(unpack(batch)[0], step)
        return output['loss'] if isinstance(output, dict) else output

    def plain_loss(self, batch) -> torch.Tensor:
        """The unweighted training loss of a batch, without touching the epoch meters."""
        if self._supervised:
            x, y = inputs_and_targets(batch)
            return self.training_module.criterion(self.training_module(x), y)
        return self.evaluator_loss(batch, 0)

    def check_finite(self, loss: torch.Tensor, what: str, batch_idx: int) -> None:
        """Stop the search on a NaN or infinite loss, naming where it first happened. The check
        stays on the device: the first bad step is recorded there and read back (a host sync) only
        every :data:`FINITE_CHECK_EVERY` steps and on the epoch's last step, before its checkpoint."""
        record = getattr(self, '_nonfinite', None)
        if record is None or record.device != loss.device:
            record = self._nonfinite = torch.zeros(4, dtype=torch.float64, device=loss.device)
        value = loss.detach().to(torch.float64)
        bad = ~torch.isfinite(value).all()
        found = torch.stack([torch.ones((), dtype=torch.float64, device=loss.device),
                             torch.full((), batch_idx, dtype=torch.float64, device=loss.device),
                             torch.full((), _CHECKED.index(what), dtype=torch.float64, device=loss.device),
                             value.reshape(-1)[0]])
        self._nonfinite = torch.where(bad & (record[0] == 0), found, record)
        last = batch_idx + 1 == self.trainer.num_training_batches
        if last or (batch_idx + 1) % FINITE_CHECK_EVERY == 0:
            self.raise_if_nonfinite()

    def raise_if_nonfinite(self) -> None:
        record = getattr(self, '_nonfinite', None)
        if record is None:
            return
        flag, step, what, value = record.tolist()
        if flag:
            raise NonFiniteLoss(f'the {_CHECKED[int(what)]} loss is {value} at epoch {self.current_epoch}, '
                                f'step {int(step)}')

    def quality(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """Higher is better: accuracy of class predictions, else the negative mean loss (a language
        model's log of 1 / perplexity)."""
        if logits.dim() == 2 and not torch.is_floating_point(y):
            return float((logits.argmax(1) == y).float().mean())
        return -float(self.per_sample_loss(logits, y).mean())

    def quality_kind(self, score: float) -> Tuple[str, float]:
        """A :meth:`batch_quality` score as what it is (an :class:`~nni_cnas.records.EpochRecord`
        kind): ``('acc', accuracy)`` for classification, ``('ppl', perplexity)`` for a language
        model, else ``('loss', mean loss)`` (a regression, a user's module: lower is better)."""
        if self.sequence_task:
            return 'ppl', perplexity(-score)
        if self._classification:
            return 'acc', score
        return 'loss', -score

    @property
    def _classification(self) -> bool:
        """Whether the search scores class predictions: one integer target per sample of a
        supervised module (where :meth:`quality` is an accuracy)."""
        if not self._supervised:
            return False
        targets = inputs_and_targets(self.selection_batch())[1]
        return targets.dim() == 1 and not torch.is_floating_point(targets)

    def reward(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """ENAS' reward of a sampled subnet on a batch: accuracy, or ``80 / perplexity`` for a
        language model (ENAS' reward on Penn Treebank)."""
        quality = self.quality(logits, y)
        return 80.0 / perplexity(-quality) if self.sequence_task else quality
