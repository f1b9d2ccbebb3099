"""What a finished search leaves in its run folder: ``result.json`` (the architecture, how it was
chosen, its scores and look-up), the genotype files of cell spaces, ``ranking.csv`` (the supernet's
accuracy of random cells) and ``ranks.csv`` (the found cell's rank under each epoch's policy)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict

__all__ = ['finish_search']

_logger = logging.getLogger(__name__)


def finish_search(search, search_module, sample, started: float, val_loader) -> Dict[str, Any]:
    """Write the outputs of the search ``search`` (a :class:`~nni_cnas.run.search.Search`) and mark
    it finished; returns the result."""
    result = _result(search, sample, search_module, started)
    if search.config.rank_cells:
        result['ranking'] = _rank_cells(search, search_module, val_loader)
    search.run.write_result(result)
    if search.spec.benchmark == 'nb201':
        _write_ranks(search.run, sample)
    search.run.set_status('finished')
    return result


def _write_ranks(run, sample) -> None:
    """``ranks.csv``: the found architecture's rank under each epoch's policy (differentiable searches)."""
    from .policy_ranks import trace_ranks, write_rank_csv

    rows = trace_ranks(run.metrics(), {'found': sample})
    if rows:
        write_rank_csv(rows, run.path / 'ranks.csv')


def _write_genotype(run, genotype) -> Dict[str, Any]:
    """``genotype.txt`` (DARTS' text), ``genotype.json`` and ``cells.png`` (the cells drawn)."""
    from ..files import atomic_write_text
    from ..spaces.drawing import plot_cells

    data = genotype.to_json()
    atomic_write_text(run.path / 'genotype.txt', genotype.text() + '\n')
    atomic_write_text(run.path / 'genotype.json', json.dumps(data, indent=1) + '\n')
    plot_cells(genotype, run.path / 'cells.png')
    return data


def _rank_cells(search, search_module, val_loader) -> Dict[str, Any]:
    """``ranking.csv`` and the ranking summary: the supernet's accuracy of random cells."""
    from ..files import atomic_write_csv
    from .ranking import rank_supernet

    config, benchmark = search.config, search.benchmark
    _logger.info('ranking: the supernet\'s accuracy of %d random cells on %d validation images',
                 config.rank_cells, config.rank_samples)
    rows, summary = rank_supernet(search_module, val_loader, config.rank_cells, config.rank_samples,
                                  benchmark.lookup if benchmark else None, search.benchmark_dataset)
    atomic_write_csv(search.run.path / 'ranking.csv', rows, ['arch', 'supernet_acc', 'benchmark_test_acc'])
    if 'kendall_tau' in summary:
        _logger.info('ranking: Kendall tau %.3f against NAS-Bench-201 %s test accuracy', summary['kendall_tau'],
                     search.benchmark_dataset)
    return summary


def _validation_metric(search_module, score: float) -> Dict[str, float]:
    """The found architecture's validation accuracy, or perplexity for a language model."""
    from ..strategies.losses import perplexity

    return {'val_ppl': perplexity(-score)} if search_module.losses.sequence_task else {'val_acc': score}


def _result(search, sample, search_module, started: float) -> Dict[str, Any]:
    """``result.json``: the architecture, how it was chosen, its scores and look-up (and genotype)."""
    from ..spaces import contract

    config, benchmark, dataset, space = search.config, search.benchmark, search.benchmark_dataset, search.space
    arch = contract.describe(space, sample)
    lookup = benchmark.lookup(arch) if benchmark else None
    selection = search_module.selector.selection
    result = {
        'arch': arch,
        'sample': sample,
        'strategy': config.strategy, 'curriculum': config.curriculum, 'k': config.k,
        'dataset': config.dataset, 'seed': config.seed, 'epochs': config.epochs,
        'selected_by': (f'best of {selection.num_candidates} candidates on {selection.batch_size} validation samples'
                        if selection else 'argmax of the architecture parameters'),
        'selection_score': selection.score if selection else None,
        **_validation_metric(search_module, selection.score if selection else search_module.score(sample)),
        'lookup': lookup,
        'benchmark': search.spec.benchmark,
        'benchmark_dataset': dataset,
        'lookup_test': lookup[dataset]['test'] if lookup else None,
        'lookup_valid': lookup[dataset]['valid'] if lookup else None,
        'search_seconds': round(time.time() - started, 2),
        'finished_at': round(time.time(), 3),
        'run_folder': str(search.run.path),
    }
    genotype = contract.genotype_of(space, sample)
    if genotype is not None:
        result['genotype'] = _write_genotype(search.run, genotype)
    return result
