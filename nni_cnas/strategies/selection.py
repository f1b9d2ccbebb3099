"""The final choice of RSPS, SETN and ENAS: the best of several candidates on one validation batch
(NATS-Bench scores each of 100 candidates on a batch of 512), and the current cell's score."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

from nni.mutable import Sample

from ..arch.supernet import fixed_architecture
from ..data.batches import batch_size, concat, head, unpack
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

    def selection_batch(self) -> Any:
        """One validation batch of ``selection_size`` samples (NATS-Bench scores candidates on
        512), of the structure the evaluator's batches have."""
        if self._selection_batch is None:
            parts, count = [], 0
            for batch in self.loader('selection'):
                parts.append(unpack(self._device_batch(batch))[0])
                count += batch_size(parts[-1])
                if count >= self.selection_size:
                    break
            self._selection_batch = head(concat(parts), self.selection_size)
        return self._selection_batch

    def score(self, arch: Sample) -> float:
        """:meth:`quality` of a subnet on the selection batch."""
        with evaluation_mode(self), fixed_architecture(self.model, arch):
            return self.batch_quality(self.selection_batch())

    def select_best(self, candidates: Sequence[Sample]) -> Selection:
        """The best candidate on one validation batch; the first one wins ties."""
        if not candidates:
            raise ValueError('no candidate architectures to select from')
        scores = [self.score(arch) for arch in candidates]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return Selection(dict(candidates[best]), scores[best], len(candidates), batch_size(self.selection_batch()))

    def export(self) -> Sample:
        candidates = self.export_candidates()
        if candidates is None:
            return self.direct_export()
        self.selection = self.select_best(candidates)
        return self.selection.sample
