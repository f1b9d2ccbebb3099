"""RSPS: random search with parameter sharing (Li & Talwalkar, 2019), with the data curriculum."""

from __future__ import annotations

import random
from typing import Callable, List, Optional

import nni.nas.strategy as nni_strategy
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule

from ...arch.sampling import capped_to_space, uniform_samples
from ..base import CurriculumStrategy, Sample
from .path import PathSamplingSearch

__all__ = ['RSPS', 'RspsModule']


#: Draws per accepted architecture before a sampling filter is taken to reject (nearly) everything.
FILTER_TRIES = 1000


class RspsModule(PathSamplingSearch, RandomSamplingLightningModule):
    """Uniform single-path training; K uniform subnets; best of ``num_candidates`` uniform ones.
    With NNI's ``filter`` (a callable on NNI samples, such as a ``RangeProfilerFilter``), every one
    of them is uniform among the architectures the filter accepts (rejection sampling, as NNI's
    RandomOneShot)."""

    def __init__(self, training_module, *, filter: Optional[Callable[[Sample], bool]] = None, **kwargs):  # pylint: disable=redefined-builtin
        super().__init__(training_module, **kwargs)
        self.filter = filter

    def uniform(self, k: int, rng: random.Random, distinct: bool = True, what: str = 'k') -> List[Sample]:
        """``k`` uniform architectures (distinct ones unless ``distinct=False``) the filter accepts; all
        of them where the space (or what the filter accepts of it) holds fewer."""
        if self.filter is None:
            return [self.expand(s) for s in uniform_samples(self.options, k, rng, distinct, what)]
        samples, seen = [], set()
        for _ in range(FILTER_TRIES * k):
            decided = uniform_samples(self.options, 1, rng, distinct=False)[0]
            key = repr(sorted(decided.items()))
            sample = self.expand(decided)
            if (distinct and key in seen) or not self.filter(sample):
                continue
            seen.add(key)
            samples.append(sample)
            if len(samples) == k:
                return samples
        if distinct and samples:  # the filter accepts fewer architectures than asked: each once
            capped_to_space(k, len(samples), what)
            return samples
        raise ValueError(f'the sampling filter accepted {len(samples)} of {FILTER_TRIES * k} uniform architectures; '
                         f'{k} were needed: widen the filter')

    def draw(self, rng: random.Random) -> Sample:
        return self.uniform(1, rng, distinct=False)[0]

    def curriculum_subnets(self, k: int) -> List[Sample]:
        return self.uniform(k, self.curriculum_rng)

    def uniform_subnets(self, k: int) -> List[Sample]:  # the policy is uniform: the same draws
        return self.curriculum_subnets(k)

    def export_candidates(self) -> List[Sample]:
        return self.uniform(self.num_candidates, self.candidate_rng(), what='num_candidates')


class RSPS(CurriculumStrategy, nni_strategy.RandomOneShot):
    """RSPS with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain RSPS.

    A drop-in for ``nni.nas.strategy.RandomOneShot``, except that the exported architecture is the
    best of ``num_candidates`` (100) uniform samples on one validation batch, not a random one.
    ``filter`` is NNI's: a callable on samples, a ``ProfilerFilter``, or a dict of
    ``RangeProfilerFilter``'s arguments; paths, K subnets and candidates are uniform among the
    architectures it accepts. ``gradient_clip_val`` clips the weight gradients' norm.
    """

    module_class = RspsModule
    needs_validation_batches = False

    def __init__(self, *, gradient_clip_val=None, **kwargs):
        super().__init__(**kwargs)  # NNI's RandomOneShot reads filter (a dict becomes a RangeProfilerFilter)
        self.gradient_clip_val = gradient_clip_val

    def module_kwargs(self):
        return dict(super().module_kwargs(), gradient_clip_val=self.gradient_clip_val, filter=self.filter)
