"""How a strategy reweights its training data: the schedules, estimators and precisions, and the
config of one curriculum. Import-light (torch only inside :meth:`CurriculumConfig.uses_bf16`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ['SCHEDULES', 'ESTIMATORS', 'PRECISIONS', 'CurriculumConfig']

#: ``epoch``: weights recomputed over the whole training split after each epoch (the authors' code);
#: ``batch``: recomputed on each batch before the weight step (the paper's Algorithm 1);
#: ``none``: the base algorithm.
SCHEDULES = ('epoch', 'batch', 'none')


#: ``exact``: K extra forward passes of the K subnets of the search policy (the paper);
#: ``amortised``: the last K losses each sample had in the weight steps of a single-path search,
#: which the search computes anyway (no extra forward pass; see :class:`LossHistory`).
ESTIMATORS = ('exact', 'amortised')
#: Arithmetic of the exact estimator's uncertainty passes: ``auto`` is bf16 autocast on a CUDA GPU
#: that supports it and fp32 elsewhere (CPU bf16 is slower than fp32 on most CPUs).
PRECISIONS = ('auto', 'fp32', 'bf16')


@dataclass(frozen=True)
class CurriculumConfig:
    """How a strategy reweights its training data."""

    schedule: str = 'epoch'
    k: int = 5
    estimator: str = 'exact'
    precision: str = 'auto'

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f'uncertainty precision must be one of {", ".join(PRECISIONS)}, not {self.precision!r}')
        if self.schedule not in SCHEDULES:
            raise ValueError(f'curriculum schedule must be one of {", ".join(SCHEDULES)}, not {self.schedule!r}')
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 0:
            raise ValueError(f'k (the number of subnets that measure uncertainty) must be an integer >= 0, not {self.k!r}')
        if self.estimator not in ESTIMATORS:
            raise ValueError(f'curriculum estimator must be one of {", ".join(ESTIMATORS)}, not {self.estimator!r}')

    def uses_bf16(self, device) -> bool:
        """Whether the uncertainty passes on ``device`` run under bf16 autocast (``auto``: where the
        device computes bf16 natively)."""
        from ..resources import native_bf16

        if self.precision == 'auto':
            return native_bf16(device)
        return self.precision == 'bf16'

    @property
    def enabled(self) -> bool:
        """``k=0`` or schedule ``none`` is exactly the base algorithm."""
        return self.schedule != 'none' and self.k > 0
