"""A whole search from one config: data, space, strategy, training, export, look-up, run folder.

``nni-cnas search`` is a thin shell over :func:`run_search`; Python users call it directly::

    from .search import SearchConfig, run_search
    result = run_search(SearchConfig(strategy='gdas', curriculum='epoch', dataset='digits', epochs=5,
                                     channels=8, cells=1))
    print(result['arch'], result['lookup'])

Every input is checked before any work starts (:meth:`SearchConfig.resolve`); a bad one raises
:class:`~nni_cnas.errors.UserError` and leaves no run folder behind. Runs on the GPU when there is
one (Lightning's ``accelerator='auto'``), else on the CPU.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import numpy as np

from .._version import __version__
from ..curriculum import ESTIMATORS, PRECISIONS, SCHEDULES
from ..errors import NonFiniteLoss, SearchInterrupted, UserError

__all__ = ['SearchConfig', 'run_search', 'resume_search', 'STRATEGY_NAMES', 'DEVICES']

STRATEGY_NAMES = ('darts', 'darts-v2', 'amended-darts', 'gdas', 'setn', 'rsps', 'enas')
#: Strategies whose architecture parameters are alphas trained by Adam (NNI's DARTS optimiser).
DIFFERENTIABLE = ('darts', 'darts-v2', 'amended-darts', 'gdas', 'setn')
#: Strategies whose weight step trains the whole mixture: no amortised estimator.
MIXTURE = ('darts', 'darts-v2', 'amended-darts')
DEVICES = ('auto', 'cpu', 'gpu', 'cuda', 'mps')
#: Options of one kind of space only, and each kind's defaults (NATS-Bench's image search,
#: DARTS' recurrent search: SGD at a constant 20, weight decay 5e-7, clip 0.25, batch 256).
_IMAGE_ONLY = ('channels', 'cells', 'image_size')
_TEXT_ONLY = ('hidden', 'bptt', 'nodes', 'dropout_scale')
_IMAGE_DEFAULTS = dict(dataset='digits', channels=16, batch_size=64, learning_rate=0.025, eta_min=0.001, momentum=0.9,
                       weight_decay=5e-4, selection_size=512)
_TEXT_DEFAULTS = dict(dataset='ptb', hidden=300, bptt=35, dropout_scale=1.0, batch_size=256, learning_rate=20.0, momentum=0.0,
                      weight_decay=5e-7, grad_clip=0.25, selection_size=64)
_ONLY_FOR = {  # option: strategies it applies to
    'tau_max': ('gdas',), 'tau_min': ('gdas',),
    'controller_steps': ('enas',), 'controller_aggregate': ('enas',),
    'arch_learning_rate': DIFFERENTIABLE + ('enas',),
    'eta': ('amended-darts',), 'hvp': ('amended-darts',),
}


@dataclasses.dataclass
class SearchConfig:
    """Options of a search; ``None`` means the default of the chosen strategy (NATS-Bench's
    weight-sharing settings, see ``nni-cnas search --help``)."""

    space: str = 'nb201'
    strategy: str = 'darts'
    curriculum: str = 'epoch'
    k: Optional[int] = None
    estimator: str = 'exact'
    uncertainty_precision: str = 'auto'
    dataset: Optional[str] = None  # digits (image spaces) or ptb (recurrent spaces)
    data_dir: Optional[str] = None
    subset: Optional[int] = None
    image_size: Optional[int] = None
    epochs: int = 100
    batch_size: Optional[int] = None
    channels: Optional[int] = None
    cells: Optional[int] = None  # per stage; default 5 (nb201) or 2 (darts, nasnet)
    stem: str = 'cifar'
    hidden: Optional[int] = None  # recurrent spaces: hidden and embedding size
    bptt: Optional[int] = None  # recurrent spaces: tokens per sequence (sample)
    nodes: Optional[int] = None  # recurrent spaces: nodes of the cell (default 8 DARTS, 12 ENAS)
    dropout_scale: Optional[float] = None  # recurrent spaces: times DARTS' dropout rates (default 1)
    learning_rate: Optional[float] = None
    eta_min: Optional[float] = None
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    grad_clip: Optional[float] = None
    arch_learning_rate: Optional[float] = None
    num_candidates: int = 100
    selection_size: Optional[int] = None
    close: bool = False  # nb201: CLOSE's curriculum on the sharing extent (a CLOSENet supernet)
    close_blocks: Optional[int] = None  # CLOSE: blocks the pool grows to (default 4)
    close_epochs: Optional[str] = None  # CLOSE: comma-separated 0-based growth epochs (default: scaled)
    rank_cells: int = 0
    rank_samples: int = 1000
    tau_max: Optional[float] = None
    tau_min: Optional[float] = None
    controller_steps: Optional[int] = None
    controller_aggregate: Optional[int] = None
    eta: Optional[float] = None
    hvp: Optional[str] = None
    seed: int = 0
    device: str = 'auto'
    out: Optional[str] = None
    overwrite: bool = False
    nb201_table: Optional[str] = None
    nats_bench: Optional[str] = None
    progress_bar: Optional[bool] = None  # None: a per-step bar when the output is a terminal
    tensorboard: bool = True  # Lightning's TensorBoard log in <out>/tensorboard

    def resolve(self) -> 'SearchConfig':
        """Check every option and fill the strategy's defaults; raises :class:`UserError`."""
        from ..data import DATASETS
        from ..data.text import TEXT_DATASETS
        from ..strategies.differentiable.hypergradient import HVP_METHODS
        from ..spaces import STEMS
        from ..spaces import DEFAULT_CELLS, SPACES, TEXT_SPACES

        def choose(name, value, choices):
            if value not in choices:
                raise UserError(f'unknown {name} {value!r}; choose one of {", ".join(choices)}')

        choose('space', self.space, SPACES)
        choose('strategy', self.strategy, STRATEGY_NAMES)
        choose('curriculum', self.curriculum, SCHEDULES)
        choose('estimator', self.estimator, ESTIMATORS)
        choose('uncertainty precision', self.uncertainty_precision, PRECISIONS)
        text = self.space in TEXT_SPACES
        if self.dataset is not None:
            choose('dataset', self.dataset, TEXT_DATASETS if text else DATASETS)
        choose('device', self.device, DEVICES)
        choose('stem', self.stem, STEMS)
        own, other = (_TEXT_ONLY, _IMAGE_ONLY) if text else (_IMAGE_ONLY, _TEXT_ONLY)
        for name in other:
            if getattr(self, name) is not None:
                kind = 'the image spaces (nb201, darts, nasnet)' if text else 'the recurrent spaces (rnn-darts, rnn-enas)'
                raise UserError(f'--{name.replace("_", "-")} applies to {kind}, not to {self.space}')
        if text and self.stem != 'cifar':
            raise UserError(f'--stem applies to the darts and nasnet spaces, not to {self.space}')
        if self.space == 'nb201':
            if self.stem != 'cifar':
                raise UserError('--stem applies to the darts and nasnet spaces; NAS-Bench-201 has its own stem')
        else:
            for name in ('rank_cells', 'nb201_table', 'nats_bench'):
                if getattr(self, name):
                    raise UserError(f'--{name.replace("_", "-")} needs NAS-Bench-201 (--space nb201); '
                                    f'{self.space} cells are not in the benchmark')
        for name, strategies in _ONLY_FOR.items():
            if getattr(self, name) is not None and self.strategy not in strategies:
                raise UserError(f'--{name.replace("_", "-")} applies to {"/".join(strategies)}, not to {self.strategy}')
        if self.curriculum == 'none' and self.k not in (None, 0):
            raise UserError('--k sets the curriculum\'s subnets, but --curriculum is none; drop --k or choose '
                            'a schedule (epoch or batch)')
        if self.estimator == 'amortised' and self.strategy in MIXTURE:
            raise UserError(f'--estimator amortised reuses single-path training losses (rsps, gdas, setn, enas); '
                            f'{self.strategy} trains the whole mixture: use --estimator exact')
        if self.hvp is not None:
            choose('hvp', self.hvp, HVP_METHODS)
        if self.eta is not None and not self.eta >= 0:
            raise UserError(f'--eta must be 0 or more, not {self.eta}')
        if self.uncertainty_precision != 'auto' and (self.curriculum == 'none' or self.estimator != 'exact'):
            raise UserError('--uncertainty-precision sets the exact estimator\'s passes; this search runs none '
                            '(drop it, or use --curriculum epoch|batch --estimator exact)')
        if self.estimator != 'exact' and self.curriculum == 'none':
            raise UserError('--estimator sets how the curriculum measures uncertainty, but --curriculum is none')
        if self.dataset in (None, 'digits') and not text and self.data_dir is not None:
            raise UserError('digits is embedded and takes no --data-dir')
        positive = ['epochs', 'batch_size', 'channels', 'cells', 'num_candidates', 'selection_size',
                    'learning_rate', 'controller_steps', 'controller_aggregate', 'arch_learning_rate', 'subset',
                    'image_size', 'rank_samples', 'hidden', 'bptt', 'nodes']
        for name in positive:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f'--{name.replace("_", "-")} must be positive, not {value}')
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f'--{field.name.replace("_", "-")} must be a finite number, not {value}')
        if self.dropout_scale is not None and not 0 <= self.dropout_scale < 4 / 3:
            raise UserError(f'--dropout-scale multiplies DARTS\' dropout rates (0.75 the largest): it must be in [0, 4/3), '
                            f'not {self.dropout_scale}')
        for name in ('eta_min', 'momentum', 'weight_decay'):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise UserError(f'--{name.replace("_", "-")} must not be negative')
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise UserError(f'--grad-clip must be positive, not {self.grad_clip}')
        if not 0 <= self.rank_cells <= 15625:
            raise UserError(f'--rank-cells must be between 0 (off) and 15625 (every cell), not {self.rank_cells}')
        if self.k is not None and self.k < 0:
            raise UserError(f'--k must be 0 or more (0 is the plain algorithm), not {self.k}')
        self._check_close()
        _check_device(self.device)

        resolved = dataclasses.replace(self)
        resolved.cells = DEFAULT_CELLS[self.space] if self.cells is None else self.cells
        for name, value in (_TEXT_DEFAULTS if text else _IMAGE_DEFAULTS).items():
            if getattr(resolved, name) is None:
                setattr(resolved, name, value)
        if resolved.eta_min is None:  # recurrent spaces: a constant rate, as DARTS searches
            resolved.eta_min = resolved.learning_rate
        resolved.k = (0 if self.curriculum == 'none' else 5) if self.k is None else self.k
        if self.strategy == 'gdas':
            resolved.tau_max = 10.0 if self.tau_max is None else self.tau_max
            resolved.tau_min = 0.1 if self.tau_min is None else self.tau_min
            if not resolved.tau_max >= resolved.tau_min > 0:
                raise UserError(f'GDAS needs --tau-max >= --tau-min > 0, got {resolved.tau_max} and {resolved.tau_min}')
        if self.strategy == 'enas':
            resolved.controller_steps = self.controller_steps or 50
            resolved.controller_aggregate = self.controller_aggregate or 20
        if self.strategy == 'amended-darts':
            resolved.eta = 0.1 if self.eta is None else self.eta
            resolved.hvp = self.hvp or 'exact'
        if self.strategy in DIFFERENTIABLE + ('enas',) and self.arch_learning_rate is None:
            resolved.arch_learning_rate = 1e-3 if self.strategy == 'enas' else (3e-3 if text else 3e-4)
        if self.close:
            resolved.close_blocks = self.pool_size()
        if resolved.out is None:
            stamp = time.strftime('%Y%m%d-%H%M%S')
            space = f'{self.space}-close' if self.close else self.space
            resolved.out = f'runs/{space}-{self.strategy}-{self.curriculum}-k{resolved.k}-{resolved.dataset}-s{self.seed}-{stamp}'
        return resolved

    def growth_epochs(self) -> Optional[list]:
        """CLOSE's growth epochs from ``close_epochs`` (``'2,4,6'``), or None for the default schedule."""
        if self.close_epochs is None:
            return None
        try:
            return [int(part) for part in self.close_epochs.split(',')]
        except ValueError:
            raise UserError(f'--close-epochs takes comma-separated epochs such as 2,4,6, not {self.close_epochs!r}') from None

    def pool_size(self) -> int:
        """CLOSE's blocks: one more than the growth epochs when they are given, else ``close_blocks``."""
        from ..spaces.close import DEFAULT_BLOCKS

        growth = self.growth_epochs()
        return len(growth) + 1 if growth is not None else (self.close_blocks or DEFAULT_BLOCKS)

    def _check_close(self) -> None:
        from ..spaces.close import check_growth_epochs, default_growth_epochs

        if not self.close:
            for name in ('close_blocks', 'close_epochs'):
                if getattr(self, name) is not None:
                    raise UserError(f'--{name.replace("_", "-")} configures CLOSE; add --close')
            return
        if self.space != 'nb201':
            raise UserError(f'--close builds a CLOSENet of the NAS-Bench-201 space (--space nb201), not of {self.space}')
        if self.close_blocks is not None and self.close_blocks < 1:
            raise UserError(f'--close-blocks must be at least 1, not {self.close_blocks}')
        growth = self.growth_epochs()
        try:
            if growth is None:
                default_growth_epochs(self.pool_size(), self.epochs)
            else:
                check_growth_epochs(growth, self.epochs)
        except ValueError as error:
            raise UserError(f'--close-epochs: {error}' if growth is not None
                            else f'{error} (--close-blocks N or --close-epochs E1,E2,...)') from None
        if growth is not None and self.close_blocks is not None and self.close_blocks != len(growth) + 1:
            raise UserError(f'--close-epochs {self.close_epochs} grows the pool to {len(growth) + 1} blocks, '
                            f'--close-blocks says {self.close_blocks}; give one of them')

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = 'config') -> 'SearchConfig':
        """A config from a mapping (a YAML file, a run's ``config.yaml``), checking names and types."""
        if not isinstance(values, Mapping):
            raise UserError(f'{source} must be a mapping of option names to values, not {type(values).__name__}')
        fields = {field.name: field for field in dataclasses.fields(cls)}
        for name, value in values.items():
            if name not in fields:
                raise UserError(f'{source}: unknown option {name!r}; options are {", ".join(fields)}')
            annotation = str(fields[name].type)
            optional = annotation.startswith('Optional[')
            kind = annotation[len('Optional['):-1] if optional else annotation
            if value is None and optional:
                continue
            accepted = {'int': (int,), 'float': (int, float), 'str': (str,), 'bool': (bool,)}[kind]
            if not isinstance(value, accepted) or (isinstance(value, bool) and kind != 'bool'):
                raise UserError(f'{source}: {name} must be {"an" if kind == "int" else "a"} {kind}'
                                f'{" or null" if optional else ""}, not {value!r}')
        return cls(**values)


