"""Losses of a search step from the evaluator NNI gives the strategy: its own reduced criterion
(so that a plain search is NNI's to the bit), per-sample losses for the curriculum, and the
quality of a subnet (accuracy, or a language model's or a regression's negative loss).

Two kinds of evaluator module, each with its adapter, chosen once per search module
(:func:`evaluator_losses`) so that no step asks which: a supervised one (NNI's ``Classification``,
``Regression``: a ``criterion`` and batches ``(inputs, targets)``), whose per-sample losses come from
its criterion (:class:`CriterionLosses`); and a user's own LightningModule, whose batches are its
business: plain searches call its ``training_step`` as NNI does, and the curriculum asks it for each
sample's loss through :data:`SAMPLE_LOSSES_HOOK` (:class:`ModuleLosses`). :class:`FiniteLossGuard`
stops a search at its first non-finite loss."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..data.batches import inputs_and_targets, unpack
from ..errors import NonFiniteLoss
from .meters import EpochMeter

__all__ = ['EvaluatorLosses', 'CriterionLosses', 'ModuleLosses', 'StepLoss', 'evaluator_losses', 'FiniteLossGuard',
           'perplexity', 'evaluation_mode', 'FINITE_CHECK_EVERY', 'SAMPLE_LOSSES_HOOK', 'check_sample_losses']

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


@dataclasses.dataclass
class StepLoss:
    """A training step's loss and what the curriculum and the logs read of it: the per-sample losses
    (detached; None where the evaluator gives none), and for a supervised module its outputs and
    targets."""

    loss: torch.Tensor
    losses: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None


class EvaluatorLosses:
    """What a search asks of the evaluator's module: its losses and the quality of a subnet. The
    architecture in place and the module's mode are the caller's."""

    def __init__(self, training_module: nn.Module):
        self.module = training_module

    @property
    def sequence_task(self) -> bool:
        """Whether targets are token sequences (a language model): perplexities, not accuracies."""
        return bool(getattr(self.module, 'sequence_task', False))

    def sample_losses(self, batch) -> torch.Tensor:
        """``[B]`` losses of a batch's samples."""
        raise NotImplementedError

    def step_loss(self, batch, step: int, meter: EpochMeter, weights=None, forward=None) -> StepLoss:
        """The loss of a training step (``step`` is NNI's step index for a module's own
        ``training_step``): unweighted, the evaluator's own; with data weights (or a function that
        makes them from the step's per-sample losses), ``mean_i(v_i * l_i)``. ``forward``: the
        module's compiled forward to run instead of the module (a supervised module's)."""
        raise NotImplementedError

    def plain_loss(self, batch) -> torch.Tensor:
        """The unweighted training loss of a batch, without touching any meter."""
        raise NotImplementedError

    def batch_quality(self, batch) -> float:
        """Higher is better, of a whole batch."""
        raise NotImplementedError

    def reward(self, batch) -> float:
        """ENAS' reward of the subnet in place on a batch."""
        return self.batch_quality(batch)

    def subnet_output(self, batch, bf16: bool) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """``(losses [B], outputs or None, targets or None)`` of the subnet in place (the outputs in
        fp32 where the pass ran under bf16 autocast)."""
        raise NotImplementedError

    def classification(self, batch) -> bool:
        """Whether the search scores class predictions on batches like ``batch``."""
        return False

    def step_metrics(self, step: StepLoss) -> Dict[str, torch.Tensor]:
        """What NNI's SupervisedLearningModule logs of a training step (its loss, then its metrics of
        the outputs); nothing where the step has no outputs (a user's module's own step)."""
        if step.logits is None:
            return {}
        metrics = getattr(self.module, 'metrics', {})
        return {'train_loss': step.loss, **{f'train_{name}': metric(step.logits, step.targets)
                                            for name, metric in metrics.items()}}

    def quality_kind(self, score: float, classification: bool) -> Tuple[str, float]:
        """A :meth:`batch_quality` score as what it is (an :class:`~nni_cnas.records.EpochRecord`
        kind): ``('acc', accuracy)`` for classification, ``('ppl', perplexity)`` for a language
        model, else ``('loss', mean loss)`` (a regression, a user's module: lower is better)."""
        if self.sequence_task:
            return 'ppl', perplexity(-score)
        if classification:
            return 'acc', score
        return 'loss', -score


