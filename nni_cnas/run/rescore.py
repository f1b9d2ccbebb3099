"""A finished search's supernet scored again from its run folder, without training: other cells on
the same validation images, so that a difference between two searches can be read on a second,
independent set of cells (how much of it is the first set's own noise).

The supernet is rebuilt from the run's ``config.yaml`` and loaded from the last epoch's checkpoint,
the weights the search ranked its own cells with: scoring the run's own cells again gives its
``result.json`` tau to the bit.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from ..errors import UserError

_logger = logging.getLogger(__name__)

__all__ = ['FinishedSearch', 'load_finished_search', 'epoch_checkpoint', 'load_weights', 'rescore_run', 'ranking_file']

#: The one-shot module's curriculum, whose state a rescoring leaves out.
CURRICULUM = 'curriculum.'


class FinishedSearch(NamedTuple):
    """A finished search's one-shot module with its trained weights, and what scoring needs."""
    search_module: Any
    config: Any
    val_loader: Any
    benchmark: Any
    benchmark_dataset: str
    folder: Path


def ranking_file(cell_seed: int, epoch: Optional[int] = None) -> str:
    """The run folder's file of a rescoring's cells (the search's own cells are in ``ranking.csv``)."""
    return f'ranking-cells-{cell_seed}' + (f'-epoch-{epoch:04d}' if epoch is not None else '') + '.csv'


def load_finished_search(folder, device: str = 'cpu', epoch: Optional[int] = None) -> FinishedSearch:
    """The one-shot module of the finished search in ``folder``, its weights those at the end of its
    0-based ``epoch`` (default: the last; an earlier one needs its checkpoint, which a search run with
    ``--keep-checkpoints 0`` keeps)."""
    import torch

    from ..benchmarks.nb201 import open_benchmark
    from ..spaces import get as get_space
    from .config import SearchConfig
    from .folder import RunFolder
    from .search import _evaluator_module, _load_data, build_strategy

    run = RunFolder(Path(folder))
    if not (run.path / 'config.yaml').is_file():
        raise UserError(f'{run.path} is not a run folder (no config.yaml); give the folder of a finished search')
    if run.state() != 'finished':
        raise UserError(f'{run.path} holds a search that has not finished ({run.state()}); resume it first: '
                        f'nni-cnas search --resume {run.path}')
    config = SearchConfig.from_mapping(run.read_record()['config'], f'{run.path}/config.yaml').resolve()
    spec = get_space(config.space)
    if spec.benchmark != 'nb201':
        raise UserError(f'{run.path}: cells are scored in NAS-Bench-201, and {config.space} is not its space')
    checkpoint = epoch_checkpoint(run.path, config.epochs, epoch)
    data, _ = _load_data(config, spec)
    strategy = build_strategy(config)
    supernet = strategy.mutate_model(spec.build(config, data))
    search_module = strategy.configure_oneshot_module(_evaluator_module(config, spec.kind, data))
    search_module.set_model(supernet)
    load_weights(search_module, checkpoint)
    search_module.to(torch.device(device))
    benchmark = open_benchmark(config.nb201_table, config.nats_bench, required=True)
    val_loader = data.loaders(config.batch_size, config.seed)['val']
    return FinishedSearch(search_module, config, val_loader, benchmark, data.benchmark or 'cifar10', run.path)


def epoch_checkpoint(folder: Path, epochs: int, epoch: Optional[int] = None) -> Path:
    """The checkpoint of a search of ``epochs`` epochs at the end of its 0-based ``epoch`` (default: the last)."""
    from .checkpoint import CHECKPOINT_DIR

    last = epochs - 1
    epoch = last if epoch is None else epoch
    if not 0 <= epoch <= last:
        raise UserError(f'--epoch must be between 0 and {last} (0-based) for {folder}, not {epoch}')
    checkpoint = Path(folder) / CHECKPOINT_DIR / f'epoch-{epoch:04d}.ckpt'
    if not checkpoint.is_file():
        kept = sorted(path.name for path in (Path(folder) / CHECKPOINT_DIR).glob('epoch-*.ckpt'))
        raise UserError(f'{folder} has no checkpoint of epoch {epoch} (it kept {", ".join(kept) or "none"}); '
                        'a search run with --keep-checkpoints 0 keeps every epoch\'s')
    return checkpoint


def load_weights(search_module, checkpoint: Path) -> None:
    """The supernet and its policy from ``checkpoint``; the curriculum's state (sized by the training
    split when a search attaches its loaders) takes no part in scoring cells and is left out."""
    import torch

    state = {key: value for key, value in torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict'].items()
             if not key.startswith(CURRICULUM)}
    missing, unexpected = search_module.load_state_dict(state, strict=False)
    wrong = [key for key in missing if not key.startswith(CURRICULUM)] + list(unexpected)
    if wrong:
        raise UserError(f'{checkpoint} does not fit the supernet its run\'s config builds ({wrong[0]}); '
                        'was it made by another version of nni_cnas?')


def own_cells(folder: Path, cell_seed: int) -> List[str]:
    """The cells the search scored itself (its ``ranking.csv``) when they were drawn with another seed
    than ``cell_seed``: a second set leaves them out; the same seed draws them again."""
    path, result = Path(folder) / 'ranking.csv', Path(folder) / 'result.json'
    if not path.is_file() or not result.is_file():
        return []
    if (json.loads(result.read_text(encoding='utf-8')).get('ranking') or {}).get('cell_seed') == cell_seed:
        return []
    with open(path, newline='', encoding='utf-8') as f:
        return [row['arch'] for row in csv.DictReader(f)]


def rescore_run(folder, cells: int, cell_seed: int, samples: Optional[int] = None,
                exclude: Optional[Sequence[str]] = None, device: str = 'cpu', epoch: Optional[int] = None
                ) -> Dict[str, Any]:
    """Score ``cells`` random cells drawn with ``cell_seed`` with the supernet in ``folder`` at the
    end of ``epoch`` (default: the last), on the search's first ``samples`` validation images
    (default: as many as its own ranking used). The cells are none of the search's own unless
    ``cell_seed`` is the seed that drew those (then they are the same cells again), or ``exclude``
    says otherwise. Writes :func:`ranking_file` into the run folder; returns the ranking summary."""
    from ..files import atomic_write_csv
    from .ranking import TOTAL_CELLS, rank_supernet

    exclude = own_cells(Path(folder), cell_seed) if exclude is None else list(exclude)
    if not 1 <= cells <= TOTAL_CELLS - len(set(exclude)):
        raise UserError(f'--cells must be between 1 and {TOTAL_CELLS - len(set(exclude))} (the cells not scored '
                        f'before), not {cells}')
    search = load_finished_search(folder, device, epoch)
    samples = samples or search.config.rank_samples
    rows, summary = rank_supernet(search.search_module, search.val_loader, cells, samples, search.benchmark.lookup,
                                  search.benchmark_dataset, cell_seed=cell_seed, exclude=exclude)
    atomic_write_csv(search.folder / ranking_file(cell_seed, epoch), rows, ['arch', 'supernet_acc', 'benchmark_test_acc'])
    _logger.info('%s: Kendall tau %.3f over %d cells of seed %d', search.folder, summary['kendall_tau'], cells, cell_seed)
    return summary
