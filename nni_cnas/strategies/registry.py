"""Which strategies nni_cnas has: for each, its name, its class, how its weight step trains the
supernet, and the options of its own, with their defaults and help. One entry per strategy.

The search config (:mod:`nni_cnas.run.config`), the CLI's options and help, the nnictl trial and
the docs read this table, so a strategy's default is written here and nowhere else (the classes
take their defaults from it too). It imports neither NNI nor torch: ``nni-cnas --help`` and input
checks stay fast, and a class is imported when a search first asks for it.

Adding a strategy is one file with its class and one :func:`register` call (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from .._registry import Registry
from ..errors import UserError
from ..option import AS_CLI, Option, find, resolve as resolve_options

__all__ = ['Option', 'StrategySpec', 'COMPILE_BACKEND', 'STATIC_STEPS', 'SPECS', 'register', 'get', 'names', 'specs',
           'option_names', 'strategies_with', 'defaults', 'SINGLE_PATH', 'MIXTURE', 'HVP_METHODS']

#: The final choice of the strategies that select (RSPS, SETN, ENAS): candidates scored on one
#: validation batch of this many samples (NATS-Bench's 100 and 512).
NUM_CANDIDATES, SELECTION_SIZE = 100, 512
#: torch.compile's backend for ``compile=True`` (generated kernels; on the CPU a C++ compiler).
COMPILE_BACKEND = 'inductor'
#: The steps a strategy's forward may run as the whole mixed supernet, a graph that is the same at every step.
STATIC_STEPS = ('weight', 'architecture')
#: How a strategy's weight step trains the supernet: one subnet (a path) per step, whose per-sample
#: losses are subnet losses (the amortised estimator reuses them), or the whole mixture (DARTS).
SINGLE_PATH, MIXTURE = 'single-path', 'mixture'
#: Hessian-vector products of Amended-DARTS: double backward, or central finite differences.
HVP_METHODS = ('exact', 'finite-difference')


@dataclasses.dataclass(frozen=True)
class StrategySpec:
    """A registered strategy. ``target`` is the class or ``'module:Class'`` (imported on first use);
    ``validate`` checks the resolved options together and returns an error text, or None."""

    name: str
    target: Union[type, str]
    weight_step: str
    summary: str
    replaces: str = ''
    #: What the curriculum's K subnets are under this strategy (:meth:`SearchModule.curriculum_subnets`).
    curriculum_subnets: str = ''
    options: Tuple[Option, ...] = ()
    validate: Optional[Callable[[Mapping[str, Any]], Optional[str]]] = None
    #: The steps whose forward is the whole mixed supernet (of :data:`STATIC_STEPS`): what
    #: ``compile=True`` compiles. A step that trains or scores one path changes the graph every time.
    static_steps: Tuple[str, ...] = ()

    def __post_init__(self):
        if self.weight_step not in (SINGLE_PATH, MIXTURE):
            raise ValueError(f'{self.name}: weight_step must be {SINGLE_PATH!r} or {MIXTURE!r}, not {self.weight_step!r}')
        unknown = [step for step in self.static_steps if step not in STATIC_STEPS]
        if unknown:
            raise ValueError(f'{self.name}: static_steps may name {", ".join(STATIC_STEPS)}, not {", ".join(unknown)}')

    def compile_problem(self) -> Optional[str]:
        """Why ``compile=True`` cannot take effect for this strategy, or None."""
        if self.static_steps:
            return None
        return (f'compile=True (--compile) compiles the steps whose forward is the whole mixed supernet, and '
                f'{self.name} has none (each of its steps trains or scores one path, a new graph each time): leave it off')

    @property
    def single_path(self) -> bool:
        return self.weight_step == SINGLE_PATH

    def load(self) -> type:
        if isinstance(self.target, str):
            module, _, name = self.target.partition(':')
            return getattr(importlib.import_module(module), name)
        return self.target

    def option(self, name: str) -> Optional[Option]:
        return find(self.options, name)

    def resolve(self, given: Mapping[str, Any], kind: str) -> Dict[str, Any]:
        """Every option of this strategy: the given values (checked) and the defaults for ``kind``."""
        resolved = resolve_options(self.options, given, kind)
        problem = self.validate(resolved) if self.validate else None
        if problem:
            raise UserError(problem)
        return resolved

    def keywords(self, options: Mapping[str, Any]) -> Dict[str, Any]:
        """Resolved options under the class's keyword names."""
        return {option.keyword: options[option.name] for option in self.options if option.name in options}