def _check_device(device: str) -> None:
    import torch

    if device in ('gpu', 'cuda') and not torch.cuda.is_available():
        raise UserError(f'--device {device}: torch sees no CUDA GPU here; use --device cpu (or auto)')
    if device == 'mps' and not torch.backends.mps.is_available():
        raise UserError('--device mps: this machine has no Apple GPU; use --device cpu (or auto)')


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
    """The strategy object for a resolved config."""
    from ..strategies import STRATEGIES

    common = dict(curriculum=config.curriculum, k=config.k, estimator=config.estimator,
                  uncertainty_precision=config.uncertainty_precision, num_candidates=config.num_candidates,
                  selection_size=config.selection_size, seed=config.seed, gradient_clip_val=config.grad_clip)
    if config.strategy in DIFFERENTIABLE:
        common['arc_learning_rate'] = config.arch_learning_rate
    if config.strategy == 'amended-darts':
        common.update(eta=config.eta, hvp=config.hvp)
    if config.strategy == 'gdas':
        common.update(tau_max=config.tau_max, tau_min=config.tau_min)
    if config.strategy == 'enas':
        common.update(ctrl_learning_rate=config.arch_learning_rate, controller_steps=config.controller_steps,
                      controller_aggregate=config.controller_aggregate)
    return STRATEGIES[config.strategy](**common)


