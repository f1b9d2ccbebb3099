"""How hard each training sample is: the curriculum's measures (see :mod:`.parts`).

A measure gives one difficulty per sample (>= 0, larger is harder), for the whole training split
(the ``epoch`` schedule) or for one batch (the ``batch`` schedule). The strategy lends the K
subnets' passes as two functions, which hand the measure what the subnets did
(:class:`SubnetOutputs`: their per-sample losses and, for a classifier, their logits and the
targets) and leave the measure to reduce it; the curriculum lends its loss history (the weight
steps' own losses).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

import torch

from ..data.batches import unpack
from .weights import sigma_from_sums, uncertainty

if TYPE_CHECKING:
    from .state import LossHistory

__all__ = ['Measure', 'SubnetOutputs', 'Uncertainty', 'Disagreement', 'Amortised', 'TrainingLoss', 'mean_from_sums',
           'loss_sums']


@dataclasses.dataclass
class SubnetOutputs:
    """What the K subnets did on one batch of B samples, in evaluation mode with the shared weights:
    ``losses`` ``[K, B]`` per-sample losses; for a classifier (NNI's evaluators), ``logits``
    ``[K, B, C]`` and ``targets`` ``[B]`` class indices (None for a module's own ``sample_losses``)."""

    losses: torch.Tensor
    logits: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None


#: A batch's :class:`SubnetOutputs` under the K subnets of the search policy.
MeasureBatch = Callable[[Any], SubnetOutputs]
#: Reduces a batch's outputs to ``(values, counts)`` per sample ``[B]`` (summed over the split).
Reduce = Callable[[SubnetOutputs], Tuple[torch.Tensor, torch.Tensor]]
#: ``(sums, counts)`` per training sample over the whole split, reduced by the given function
#: (default: :func:`loss_sums`).
MeasureSplit = Callable[..., Tuple[torch.Tensor, torch.Tensor]]


def loss_sums(outputs: SubnetOutputs) -> Tuple[torch.Tensor, torch.Tensor]:
    """Each sample's loss summed over the K subnets, and K: Eq. 10's sums."""
    losses = outputs.losses
    return losses.sum(0).to(torch.float64), torch.full((losses.shape[1],), float(losses.shape[0]),
                                                       dtype=torch.float64, device=losses.device)


class Measure:
    """Per-sample difficulty. Subclasses set what they need and implement :meth:`split` and
    :meth:`batch` (or set :attr:`from_step`)."""

    name = ''
    #: It runs the K subnets of the search policy (the strategy's exact passes).
    uses_subnets = False
    #: Its losses must be subnet losses: only strategies whose weight step trains one path.
    single_path_only = False
    #: Even the batch schedule needs each batch's sample indices (its history is per sample).
    needs_indices = False
    #: A batch's difficulty is the weight step's own per-sample losses, known after its forward.
    from_step = False
    #: It reads the subnets' class logits (:class:`SubnetOutputs`): classifiers only, checked at the start.
    needs_class_logits = False

    def history_length(self, k: int) -> int:
        """Losses of the weight steps kept per sample (0: none kept)."""
        return 0

    def split(self, history: 'LossHistory', measure_split: MeasureSplit) -> torch.Tensor:
        """``[N]`` difficulty of every training sample (the ``epoch`` schedule)."""
        raise NotImplementedError

    def batch(self, history: 'LossHistory', batch, measure_batch: MeasureBatch) -> torch.Tensor:
        """``[B]`` difficulty of a training batch ``(x, y[, index])`` (the ``batch`` schedule)."""
        raise NotImplementedError


class Uncertainty(Measure):
    """Eq. 10: ``sigma_i = sqrt(mean_k loss_k(x_i))`` over the K best subnets of the policy."""

    uses_subnets = True

    def split(self, history, measure_split):
        return sigma_from_sums(*measure_split(loss_sums))

    def batch(self, history, batch, measure_batch):
        return uncertainty(measure_batch(batch).losses)


class Disagreement(Measure):
    """How much the K subnets disagree on a sample: the standard deviation across them of the
    probability each gives the true class (Active Bias, Chang et al., NeurIPS 2017: the variance of
    the prediction, not its difficulty). The probability rather than the loss because it is
    bounded: a loss's spread is dominated by the subnet that is most wrong, a probability's by how
    far apart the subnets are. A classifier's measure: it needs the subnets' logits."""

    uses_subnets = True
    needs_class_logits = True

    @staticmethod
    def spread(outputs: SubnetOutputs) -> torch.Tensor:
        """``[B]`` population standard deviation over the K subnets of the true-class probability."""
        if outputs.logits is None or outputs.targets is None:
            raise ValueError('the disagreement measure needs the subnets\' class logits and targets (a classifier '
                             'evaluated through NNI\'s Classification or a module with a criterion); this '
                             'module gives only its sample_losses')
        probs = torch.softmax(outputs.logits.float(), dim=-1)
        true = probs.gather(-1, outputs.targets.view(1, -1, 1).expand(probs.shape[0], -1, 1)).squeeze(-1)
        return true.std(dim=0, unbiased=False)

    @classmethod
    def reduce(cls, outputs: SubnetOutputs) -> Tuple[torch.Tensor, torch.Tensor]:
        spread = cls.spread(outputs)
        return spread.to(torch.float64), torch.ones_like(spread, dtype=torch.float64)

    def split(self, history, measure_split):
        return mean_from_sums(*measure_split(self.reduce))

    def batch(self, history, batch, measure_batch):
        return self.spread(measure_batch(batch))


class Amortised(Measure):
    """Eq. 10 over each sample's last K losses in the weight steps of a single-path search: no
    extra forward pass (see :class:`~nni_cnas.curriculum.state.LossHistory` for how it differs)."""

    single_path_only = True
    needs_indices = True

    def history_length(self, k: int) -> int:
        return k

    def split(self, history, measure_split):
        return sigma_from_sums(*history.loss_sums())

    def batch(self, history, batch, measure_batch):
        return sigma_from_sums(*history.loss_sums(unpack(batch)[1].to(history.losses.device)))


class TrainingLoss(Measure):
    """The loss the sample had in its last weight step (the trained path's, or the mixture's for
    DARTS): hard-example mining's measure, K-free. Not a square root, unlike sigma: with the
    proportional weighting, ``alpha=0.5`` puts it on sigma's scale. The ``batch`` schedule weighs a
    batch by the losses of the very step that trains on it."""

    from_step = True

    def history_length(self, k: int) -> int:
        return 1

    def split(self, history, measure_split):
        return mean_from_sums(*history.loss_sums())


def mean_from_sums(loss_sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean loss per sample from sums of ``counts`` losses; a sample with none gets the mean of
    the others (a neutral difficulty), as in :func:`~nni_cnas.curriculum.weights.sigma_from_sums`."""
    seen = counts > 0
    mean = torch.where(seen, loss_sums / counts.clamp_min(1), torch.zeros_like(loss_sums)).clamp_min(0)
    if not bool(seen.all()) and bool(seen.any()):
        mean = torch.where(seen, mean, mean[seen].mean())
    return mean
