"""How hard each training sample is: the curriculum's measures (see :mod:`.parts`).

A measure gives one difficulty per sample (>= 0, larger is harder), for the whole training split
(the ``epoch`` schedule) or for one batch (the ``batch`` schedule). The strategy lends the exact
passes as two functions; the curriculum lends its loss history (the weight steps' own losses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Tuple

import torch

from ..data.batches import unpack
from .weights import sigma_from_sums, uncertainty

if TYPE_CHECKING:
    from .state import LossHistory

__all__ = ['Measure', 'Uncertainty', 'Amortised', 'TrainingLoss', 'mean_from_sums']

#: ``[K, B]`` per-sample losses of a batch under the K subnets of the search policy.
MeasureBatch = Callable[[Any], torch.Tensor]
#: ``(loss sums, counts)`` per training sample over the whole split under the K subnets.
MeasureSplit = Callable[[], Tuple[torch.Tensor, torch.Tensor]]


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
        return sigma_from_sums(*measure_split())

    def batch(self, history, batch, measure_batch):
        return uncertainty(measure_batch(batch))


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