#: The registered strategies (built-ins below; plug-ins call :func:`register`).
SPECS: Registry[StrategySpec] = Registry('strategy')
get, names, specs = SPECS.get, SPECS.names, SPECS.specs


def register(spec: StrategySpec) -> StrategySpec:
    """Make a strategy known to the search config, the CLI and the nnictl trial. An option shared
    with another strategy must have the same type and flag there."""
    for option in spec.options:
        for other in specs():
            same = other.option(option.name)
            if other.name != spec.name and same is not None and (same.type, same.cli_flag) != (option.type, option.cli_flag):
                raise ValueError(f'option {option.name!r} of {spec.name} differs in type or flag from {other.name}\'s')
    return SPECS.register(spec)


def option_names() -> Tuple[str, ...]:
    """Every strategy option's name, once, in registration order."""
    return SPECS.option_names()


def strategies_with(option: str) -> Tuple[str, ...]:
    return SPECS.having(option)


def defaults(name: str, kind: str = 'image') -> Dict[str, Any]:
    """A strategy's option defaults under its class's keyword names (the classes' own defaults)."""
    spec = get(name)
    return {option.keyword: option.default_for(kind) if option.api_default == AS_CLI else option.api_default
            for option in spec.options}


# ---------------------------------------------------------------------- the built-in strategies

_ALPHA_LR = Option('arch_learning_rate', float, 3e-4, 'learning rate of the architecture parameters (Adam) or the ENAS '
                   'controller', kwarg='arc_learning_rate', text_default=3e-3, positive=True, flag='--arch-lr')


def tau_order_problem(tau_max: float, tau_min: float) -> Optional[str]:
    """What is wrong with GDAS' temperatures, or None (the one check of the API and the CLI)."""
    if not tau_max >= tau_min > 0:
        return f'GDAS needs tau_max >= tau_min > 0 (--tau-max, --tau-min), got {tau_max} and {tau_min}'
    return None


def _tau_order(options: Mapping[str, Any]) -> Optional[str]:
    return tau_order_problem(options['tau_max'], options['tau_min'])


def check_measure(name: str, single_path: bool, measure: str) -> None:
    """The one check that ``measure`` fits strategy ``name``: a measure of subnet losses (amortised)
    needs a strategy whose weight step trains one path. Raises :class:`UserError` (a ``ValueError``)."""
    from ..curriculum.parts import MEASURES

    if MEASURES.get(measure).load().single_path_only and not single_path:
        single = ', '.join(spec.name for spec in specs() if spec.single_path)
        raise UserError(f'the {measure} measure reuses the losses of single-path weight steps ({single}); '
                        f'{name} trains the whole mixture: use measure=\'uncertainty\' (--measure uncertainty)')


def spec_of(cls: type) -> Optional[StrategySpec]:
    """The registered spec of a strategy class or of the nearest registered class it extends (None
    for a class outside the registry); no strategy module is imported."""
    for base in cls.__mro__:
        name = f'{base.__module__}:{base.__qualname__}'
        for spec in specs():
            if spec.target is base or spec.target == name:
                return spec
    return None


_DIFFERENTIABLE = 'nni_cnas.strategies.differentiable'
_SAMPLING = 'nni_cnas.strategies.sampling'
_MOST_PROBABLE = 'the K most probable under softmax(alpha)'

