"""A strategy added in one file, as docs/architecture.md's "add a strategy" says: RSPS' uniform
single-path training, and a final architecture found by hill climbing on the supernet (change one
decision at a time, keep the change when the selection batch scores it higher), ``climb_steps``
changes from the best of a few uniform starts. The curriculum's K subnets are K uniform draws.

Registered on import; tests/test_extension.py runs it through the Python API and the CLI.
"""

from __future__ import annotations

import random
from typing import List

import nni.nas.strategy as nni_strategy
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule

from nni_cnas.arch.sampling import uniform_samples
from nni_cnas.strategies.base import CurriculumStrategy, Sample
from nni_cnas.strategies.registry import SINGLE_PATH, Option, StrategySpec, register
from nni_cnas.strategies.sampling.path import PathSamplingSearch

CLIMB_STEPS = Option('climb_steps', int, 20, 'local-search: changes tried by the final hill climb', positive=True)


class LocalSearchModule(PathSamplingSearch, RandomSamplingLightningModule):

    def __init__(self, training_module, *, climb_steps: int, **kwargs):
        super().__init__(training_module, **kwargs)
        self.climb_steps = climb_steps

    def draw(self, rng: random.Random) -> Sample:
        return self.expand(uniform_samples(self.options, 1, rng, distinct=False)[0])

    def curriculum_subnets(self, k: int) -> List[Sample]:
        return [self.expand(s) for s in uniform_samples(self.options, k, self.curriculum_rng)]

    def direct_export(self) -> Sample:
        rng = self.candidate_rng()
        starts = uniform_samples(self.options, min(4, self.num_candidates), rng)
        best = max(starts, key=lambda decided: self.score(self.expand(decided)))
        best_score = self.score(self.expand(best))
        for _ in range(self.climb_steps):
            label = rng.choice(sorted(self.options))
            neighbour = dict(best, **{label: rng.choice(self.options[label])})
            score = self.score(self.expand(neighbour))
            if score > best_score:
                best, best_score = neighbour, score
        return self.expand(best)


class LocalSearch(CurriculumStrategy, nni_strategy.RandomOneShot):
    module_class = LocalSearchModule
    needs_validation_batches = False

    def __init__(self, *, climb_steps: int = CLIMB_STEPS.default, gradient_clip_val=None, **kwargs):
        super().__init__(**kwargs)
        self.climb_steps, self.gradient_clip_val = climb_steps, gradient_clip_val

    def module_kwargs(self):
        return dict(super().module_kwargs(), climb_steps=self.climb_steps, gradient_clip_val=self.gradient_clip_val)


register(StrategySpec('local-search', LocalSearch, SINGLE_PATH, 'uniform single-path training, hill-climbing export',
                      curriculum_subnets='K uniform samples', options=(CLIMB_STEPS,)))
