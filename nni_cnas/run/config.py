"""The options of one search, each declared once with its default, its help and the checks it
needs; the CLI builds ``nni-cnas search``'s options from these declarations and from the strategy
registry (:mod:`nni_cnas.strategies.registry`), which holds each strategy's own options.

Every input is checked by :meth:`SearchConfig.resolve` before any work starts; a bad one raises
:class:`~nni_cnas.errors.UserError` (one line naming the option and how to fix it).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from ..curriculum.config import (ESTIMATOR_MEASURES, ESTIMATORS, PRECISIONS, SCHEDULES, CurriculumConfig,
                                 measure_of_estimator)
from ..curriculum.parts import MEASURES, WEIGHTINGS, measure_names, weighting_names
from ..plugins import load_plugins, plugin_modules
from ..errors import UserError
from ..launch import RUN_FOLDER_ENV
from ..files import check_writable_folder
from ..resources import TRAINING_PRECISIONS
from ..spaces.contract import KIND_NAMES, STEMS
from ..strategies import registry

__all__ = ['SearchConfig', 'DEVICES', 'GROUPS', 'CURRICULUM_PARTS', 'flag_of']

DEVICES = ('auto', 'cpu', 'gpu', 'cuda', 'mps')
#: ``cuda:I``: one GPU by its index (also accepted for --device).
_CUDA_INDEX = re.compile(r'cuda:(\d+)')


def cuda_index(device: str) -> Optional[int]:
    """The GPU index of ``--device cuda:I``, else None."""
    match = _CUDA_INDEX.fullmatch(device or '')
    return int(match.group(1)) if match else None


def lightning_device(device: str, devices: int = 1) -> Tuple[str, Any]:
    """Lightning's ``(accelerator, devices)`` of ``--device`` and ``--devices``: ``cuda:I`` is GPU
    ``[I]``, ``devices`` processes (GPUs) per machine otherwise."""
    index = cuda_index(device)
    if index is not None:
        return 'gpu', [index]
    return ('gpu' if device == 'cuda' else device), devices
#: The curriculum's defaults (the paper's method), written once in :class:`CurriculumConfig`.
_CURRICULUM = CurriculumConfig()
#: The options of the data curriculum's parts besides its schedule and K (none of them may be set
#: without a curriculum; a plain run drops them).
CURRICULUM_PARTS = ('measure', 'weighting', 'alpha', 'curriculum_start', 'estimator', 'uncertainty_precision',
                    'measure_options', 'weighting_options')
#: The CLI's option groups, in the order ``--help`` shows them.
GROUPS = ('what to search', 'data', 'network and training', 'strategy', 'run')


def _option(default: Any = None, help: str = '', *, group: str = 'network and training', flag: Optional[str] = None,
            by_kind: Optional[Mapping[str, Any]] = None, kinds: Optional[tuple] = None, choices: Any = None,
            positive: bool = False, minimum: Optional[float] = None, default_text: Optional[str] = None,
            cli: bool = True) -> Any:
    """A config field with what the CLI and :meth:`SearchConfig.resolve` need to know of it:
    ``by_kind`` gives defaults that depend on the space's kind (image or text), ``kinds`` the kinds
    it applies to, ``choices`` the allowed values (or a function returning them), ``default_text``
    the help's default where it is computed (per space, per strategy)."""
    return dataclasses.field(default=default, metadata=dict(
        help=help, group=group, flag=flag, by_kind=by_kind or {}, kinds=kinds, choices=choices,
        positive=positive, minimum=minimum, default_text=default_text, cli=cli))


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get('flag') or '--' + field.name.replace('_', '-')


def _strategy_names():
    return registry.names()


def _space_names():
    from ..spaces import names

    return names()


