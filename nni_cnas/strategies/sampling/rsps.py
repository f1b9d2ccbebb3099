"""RSPS: random search with parameter sharing (Li & Talwalkar, 2019), with the data curriculum."""

from __future__ import annotations

import random
from typing import List

import nni.nas.strategy as nni_strategy
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule

from ...arch.sampling import uniform_samples
from ..base import CurriculumStrategy, Sample
from .path import PathSamplingSearch

__all__ = ['RSPS', 'RspsModule']


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