def _write_ranks(run, sample) -> None:
    """``ranks.csv``: the found architecture's rank under each epoch's policy (differentiable searches)."""
    from ..experiments.policy_ranks import trace_ranks, write_rank_csv

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
    """``ranking.csv`` and the ranking summary: the supernet's accuracy of random cells (issue 9)."""
    from ..experiments.supernet_ranking import rank_supernet
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
    from ..strategies.base import perplexity

    return {'val_ppl': perplexity(-score)} if search_module.sequence_task else {'val_acc': score}


def run_search(config: SearchConfig, stream=None, on_epoch=None) -> Dict[str, Any]:
    """Run one search; returns the result also written to ``<out>/result.json``.

    ``on_epoch(record)`` is called with each epoch's ``metrics.jsonl`` record; a caller that passes
    it reports to NNI itself (:mod:`nni_cnas.run.trial`), so the evaluator's own final report is off."""
    return _search(config.resolve(), stream or sys.stdout, on_epoch=on_epoch)


def resume_search(run_folder, stream=None) -> Dict[str, Any]:
    """Continue a search from the newest usable checkpoint in its run folder, with its own config.
    On the CPU the result is bit-identical to a search that was never interrupted."""
    from .folder import RunFolder

    run = RunFolder(Path(run_folder))
    config = SearchConfig.from_mapping(run.read_record()['config'], f'{run.path}/config.yaml').resolve()
    return _search(dataclasses.replace(config, out=str(run.path)), stream or sys.stdout, resume=run)


