"""The curriculum's state over a search, as buffers (so that checkpoints carry it): the per-sample
weights of the ``epoch`` and ``sample`` schedules, and the histories of what the weight steps gave
(their losses, or a measure's :meth:`~nni_cnas.curriculum.measures.Measure.step_values`): each
sample's last K values, or its mean over the last epoch it was trained in."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

__all__ = ['DataWeights', 'LossHistory', 'EpochMeans']


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
        self._is_ready = False

    # ``ready`` lives in a buffer (checkpoints carry it) and on the host, so that reading it on
    # every training step is no device sync; a loaded state dict sets the host copy once.
    _is_ready = False

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._is_ready = bool(self.ready)

    def __len__(self) -> int:
        return self.weights.numel()

    @property
    def is_ready(self) -> bool:
        """Whether weights were set (the first update happened)."""
        return self._is_ready

    def lookup(self, indices: torch.Tensor) -> Optional[torch.Tensor]:
        """Weights of the given samples, or None before the first update (unweighted training)."""
        if not self._is_ready:
            return None
        return self.weights[indices.to(self.weights.device)]

    def set(self, weights: torch.Tensor) -> None:
        """The weights of the next epoch, one per training sample."""
        self.weights = weights.to(self.weights.device)
        self.ready = torch.ones((), dtype=torch.bool, device=self.weights.device)
        self._is_ready = True


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

    def merge_ranks(self) -> None:
        """Under DDP, where each rank recorded the samples of its own batches: every sample's
        history as the rank that recorded it holds it (:func:`nni_cnas.distributed.merge_max_seen`)."""
        from ..distributed import merge_max_seen

        merge_max_seen(self.losses, self.seen)

    def recorded(self, indices: Optional[torch.Tensor] = None):
        """``(values, valid)``, both ``[K, n]``: the ring of values (of ``indices``, or of every
        sample) and which of its slots hold a recorded value."""
        k = self.losses.shape[0]
        losses, seen = (self.losses, self.seen) if indices is None else (self.losses[:, indices], self.seen[indices])
        valid = torch.arange(k, device=losses.device)[:, None] < seen.clamp(max=k)[None, :]
        return losses, valid

    def loss_sums(self, indices: Optional[torch.Tensor] = None):
        """``(sums, counts)`` of the recorded losses (of ``indices``, or of every sample)."""
        losses, valid = self.recorded(indices)
        return (losses * valid).sum(0).to(torch.float64), valid.sum(0).to(torch.float64)


class EpochMeans(nn.Module):
    """Each sample's mean of the values recorded in the last epoch it was trained in (PA&DA's
    score): an epoch's sums and counts, closed at the epoch's end into the means. A sample not
    trained on in an epoch (drawn by the ``sample`` schedule, say) keeps its earlier mean."""

    def __init__(self):
        super().__init__()
        for name in ('sums', 'counts', 'last'):
            self.register_buffer(name, torch.zeros(0, dtype=torch.float64))
        self.register_buffer('scored', torch.zeros(0, dtype=torch.bool))

    def reset(self, num_samples: int) -> None:
        device = self.sums.device
        for name in ('sums', 'counts', 'last'):
            setattr(self, name, torch.zeros(num_samples, dtype=torch.float64, device=device))
        self.scored = torch.zeros(num_samples, dtype=torch.bool, device=device)

    def record(self, indices: torch.Tensor, values: torch.Tensor) -> None:
        indices = indices.to(self.sums.device)
        self.sums.index_add_(0, indices, values.detach().to(torch.float64))
        self.counts.index_add_(0, indices, torch.ones_like(indices, dtype=torch.float64))

    def close_epoch(self, reduce_sum=None) -> None:
        """The epoch's means become the samples' (every rank's records first, under DDP)."""
        if reduce_sum is not None:
            reduce_sum(self.sums)
            reduce_sum(self.counts)
        seen = self.counts > 0
        self.last = torch.where(seen, self.sums / self.counts.clamp_min(1), self.last)
        self.scored = self.scored | seen
        self.sums.zero_()
        self.counts.zero_()

    def means(self, indices: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The means (of ``indices``, or of every sample); a sample never scored gets the mean of the
        scored ones, a neutral difficulty (all 0 before any epoch closed)."""
        scored = self.scored
        neutral = self.last[scored].mean() if bool(scored.any()) else self.last.new_zeros(())
        means = torch.where(scored, self.last, neutral)
        return means if indices is None else means[indices]