@dataclasses.dataclass
class SearchConfig:
    """Options of a search; ``None`` means the default for the chosen space and strategy
    (NATS-Bench's weight-sharing settings on images, DARTS' on language models).

    A strategy's own options (``tau_max``, ``controller_steps``, ...; see
    :mod:`nni_cnas.strategies.registry`) are keyword arguments too and live in
    :attr:`strategy_options`; ``config.tau_max`` reads them.
    """

    space: str = _option('nb201', 'search space', group='what to search', choices=_space_names)
    strategy: str = _option('darts', 'base algorithm', group='what to search', choices=_strategy_names)
    curriculum: str = _option(_CURRICULUM.schedule, 'data curriculum schedule: epoch (weights recomputed after each '
                              'epoch, the authors\' code), batch (on each batch, the paper\'s Algorithm 1), sample '
                              '(the epoch\'s weights draw the next epoch\'s samples, the loss unweighted) or none',
                              group='what to search', choices=SCHEDULES)
    k: Optional[int] = _option(None, 'subnets that measure uncertainty (0 = the plain algorithm)', group='what to search',
                               minimum=0, default_text='5; 0 with --curriculum none')
    measure: str = _option(_CURRICULUM.measure, 'how hard each sample is: uncertainty (K extra forward passes of the '
                           'K best subnets, the paper), amortised (single-path strategies: the last K training '
                           'losses, no extra pass), loss (the trained path\'s own loss, K-free) or another registered '
                           'one (disagreement, margin, ...: the module nni_cnas.curriculum.parts lists each)',
                           group='what to search', choices=measure_names)
    measure_options: Optional[str] = _option(None, 'the measure\'s own options as KEY=VALUE items, e.g. '
                                             '"subnets=uniform"', group='what to search',
                                             default_text=lambda: _part_options_help(MEASURES))
    weighting: str = _option(_CURRICULUM.weighting, 'difficulty to data weights: proportional (v ~ d^alpha; Eq. 11 '
                             'at alpha 1), inverse (v ~ d^-alpha, easy first), self-paced (the easiest share of the '
                             'samples, half to all over the epochs) or permuted (the control: proportional weights '
                             'shuffled across samples)', group='what to search', choices=weighting_names)
    weighting_options: Optional[str] = _option(None, 'the weighting\'s own options as KEY=VALUE items, e.g. '
                                               '"initial_share=0.2"', group='what to search',
                                               default_text=lambda: _part_options_help(WEIGHTINGS))
    alpha: float = _option(_CURRICULUM.alpha, 'power of the proportional, inverse and permuted weightings (0 = the '
                           'plain algorithm)', group='what to search', minimum=0)
    curriculum_start: float = _option(_CURRICULUM.start, 'first epoch with data weights: a share of the epochs below '
                                      '1 (0.5 = the second half), an epoch number from 1 up', group='what to search',
                                      minimum=0)
    estimator: Optional[str] = _option(None, 'the former name of --measure: exact (= uncertainty) or amortised',
                                       group='what to search', choices=ESTIMATORS)
    uncertainty_precision: str = _option(_CURRICULUM.uncertainty_precision, 'arithmetic of the uncertainty '
                                         'measure\'s passes: auto (bf16 autocast on a CUDA GPU that computes bf16 '
                                         'natively, else fp32), fp32 or bf16', group='what to search',
                                         choices=PRECISIONS)
    dataset: Optional[str] = _option(None, 'digits (embedded), cifar10, cifar100, imagenet16-120, folder; ptb for the '
                                     'recurrent spaces', group='data', by_kind={'image': 'digits', 'text': 'ptb'})
    data_dir: Optional[str] = _option(None, 'folder or zip holding the dataset (cifar10 and ptb default to '
                                      '../shared/data)', group='data')
    subset: Optional[int] = _option(None, 'keep only this many samples (recurrent: sequences) of each search split',
                                    group='data', positive=True)
    image_size: Optional[int] = _option(None, 'resize the images to this many pixels a side (default: as stored)',
                                        group='data', kinds=('image',), positive=True)
    epochs: int = _option(100, positive=True)
    batch_size: Optional[int] = _option(None, by_kind={'image': 64, 'text': 256}, positive=True)
    channels: Optional[int] = _option(None, 'width C of the network', kinds=('image',), by_kind={'image': 16},
                                      positive=True)
    cells: Optional[int] = _option(None, 'cells per stage N', kinds=('image',), positive=True,
                                   default_text=lambda: ', '.join(f'{spec.name} {spec.default_cells}'
                                                                  for spec in _all_spaces() if spec.default_cells))
    space_options: Optional[str] = _option(None, 'NNI hub spaces (nni:...): constructor arguments as KEY=VALUE items, '
                                           'a choice as a tuple, e.g. "width=(8,16) num_cells=4" (the other spaces\' '
                                           'own options are flags of their own: --close, --hidden, ...)')
    stem: str = _option('cifar', 'input stem of the spaces that offer one: cifar (one 3x3 conv) or imagenet (three '
                        'stride-2 convs)', choices=STEMS)
    bptt: Optional[int] = _option(None, 'recurrent spaces: tokens per sequence, the curriculum\'s sample',
                                  kinds=('text',), by_kind={'text': 35}, positive=True)
    learning_rate: Optional[float] = _option(None, 'weight learning rate', flag='--lr',
                                             by_kind={'image': 0.025, 'text': 20.0}, positive=True)
    eta_min: Optional[float] = _option(None, 'final learning rate of the cosine schedule', minimum=0,
                                       by_kind={'image': 0.001}, default_text='0.001; recurrent spaces: the learning '
                                       'rate, constant')
    momentum: Optional[float] = _option(None, 'SGD momentum', by_kind={'image': 0.9, 'text': 0.0}, minimum=0)
    weight_decay: Optional[float] = _option(None, by_kind={'image': 5e-4, 'text': 5e-7}, minimum=0)
    precision: str = _option('32', 'Lightning\'s precision of the training steps: 32, bf16-mixed (bf16 autocast; the '
                             'finite-difference hypergradients stay fp32) or 16-mixed (fp16 autocast, CUDA only)',
                             choices=TRAINING_PRECISIONS)
    grad_clip: Optional[float] = _option(None, 'clip the weight gradients\' norm', by_kind={'text': 0.25},
                                         positive=True, default_text='off; recurrent spaces 0.25')
    num_candidates: int = _option(registry.NUM_CANDIDATES, 'RSPS/SETN/ENAS: candidates scored for the final choice', flag='--candidates',
                                  positive=True)
    selection_size: Optional[int] = _option(None, 'validation samples that score candidates',
                                            by_kind={'image': registry.SELECTION_SIZE, 'text': 64}, positive=True)
    rank_cells: int = _option(0, 'after the search, score this many random cells with the supernet and rank them '
                              'against NAS-Bench-201 (Kendall tau; 0: off)')
    rank_samples: int = _option(1000, 'validation images that score them', positive=True)
    seed: int = _option(0, group='run')
    device: str = _option('auto', 'auto is the GPU when there is one; cuda:I is GPU I', group='run', choices=DEVICES)
    devices: int = _option(1, 'processes of one search on this machine, one GPU each (or CPU processes): Lightning\'s '
                           'DDP, the batches split across them', group='run', positive=True)
    num_nodes: int = _option(1, 'machines of one search, each running --devices processes (started by torchrun or '
                             'the cluster; --out on a shared file system)', group='run', positive=True)
    collective_timeout: float = _option(600.0, 'seconds a process of a search on several (--devices, --num-nodes) '
                                        'waits for the others before it fails (torch\'s default: 30 minutes)',
                                        group='run', positive=True)
    threads: Optional[int] = _option(None, 'CPU threads of torch (0: torch\'s own default)', group='run', minimum=0,
                                     default_text='the cores this process may use; OpenMP waits passively')
    out: Optional[str] = _option(None, 'run folder', group='run',
                                 default_text='runs/<space>-<strategy>-<curriculum>-k<k>-<dataset>-s<seed>-<time>')
    overwrite: bool = _option(False, 'reuse an existing run folder', group='run')
    nb201_table: Optional[str] = _option(None, 'NAS-Bench-201 accuracy table CSV (or .csv.xz)', group='run',
                                         default_text='$NNI_CNAS_NB201_TABLE, else the table that ships with nni_cnas')
    nats_bench: Optional[str] = _option(None, 'official NATS-Bench topology file/folder, looked up through nats_bench',
                                        group='run')
    progress_bar: Optional[bool] = _option(None, 'Lightning\'s per-step progress bar', group='run',
                                           default_text='on when the output is a terminal')
    tensorboard: bool = _option(True, 'Lightning\'s TensorBoard log in RUN/tensorboard', group='run')
    plugin: Optional[str] = _option(None, 'modules of your own parts to import first, comma-separated (a strategy, space, '
                                    'measure or weighting that registers itself); recorded, so that --resume, --jobs '
                                    'workers and nnictl trials import them too', group='run',
                                    default_text='none; installed packages\' nni_cnas.plugins entry points always')
    keep_checkpoints: int = _option(2, 'epoch checkpoints kept in RUN/checkpoints, the newest (0: every epoch\'s, '
                                    'so that nni-cnas rescore --epoch can score the supernet of any epoch)',
                                    group='run', minimum=0)
    channels_last: Optional[bool] = _option(None, 'the supernet and its batches in channels-last memory format (NHWC, '
                                            'the layout of tensor-core convolutions; measured by benchmarks/gpu/check.py '
                                            'before it becomes a default)', group='run', kinds=('image',),
                                            default_text='off')
    tf32: bool = _option(True, 'on a CUDA GPU: TF32 for float32 matmuls and convolutions (Ampere and later); '
                         '--no-tf32 keeps them in full fp32 (cuDNN benchmarks its algorithms either way)', group='run')
    compile: bool = _option(False, 'torch.compile the steps whose forward is the whole mixed supernet (DARTS\' weight '
                            'and architecture steps, DARTS-V2\'s and Amended-DARTS\' weight step, SETN\'s architecture '
                            'step): the same graph at every step, compiled once (the first steps wait for it); '
                            'path strategies have no such step and refuse it', group='run')
    compile_backend: str = _option(registry.COMPILE_BACKEND, 'torch.compile\'s backend with --compile: inductor '
                                   '(generated kernels; on the CPU it needs a C++ compiler) or e.g. aot_eager', group='run')
    strategy_options: Dict[str, Any] = dataclasses.field(default_factory=dict, metadata=dict(cli=False))
    #: The space's own options (declared by the space: ``close``, ``hidden``, ...; not ``space_options``,
    #: the hub spaces' constructor arguments); ``config.close`` reads them.
    space_settings: Dict[str, Any] = dataclasses.field(default_factory=dict, metadata=dict(cli=False))

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: the strategy's and the space's own options (None
        # when not set).
        if name not in ('strategy_options', 'space_settings'):
            if name in registry.option_names():
                return self.strategy_options.get(name)
            if name in _space_option_names():
                return self.space_settings.get(name)
        raise AttributeError(f'{type(self).__name__} has no option {name!r}')

    # ------------------------------------------------------------------ checks and defaults

    def resolve(self) -> 'SearchConfig':
        """Check every option and fill the defaults of the space and strategy; raises :class:`UserError`."""
        from ..spaces import get as get_space

        load_plugins(plugin_modules(self.plugin))  # their names are among the choices below
        for field in _fields():
            value = getattr(self, field.name)
            choices = field.metadata['choices']
            if value is not None and choices is not None:
                allowed = choices() if callable(choices) else choices
                if value not in allowed and not (field.name == 'device' and cuda_index(value) is not None):
                    raise UserError(f'unknown {field.name.replace("_", " ")} {value!r}; choose one of {", ".join(allowed)}')
        space = get_space(self.space)
        strategy = registry.get(self.strategy)
        self._check_values(space)
        self._check_applicability(space, strategy)
        self._check_curriculum(strategy)
        self._check_processes()
        _check_device(self.device)
        if self.precision == '16-mixed' and not _uses_cuda(self.device):
            raise UserError('--precision 16-mixed needs a CUDA GPU; on the CPU use bf16-mixed or 32')
        if self.out is not None:
            check_writable_folder(Path(self.out))
        if self.dataset is not None:
            from ..data import DATASETS
            from ..data.text import TEXT_DATASETS

            allowed = TEXT_DATASETS if space.kind == 'text' else DATASETS
            if self.dataset not in allowed:
                raise UserError(f'unknown dataset {self.dataset!r}; choose one of {", ".join(allowed)}')
        if self.dataset in (None, 'digits') and space.kind == 'image' and self.data_dir is not None:
            raise UserError('digits is embedded and takes no --data-dir')

        resolved = dataclasses.replace(self)
        for field in _fields():
            if getattr(resolved, field.name) is None and space.kind in field.metadata['by_kind']:
                setattr(resolved, field.name, field.metadata['by_kind'][space.kind])
        if resolved.cells is None:
            resolved.cells = space.default_cells
        if resolved.eta_min is None:  # recurrent spaces: a constant rate, as DARTS searches
            resolved.eta_min = resolved.learning_rate
        resolved.k = (0 if self.curriculum == 'none' else _CURRICULUM.k) if self.k is None else self.k
        resolved.measure, resolved.estimator = self._measure(), None
        resolved.strategy_options = strategy.resolve(self.strategy_options, space.kind)
        resolved.space_settings = space.resolve_options(self.space_settings, self)
        if resolved.out is None:
            stamp = time.strftime('%Y%m%d-%H%M%S')
            name = f'{self.space}-close' if self.close else self.space
            resolved.out = (f'runs/{name}-{self.strategy}-{self.curriculum}-k{resolved.k}-{resolved.dataset}-'
                            f's{self.seed}-{stamp}')
        resolved.__dict__['_resolved'] = True  # not a field: dataclasses.replace makes an unresolved copy
        return resolved

    @property
    def is_resolved(self) -> bool:
        """Whether this config is what :meth:`resolve` returned (checked, its defaults filled in)."""
        return self.__dict__.get('_resolved', False)

    def _check_values(self, space) -> None:
        for field in _fields():
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f'{flag_of(field)} must be a finite number, not {value}')
            if value is None or isinstance(value, bool):
                continue
            if field.metadata['positive'] and not value > 0:
                raise UserError(f'{flag_of(field)} must be positive, not {value}')
            minimum = field.metadata['minimum']
            if minimum is not None and not value >= minimum:
                raise UserError(f'{flag_of(field)} must be {minimum:g} or more'
                                f'{" (0 is the plain algorithm)" if field.name == "k" else ""}, not {value}')
        if not 0 <= self.rank_cells <= 15625:
            raise UserError(f'--rank-cells must be between 0 (off) and 15625 (every cell), not {self.rank_cells}')

    def _check_applicability(self, space, strategy) -> None:
        """Options of one kind of space, of spaces with a stem or a benchmark, or of some strategies."""
        for field in _fields():
            kinds = field.metadata['kinds']
            if kinds and space.kind not in kinds and getattr(self, field.name) is not None:
                which = ', '.join(spec.name for spec in _all_spaces() if spec.kind in kinds)
                raise UserError(f'{flag_of(field)} applies to the {KIND_NAMES[kinds[0]]} ({which}), not to {self.space}')
        if self.stem != 'cifar' and self.stem not in space.stems:
            which = ', '.join(spec.name for spec in _all_spaces() if spec.stems)
            raise UserError(f'--stem applies to the {which} spaces; {self.space} has its own stem')
        if self.space_options is not None:
            if not space.constructor_options:
                which = ', '.join(spec.name for spec in _all_spaces() if spec.constructor_options)
                raise UserError(f'--space-options applies to NNI\'s hub spaces ({which}), not to {self.space}')
            from ..spaces.hub import parse_space_options

            parse_space_options(self.space_options)
        if space.benchmark != 'nb201':
            for name in ('rank_cells', 'nb201_table', 'nats_bench'):
                if getattr(self, name):
                    raise UserError(f'--{name.replace("_", "-")} needs NAS-Bench-201 (--space nb201); '
                                    f'{self.space} cells are not in the benchmark')
        if self.compile and strategy.compile_problem():
            raise UserError(strategy.compile_problem())
        if not self.compile and self.compile_backend != registry.COMPILE_BACKEND:
            raise UserError(f'--compile-backend {self.compile_backend} applies with --compile; add it, or drop --compile-backend')
        from ..spaces import applies_to, declaration

        for name, value in self.space_settings.items():
            if name not in _space_option_names():
                raise UserError(f'unknown space option {name!r}')
            if value not in (None, declaration(name).default) and space.option(name) is None:
                raise UserError(f'{declaration(name).cli_flag} applies to {applies_to(name)}, not to {self.space}')
        for name, value in self.strategy_options.items():
            if name not in registry.option_names():
                raise UserError(f'unknown strategy option {name!r}')
            if value is not None and strategy.option(name) is None:
                option = registry.SPECS.declaration(name)
                raise UserError(f'{option.cli_flag} applies to {"/".join(registry.strategies_with(name))}, '
                                f'not to {self.strategy}')

    def _check_curriculum(self, strategy) -> None:
        measure = self._measure()
        if self.curriculum == 'none':
            if self.k not in (None, 0):
                raise UserError('--k sets the curriculum\'s subnets, but --curriculum is none; drop --k or choose '
                                'a schedule (epoch or batch)')
            changed = [flag_of(field) for field in _fields() if field.name in CURRICULUM_PARTS and field.name != 'uncertainty_precision'
                       and getattr(self, field.name) not in (None, field.default)]
            if changed:
                raise UserError(f'{", ".join(changed)} configure(s) the data curriculum, but --curriculum is none')
        registry.check_measure(strategy.name, strategy.single_path, measure)
        if self.uncertainty_precision != 'auto' and (self.curriculum == 'none' or measure != 'uncertainty'):
            raise UserError('--uncertainty-precision sets the uncertainty measure\'s passes; this search runs none '
                            '(drop it, or use --curriculum epoch|batch --measure uncertainty)')
        try:
            CurriculumConfig(self.curriculum, 1, measure, weighting=self.weighting, alpha=self.alpha,
                             start=self.curriculum_start, measure_options=self.measure_options,
                             weighting_options=self.weighting_options)
        except ValueError as error:
            raise UserError(f'{error} (--weighting, --alpha, --curriculum-start, --measure-options, '
                            '--weighting-options)') from None

    def _measure(self) -> str:
        """The measure, from ``measure`` and its former name ``estimator``."""
        try:
            return measure_of_estimator(self.estimator, self.measure)
        except ValueError as error:
            raise UserError(str(error)) from None

    def _check_processes(self) -> None:
        """``--devices``/``--num-nodes`` against ``--device``, the GPUs here and ``--out``."""
        import torch

        if self.devices > 1 and cuda_index(self.device) is not None:
            raise UserError(f'--device {self.device} is one GPU; for {self.devices} GPUs give --device cuda '
                            f'--devices {self.devices} (CUDA_VISIBLE_DEVICES picks which)')
        if self.devices > 1 and self.device in ('gpu', 'cuda') and self.devices > torch.cuda.device_count():
            raise UserError(f'--devices {self.devices}: torch sees {torch.cuda.device_count()} GPU(s) here')
        if self.num_nodes > 1 and self.out is None:
            raise UserError(f'--num-nodes {self.num_nodes}: give --out, a run folder on a file system every machine shares')
        external = any(name in os.environ for name in ('LOCAL_RANK', 'SLURM_LOCALID')) \
            and RUN_FOLDER_ENV not in os.environ
        if self.devices > 1 and self.out is None and external:
            raise UserError('the ranks of this search were started by a launcher (torchrun, SLURM), each naming its '
                            'own default run folder; give --out')

    # ------------------------------------------------------------------ mappings (YAML, config.yaml)

    def as_dict(self) -> Dict[str, Any]:
        """Every option by name, the strategy's own among them (the layout of a run's ``config.yaml``)."""
        values = {field.name: getattr(self, field.name) for field in _fields()}
        return {**values, **self.strategy_options, **self.space_settings}

    def defining(self) -> Dict[str, Any]:
        """The options that decide what a search computes: all but how it is run (the ``run``
        group, where the data lie), with the seed and the process count. Two configs that agree
        here are one search."""
        run = {field.name for field in _fields() if field.metadata.get('group') == 'run'} - {'seed', 'devices', 'num_nodes'}
        run.add('data_dir')
        own = {*self.strategy_options, *self.space_settings}
        return {name: value for name, value in self.as_dict().items()
                if name not in run and not (name in own and value is None)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = 'config') -> 'SearchConfig':
        """A config from a mapping (a YAML file, a run's ``config.yaml``), checking names and types.
        A strategy's or space's option set to null is the same as not given (config.yaml files of
        nni_cnas 0.1 list every strategy's options), and so is a space's option of another space at
        its default (earlier config.yaml files list ``close: false`` for every space)."""
        if not isinstance(values, Mapping):
            raise UserError(f'{source} must be a mapping of option names to values, not {type(values).__name__}')
        plugin = values.get('plugin')
        if plugin is not None and not isinstance(plugin, str):
            raise UserError(f'{source}: plugin must be a str or null (module names, comma-separated), not {plugin!r}')
        load_plugins(plugin_modules(plugin))  # a plug-in's names are known before they are checked
        fields = {field.name: field for field in _fields()}
        values = _without_other_spaces_defaults(values)
        options = {option.name: option for spec in registry.specs() for option in spec.options}
        options.update({name: _space_declaration(name) for name in _space_option_names()})
        estimator = values.get('estimator')
        if estimator in ESTIMATOR_MEASURES and values.get('measure') in (None, ESTIMATOR_MEASURES[estimator]):
            # A config.yaml of an earlier version names the measure by its former name.
            values = {name: value for name, value in values.items() if name != 'estimator'}
            values['measure'] = ESTIMATOR_MEASURES[estimator]
        for name, value in values.items():
            if name in fields:
                annotation = str(fields[name].type)
                optional = annotation.startswith('Optional[')
                kind = annotation[len('Optional['):-1] if optional else annotation
            elif name in options:
                optional, kind = True, options[name].type.__name__
            else:
                raise UserError(f'{source}: unknown option {name!r}; options are {", ".join([*fields, *options])}')
            if value is None and optional:
                continue
            accepted = {'int': (int,), 'float': (int, float), 'str': (str,), 'bool': (bool,)}[kind]
            if not isinstance(value, accepted) or (isinstance(value, bool) and kind != 'bool'):
                raise UserError(f'{source}: {name} must be {"an" if kind == "int" else "a"} {kind}'
                                f'{" or null" if optional else ""}, not {value!r}')
        return cls(**values)


