"""The final choice of RSPS, SETN and ENAS: the best of several candidates on one validation batch
(NATS-Bench scores each of 100 candidates on a batch of 512), and the current cell's score."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Optional, Sequence, Tuple

from nni.mutable import Sample

from ..arch.supernet import fixed_architecture
from ..data.batches import batch_size, concat, head, unpack
from .losses import evaluation_mode

__all__ = ['Selection', 'Selector', 'SUPERNET_PATHS']

#: Sampled paths whose mean validation accuracy is the supernet's, for algorithms that draw paths.
SUPERNET_PATHS = 5


@dataclasses.dataclass
class Selection:
    """The result of choosing the best of several candidates on one validation batch."""

    sample: Sample
    score: float
    num_candidates: int
    batch_size: int


class Selector:
    """Scores subnets with the supernet's shared weights on the ``selection`` loader's first
    ``size`` samples (read once and kept on the device). ``module`` is the search module: its
    ``model``, ``losses`` and ``loader('selection')``."""

    def __init__(self, module, size: int):
        self.module = module
        self.size = size
        self._batch: Any = None
        #: The last :meth:`select_best` result (the exported architecture's), or None.
        self.selection: Optional[Selection] = None

    def forget_batch(self) -> None:
        """Read the batch again (new loaders, another device)."""
        self._batch = None

    def batch(self) -> Any:
        """One validation batch of ``size`` samples (NATS-Bench scores candidates on 512), of the
        structure the evaluator's batches have."""
        if self._batch is None:
            parts, count = [], 0
            for batch in self.module.loader('selection'):
                parts.append(unpack(self.module.device_batch(batch))[0])
                count += batch_size(parts[-1])
                if count >= self.size:
                    break
            self._batch = head(concat(parts), self.size)
        return self._batch

    def score(self, arch: Sample) -> float:
        """The evaluator's quality of a subnet on the selection batch (higher is better)."""
        with evaluation_mode(self.module), fixed_architecture(self.module.model, arch):
            return self.module.losses.batch_quality(self.batch())

    def quality_kind(self, score: float) -> Tuple[str, float]:
        """A score on the selection batch as the record names it (accuracy, or perplexity for a language model)."""
        return self.module.losses.quality_kind(score, self.module.losses.classification(self.batch()))

    def supernet_quality(self, draw: Optional[Callable[[random.Random], Sample]], seed: int,
                         paths: int = SUPERNET_PATHS) -> float:
        """The supernet's quality on the selection batch: the mean over ``paths`` architectures that
        ``draw`` takes from a generator seeded with ``seed`` (its own: the search's draws are not
        consumed), or with no ``draw`` the mixture's (every op at its weight)."""
        if draw is None:
            with evaluation_mode(self.module):
                return self.module.losses.batch_quality(self.batch())
        rng = random.Random(seed)
        samples = [draw(rng) for _ in range(paths)]
        return sum(self.score(sample) for sample in samples) / len(samples)

    def select_best(self, candidates: Sequence[Sample]) -> Selection:
        """The best candidate on one validation batch; the first one wins ties."""
        if not candidates:
            raise ValueError('no candidate architectures to select from')
        scores = [self.score(arch) for arch in candidates]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        self.selection = Selection(dict(candidates[best]), scores[best], len(candidates), batch_size(self.batch()))
        return self.selection
