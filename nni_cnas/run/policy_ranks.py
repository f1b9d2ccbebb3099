"""Rank tracing (paper Fig. 4): where given architectures stand under the search policy, epoch by
epoch.

A differentiable search (DARTS, DARTS-V2, Amended-DARTS, GDAS, SETN) records its policy, the
softmax of the alphas ``{label: {op: probability}}``, in every epoch's line of ``metrics.jsonl``.
The rank of an architecture under a policy is 1 + the number of architectures that are strictly
more probable; it is counted exactly, by meet in the middle over the labels (two halves, one
sorted), so it does not enumerate the space.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from ..records import EpochRecord

__all__ = ['log_probability', 'rank_under', 'trace_ranks', 'write_rank_csv', 'RANK_COLUMNS']

Policy = Mapping[str, Mapping[str, float]]
RANK_COLUMNS = ('epoch', 'name', 'arch', 'rank', 'log_probability')
#: Probabilities closer than this (in log space) count as equal, so an architecture is not ranked
#: below its own rounding error.
TIE_TOLERANCE = 1e-9


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


def log_probability(policy: Policy, sample: Mapping[str, Any]) -> float:
    try:
        return sum(_log(policy[label][sample[label]]) for label in policy)
    except KeyError as error:
        raise ValueError(f'the architecture has no choice for {error} of the policy') from None


def _sums(tables: Sequence[np.ndarray]) -> np.ndarray:
    """All sums of one entry from each table (the log-probabilities of every partial architecture)."""
    total = np.zeros(1)
    for table in tables:
        total = (total[:, None] + table[None, :]).reshape(-1)
    return total


def rank_under(policy: Policy, sample: Mapping[str, Any]) -> int:
    """1 + the number of architectures more probable than ``sample`` under ``policy``."""
    target = log_probability(policy, sample)
    tables = [np.array([_log(p) for p in policy[label].values()]) for label in policy]
    # Split the labels so that both halves have about the same number of partial architectures.
    sizes = np.cumsum([math.log(len(t)) for t in tables])
    split = int(np.searchsorted(sizes, sizes[-1] / 2)) + 1
    left, right = _sums(tables[:split]), np.sort(_sums(tables[split:]))
    # For each left part, the right parts with left + right > target (+ tolerance).
    threshold = target + TIE_TOLERANCE - left
    better = len(right) - np.searchsorted(right, threshold, side='right')
    return int(better.sum()) + 1


def trace_ranks(metrics: Sequence[EpochRecord], archs: Mapping[str, Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """One row per epoch with a recorded policy and per named architecture (``{name: sample}``)."""
    from ..spaces.nb201_arch import sample_to_arch

    rows = []
    for record in metrics:
        policy = record.policy
        if not policy:
            continue
        for name, sample in archs.items():
            rows.append({'epoch': record.epoch, 'name': name, 'arch': sample_to_arch(sample),
                         'rank': rank_under(policy, sample), 'log_probability': log_probability(policy, sample)})
    return rows


def write_rank_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    from ..files import atomic_write_csv

    atomic_write_csv(Path(path), rows, RANK_COLUMNS)
