"""The data curriculum of Curriculum-NAS (Zhou et al., ACM MM 2022), written once for every strategy.

Eq. 10: ``sigma_i = sqrt(mean_k loss_k(x_i))`` over K subnets sharing the supernet weights.
Eq. 11: ``v = N * sigma / ||sigma||_1``, so the N weights always sum to N.

The functions here are pure; :class:`DataWeights` holds the per-sample weights of the ``epoch``
schedule as a buffer so that they travel with the module's ``state_dict`` (and so with checkpoints).
Any estimator of per-sample losses (the exact K-subnet pass, or a cheaper one) ends in
:func:`data_weights`, so all of them share the same normalisation and the same guards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

__all__ = [
    'SCHEDULES', 'ESTIMATORS', 'PRECISIONS', 'CurriculumConfig', 'uncertainty', 'data_weights', 'weights_from_losses',
    'sigma_from_sums', 'weight_statistics', 'DataWeights', 'LossHistory', 'WeightStatistics',
]

#: ``epoch``: weights recomputed over the whole training split after each epoch (the authors' code);
#: ``batch``: recomputed on each batch before the weight step (the paper's Algorithm 1);
#: ``none``: the base algorithm.
SCHEDULES = ('epoch', 'batch', 'none')


#: ``exact``: K extra forward passes of the K subnets of the search policy (the paper);
#: ``amortised``: the last K losses each sample had in the weight steps of a single-path search,
#: which the search computes anyway (no extra forward pass; see :class:`LossHistory`).
ESTIMATORS = ('exact', 'amortised')
#: Arithmetic of the exact estimator's uncertainty passes: ``auto`` is bf16 autocast on a CUDA GPU
#: that supports it and fp32 elsewhere (CPU bf16 is slower than fp32 on most CPUs).
PRECISIONS = ('auto', 'fp32', 'bf16')


@dataclass(frozen=True)
class CurriculumConfig:
    """How a strategy reweights its training data."""

    schedule: str = 'epoch'
    k: int = 5
    estimator: str = 'exact'
    precision: str = 'auto'

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f'uncertainty precision must be one of {", ".join(PRECISIONS)}, not {self.precision!r}')
        if self.schedule not in SCHEDULES:
            raise ValueError(f'curriculum schedule must be one of {", ".join(SCHEDULES)}, not {self.schedule!r}')
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 0:
            raise ValueError(f'k (the number of subnets that measure uncertainty) must be an integer >= 0, not {self.k!r}')
        if self.estimator not in ESTIMATORS:
            raise ValueError(f'curriculum estimator must be one of {", ".join(ESTIMATORS)}, not {self.estimator!r}')

    def uses_bf16(self, device: torch.device) -> bool:
        """Whether the uncertainty passes on ``device`` run under bf16 autocast."""
        if self.precision == 'auto':
            return device.type == 'cuda' and torch.cuda.is_bf16_supported()
        return self.precision == 'bf16'

    @property
    def enabled(self) -> bool:
        """``k=0`` or schedule ``none`` is exactly the base algorithm."""
        return self.schedule != 'none' and self.k > 0


def uncertainty(losses: torch.Tensor) -> torch.Tensor:
    """Eq. 10. ``losses`` is ``[K, N]`` (per-sample loss of each of K subnets); returns sigma ``[N]``."""
    if losses.dim() != 2:
        raise ValueError(f'losses must be [K, N], got shape {tuple(losses.shape)}')
    return losses.mean(dim=0).clamp_min(0).sqrt()


def data_weights(sigma: torch.Tensor) -> torch.Tensor:
    """Eq. 11: ``v = N * sigma / sum(sigma)``.

    Guards, so that a bad pass never silently breaks training: a non-finite sigma (a subnet gave a
    sample probability 0) counts as the largest finite sigma, the most uncertain sample; when no
    sigma is positive and finite, every weight is 1, which is the base algorithm.
    """
    sigma = sigma.detach().to(torch.float64)
    n = sigma.numel()
    finite = torch.isfinite(sigma)
    if not bool(finite.all()):
        largest = sigma[finite].max() if bool(finite.any()) else sigma.new_tensor(0.0)
        sigma = torch.where(finite, sigma, largest)
    total = sigma.sum()
    if n == 0 or not bool(total > 0):
        return torch.ones(n, dtype=torch.float32, device=sigma.device)
    return (sigma * (n / total)).to(torch.float32)


def weights_from_losses(losses: torch.Tensor) -> torch.Tensor:
    """Eq. 10 then Eq. 11 for ``[K, N]`` losses."""
    return data_weights(uncertainty(losses))


@dataclass
class WeightStatistics:
    """Summary of the weights applied to training samples in one epoch."""

    min: float
    max: float
    std: float
    entropy: float
    normalized_entropy: float
    gini: float
    count: int
    #: Samples per weight bin: ``[0, 0.1), [0.1, 0.2), ..., [2.9, inf)`` (weights average 1).
    histogram: tuple = ()

    def as_dict(self) -> dict:
        values = dict(self.__dict__)
        values['histogram'] = list(self.histogram)
        return values


def weight_statistics(weights: torch.Tensor) -> WeightStatistics:
    """min, max, std, Shannon entropy (nats) of ``p = v / sum(v)`` and its share of ``log N``
    (1 = uniform weights), and the Gini coefficient (0 = uniform, 1 = all weight on one sample)."""
    v = weights.detach().to(torch.float64).flatten().cpu()
    n = v.numel()
    if n == 0:
        return WeightStatistics(float('nan'), float('nan'), float('nan'), float('nan'), float('nan'), float('nan'), 0)
    total = float(v.sum())
    p = v / total if total > 0 else torch.full_like(v, 1.0 / n)
    nonzero = p[p > 0]
    entropy = float(-(nonzero * nonzero.log()).sum())
    sorted_v = torch.sort(v).values
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    gini = float((2 * (ranks * sorted_v).sum()) / (n * total) - (n + 1) / n) if total > 0 else 0.0
    return WeightStatistics(
        min=float(v.min()), max=float(v.max()), std=float(v.std(unbiased=False)),
        entropy=entropy, normalized_entropy=entropy / math.log(n) if n > 1 else 1.0,
        gini=max(gini, 0.0), count=n, histogram=weight_histogram(v),
    )


#: Width and number of the bins of :attr:`WeightStatistics.histogram`.
HISTOGRAM_BIN, HISTOGRAM_BINS = 0.1, 30


def weight_histogram(weights: torch.Tensor) -> tuple:
    """Counts of ``weights`` in bins of 0.1 from 0; the last bin holds everything from 2.9 up."""
    index = (weights.detach().to(torch.float64).flatten().cpu() / HISTOGRAM_BIN).floor().clamp(0, HISTOGRAM_BINS - 1)
    return tuple(int(c) for c in torch.bincount(index.long(), minlength=HISTOGRAM_BINS))


class DataWeights(nn.Module):
    """Per-sample weights of the training split for the ``epoch`` schedule.

    A module with buffers so that the weights are saved and restored with the one-shot module.
    Until the first update (the first epoch) there are no weights and training is unweighted.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer('weights', torch.ones(0))
        self.register_buffer('ready', torch.zeros((), dtype=torch.bool))

    def reset(self, num_samples: int) -> None:
        self.weights = torch.ones(num_samples, device=self.weights.device)
        self.ready = torch.zeros((), dtype=torch.bool, device=self.weights.device)

    def __len__(self) -> int:
        return self.weights.numel()

    def lookup(self, indices: torch.Tensor) -> Optional[torch.Tensor]:
        """Weights of the given samples, or None before the first update (unweighted training)."""
        if not bool(self.ready):
            return None
        return self.weights[indices.to(self.weights.device)]

    def update_from_loss_sums(self, loss_sums: torch.Tensor, counts: torch.Tensor) -> None:
        """Set the weights from per-sample loss sums over K subnets (``counts`` = K per sample seen)."""
        self.weights = data_weights(sigma_from_sums(loss_sums, counts)).to(self.weights.device)
        self.ready = torch.ones((), dtype=torch.bool, device=self.weights.device)