_dataclass_init = SearchConfig.__init__


def _init_with_own_options(self, **values):
    # The dataclass's fields, plus each registered strategy's and space's option as a keyword of its
    # own (SearchConfig(strategy='gdas', tau_max=5), SearchConfig(close=True)), kept in
    # strategy_options and space_settings.
    strategy = {name: values.pop(name) for name in list(values) if name in registry.option_names()}
    space = {name: values.pop(name) for name in list(values) if name in _space_option_names()}
    _dataclass_init(self, **values)
    self.strategy_options = {**self.strategy_options, **{k: v for k, v in strategy.items() if v is not None}}
    self.space_settings = {**self.space_settings, **{k: v for k, v in space.items() if v is not None}}


SearchConfig.__init__ = _init_with_own_options


def _fields():
    """The config's options (``strategy_options`` aside)."""
    return [field for field in dataclasses.fields(SearchConfig) if field.metadata.get('cli', True)]


def _part_options_help(registry) -> str:
    """Each part's options with their defaults and allowed values, as the help shows them."""
    described = []
    for spec in registry.specs():
        for option in spec.options:
            allowed = f' ({"|".join(map(str, option.choices))})' if option.choices else ''
            described.append(f'{spec.name}: {option.name}={option.default}{allowed}')
    return 'none; ' + ', '.join(described) if described else 'none'


