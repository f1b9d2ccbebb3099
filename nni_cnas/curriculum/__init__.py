"""The data curriculum of Curriculum-NAS (Zhou et al., ACM MM 2022), written once for every strategy.

- :mod:`.weights`: Eq. 10-11 as pure functions, and statistics of the weights;
- :mod:`.parts`: the measures and weightings by name (import-light; :func:`register_measure`,
  :func:`register_weighting` for a researcher's own);
- :mod:`.measures`: per-sample difficulty (``uncertainty``, ``amortised``, ``loss``);
- :mod:`.weightings`: difficulty to weights (``proportional``, ``inverse``, ``self-paced``, ``permuted``);
- :mod:`.diagnostics`: what an epoch's weights did (per class, top 10%, rank correlations);
- :mod:`.config`: schedules, precisions, and one curriculum's config (import-light);
- :mod:`.state`: the weights of the epoch schedule and the loss history, as buffers;
- :mod:`.component`: :class:`Curriculum`, what a strategy's step calls.
"""

from .._lazy import lazy_attributes

_WHERE = {
    'Curriculum': '.component',
    **{name: '.config' for name in ('CurriculumConfig', 'SCHEDULES', 'ESTIMATORS', 'PRECISIONS')},
    **{name: '.parts' for name in ('register_measure', 'register_weighting', 'MEASURES', 'WEIGHTINGS', 'PartSpec')},
    **{name: '.measures' for name in ('Measure', 'Uncertainty', 'Amortised', 'TrainingLoss')},
    **{name: '.weightings' for name in ('Weighting', 'WeighingContext', 'Proportional', 'Inverse', 'SelfPaced',
                                        'Permuted')},
    **{name: '.state' for name in ('DataWeights', 'LossHistory')},
    **{name: '.weights' for name in ('WeightStatistics', 'uncertainty', 'data_weights', 'weights_from_losses',
                                     'sigma_from_sums', 'weight_statistics', 'weight_histogram', 'HISTOGRAM_BIN',
                                     'HISTOGRAM_BINS')},
}
__getattr__ = lazy_attributes(__name__, _WHERE)
__all__ = list(_WHERE)