def sigma_from_sums(loss_sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Eq. 10 from per-sample sums of ``counts`` losses. A sample with no loss (a loader that
    drops its last batch, a sample not trained on yet) gets the mean sigma of the others, i.e. a
    neutral weight close to 1."""
    seen = counts > 0
    mean_loss = torch.where(seen, loss_sums / counts.clamp_min(1), torch.zeros_like(loss_sums))
    sigma = mean_loss.clamp_min(0).sqrt()
    if not bool(seen.all()) and bool(seen.any()):
        sigma = torch.where(seen, sigma, sigma[seen].mean())
    return sigma


class LossHistory(nn.Module):
    """The amortised estimator: each sample's last K losses from the weight steps of a
    single-path search, in a ring buffer ``[K, N]`` (buffers, so checkpoints carry them).

    How it differs from the paper's estimator: the K losses come from the subnets the base
    algorithm sampled for training (not the K best under the policy), at the moments the sample was
    trained on (over the last K epochs, with weights that changed since), in training mode and
    before that step's update. It costs no forward pass at all.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer('losses', torch.zeros(0, 0))
        self.register_buffer('seen', torch.zeros(0, dtype=torch.long))

    def reset(self, k: int, num_samples: int) -> None:
        self.losses = torch.zeros(k, num_samples, device=self.losses.device)
        self.seen = torch.zeros(num_samples, dtype=torch.long, device=self.losses.device)

    def record(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        indices = indices.to(self.losses.device)
        slot = self.seen[indices] % self.losses.shape[0]
        self.losses[slot, indices] = losses.detach().to(self.losses.dtype)
        self.seen[indices] += 1

    def loss_sums(self, indices: Optional[torch.Tensor] = None):
        """``(sums, counts)`` of the recorded losses (of ``indices``, or of every sample)."""
        k = self.losses.shape[0]
        losses, seen = (self.losses, self.seen) if indices is None else (self.losses[:, indices], self.seen[indices])
        counts = seen.clamp(max=k)
        valid = torch.arange(k, device=losses.device)[:, None] < counts[None, :]
        return (losses * valid).sum(0).to(torch.float64), counts.to(torch.float64)