def _search(config: SearchConfig, stream, resume=None, on_epoch=None) -> Dict[str, Any]:
    # Everything that can fail on bad input happens before the run folder is written.
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from ..benchmarks.nb201 import open_benchmark
    from .checkpoint import CHECKPOINT_DIR, SearchCheckpoint, checkpoint_order, latest_checkpoint
    from ..data import load_search_data
    from ..data.text import load_text_data
    from .evaluator import LanguageModelModule, SearchClassificationModule, build_evaluator
    from .folder import RunFolder, RunRecorder
    from ..arch.decisions import decisions_of
    from ..spaces import TEXT_SPACES, build_space, build_text_space, describe_sample
    from ..arch.sampling import check_k

    text = config.space in TEXT_SPACES
    if text:
        data = load_text_data(config.dataset, config.data_dir, config.bptt, config.subset)
        data_record = {'name': data.name, 'train_samples': len(data.train[0]), 'val_samples': len(data.val[0]),
                       'vocabulary': data.vocabulary_size, 'sequence_length': data.sequence_length}
    else:
        data = load_search_data(config.dataset, config.data_dir, config.subset, config.image_size)
        data_record = {'name': data.name, 'train_samples': len(data.train), 'val_samples': len(data.val),
                       'num_classes': data.num_classes, 'image_size': data.image_size, 'in_channels': data.in_channels}
    benchmark = open_benchmark(config.nb201_table, config.nats_bench) if config.space == 'nb201' else None
    seed_everything(config.seed)
    if text:
        space = build_text_space(config.space, data.vocabulary_size, config.hidden, config.nodes, config.dropout_scale)
    else:
        space = build_space(config.space, config.channels, config.cells, data.num_classes, data.in_channels, config.stem,
                            close_blocks=config.close_blocks, growth_epochs=config.growth_epochs())
    try:
        check_k(config.k, decisions_of(space).options)
    except ValueError as error:
        raise UserError(str(error)) from None
    strategy = build_strategy(config)
    optimiser = dict(learning_rate=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay,
                     eta_min=config.eta_min)
    module = LanguageModelModule(**optimiser) if text else SearchClassificationModule(data.num_classes, **optimiser)

    if resume is not None:
        run = resume
        checkpoint_path = latest_checkpoint(run.path / CHECKPOINT_DIR,
                                            warn=lambda message: print(f'warning: {message}', file=stream, flush=True))
        run.keep_metrics_through(checkpoint_order(checkpoint_path)[0])
        run.set_status('running', resumed_from=checkpoint_path.name)
        print(f'resuming from {checkpoint_path}', file=stream, flush=True)
    else:
        record = {
            'config': config.as_dict(), 'versions': _versions(),
            'data': data_record,
            'benchmark': getattr(benchmark, 'path', None),
        }
        run = RunFolder.create(Path(config.out), record, overwrite=config.overwrite)
        checkpoint_path = None
    benchmark_dataset = data.benchmark or 'cifar10'
    recorded = run.metrics() if resume is not None else []
    seconds_before = float(recorded[-1].get('seconds', 0.0)) if recorded else 0.0
    recorder = RunRecorder(run, describe=lambda sample: describe_sample(space, sample), lookup=benchmark.lookup if benchmark else None,
                           benchmark_dataset=benchmark_dataset, stream=stream, seconds_before=seconds_before,
                           on_record=on_epoch)
    module.nni_final_report = on_epoch is None
    checkpoints = SearchCheckpoint(run.path / CHECKPOINT_DIR)
    accelerator = 'gpu' if config.device == 'cuda' else config.device
    loaders = data.loaders(config.batch_size, config.seed)
    logger = False
    if config.tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        logger = TensorBoardLogger(str(run.path / 'tensorboard'), name='', version='', default_hp_metric=False)
    evaluator = build_evaluator(module, loaders, max_epochs=config.epochs, logger=logger,
                                accelerator=accelerator, callbacks=[recorder, checkpoints],
                                progress_bar=stream.isatty() if config.progress_bar is None else config.progress_bar)
    if checkpoint_path is not None:
        # A full (pickle) load: NNI's evaluator module keeps classes in its hyperparameters, which
        # torch's weights_only loading refuses. These are the run's own files; resume only run
        # folders you trust.
        evaluator.fit_kwargs.update(ckpt_path=str(checkpoint_path), weights_only=False)
    started = time.time() - seconds_before
    try:
        supernet = strategy.mutate_model(space)
        strategy.mutate_evaluator(evaluator).evaluate(supernet)
        search_module = strategy.search_module
        sample = search_module.export()
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
    arch = describe_sample(space, sample)
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
        'benchmark_dataset': benchmark_dataset,
        'lookup_test': lookup[benchmark_dataset]['test'] if lookup else None,
        'search_seconds': round(time.time() - started, 2),
        'run_folder': str(run.path),
    }
    if config.space != 'nb201':
        result['genotype'] = _write_genotype(run, space.genotype(sample))
    if config.rank_cells:
        result['ranking'] = _rank_cells(config, search_module, loaders['val'], benchmark, benchmark_dataset, run, stream)
    run.write_result(result)
    if config.space == 'nb201':
        _write_ranks(run, sample)
    run.set_status('finished')
    return result

