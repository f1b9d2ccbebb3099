"""A whole search from one config: data, space, strategy, training, export, look-up, run folder.

``nni-cnas search`` is a thin shell over :func:`run_search`; Python users call it directly::

    from nni_cnas.run import SearchConfig, run_search
    result = run_search(SearchConfig(strategy='gdas', curriculum='epoch', dataset='digits', epochs=5,
                                     channels=8, cells=1))
    print(result['arch'], result['lookup'])

Every input is checked before any work starts (:meth:`SearchConfig.resolve`, :mod:`.config`); a bad
one raises :class:`~nni_cnas.errors.UserError` and leaves no run folder behind. Runs on the GPU when there is
one (Lightning's ``accelerator='auto'``), else on the CPU. Progress goes to the ``nni_cnas`` logger
(the command line shows it; a library user configures it as any logger).

The run folder's life and status are :mod:`.lifecycle`'s, the DDP hand-off :mod:`.handoff`'s, the
outputs of a finished search :mod:`.outputs`'.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import random
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from .._version import __version__
from ..errors import UserError
from ..strategies import registry
from ..launch import launch_rank
from ..plugins import load_plugins, plugin_modules
from ..resources import apply_cuda_math
from ..records import EpochRecord
from ..threads import apply_thread_policy
from . import handoff
from .config import SearchConfig, lightning_device
from .lifecycle import open_run_folder, train_and_export
from .memory import check_search_memory, memory_advice

__all__ = ['run_search', 'resume_search', 'search_or_resume', 'finished_before', 'build_strategy', 'seed_everything',
           'Search']

_logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Search:
    """One search once its inputs have passed their checks: what the steps after that share."""

    config: SearchConfig
    spec: Any  # the space's SpaceSpec
    space: Any
    benchmark: Any
    benchmark_dataset: str
    run: Any = None
    checkpoint: Optional[Path] = None
    seconds_before: float = 0.0
    on_epoch: Optional[Callable[[EpochRecord], None]] = None
    stop_at: Optional[float] = None


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
                       uncertainty_precision=config.uncertainty_precision, measure_options=config.measure_options,
                       weighting_options=config.weighting_options, num_candidates=config.num_candidates,
                       selection_size=config.selection_size, seed=config.seed, gradient_clip_val=config.grad_clip,
                       compile=config.compile, compile_backend=config.compile_backend,
                       **spec.keywords(config.strategy_options))


def run_search(config: SearchConfig, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    """Run one search; returns the result also written to ``<out>/result.json``.

    ``on_epoch(record)`` is called with each epoch's :class:`~nni_cnas.records.EpochRecord` (its
    ``metrics.jsonl`` line); a caller that passes
    it reports to NNI itself (:mod:`nni_cnas.run.trial`), so the evaluator's own final report is off.
    ``stop_at`` (a ``time.time()`` value) stops the search as SIGTERM does (a checkpoint, then
    :class:`~nni_cnas.errors.SearchInterrupted`) at the first batch end after it."""
    return _search(config if config.is_resolved else config.resolve(), on_epoch=on_epoch, stop_at=stop_at)


def resume_search(run_folder, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    """Continue a search from the newest usable checkpoint in its run folder, with its own config.
    On the CPU the result is bit-identical to a search that was never interrupted."""
    from .folder import RunFolder

    run = RunFolder(Path(run_folder))
    config = SearchConfig.from_mapping(run.read_record()['config'], f'{run.path}/config.yaml').resolve()
    return _search(dataclasses.replace(config, out=str(run.path)), resume=run, on_epoch=on_epoch, stop_at=stop_at)


def finished_before(folder: Path) -> bool:
    """Whether the run folder holds a finished search (a sweep, protocol or retried trial skips it)."""
    from .folder import RunFolder

    return (folder / 'result.json').is_file() and RunFolder(folder).state() == 'finished'


def search_or_resume(config: SearchConfig, prefix: str, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    """The result of the search ``config`` describes in its run folder ``config.out``: read when it
    finished before, continued from its checkpoint when it was interrupted, else run afresh (in the
    same folder). What sweeps, the quality protocol and retried nnictl trials run."""
    import json

    from .folder import RunFolder

    folder = Path(config.out)
    if finished_before(folder):
        _check_same_search(folder, config)
        _logger.info('%s: finished before, skipped', prefix)
        return json.loads((folder / 'result.json').read_text(encoding='utf-8'))
    if RunFolder(folder).state() in ('interrupted', 'running') and any((folder / 'checkpoints').glob('*.ckpt')):
        _check_same_search(folder, config)
        _logger.info('%s: resuming %s', prefix, folder)
        return resume_search(folder, on_epoch=on_epoch, stop_at=stop_at)
    _logger.info('%s: searching in %s', prefix, folder)
    return run_search(dataclasses.replace(config, overwrite=True), on_epoch=on_epoch, stop_at=stop_at)


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


def _search(config: SearchConfig, resume=None, on_epoch=None, stop_at: Optional[float] = None) -> Dict[str, Any]:
    # Everything that can fail on bad input happens before the run folder is written.
    from ..benchmarks.nb201 import open_benchmark
    from ..spaces import get as get_space
    from .outputs import finish_search

    load_plugins(plugin_modules(config.plugin))  # in a --jobs worker or a DDP rank too: a new process
    follower = handoff.is_follower()
    if follower:
        config, on_epoch = handoff.as_follower(config), None  # rank 0 logs, records and reports to NNI
    spec = get_space(config.space)
    data, data_record = _load_data(config, spec)
    benchmark = open_benchmark(config.nb201_table, config.nats_bench) if spec.benchmark == 'nb201' else None
    apply_thread_policy(config.threads, share=config.devices if _device(config.device).type == 'cpu' else 1)
    check_search_memory(spec, config, data, _device(config.device))
    apply_cuda_math(_device(config.device), config.tf32)
    seed_everything(config.seed)
    space = spec.build(config, data)
    strategy = build_strategy(config)
    module = _evaluator_module(config, spec.kind, data)
    search = Search(config, spec, space, benchmark, data.benchmark or 'cifar10', on_epoch=on_epoch, stop_at=stop_at)
    if follower:
        search.run, search.checkpoint = handoff.follower_folder(config, resume is not None)
    else:
        record = {'config': config.as_dict(), 'versions': _versions(), 'data': data_record,
                  'benchmark': getattr(benchmark, 'path', None)}
        search.run, search.checkpoint = open_run_folder(config, resume, record)
        handoff.hand_off(config, search.run.path, search.checkpoint)
    _logger.info(_banner(config, search.run))
    recorded = search.run.metrics() if resume is not None else []
    search.seconds_before = float(recorded[-1].seconds or 0.0) if recorded else 0.0
    loaders = data.loaders(config.batch_size, config.seed)
    if config.channels_last:
        _channels_last(loaders.values())
    evaluator, checkpoints = _evaluator(search, module, loaders)
    # NNI's final result: the evaluator's own report, unless a caller reports each epoch itself (an
    # nnictl trial) or this rank only follows rank 0.
    module.nni_final_report = search.on_epoch is None and not follower
    started = time.time() - search.seconds_before
    advice = partial(memory_advice, spec, config, data, _device(config.device))
    search_module, sample = train_and_export(strategy, space, evaluator, search.run, checkpoints, config.progress_bar,
                                             advice)
    if follower:  # the same architecture as rank 0's (one search state on every rank); rank 0 writes it
        return {'arch': sample, 'run_folder': str(search.run.path), 'rank': launch_rank()}
    return finish_search(search, search_module, sample, started, loaders['val'])


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


def _load_data(config: SearchConfig, spec):
    """The search splits of the space's kind (images or token sequences), and their record; grey
    images with their channel repeated for a space that takes RGB."""
    if spec.kind == 'text':
        from ..data.text import load_text_data

        data = load_text_data(config.dataset, config.data_dir, config.bptt, config.subset)
        return data, {'name': data.name, 'train_samples': len(data.train[0]), 'val_samples': len(data.val[0]),
                      'vocabulary': data.vocabulary_size, 'sequence_length': data.sequence_length}
    from ..data import load_search_data

    data = load_search_data(config.dataset, config.data_dir, config.subset, config.image_size)
    grey = spec.rgb and data.in_channels == 1
    if grey:
        _logger.info('%s takes RGB images: the grey channel of %s is repeated 3 times', spec.name, data.name)
        data = data.as_rgb()
    return data, {'name': data.name, 'train_samples': len(data.train), 'val_samples': len(data.val),
                  'num_classes': data.num_classes, 'image_size': data.image_size, 'in_channels': data.in_channels,
                  **({'grey_repeated_to_rgb': True} if grey else {})}


def _evaluator_module(config: SearchConfig, kind: str, data):
    """NNI's evaluator module with the search's optimiser: a language model or a classifier."""
    from .evaluator import LanguageModelModule, SearchClassificationModule

    optimiser = dict(learning_rate=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay,
                     eta_min=config.eta_min)
    return LanguageModelModule(**optimiser) if kind == 'text' else SearchClassificationModule(data.num_classes, **optimiser)


def _evaluator(search: Search, module, loaders):
    """NNI's Lightning evaluator with the run folder's recorder, checkpoints and TensorBoard log."""
    import sys

    from ..spaces import describe
    from .checkpoint import CHECKPOINT_DIR, SearchCheckpoint, StopAt
    from .evaluator import ChannelsLast, build_evaluator
    from .folder import RunRecorder
    from .handoff import RankWatch
    from .stop import watching

    config, run, benchmark = search.config, search.run, search.benchmark
    recorder = RunRecorder(run, describe=lambda sample: describe(search.space, sample),
                           lookup=benchmark.lookup if benchmark else None, benchmark_dataset=search.benchmark_dataset,
                           seconds_before=search.seconds_before, on_record=search.on_epoch)
    checkpoints = SearchCheckpoint(run.path / CHECKPOINT_DIR, keep=config.keep_checkpoints)
    logger = False
    if config.tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        logger = TensorBoardLogger(str(run.path / 'tensorboard'), name='', version='', default_hp_metric=False)
    accelerator, devices = lightning_device(config.device, config.devices)
    stop_at = search.stop_at
    evaluator = build_evaluator(module, loaders, max_epochs=config.epochs, logger=logger, precision=config.precision,
                                accelerator=accelerator, devices=devices, num_nodes=config.num_nodes,
                                collective_timeout=config.collective_timeout,
                                callbacks=[recorder, checkpoints, RankWatch()]
                                + ([StopAt(stop_at)] if stop_at or watching() else [])
                                + ([ChannelsLast()] if config.channels_last else []),
                                progress_bar=sys.stdout.isatty() if config.progress_bar is None else config.progress_bar)
    if search.checkpoint is not None:
        # A full (pickle) load: NNI's evaluator module keeps classes in its hyperparameters, which
        # torch's weights_only loading refuses. These are the run's own files; resume only run
        # folders you trust.
        evaluator.fit_kwargs.update(ckpt_path=str(search.checkpoint), weights_only=False)
    return evaluator, checkpoints
