"""Losses of a search step from the evaluator NNI gives the strategy: its own reduced criterion
(so that a plain search is NNI's to the bit), per-sample losses for the curriculum, and the
quality of a subnet (accuracy, or a language model's negative loss)."""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..errors import NonFiniteLoss
from .meters import EpochMeter

__all__ = ['LossesMixin', 'perplexity', 'evaluation_mode', 'FINITE_CHECK_EVERY']

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
            criterion = getattr(self.training_module, 'criterion', None)
            if criterion is None or not hasattr(criterion, 'reduction'):
                raise TypeError(
                    'the curriculum needs per-sample losses: the evaluator module must have a `criterion` with a '
                    '`reduction` attribute (any torch loss), or a method `per_sample_loss(logits, y)`'
                )
            unreduced = copy.copy(criterion)
            unreduced.reduction = 'none'
            self._unreduced_criterion = unreduced
        loss = unreduced(logits, y)
        return loss.reshape(loss.shape[0], -1).mean(1) if loss.dim() > 1 else loss

    def _log_step(self, prefix: str, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Log as NNI's ``SupervisedLearningModule`` does (``train_loss``, ``train_<metric>``)."""
        self.log(f'{prefix}_loss', loss, prog_bar=True)
        for name, metric in getattr(self.training_module, 'metrics', {}).items():
            self.log(f'{prefix}_{name}', metric(logits, y), prog_bar=True)

    def supervised_loss(self, batch, meter: EpochMeter,
                        weights: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, logits, per-sample losses)`` of a batch: the evaluator's own criterion (so that
        the plain algorithm is NNI's to the bit), or ``mean_i(v_i * l_i)`` with data weights (or a
        function that makes them from the per-sample losses)."""
        x, y = batch[0], batch[1]
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
        output = self.training_module.training_step((batch[0], batch[1]), step)
        return output['loss'] if isinstance(output, dict) else output

    def plain_loss(self, batch) -> torch.Tensor:
        """The unweighted training loss of a batch, without touching the epoch meters."""
        if self._supervised:
            return self.training_module.criterion(self.training_module(batch[0]), batch[1])
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

    def reward(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """ENAS' reward of a sampled subnet on a batch: accuracy, or ``80 / perplexity`` for a
        language model (ENAS' reward on Penn Treebank)."""
        quality = self.quality(logits, y)
        return 80.0 / perplexity(-quality) if self.sequence_task else quality
