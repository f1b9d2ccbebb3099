"""The data curriculum of Curriculum-NAS (Zhou et al., ACM MM 2022), written once for every strategy.

- :mod:`.weights`: Eq. 10-11 as pure functions, and statistics of the weights;
- :mod:`.config`: schedules, estimators, precisions, and one curriculum's config (import-light);
- :mod:`.state`: the weights of the epoch schedule and the amortised history, as buffers;
- :mod:`.component`: :class:`Curriculum`, what a strategy's step calls.
"""

from .._lazy import lazy_attributes

_WHERE = {
    'Curriculum': '.component',
    **{name: '.config' for name in ('CurriculumConfig', 'SCHEDULES', 'ESTIMATORS', 'PRECISIONS')},
    **{name: '.state' for name in ('DataWeights', 'LossHistory')},
    **{name: '.weights' for name in ('WeightStatistics', 'uncertainty', 'data_weights', 'weights_from_losses',
                                     'sigma_from_sums', 'weight_statistics', 'weight_histogram', 'HISTOGRAM_BIN',
                                     'HISTOGRAM_BINS')},
}
__getattr__ = lazy_attributes(__name__, _WHERE)
__all__ = list(_WHERE)
