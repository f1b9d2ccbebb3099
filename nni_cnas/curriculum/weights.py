"""The data curriculum of Curriculum-NAS (Zhou et al., ACM MM 2022), written once for every strategy.

Eq. 10: ``sigma_i = sqrt(mean_k loss_k(x_i))`` over K subnets sharing the supernet weights.
Eq. 11: ``v = N * sigma / ||sigma||_1``, so the N weights always sum to N.

Pure functions. Any estimator of per-sample losses (the exact K-subnet pass, or the amortised
history) ends in :func:`data_weights`, so all of them share the same normalisation and guards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

__all__ = ['uncertainty', 'data_weights', 'weights_from_losses', 'sigma_from_sums', 'mean_from_sums', 'weight_statistics', 'weight_histogram',
           'WeightStatistics', 'HISTOGRAM_BIN', 'HISTOGRAM_BINS']

def uncertainty(losses: torch.Tensor) -> torch.Tensor:
    """Eq. 10. ``losses`` is ``[K, N]`` (per-sample loss of each of K subnets); returns sigma ``[N]``."""
    if losses.dim() != 2:
        raise ValueError(f'losses must be [K, N], got shape {tuple(losses.shape)}')
    return losses.mean(dim=0).clamp_min(0).sqrt()


def data_weights(sigma: torch.Tensor, reduce_sum: Optional[Callable[[torch.Tensor], None]] = None) -> torch.Tensor:
    """Eq. 11: ``v = N * sigma / sum(sigma)``. With ``reduce_sum`` (sums a tensor over the ranks in
    place: a DDP search), ``N`` and the sum are those of the global batch, each rank's ``sigma``
    being its share of it.

    Guards, so that a bad pass never silently breaks training: a non-finite sigma (a subnet gave a
    sample probability 0) counts as the largest finite sigma, the most uncertain sample; when no
    sigma is positive and finite, every weight is 1, which is the base algorithm.
    """
    sigma = sigma.detach().to(torch.float64)
    n = sigma.numel()
    if n == 0:
        return torch.ones(0, dtype=torch.float32, device=sigma.device)
    # Both guards as tensor operations: no value is read back to the host (no device sync).
    finite = torch.isfinite(sigma)
    largest = torch.where(finite, sigma, torch.full_like(sigma, -torch.inf)).max().clamp_min(0)
    sigma = torch.where(finite, sigma, largest)
    total = sigma.sum()
    if reduce_sum is not None:
        global_sums = torch.stack([total, torch.tensor(float(n), dtype=torch.float64, device=sigma.device)])
        reduce_sum(global_sums)
        total, n = global_sums[0], global_sums[1]
    positive = total > 0
    weights = torch.where(positive, sigma * (n / torch.where(positive, total, torch.ones_like(total))),
                          torch.ones_like(sigma))
    return weights.to(torch.float32)


def weights_from_losses(losses: torch.Tensor, reduce_sum: Optional[Callable[[torch.Tensor], None]] = None) -> torch.Tensor:
    """Eq. 10 then Eq. 11 for ``[K, N]`` losses."""
    return data_weights(uncertainty(losses), reduce_sum)


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


def sigma_from_sums(loss_sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Eq. 10 from per-sample sums of ``counts`` losses. A sample with no loss (a loader that
    drops its last batch, a sample not trained on yet) gets the mean sigma of the others, i.e. a
    neutral weight close to 1."""
    seen = counts > 0
    return _neutral_where_unseen(_mean_of_sums(loss_sums, counts, seen).sqrt(), seen)


def mean_from_sums(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean value per sample from sums of ``counts`` values (at least 0); a sample with none gets
    the mean of the others (a neutral difficulty), as in :func:`sigma_from_sums`."""
    seen = counts > 0
    return _neutral_where_unseen(_mean_of_sums(sums, counts, seen), seen)


def _mean_of_sums(sums: torch.Tensor, counts: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    return torch.where(seen, sums / counts.clamp_min(1), torch.zeros_like(sums)).clamp_min(0)


def _neutral_where_unseen(values: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    if not bool(seen.all()) and bool(seen.any()):
        values = torch.where(seen, values, values[seen].mean())
    return values
