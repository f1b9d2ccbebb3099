"""The curriculum's interchangeable parts, by name: how hard each training sample is (a *measure*)
and how difficulty becomes data weights (a *weighting*), as in CurriculumML's difficulty measurer and
training scheduler. The schedule (when weights change, and from which epoch) is the config's.

Curriculum-NAS is ``uncertainty`` x ``proportional`` (alpha = 1) x the ``epoch`` schedule.

Like the strategy registry, this table imports neither torch nor NNI: a built-in part's class is
named by ``'module:Class'`` and imported on first use. A researcher's own part is one file::

    from nni_cnas.curriculum import Weighting, register_weighting

    @register_weighting('squared', 'v proportional to the difficulty squared')
    class Squared(Weighting):
        def transform(self, difficulty, context):
            return difficulty ** 2

after whose import ``weighting='squared'`` works in the strategies, the CLI, ``config.yaml``,
nnictl search spaces and protocol files.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Tuple, Union

from .._registry import Registry

__all__ = ['PartSpec', 'MEASURES', 'WEIGHTINGS', 'register_measure', 'register_weighting', 'measure_names',
           'weighting_names']


@dataclasses.dataclass(frozen=True)
class PartSpec:
    """A registered measure or weighting: its name, its class (or ``'module:Class'``), one line of help."""

    name: str
    target: Union[type, str]
    summary: str

    def load(self) -> type:
        if isinstance(self.target, str):
            module, _, name = self.target.partition(':')
            return getattr(importlib.import_module(module), name)
        return self.target


MEASURES: Registry[PartSpec] = Registry('curriculum measure')
WEIGHTINGS: Registry[PartSpec] = Registry('curriculum weighting')


def _decorator(registry: Registry, name: str, summary: str) -> Callable[[type], type]:
    def register(cls: type) -> type:
        registry.register(PartSpec(name, cls, summary))
        cls.name = name
        return cls

    return register


def register_measure(name: str, summary: str) -> Callable[[type], type]:
    """Class decorator: a :class:`~nni_cnas.curriculum.measures.Measure` known by ``name``."""
    return _decorator(MEASURES, name, summary)


def register_weighting(name: str, summary: str) -> Callable[[type], type]:
    """Class decorator: a :class:`~nni_cnas.curriculum.weightings.Weighting` known by ``name``."""
    return _decorator(WEIGHTINGS, name, summary)


def measure_names() -> Tuple[str, ...]:
    return MEASURES.names()


def weighting_names() -> Tuple[str, ...]:
    return WEIGHTINGS.names()


_MODULE = 'nni_cnas.curriculum'
for _spec in (
    PartSpec('uncertainty', f'{_MODULE}.measures:Uncertainty',
             'sigma = sqrt(mean loss) over the K best subnets of the search policy (Eq. 10, the paper)'),
    PartSpec('disagreement', f'{_MODULE}.measures:Disagreement',
             'how much the curriculum\'s K subnets disagree: the std across them of the true class\'s probability '
             '(Active Bias; classifiers)'),
    PartSpec('amortised', f'{_MODULE}.measures:Amortised',
             'sigma over each sample\'s last K training losses (single-path strategies; no extra pass)'),
    PartSpec('loss', f'{_MODULE}.measures:TrainingLoss',
             'the trained path\'s own loss of the sample (K-free; hard-example mining\'s measure)'),
):
    MEASURES.register(_spec)
for _spec in (
    PartSpec('proportional', f'{_MODULE}.weightings:Proportional',
             'v proportional to difficulty^alpha (alpha = 1: Eq. 11, the paper; alpha = 0: the base algorithm)'),
    PartSpec('inverse', f'{_MODULE}.weightings:Inverse', 'v proportional to difficulty^-alpha: easy samples first'),
    PartSpec('self-paced', f'{_MODULE}.weightings:SelfPaced',
             'weight on the easiest samples only, a share growing from half to all over the epochs (Kumar et al. 2010)'),
    PartSpec('ramp', f'{_MODULE}.weightings:Ramp',
             'even weights ramped to proportional ones over the epochs: (1 - p) + p N d^alpha / sum d^alpha, p the '
             'progress (PA&DA\'s schedule)'),
    PartSpec('permuted', f'{_MODULE}.weightings:Permuted',
             'the control: the proportional weights shuffled across samples each time (same values, no information)'),
):
    WEIGHTINGS.register(_spec)