register(StrategySpec(
    'darts', f'{_DIFFERENTIABLE}.darts:DARTS', MIXTURE, 'DARTS-V1 (first order)',
    replaces='nni.nas.strategy.DARTS', curriculum_subnets=_MOST_PROBABLE, options=(_ALPHA_LR,),
    static_steps=STATIC_STEPS))
register(StrategySpec(
    'darts-v2', f'{_DIFFERENTIABLE}.darts_v2:DARTSV2', MIXTURE, 'DARTS-V2 (second order, unrolled)',
    replaces='(second-order DARTS; NNI 3.0 has first order only)', curriculum_subnets=_MOST_PROBABLE, options=(_ALPHA_LR,),
    static_steps=('weight',)))  # second-order architecture steps stay eager (Amended-DARTS' exact products differentiate twice)
register(StrategySpec(
    'amended-darts', f'{_DIFFERENTIABLE}.amended:AmendedDARTS', MIXTURE, 'Amended-DARTS (Bi et al. 2019)',
    replaces='(not in NNI)', curriculum_subnets=_MOST_PROBABLE, options=(
        _ALPHA_LR,
        Option('eta', float, 0.1, 'Amended-DARTS: weight of the amended term', minimum=0),
        Option('hvp', str, 'exact', 'Amended-DARTS: Hessian-vector products, exact (double backward) or '
               'finite-difference', choices=HVP_METHODS),
    ), static_steps=('weight',)))
register(StrategySpec(
    'gdas', f'{_DIFFERENTIABLE}.gdas:GDAS', SINGLE_PATH, 'GDAS (hard Gumbel-softmax, one op per edge)',
    replaces='nni.nas.strategy.GumbelDARTS', curriculum_subnets=_MOST_PROBABLE, validate=_tau_order, options=(
        _ALPHA_LR,
        Option('tau_max', float, 10.0, 'GDAS: initial Gumbel temperature', positive=True),
        Option('tau_min', float, 0.1, 'GDAS: final Gumbel temperature', positive=True),
    )))
register(StrategySpec(
    'proxyless', f'{_DIFFERENTIABLE}.proxyless:Proxyless', SINGLE_PATH,
    'Proxyless (one sampled path, binary-gate gradient)', replaces='nni.nas.strategy.Proxyless',
    curriculum_subnets=_MOST_PROBABLE, options=(_ALPHA_LR,)))
register(StrategySpec(
    'setn', f'{_DIFFERENTIABLE}.setn:SETN', SINGLE_PATH, 'SETN (Dong & Yang 2019)',
    replaces='(not in NNI)', curriculum_subnets=_MOST_PROBABLE, options=(_ALPHA_LR,), static_steps=('architecture',)))
register(StrategySpec(
    'rsps', f'{_SAMPLING}.rsps:RSPS', SINGLE_PATH, 'random search with parameter sharing',
    replaces='nni.nas.strategy.RandomOneShot', curriculum_subnets='K uniform samples'))
register(StrategySpec(
    'enas', f'{_SAMPLING}.enas:ENAS', SINGLE_PATH, 'ENAS (REINFORCE LSTM controller)',
    replaces='nni.nas.strategy.ENAS', curriculum_subnets='the first K controller samples', options=(
        dataclasses.replace(_ALPHA_LR, default=1e-3, text_default=None, kwarg='ctrl_learning_rate'),
        # The command line trains the controller as NATS-Bench does (50 updates of 20 samples per
        # epoch); the class, a drop-in for NNI's ENAS, draws one sample per validation batch.
        Option('controller_steps', int, 50, 'ENAS: controller updates per epoch (the Python API\'s default, None: '
               'one sample per validation batch, as NNI\'s ENAS)', positive=True, api_default=None),
        Option('controller_aggregate', int, 20, 'ENAS: samples per controller update', positive=True),
    )))
