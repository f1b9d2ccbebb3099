"""What the data weights of an epoch did, cheaply enough to record every epoch: who got the weight
(per class, the top 10%), and how the weights relate to the samples' own training losses and to
the previous epoch's weights (Spearman's rank correlation). Pure functions on the host."""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch

__all__ = ['average_ranks', 'spearman', 'top_share', 'class_mean_weights', 'TOP_SHARE']

#: The share of samples (the highest weighted) whose share of the total weight is recorded.
TOP_SHARE = 0.1


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks, ties sharing their average rank (as Spearman's coefficient needs)."""
    values = values.detach().to(torch.float64).flatten().cpu()
    ordered, order = torch.sort(values, stable=True)
    _, inverse, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).to(torch.float64)
    averages = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(values)
    ranks[order] = averages[inverse]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> Optional[float]:
    """Spearman's rank correlation of two equally long vectors, or None where it is undefined
    (fewer than two values, or either vector constant, such as the uniform weights of a plain epoch)."""
    if a.numel() != b.numel():
        raise ValueError(f'spearman needs vectors of one length, not {a.numel()} and {b.numel()}')
    if a.numel() < 2:
        return None
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = float(ra.norm() * rb.norm())
    if norm == 0:
        return None
    return float((ra * rb).sum()) / norm


def top_share(weights: torch.Tensor, share: float = TOP_SHARE) -> Optional[float]:
    """The share of the total weight held by the ``share`` most heavily weighted samples (0.1 for
    uniform weights at share 0.1; 1 when they hold all of it)."""
    v = weights.detach().to(torch.float64).flatten().cpu()
    total = float(v.sum())
    if v.numel() == 0 or total <= 0:
        return None
    count = max(1, math.ceil(share * v.numel() - 1e-9))
    return float(torch.topk(v, count).values.sum()) / total


def class_mean_weights(weights: torch.Tensor, labels: torch.Tensor) -> Optional[Dict[str, float]]:
    """The mean weight of each class's samples (keys are the class labels as text, for JSON), or
    None where the labels are not one class index per sample (regression, sequences)."""
    if torch.is_floating_point(labels) or labels.dim() != 1 or labels.numel() != weights.numel() \
            or labels.numel() == 0 or int(labels.min()) < 0:
        return None
    labels = labels.cpu().long()
    v = weights.detach().to(torch.float64).flatten().cpu()
    classes = int(labels.max()) + 1
    sums = torch.zeros(classes, dtype=torch.float64).index_add_(0, labels, v)
    counts = torch.bincount(labels, minlength=classes)
    return {str(c): round(float(sums[c] / counts[c]), 6) for c in range(classes) if counts[c] > 0}
