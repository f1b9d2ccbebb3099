"""A whole search from one config: data, space, strategy, training, export, look-up, run folder.

``nni-cnas search`` is a thin shell over :func:`run_search`; Python users call it directly::

    from nni_cnas.run import SearchConfig, run_search
    result = run_search(SearchConfig(strategy='gdas', curriculum='epoch', dataset='digits', epochs=5,
                                     channels=8, cells=1))
    print(result['arch'], result['lookup'])

Every input is checked before any work starts (:meth:`SearchConfig.resolve`, :mod:`.config`); a bad
one raises :class:`~nni_cnas.errors.UserError` and leaves no run folder behind. Runs on the GPU when there is
one (Lightning's ``accelerator='auto'``), else on the CPU.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .._version import __version__
from ..errors import NonFiniteLoss, SearchInterrupted, UserError
from ..strategies import registry
from ..launch import RESUME_ENV, RUN_FOLDER_ENV, launch_rank
from ..resources import apply_cuda_math
from ..threads import apply_thread_policy
from .config import SearchConfig, lightning_device
from .memory import check_search_memory

__all__ = ['run_search', 'resume_search', 'search_or_resume', 'finished_before', 'build_strategy', 'seed_everything']


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _versions() -> Dict[str, str]:
    import nni
    import pytorch_lightning
    import torch

    return {'nni_cnas': __version__, 'nni': nni.__version__, 'torch': torch.__version__,
            'pytorch_lightning': pytorch_lightning.__version__, 'python': platform.python_version()}


def build_strategy(config: SearchConfig):
    """The strategy object for a resolved config: the registry's class with the common options and
    the strategy's own (under the class's keyword names)."""
    spec = registry.get(config.strategy)
    return spec.load()(curriculum=config.curriculum, k=config.k, measure=config.measure, weighting=config.weighting,
                       alpha=config.alpha, curriculum_start=config.curriculum_start,
                       uncertainty_precision=config.uncertainty_precision, num_candidates=config.num_candidates,
                       selection_size=config.selection_size, seed=config.seed, gradient_clip_val=config.grad_clip,
                       **spec.keywords(config.strategy_options))


def _write_ranks(run, sample) -> None:
    """``ranks.csv``: the found architecture's rank under each epoch's policy (differentiable searches)."""
    from .policy_ranks import trace_ranks, write_rank_csv

    rows = trace_ranks(run.metrics(), {'found': sample})
    if rows:
        write_rank_csv(rows, run.path / 'ranks.csv')


def _write_genotype(run, genotype) -> Dict[str, Any]:
    """``genotype.txt`` (DARTS' text), ``genotype.json`` and ``cells.png`` (the cells drawn)."""
    import json

    from ..spaces.drawing import plot_cells
    from ..files import atomic_write_text

    data = genotype.to_json()
    atomic_write_text(run.path / 'genotype.txt', genotype.text() + '\n')
    atomic_write_text(run.path / 'genotype.json', json.dumps(data, indent=1) + '\n')
    plot_cells(genotype, run.path / 'cells.png')
    return data


def _rank_cells(config, search_module, val_loader, benchmark, dataset, run, stream) -> Dict[str, Any]:
    """``ranking.csv`` and the ranking summary: the supernet's accuracy of random cells."""
    from .ranking import rank_supernet
    from ..files import atomic_write_csv

    print(f'ranking: the supernet\'s accuracy of {config.rank_cells} random cells on {config.rank_samples} '
          'validation images', file=stream, flush=True)
    rows, summary = rank_supernet(search_module, val_loader, config.rank_cells, config.rank_samples,
                                  benchmark.lookup if benchmark else None, dataset)
    atomic_write_csv(run.path / 'ranking.csv', rows, ['arch', 'supernet_acc', 'benchmark_test_acc'])
    if 'kendall_tau' in summary:
        print(f'ranking: Kendall tau {summary["kendall_tau"]:.3f} against NAS-Bench-201 {dataset} test accuracy',
              file=stream, flush=True)
    return summary


def _validation_metric(search_module, score: float) -> Dict[str, float]:
    """The found architecture's validation accuracy, or perplexity for a language model."""
    from ..strategies.losses import perplexity

    return {'val_ppl': perplexity(-score)} if search_module.sequence_task else {'val_acc': score}


def run_search(config: SearchConfig, stream=None, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    """Run one search; returns the result also written to ``<out>/result.json``.

    ``on_epoch(record)`` is called with each epoch's ``metrics.jsonl`` record; a caller that passes
    it reports to NNI itself (:mod:`nni_cnas.run.trial`), so the evaluator's own final report is off.
    ``stop_at`` (a ``time.time()`` value) stops the search as SIGTERM does (a checkpoint, then
    :class:`~nni_cnas.errors.SearchInterrupted`) at the first batch end after it."""
    return _search(config.resolve(), stream or sys.stdout, on_epoch=on_epoch, stop_at=stop_at)


def resume_search(run_folder, stream=None, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    """Continue a search from the newest usable checkpoint in its run folder, with its own config.
    On the CPU the result is bit-identical to a search that was never interrupted."""
    from .folder import RunFolder

    run = RunFolder(Path(run_folder))
    config = SearchConfig.from_mapping(run.read_record()['config'], f'{run.path}/config.yaml').resolve()
    return _search(dataclasses.replace(config, out=str(run.path)), stream or sys.stdout, resume=run, on_epoch=on_epoch,
                   stop_at=stop_at)


def finished_before(folder: Path) -> bool:
    """Whether the run folder holds a finished search (a sweep, protocol or retried trial skips it)."""
    from .folder import RunFolder

    return (folder / 'result.json').is_file() and RunFolder(folder).state() == 'finished'


def search_or_resume(config: SearchConfig, prefix: str, stream, on_epoch=None,
                     stop_at: Optional[float] = None) -> Dict[str, Any]:
    """The result of the search ``config`` describes in its run folder ``config.out``: read when it
    finished before, continued from its checkpoint when it was interrupted, else run afresh (in the
    same folder). What sweeps, the quality protocol and retried nnictl trials run."""
    import json

    from .folder import RunFolder

    folder = Path(config.out)
    if finished_before(folder):
        _check_same_search(folder, config)
        print(f'{prefix}: finished before, skipped', file=stream, flush=True)
        return json.loads((folder / 'result.json').read_text(encoding='utf-8'))
    if RunFolder(folder).state() in ('interrupted', 'running') and any((folder / 'checkpoints').glob('*.ckpt')):
        _check_same_search(folder, config)
        print(f'{prefix}: resuming {folder}', file=stream, flush=True)
        return resume_search(folder, stream=stream, on_epoch=on_epoch, stop_at=stop_at)
    print(f'{prefix}: searching in {folder}', file=stream, flush=True)
    return run_search(dataclasses.replace(config, overwrite=True), stream=stream, on_epoch=on_epoch, stop_at=stop_at)


def _check_same_search(folder: Path, config: SearchConfig) -> None:
    """A folder reused by name (sweeps, protocols, retried trials) must hold this search, not
    another one's result or checkpoint under the same name."""
    from .folder import RunFolder

    there = SearchConfig.from_mapping(RunFolder(folder).read_record()['config'], f'{folder}/config.yaml').defining()
    here = config.defining()
    differ = [f'{name} {there.get(name)!r} there, {here.get(name)!r} here' for name in sorted(set(there) | set(here))
              if there.get(name) != here.get(name)]
    if differ:
        raise UserError(f'{folder} holds another search ({"; ".join(differ)}); give another runs folder, '
                        'or remove that one')


def _search(config: SearchConfig, stream, resume=None, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    # Everything that can fail on bad input happens before the run folder is written.
    from ..benchmarks.nb201 import open_benchmark
    from ..spaces import get as get_space

    follower = launch_rank() > 0  # a DDP rank other than 0: it trains, rank 0 writes
    if follower:
        stream, on_epoch = open(os.devnull, 'w'), None  # rank 0 prints, records and reports to NNI
        config = dataclasses.replace(config, out=os.environ.get(RUN_FOLDER_ENV, config.out))
    spec = get_space(config.space)
    data, data_record = _load_data(config, spec.kind)
    benchmark = open_benchmark(config.nb201_table, config.nats_bench) if spec.benchmark == 'nb201' else None
    apply_thread_policy(config.threads, share=config.devices if _device(config.device).type == 'cpu' else 1)
    check_search_memory(spec, config, data, _device(config.device))
    apply_cuda_math(_device(config.device), config.tf32)
    seed_everything(config.seed)
    space = spec.build(config, data)
    _check_k(config.k, space)
    strategy = build_strategy(config)
    module = _evaluator_module(config, spec.kind, data)
    run, checkpoint_path = _run_folder(config, resume, data_record, benchmark, stream, follower)
    if config.devices * config.num_nodes > 1 and not follower:
        # Lightning's launcher starts the other ranks of this machine as copies of this command:
        # they find the run folder (its default name has the time in it) and checkpoint here.
        os.environ[RUN_FOLDER_ENV] = str(run.path)
        os.environ[RESUME_ENV] = str(checkpoint_path or '')
    print(_banner(config, run), file=stream, flush=True)
    benchmark_dataset = data.benchmark or 'cifar10'
    recorded = run.metrics() if resume is not None else []
    seconds_before = float(recorded[-1].get('seconds', 0.0)) if recorded else 0.0
    loaders = data.loaders(config.batch_size, config.seed)
    if config.channels_last:
        _channels_last(loaders.values())
    evaluator, checkpoints = _evaluator(config, module, loaders, run, space, benchmark, benchmark_dataset, stream,
                                        seconds_before, on_epoch, checkpoint_path, stop_at)
    module.nni_final_report = module.nni_final_report and not follower
    started = time.time() - seconds_before
    search_module, sample = _train(strategy, space, evaluator, run, checkpoints, config.progress_bar)
    if follower:  # the same architecture as rank 0's (one search state on every rank); rank 0 writes it
        return {'arch': sample, 'run_folder': str(run.path), 'rank': launch_rank()}
    result = _result(config, space, sample, search_module, benchmark, benchmark_dataset, run, started)
    if config.rank_cells:
        result['ranking'] = _rank_cells(config, search_module, loaders['val'], benchmark, benchmark_dataset, run, stream)
    run.write_result(result)
    if spec.benchmark == 'nb201':
        _write_ranks(run, sample)
    run.set_status('finished')
    return result


def _channels_last(loaders) -> None:
    """``--channels-last``: the loaders' batches in NHWC (the supernet follows in :class:`ChannelsLast`)."""
    import torch

    for loader in loaders:
        loader.memory_format = torch.channels_last


def _banner(config: SearchConfig, run) -> str:
    """The search's first line, once its run folder exists (a refusal before it names no folder)."""
    size = f'hidden {config.hidden}' if config.hidden else f'C={config.channels} N={config.cells}'
    if config.space_options:
        size += f' ({config.space_options})'
    return (f'search: {config.strategy} with curriculum {config.curriculum} (k={config.k}) on {config.dataset}, '
            f'{config.epochs} epochs, {size}, seed {config.seed}; run folder {run.path}')


def _device(name: str):
    """The device Lightning will train on: ``auto`` is the GPU when there is one."""
    import torch

    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    return torch.device({'gpu': 'cuda'}.get(name, name))


def _load_data(config: SearchConfig, kind: str):
    """The search splits of the space's kind (images or token sequences), and their record."""
    if kind == 'text':
        from ..data.text import load_text_data

        data = load_text_data(config.dataset, config.data_dir, config.bptt, config.subset)
        return data, {'name': data.name, 'train_samples': len(data.train[0]), 'val_samples': len(data.val[0]),
                      'vocabulary': data.vocabulary_size, 'sequence_length': data.sequence_length}
    from ..data import load_search_data

    data = load_search_data(config.dataset, config.data_dir, config.subset, config.image_size)
    return data, {'name': data.name, 'train_samples': len(data.train), 'val_samples': len(data.val),
                  'num_classes': data.num_classes, 'image_size': data.image_size, 'in_channels': data.in_channels}


def _check_k(k: int, space) -> None:
    from ..arch.decisions import decisions_of
    from ..arch.sampling import check_k

    try:
        check_k(k, decisions_of(space).options)
    except ValueError as error:
        raise UserError(str(error)) from None


def _evaluator_module(config: SearchConfig, kind: str, data):
    """NNI's evaluator module with the search's optimiser: a language model or a classifier."""
    from .evaluator import LanguageModelModule, SearchClassificationModule

    optimiser = dict(learning_rate=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay,
                     eta_min=config.eta_min)
    return LanguageModelModule(**optimiser) if kind == 'text' else SearchClassificationModule(data.num_classes, **optimiser)


def _run_folder(config: SearchConfig, resume, data_record, benchmark, stream, follower: bool = False):
    """``(run folder, checkpoint to resume from or None)``: a new folder, or the resumed one cut
    back to its newest usable checkpoint; a follower rank's view of rank 0's."""
    from .checkpoint import CHECKPOINT_DIR, checkpoint_order, latest_checkpoint
    from .folder import FollowerFolder, RunFolder

    if follower:
        given = os.environ.get(RESUME_ENV)
        if given is not None:  # started by rank 0's launcher, which chose
            checkpoint = Path(given) if given else None
        else:  # started by torchrun or a cluster on another machine: the same choice, read only
            checkpoint = latest_checkpoint(Path(config.out) / CHECKPOINT_DIR, warn=lambda m: None) if resume else None
        return FollowerFolder(Path(config.out)), checkpoint

    if resume is None:
        record = {'config': config.as_dict(), 'versions': _versions(), 'data': data_record,
                  'benchmark': getattr(benchmark, 'path', None)}
        return RunFolder.create(Path(config.out), record, overwrite=config.overwrite), None
    checkpoint_path = latest_checkpoint(resume.path / CHECKPOINT_DIR,
                                        warn=lambda message: print(f'warning: {message}', file=stream, flush=True))
    resume.keep_metrics_through(checkpoint_order(checkpoint_path)[0])
    resume.set_status('running', resumed_from=checkpoint_path.name)
    print(f'resuming from {checkpoint_path}', file=stream, flush=True)
    return resume, checkpoint_path


def _evaluator(config, module, loaders, run, space, benchmark, benchmark_dataset, stream, seconds_before, on_epoch,
               checkpoint_path, stop_at=None):
    """NNI's Lightning evaluator with the run folder's recorder, checkpoints and TensorBoard log."""
    from ..spaces import describe
    from .checkpoint import CHECKPOINT_DIR, SearchCheckpoint, StopAt
    from .stop import watching
    from .evaluator import ChannelsLast, build_evaluator
    from .folder import RunRecorder

    recorder = RunRecorder(run, describe=lambda sample: describe(space, sample),
                           lookup=benchmark.lookup if benchmark else None, benchmark_dataset=benchmark_dataset,
                           stream=stream, seconds_before=seconds_before, on_record=on_epoch)
    module.nni_final_report = on_epoch is None
    checkpoints = SearchCheckpoint(run.path / CHECKPOINT_DIR)
    logger = False
    if config.tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        logger = TensorBoardLogger(str(run.path / 'tensorboard'), name='', version='', default_hp_metric=False)
    accelerator, devices = lightning_device(config.device, config.devices)
    evaluator = build_evaluator(module, loaders, max_epochs=config.epochs, logger=logger, precision=config.precision,
                                accelerator=accelerator, devices=devices, num_nodes=config.num_nodes,
                                callbacks=[recorder, checkpoints] + ([StopAt(stop_at)] if stop_at or watching() else [])
                                + ([ChannelsLast()] if config.channels_last else []),
                                progress_bar=stream.isatty() if config.progress_bar is None else config.progress_bar)
    if checkpoint_path is not None:
        # A full (pickle) load: NNI's evaluator module keeps classes in its hyperparameters, which
        # torch's weights_only loading refuses. These are the run's own files; resume only run
        # folders you trust.
        evaluator.fit_kwargs.update(ckpt_path=str(checkpoint_path), weights_only=False)
    return evaluator, checkpoints


def _train(strategy, space, evaluator, run, checkpoints, progress_bar):
    """Train the supernet and export; on an interruption, a non-finite loss or a crash, the run's
    status says what happened and how to go on."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from .checkpoint import CHECKPOINT_DIR, latest_checkpoint

    try:
        supernet = strategy.mutate_model(space)
        evaluator = strategy.mutate_evaluator(evaluator)
        strategy.search_module.progress_bar = progress_bar
        evaluator.evaluate(supernet)
        search_module = strategy.search_module
        return search_module, search_module.export()
    except SIGTERMException:
        resume_command = f'nni-cnas search --resume {run.path}'
        run.set_status('interrupted', checkpoint=checkpoints.interrupted, resume=resume_command)
        raise SearchInterrupted(f'stopped after saving {checkpoints.interrupted}; continue with: {resume_command}') from None
    except NonFiniteLoss as error:
        try:
            last = latest_checkpoint(run.path / CHECKPOINT_DIR, warn=lambda message: None)
        except UserError:
            last = None
        run.set_status('failed', reason=str(error), last_good_checkpoint=last)
        where = f'the last good checkpoint is {last}' if last else 'no epoch finished, so there is no checkpoint'
        raise NonFiniteLoss(f'{error}; the search stopped, {where} (lower --lr or add --grad-clip)') from None
    except BaseException as error:
        run.set_status('failed', reason=f'{type(error).__name__}: {error}')
        raise


def _result(config, space, sample, search_module, benchmark, benchmark_dataset, run, started) -> Dict[str, Any]:
    """``result.json``: the architecture, how it was chosen, its scores and look-up (and genotype)."""
    from ..spaces import contract, get as get_space

    arch = contract.describe(space, sample)
    lookup = benchmark.lookup(arch) if benchmark else None
    selection = search_module.selection
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
        'benchmark': get_space(config.space).benchmark,
        'benchmark_dataset': benchmark_dataset,
        'lookup_test': lookup[benchmark_dataset]['test'] if lookup else None,
        'lookup_valid': lookup[benchmark_dataset]['valid'] if lookup else None,
        'search_seconds': round(time.time() - started, 2),
        'finished_at': round(time.time(), 3),
        'run_folder': str(run.path),
    }
    genotype = contract.genotype_of(space, sample)
    if genotype is not None:
        result['genotype'] = _write_genotype(run, genotype)
    return result
