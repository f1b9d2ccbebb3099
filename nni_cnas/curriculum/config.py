"""How a strategy reweights its training data: the schedules, measures, weightings and precisions,
and the config of one curriculum. Import-light (torch only inside :meth:`CurriculumConfig.uses_bf16`
and when a part's class is loaded)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .parts import MEASURES, WEIGHTINGS, parse_options

__all__ = ['SCHEDULES', 'ESTIMATORS', 'ESTIMATOR_MEASURES', 'PRECISIONS', 'CurriculumConfig', 'start_epoch',
           'measure_of_estimator']

#: ``epoch``: weights recomputed over the whole training split after each epoch (the authors' code);
#: ``batch``: recomputed on each batch before the weight step (the paper's Algorithm 1);
#: ``sample``: recomputed after each epoch as the epoch schedule's, and used as the probabilities with
#: which the next epoch draws its N training samples (with replacement), the loss unweighted (PA&DA);
#: ``none``: the base algorithm.
SCHEDULES = ('epoch', 'batch', 'sample', 'none')

#: The former name of the measure, still accepted: ``estimator='exact'`` is ``measure='uncertainty'``.
ESTIMATOR_MEASURES = {'exact': 'uncertainty', 'amortised': 'amortised'}
ESTIMATORS = tuple(ESTIMATOR_MEASURES)
#: Arithmetic of the exact estimator's uncertainty passes: ``auto`` is bf16 autocast on a CUDA GPU
#: that supports it and fp32 elsewhere (CPU bf16 is slower than fp32 on most CPUs).
PRECISIONS = ('auto', 'fp32', 'bf16')


def measure_of_estimator(estimator, measure: str) -> str:
    """The measure that ``estimator`` (the former name, or None) and ``measure`` name together;
    ValueError when they disagree (the search config presents it as a UserError)."""
    if estimator is None:
        return measure
    if estimator not in ESTIMATOR_MEASURES:
        raise ValueError(f'curriculum estimator must be one of {", ".join(ESTIMATORS)}, not {estimator!r}')
    named = ESTIMATOR_MEASURES[estimator]
    if measure not in (named, CurriculumConfig.measure):
        raise ValueError(f'estimator {estimator!r} (--estimator) is the measure {named!r}, but measure is {measure!r}; '
                         'give only measure (on the command line: give only --measure)')
    return named


def start_epoch(start: float, max_epochs: int) -> int:
    """The first epoch with data weights: ``start`` below 1 is a share of the epochs (0.5 of 20 is
    epoch 10), from 1 up an epoch number."""
    return math.floor(start * max_epochs + 0.5) if start < 1 else int(start)


@dataclass(frozen=True)
class CurriculumConfig:
    """How a strategy reweights its training data: the schedule (the ``curriculum`` option of the
    strategies and the CLI), K, the measure, the uncertainty passes' precision (not the training
    steps', Lightning's ``precision``), the weighting with its power ``alpha``, and the first epoch
    (``start``, the ``curriculum_start`` option).
    ``measure_options`` and ``weighting_options`` are the parts' own options (a mapping, or
    ``KEY=VALUE`` items), kept as given and checked against what the part declares.
    The defaults are Curriculum-NAS as the authors' code runs it."""

    schedule: str = 'epoch'
    k: int = 5
    measure: str = 'uncertainty'
    uncertainty_precision: str = 'auto'
    weighting: str = 'proportional'
    alpha: float = 1.0
    start: float = 0.0
    measure_options: Mapping[str, Any] = field(default_factory=dict)
    weighting_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.uncertainty_precision not in PRECISIONS:
            raise ValueError(f'uncertainty precision must be one of {", ".join(PRECISIONS)}, not {self.uncertainty_precision!r}')
        if self.schedule not in SCHEDULES:
            raise ValueError(f'curriculum schedule must be one of {", ".join(SCHEDULES)}, not {self.schedule!r}')
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 0:
            raise ValueError(f'k (the number of subnets that measure uncertainty) must be an integer >= 0, not {self.k!r}')
        if self.measure not in MEASURES.names():
            raise ValueError(f'curriculum measure must be one of {", ".join(MEASURES.names())}, not {self.measure!r}')
        if self.weighting not in WEIGHTINGS.names():
            raise ValueError(f'curriculum weighting must be one of {", ".join(WEIGHTINGS.names())}, '
                             f'not {self.weighting!r}')
        for name in ('alpha', 'start'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f'curriculum {name} must be a finite number >= 0, not {value!r}')
        if self.start >= 1 and self.start != int(self.start):
            raise ValueError(f'curriculum start is a share of the epochs (below 1) or an epoch number, not {self.start!r}')
        for kind, registry in (('measure', MEASURES), ('weighting', WEIGHTINGS)):
            given = parse_options(getattr(self, f'{kind}_options'), f'{kind} options')
            object.__setattr__(self, f'{kind}_options', given)
            registry.get(getattr(self, kind)).resolve_options(given)  # ValueError naming the bad option

    @property
    def estimator(self) -> str:
        """``exact`` when uncertainty comes from extra passes of K subnets, else the measure's name."""
        return 'exact' if self.measure == 'uncertainty' else self.measure

    def uses_bf16(self, device) -> bool:
        """Whether the uncertainty passes on ``device`` run under bf16 autocast (``auto``: where the
        device computes bf16 natively)."""
        from ..resources import native_bf16

        if self.uncertainty_precision == 'auto':
            return native_bf16(device)
        return self.uncertainty_precision == 'bf16'

    @property
    def enabled(self) -> bool:
        """``k=0``, schedule ``none`` or a weighting that makes every weight 1 (``alpha=0``) is
        exactly the base algorithm."""
        return (self.schedule != 'none' and self.k > 0
                and not WEIGHTINGS.get(self.weighting).load().is_plain(self.alpha))

    def start_epoch(self, max_epochs: int) -> int:
        return start_epoch(self.start, max_epochs)