class CriterionLosses(EvaluatorLosses):
    """A supervised module (a ``criterion``, batches ``(inputs, targets)``): NNI's evaluators."""

    def __init__(self, training_module: nn.Module):
        super().__init__(training_module)
        self._unreduced_criterion = None

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of each sample, ``[B]``: the evaluator's ``per_sample_loss`` if it has one, else its
        ``criterion`` with ``reduction='none'`` (mean over any further dimensions)."""
        custom = getattr(self.module, 'per_sample_loss', None)
        if callable(custom):
            return custom(logits, y)
        unreduced = self._unreduced_criterion
        if unreduced is None:
            check_sample_losses(self.module)  # the one message for a criterion without reduction
            unreduced = copy.copy(self.module.criterion)
            unreduced.reduction = 'none'
            self._unreduced_criterion = unreduced
        loss = unreduced(logits, y)
        return loss.reshape(loss.shape[0], -1).mean(1) if loss.dim() > 1 else loss

    def sample_losses(self, batch) -> torch.Tensor:
        x, y = inputs_and_targets(batch)
        return self.per_sample_loss(self.module(x), y)

    def step_loss(self, batch, step: int, meter: EpochMeter, weights=None, forward=None) -> StepLoss:
        x, y = inputs_and_targets(batch)
        logits = (self.module if forward is None else forward)(x)
        if weights is None:
            loss = self.module.criterion(logits, y)
            with torch.no_grad():
                losses = self.per_sample_loss(logits, y)
        else:
            losses = self.per_sample_loss(logits, y)
            if callable(weights):  # weights made from this step's own losses (the curriculum's StepWeights)
                weights = weights(losses)
            loss = (losses * weights).mean()
        meter.update(logits, y, losses.detach())
        return StepLoss(loss, losses.detach(), logits, y)

    def plain_loss(self, batch) -> torch.Tensor:
        x, y = inputs_and_targets(batch)
        return self.module.criterion(self.module(x), y)

    def batch_quality(self, batch) -> float:
        x, y = inputs_and_targets(batch)
        return self.quality(self.module(x), y)

    def reward(self, batch) -> float:
        """Accuracy, or ``80 / perplexity`` for a language model (ENAS' reward on Penn Treebank)."""
        quality = self.batch_quality(batch)
        return 80.0 / perplexity(-quality) if self.sequence_task else quality

    def subnet_output(self, batch, bf16: bool):
        x, targets = inputs_and_targets(batch)
        out = self.module(x)
        out = out.float() if bf16 else out
        return self.per_sample_loss(out, targets), out, targets

    def classification(self, batch) -> bool:
        """One integer target per sample (where :meth:`quality` is an accuracy)."""
        targets = inputs_and_targets(batch)[1]
        return targets.dim() == 1 and not torch.is_floating_point(targets)

    def quality(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """Higher is better: accuracy of class predictions, else the negative mean loss (a language
        model's log of 1 / perplexity)."""
        if logits.dim() == 2 and not torch.is_floating_point(y):
            return float((logits.argmax(1) == y).float().mean())
        return -float(self.per_sample_loss(logits, y).mean())


class ModuleLosses(EvaluatorLosses):
    """A user's own LightningModule (no ``criterion``): its ``training_step`` for plain steps, its
    :data:`SAMPLE_LOSSES_HOOK` for the curriculum's."""

    def sample_losses(self, batch) -> torch.Tensor:
        return getattr(self.module, SAMPLE_LOSSES_HOOK)(unpack(batch)[0])

    def step_loss(self, batch, step: int, meter: EpochMeter, weights=None, forward=None) -> StepLoss:
        if weights is None:  # plain: its own training_step, as NNI calls it
            return StepLoss(self.evaluator_loss(batch, step))
        losses = self.sample_losses(batch)
        if callable(weights):
            weights = weights(losses)
        return StepLoss((losses * weights).mean(), losses.detach())

    def plain_loss(self, batch) -> torch.Tensor:
        return self.evaluator_loss(batch, 0)

    def batch_quality(self, batch) -> float:
        """The negative mean of the module's per-sample losses, or of the loss its own
        ``training_step`` returns."""
        if callable(getattr(self.module, SAMPLE_LOSSES_HOOK, None)):
            return -float(self.sample_losses(batch).mean())
        with _logging_muted(self.module):  # scoring is not a training step: nothing to log
            return -float(self.evaluator_loss(batch, 0))

    def subnet_output(self, batch, bf16: bool):
        return self.sample_losses(batch).float(), None, None

    def evaluator_loss(self, batch, step: int) -> torch.Tensor:
        """The loss of the evaluator's own ``training_step``."""
        output = self.module.training_step(unpack(batch)[0], step)
        return output['loss'] if isinstance(output, dict) else output


def evaluator_losses(training_module: nn.Module) -> EvaluatorLosses:
    """The adapter of an evaluator's module: :class:`CriterionLosses` where it has a ``criterion``."""
    return CriterionLosses(training_module) if hasattr(training_module, 'criterion') else ModuleLosses(training_module)


class FiniteLossGuard:
    """Stops the search on a NaN or infinite loss, naming where it first happened. The check stays on
    the device: the first bad step is recorded there and read back (a host sync) only every
    :data:`FINITE_CHECK_EVERY` steps and on the epoch's last step, before its checkpoint."""

    def __init__(self):
        self._record: Optional[torch.Tensor] = None

    def watch(self, loss: torch.Tensor, what: str, batch_idx: int, epoch: int, last_step: bool) -> None:
        record = self._record
        if record is None or record.device != loss.device:
            record = self._record = torch.zeros(4, dtype=torch.float64, device=loss.device)
        value = loss.detach().to(torch.float64)
        bad = ~torch.isfinite(value).all()
        found = torch.stack([torch.ones((), dtype=torch.float64, device=loss.device),
                             torch.full((), batch_idx, dtype=torch.float64, device=loss.device),
                             torch.full((), _CHECKED.index(what), dtype=torch.float64, device=loss.device),
                             value.reshape(-1)[0]])
        self._record = torch.where(bad & (record[0] == 0), found, record)
        if last_step or (batch_idx + 1) % FINITE_CHECK_EVERY == 0:
            self.raise_if_found(epoch)

    def raise_if_found(self, epoch: int) -> None:
        if self._record is None:
            return
        flag, step, what, value = self._record.tolist()
        if flag:
            raise NonFiniteLoss(f'the {_CHECKED[int(what)]} loss is {value} at epoch {epoch}, step {int(step)}')
