"""One curriculum search as an NNI trial, so that ``nnictl`` experiments sweep searches.

One-shot NAS runs in NNI's sequential engine and reports nothing to the web UI. Here an ``nnictl``
experiment is an HPO experiment instead: the tuner picks search options (strategy, curriculum, K,
seed, ... with the names of :class:`~nni_cnas.run.search.SearchConfig`), the trial command
``nni-cnas trial [search options]`` runs one search with them, and each epoch is reported with
``nni.report_intermediate_result`` and the end with ``nni.report_final_result``: per-epoch curves
and a final metric per trial in the web UI, the found architecture in the final result.

Metric ``default`` (what a tuner optimises) is never a test-set number: the NAS-Bench-201 validation
accuracy (%) of the current cell (x-valid on CIFAR-10) when the benchmark can look it up, else its
validation accuracy (%) on the search's own selection batch, else the search's train accuracy. The
benchmark's test accuracy is reported too, as ``lookup_test_acc``, for reading, not for tuning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from ..records import EpochRecord
from ..errors import UserError
from .config import CURRICULUM_PARTS

__all__ = ['trial_options', 'epoch_metrics', 'final_metrics', 'run_trial']


def trial_options(base: Mapping[str, Any], parameters: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Search options of a trial: the command's ``base`` options with the tuner's ``parameters``
    over them. A search space that sweeps ``curriculum`` over ``none`` and K together would give
    plain runs a K; for those K and the curriculum's parts are dropped."""
    options = dict(base)
    for name, value in (parameters or {}).items():
        options[str(name).replace('-', '_')] = value
    if options.get('curriculum') == 'none':
        for name in ('k', *CURRICULUM_PARTS):
            options.pop(name, None)
    if 'out' not in options:
        output = os.environ.get('NNI_OUTPUT_DIR')
        if output:
            options['out'] = str(Path(output) / 'search')
            options['overwrite'] = True  # a retried trial reuses its own folder (and resumes it)
    return options


def _percent(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(100.0 * float(value), 4)


def epoch_metrics(record: EpochRecord) -> Dict[str, Any]:
    """The intermediate result of one epoch's record."""
    metrics = {
        'train_acc': _percent(record.train_acc),
        'val_acc': _percent(record.val_acc),
        'arch_acc': _percent(record.arch_acc),
        'lookup_valid_acc': record.lookup_valid,
        'lookup_test_acc': record.lookup_test,
        'data_weight_gini': (record.data_weights or {}).get('gini'),
        'train_ppl': record.train_ppl,  # language models (lower is better)
        'val_ppl': record.val_ppl,
    }
    metrics = {key: value for key, value in metrics.items() if value is not None}
    metrics['default'] = next((metrics[key] for key in ('lookup_valid_acc', 'val_acc', 'train_acc', 'arch_acc',
                                                        'val_ppl', 'train_ppl') if key in metrics), 0.0)
    return metrics


def final_metrics(result: Mapping[str, Any]) -> Dict[str, Any]:
    """The final result of a finished search, with its architecture."""
    valid = result.get('lookup_valid')
    metrics = {'val_acc': _percent(result.get('val_acc')), 'val_ppl': result.get('val_ppl'), 'lookup_valid_acc': valid,
               'lookup_test_acc': result.get('lookup_test'), 'arch': result['arch'], 'run_folder': result['run_folder']}
    ranking = result.get('ranking') or {}
    if 'kendall_tau' in ranking:
        metrics['kendall_tau'] = ranking['kendall_tau']
    metrics['default'] = next((value for value in (valid, metrics['val_acc'], metrics['val_ppl']) if value is not None), 0.0)
    return {key: value for key, value in metrics.items() if value is not None}


def run_trial(base: Mapping[str, Any]) -> Dict[str, Any]:
    """Run the search of this trial and report it to NNI; outside an NNI trial the reports go to
    NNI's standalone log (the command then works as a plain search)."""
    import nni

    from ..launch import launch_rank
    from .config import SearchConfig
    from .search import search_or_resume

    parameters = nni.get_next_parameter()
    check_parameters(parameters)
    config = SearchConfig.from_mapping(trial_options(base, parameters), 'trial parameters').resolve()

    def report(record):
        nni.report_intermediate_result(epoch_metrics(record))

    # A retried trial continues its interrupted search, or reports its finished one again.
    result = search_or_resume(config, 'nni-cnas trial', on_epoch=report)
    if launch_rank() == 0:  # a DDP trial (--devices N) reports once, from rank 0
        nni.report_final_result(final_metrics(result))
    return result


def check_parameters(parameters: Any) -> None:
    if parameters is not None and not isinstance(parameters, Mapping):
        raise UserError(f'the tuner gave {type(parameters).__name__} parameters; a search space of named options is needed')
