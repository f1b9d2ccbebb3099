"""RSPS: random search with parameter sharing (Li & Talwalkar, 2019), with the data curriculum."""

from __future__ import annotations

import random
from typing import List

import nni.nas.strategy as nni_strategy
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule

from ...arch.supernet import apply_architecture
from ...arch.sampling import uniform_samples
from ..base import CurriculumStrategy, Sample, SearchModule

__all__ = ['RSPS', 'RspsModule', 'PathSamplingSearch']


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


class RspsModule(PathSamplingSearch, RandomSamplingLightningModule):
    """Uniform single-path training; K uniform subnets; best of ``num_candidates`` uniform ones."""

    def draw(self, rng: random.Random) -> Sample:
        return self.expand(uniform_samples(self.options, 1, rng, distinct=False)[0])

    def top_k(self, k: int) -> List[Sample]:
        return [self.expand(s) for s in uniform_samples(self.options, k, self.curriculum_rng)]

    def export_candidates(self) -> List[Sample]:
        return [self.expand(s) for s in uniform_samples(self.options, self.num_candidates, self.candidate_rng())]


class RSPS(CurriculumStrategy, nni_strategy.RandomOneShot):
    """RSPS with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain RSPS.

    A drop-in for ``nni.nas.strategy.RandomOneShot``, except that the exported architecture is the
    best of ``num_candidates`` (100) uniform samples on one validation batch, not a random one.
    ``gradient_clip_val`` clips the weight gradients' norm.
    """

    module_class = RspsModule
    needs_validation_batches = False

    def __init__(self, *, gradient_clip_val=None, filter=None, **kwargs):  # pylint: disable=redefined-builtin
        if filter is not None:
            raise ValueError('RSPS samples uniformly from the whole space; a sampling filter is not supported')
        super().__init__(**kwargs)
        self.gradient_clip_val = gradient_clip_val

    def module_kwargs(self):
        return dict(super().module_kwargs(), gradient_clip_val=self.gradient_clip_val)
