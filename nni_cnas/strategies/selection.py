"""The final choice of RSPS, SETN and ENAS: the best of several candidates on one validation batch
(NATS-Bench scores each of 100 candidates on a batch of 512), and the current cell's score."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import torch
from nni.mutable import Sample

from ..arch.supernet import fixed_architecture
from .losses import evaluation_mode

__all__ = ['Selection', 'SelectionMixin']



@dataclasses.dataclass
class Selection:
    """The result of choosing the best of several candidates on one validation batch."""

    sample: Sample
    score: float
    num_candidates: int
    batch_size: int


class SelectionMixin:
    """Scores subnets with the supernet's shared weights on the ``selection`` loader's first
    ``selection_size`` samples (read once and kept on the device)."""

    selection: Optional[Selection] = None

    def selection_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """One validation batch of ``selection_size`` samples (NATS-Bench scores candidates on 512)."""
        if self._selection_batch is None:
            xs, ys, count = [], [], 0
            for batch in self.loader('selection'):
                batch = self._device_batch(batch)
                xs.append(batch[0])
                ys.append(batch[1])
                count += len(batch[0])
                if count >= self.selection_size:
                    break
            self._selection_batch = (torch.cat(xs)[:self.selection_size], torch.cat(ys)[:self.selection_size])
        return self._selection_batch

    def score(self, arch: Sample) -> float:
        """:meth:`quality` of a subnet on the selection batch."""
        x, y = self.selection_batch()
        with evaluation_mode(self), fixed_architecture(self.model, arch):
            return self.quality(self.training_module(x), y)

    def select_best(self, candidates: Sequence[Sample]) -> Selection:
        """The best candidate on one validation batch; the first one wins ties."""
        if not candidates:
            raise ValueError('no candidate architectures to select from')
        scores = [self.score(arch) for arch in candidates]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return Selection(dict(candidates[best]), scores[best], len(candidates), len(self.selection_batch()[1]))

    def export(self) -> Sample:
        candidates = self.export_candidates()
        if candidates is None:
            return self.direct_export()
        self.selection = self.select_best(candidates)
        return self.selection.sample
