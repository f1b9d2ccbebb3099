"""Running sums of an epoch (loss, correct predictions), kept on the device: no host sync per step."""

from __future__ import annotations

from typing import Dict

import torch

__all__ = ['EpochMeter']


class EpochMeter:
    """Sums of loss and correct predictions over an epoch; read back once, at the epoch's end."""

    def __init__(self):
        self.loss = self.correct = None
        self.count = 0

    def update(self, logits: torch.Tensor, y: torch.Tensor, losses: torch.Tensor) -> None:
        n = losses.numel()
        loss_sum = losses.detach().sum()
        self.loss = loss_sum if self.loss is None else self.loss + loss_sum
        if logits.dim() == 2 and not torch.is_floating_point(y):
            correct = (logits.detach().argmax(1) == y).sum()
            self.correct = correct if self.correct is None else self.correct + correct
        self.count += n

    def state(self) -> dict:
        return {'loss': self.loss, 'correct': self.correct, 'count': self.count}

    @classmethod
    def from_state(cls, state: dict) -> 'EpochMeter':
        meter = cls()
        meter.loss, meter.correct, meter.count = state['loss'], state['correct'], state['count']
        return meter

    def over_ranks(self) -> 'EpochMeter':
        """The meter of the whole epoch under DDP (each rank's holds its own batches): the sums of
        every rank's, in one all-reduce; itself in a single process."""
        from ..distributed import all_reduce_sum, is_distributed

        if not is_distributed() or self.loss is None:
            return self
        correct = self.correct if self.correct is not None else torch.zeros_like(self.loss)
        sums = torch.stack([self.loss.double(), correct.double(), self.loss.new_tensor(self.count, dtype=torch.float64)])
        all_reduce_sum(sums)
        total = EpochMeter()
        total.loss, total.count = sums[0], int(sums[2])
        total.correct = sums[1] if self.correct is not None else None
        return total

    def summary(self) -> Dict[str, float]:
        """The epoch's mean ``loss`` and, for class predictions, its accuracy ``acc`` (none before a step)."""
        if not self.count:
            return {}
        out = {'loss': float(self.loss) / self.count}
        if self.correct is not None:
            out['acc'] = float(self.correct) / self.count
        return out
