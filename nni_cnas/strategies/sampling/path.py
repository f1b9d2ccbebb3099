"""What the single-path algorithms that draw paths themselves (RSPS, ENAS) share."""

from __future__ import annotations

import random

from ...arch.supernet import apply_architecture
from ..base import Sample, SearchModule

__all__ = ['PathSamplingSearch']


class PathSamplingSearch(SearchModule):
    """Shared by the single-path algorithms (RSPS, ENAS): a path-sampling supernet whose paths are
    drawn by the algorithm with its own seeded generator.

    NNI's path-sampling modules draw with ``Categorical.random()``, which uses a fresh unseeded
    ``numpy.random.RandomState()`` on every call, so a search with them cannot be reproduced; here
    the algorithm picks the whole path and sets it with ``resample(memo=path)``.
    """

    single_path = True

    def __init__(self, training_module, *, gradient_clip_val=None, **kwargs):
        super().__init__(training_module, **kwargs)
        self.gradient_clip_val = gradient_clip_val

    def draw(self, rng: random.Random) -> Sample:
        """One architecture of the base algorithm's policy."""
        raise NotImplementedError

    def resample(self) -> Sample:
        sample = self.draw(self.rng)
        apply_architecture(self.model, sample)
        return sample

    def candidate_rng(self) -> random.Random:
        """The generator for the final candidates: the same candidates whenever export is called."""
        return random.Random(self.seed + 2)