def _space_option_names() -> Tuple[str, ...]:
    from ..spaces import option_names

    return option_names()


def _space_declaration(name: str):
    from ..spaces import declaration

    return declaration(name)


def _without_other_spaces_defaults(values: Mapping[str, Any]) -> Dict[str, Any]:
    """``values`` without the options of other spaces than its own that are at their default."""
    from ..spaces import SPECS

    space = values.get('space', SearchConfig.space)
    spec = SPECS.get(space) if isinstance(space, str) and space in SPECS.names() else None
    return {name: value for name, value in values.items()
            if not (name in _space_option_names() and (spec is None or spec.option(name) is None)
                    and value == _space_declaration(name).default)}


def _all_spaces():
    from ..spaces import specs

    return specs()


def _uses_cuda(device: str) -> bool:
    import torch

    return device in ('gpu', 'cuda') or cuda_index(device) is not None or (device == 'auto' and torch.cuda.is_available())


def _check_device(device: str) -> None:
    import torch

    if (device in ('gpu', 'cuda') or cuda_index(device) is not None) and not torch.cuda.is_available():
        raise UserError(f'--device {device}: torch sees no CUDA GPU here; use --device cpu (or auto)')
    index = cuda_index(device)
    if index is not None and index >= torch.cuda.device_count():
        raise UserError(f'--device {device}: torch sees {torch.cuda.device_count()} GPU(s), numbered from 0')
    if device == 'mps' and not torch.backends.mps.is_available():
        raise UserError('--device mps: this machine has no Apple GPU; use --device cpu (or auto)')
