"""From difficulty to data weights: the curriculum's weightings (see :mod:`.parts`).

Each weighting turns ``[N]`` difficulties into a non-negative score per sample (:meth:`Weighting.transform`),
and :func:`~nni_cnas.curriculum.weights.data_weights` normalises the scores so that the weights sum
to N (over the global batch under DDP), with its guards: a non-finite score counts as the largest
finite one, and scores that are all 0 give the base algorithm's weights, all 1.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import torch

from .parts import WEIGHTINGS, part_options
from .weights import data_weights

__all__ = ['WeighingContext', 'Weighting', 'Proportional', 'Inverse', 'SelfPaced', 'Ramp', 'Permuted',
           'finite_difficulty']


@dataclasses.dataclass(frozen=True)
class WeighingContext:
    """Where in the search a set of weights is made."""

    #: The epoch the weights are applied in (0-based), the search's epochs and its curriculum's first.
    epoch: int
    max_epochs: int
    start_epoch: int = 0
    #: Seed of this call's random choices (the permuted control): one per curriculum, epoch and step,
    #: the same on every rank and after a resume.
    seed: int = 0
    #: Sums a tensor over the ranks in place (the batch schedule under DDP); None over the whole split.
    reduce_sum: Optional[Callable[[torch.Tensor], None]] = None

    @property
    def progress(self) -> float:
        """0 at the curriculum's first epoch, 1 at the search's last."""
        span = self.max_epochs - 1 - self.start_epoch
        return 1.0 if span <= 0 else min(1.0, max(0.0, (self.epoch - self.start_epoch) / span))


def finite_difficulty(difficulty: torch.Tensor) -> torch.Tensor:
    """Difficulties in float64 with a non-finite one as the largest finite (as Eq. 11's guard does)
    and none below 0; no host sync."""
    d = difficulty.detach().to(torch.float64)
    finite = torch.isfinite(d)
    largest = torch.where(finite, d, torch.full_like(d, -torch.inf)).max().clamp_min(0) if d.numel() else d.sum()
    return torch.where(finite, d, largest).clamp_min(0)


class Weighting:
    """Difficulty to weights. ``alpha`` is the power of the weightings that use one; ``options``
    the part's declared options (:class:`~nni_cnas.curriculum.parts.PartOption`), resolved into
    :attr:`options`."""

    name = ''
    #: Whether the weighting reads ``alpha`` (so that ``alpha = 0`` makes every weight 1).
    uses_alpha = False

    def __init__(self, alpha: float = 1.0, options=None):
        self.alpha = alpha
        self.options = part_options(WEIGHTINGS, type(self), options)

    @classmethod
    def is_plain(cls, alpha: float) -> bool:
        """Whether every weight is 1 whatever the difficulty: the curriculum is then switched off,
        and the search is the base algorithm bit for bit (no pass is run)."""
        return cls.uses_alpha and alpha == 0

    def transform(self, difficulty: torch.Tensor, context: WeighingContext) -> torch.Tensor:
        """A non-negative score per sample, proportional to its weight."""
        raise NotImplementedError

    def __call__(self, difficulty: torch.Tensor, context: WeighingContext) -> torch.Tensor:
        """``[N]`` float32 weights summing to N."""
        return data_weights(self.transform(difficulty, context), context.reduce_sum)


class Proportional(Weighting):
    """``v = N d^alpha / sum(d^alpha)``: Eq. 11 at ``alpha = 1`` (hard samples up, the paper)."""

    uses_alpha = True

    def transform(self, difficulty, context):
        return finite_difficulty(difficulty).pow(self.alpha)

    def __call__(self, difficulty, context):
        if self.alpha == 1:  # Eq. 11 exactly as the paper's method has always computed it
            return data_weights(difficulty, context.reduce_sum)
        return super().__call__(difficulty, context)


class Inverse(Weighting):
    """``v`` proportional to ``d^-alpha``: easy samples up. A difficulty below the option ``floor``
    times the mean (a thousandth by default) counts as that floor, so that a sample with no loss
    does not take every weight."""

    uses_alpha = True

    def transform(self, difficulty, context):
        d = finite_difficulty(difficulty)
        mean = d.mean() if d.numel() else d.sum()
        floored = torch.maximum(d, self.options['floor'] * mean)
        return torch.where(mean > 0, floored.pow(-self.alpha), torch.zeros_like(d))


class SelfPaced(Weighting):
    """Self-paced learning (Kumar, Packer & Koller, NeurIPS 2010) as binary weights: the samples
    whose difficulty is at most the threshold that admits a share of them, the share growing
    linearly from the option ``initial_share`` (half by default) at the curriculum's first epoch to
    all of them at the last; the admitted samples share the weight N equally. Under the ``batch``
    schedule the share is of each batch (of each rank's part under DDP)."""

    def share(self, context: WeighingContext) -> float:
        initial = self.options['initial_share']
        return initial + (1 - initial) * context.progress

    def transform(self, difficulty, context):
        d = finite_difficulty(difficulty)
        n = d.numel()
        if n == 0:
            return d
        admitted = min(n, max(1, math.ceil(self.share(context) * n - 1e-9)))
        threshold = torch.kthvalue(d.cpu(), admitted).values.to(d.device)
        return (d <= threshold).to(torch.float64)


class Ramp(Weighting):
    """``v = (1 - lambda) + lambda N d^alpha / sum(d^alpha)``, ``lambda`` the training progress (0 at
    the curriculum's first epoch, 1 at the search's last): even weights ramped to the proportional
    ones, PA&DA's schedule of importance (Lu et al., CVPR 2023). The score is the mixture
    ``(1 - lambda) mean(d^alpha) + lambda d^alpha``, which Eq. 11's normalisation turns into ``v``."""

    uses_alpha = True

    def transform(self, difficulty, context):
        d = finite_difficulty(difficulty).pow(self.alpha)
        mean = d.mean() if d.numel() else d.sum()
        ramp = context.progress
        return (1 - ramp) * mean + ramp * d


class Permuted(Proportional):
    """The control: the proportional weights (with ``alpha``), shuffled across the samples each
    time they are made. The multiset of weights (their spread, their Gini) is kept exactly; which
    sample gets which weight carries no information."""

    def __call__(self, difficulty, context):
        weights = super().__call__(difficulty, context)
        generator = torch.Generator().manual_seed(context.seed)
        return weights[torch.randperm(weights.numel(), generator=generator).to(weights.device)]
