"""The curriculum's interchangeable parts, by name: how hard each training sample is (a *measure*)
and how difficulty becomes data weights (a *weighting*), as in CurriculumML's difficulty measurer and
training scheduler. The schedule (when weights change, and from which epoch) is the config's.

Curriculum-NAS is ``uncertainty`` x ``proportional`` (alpha = 1) x the ``epoch`` schedule.

Like the strategy registry, this table imports neither torch nor NNI: a built-in part's class is
named by ``'module:Class'`` and imported on first use. A researcher's own part is one file::

    from nni_cnas.curriculum import Weighting, register_weighting

    @register_weighting('squared', 'v proportional to the difficulty squared')
    class Squared(Weighting):
        def transform(self, difficulty, context):
            return difficulty ** 2

after whose import ``weighting='squared'`` works in the strategies, the CLI, ``config.yaml``,
nnictl search spaces and protocol files.

A part's options are declared with it (:class:`PartOption`), once: they are the strategies'
``measure_options`` / ``weighting_options`` (a dict or ``KEY=VALUE`` items), the CLI's
``--measure-options`` / ``--weighting-options``, the same keys of ``config.yaml`` and protocol
variants, checked before a search starts; the part reads them resolved, defaults filled in, from
``self.options``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from .._registry import Registry
from ..errors import UserError
from ..items import format_items, parse_items

__all__ = ['PartOption', 'PartSpec', 'MEASURES', 'WEIGHTINGS', 'register_measure', 'register_weighting',
           'measure_names', 'weighting_names', 'part_options']


@dataclasses.dataclass(frozen=True)
class PartOption:
    """An option of a measure or weighting: its name, type, default and help, and its allowed
    values (``choices``, or numbers in ``[minimum, maximum]``; ``above``: strictly above the minimum)."""

    name: str
    type: type
    default: Any
    help: str
    choices: Tuple[Any, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    above: bool = False

    def check(self, value: Any, owner: str) -> Any:
        """``value`` if it is valid; else ValueError with one line naming the option and its part."""
        where = f'{owner} option {self.name}'
        numeric = self.type in (int, float)
        accepted = (int, float) if self.type is float else (self.type,)
        if isinstance(value, bool) != (self.type is bool) or not isinstance(value, accepted):
            raise ValueError(f'{where} must be {"a number" if numeric else f"a {self.type.__name__}"}, not {value!r}')
        if self.choices and value not in self.choices:
            raise ValueError(f'{where} must be one of {", ".join(map(str, self.choices))}, not {value!r}')
        if numeric:
            low = self.minimum
            if not math.isfinite(value) or (low is not None and (value <= low if self.above else value < low)) \
                    or (self.maximum is not None and value > self.maximum):
                bounds = ('above ' if self.above else 'from ') + f'{low:g}' if low is not None else ''
                bounds += (' to ' if bounds else 'at most ') + f'{self.maximum:g}' if self.maximum is not None else ''
                raise ValueError(f'{where} must be a finite number {bounds}, not {value!r}')
        return float(value) if self.type is float else value


@dataclasses.dataclass(frozen=True)
class PartSpec:
    """A registered measure or weighting: its name, its class (or ``'module:Class'``), one line of
    help, and its options."""

    name: str
    target: Union[type, str]
    summary: str
    options: Tuple[PartOption, ...] = ()

    def load(self) -> type:
        if isinstance(self.target, str):
            module, _, name = self.target.partition(':')
            return getattr(importlib.import_module(module), name)
        return self.target

    def resolve_options(self, given: Union[Mapping[str, Any], str, None]) -> Dict[str, Any]:
        """Every option of the part: the given ones (a mapping or ``KEY=VALUE`` items), checked,
        and the defaults of the others. ValueError (one line) for an unknown or bad option."""
        given = parse_options(given, f'{self.name} options')
        known = {option.name: option for option in self.options}
        unknown = [name for name in given if name not in known]
        if unknown:
            has = f'its options are {", ".join(known)}' if known else 'it takes no options'
            raise ValueError(f'{self.name} has no option {", ".join(map(repr, unknown))}; {has}')
        return {name: option.check(given[name], self.name) if name in given else option.default
                for name, option in known.items()}


def parse_options(given: Union[Mapping[str, Any], str, None], what: str) -> Dict[str, Any]:
    """A part's options as a dict, from a mapping or ``KEY=VALUE`` items (ValueError otherwise)."""
    if given is None:
        return {}
    if isinstance(given, str):
        try:
            return parse_items(given, what)
        except UserError as error:
            raise ValueError(str(error)) from None
    if not isinstance(given, Mapping):
        raise ValueError(f'{what} are a mapping or KEY=VALUE items, not {given!r}')
    return dict(given)


def part_options(registry: 'Registry[PartSpec]', cls: type, given: Union[Mapping[str, Any], str, None]) -> Dict[str, Any]:
    """The resolved options of a part class (by the spec registered for it; the given ones as they
    are for a class that is not registered)."""
    spec = next((spec for spec in registry.specs() if spec.load() is cls), None)
    return spec.resolve_options(given) if spec is not None else parse_options(given, f'{cls.__name__} options')


def options_text(options: Mapping[str, Any]) -> str:
    """Options as the ``KEY=VALUE`` items the command line and ``config.yaml`` take."""
    return format_items(dict(options))


MEASURES: Registry[PartSpec] = Registry('curriculum measure')
WEIGHTINGS: Registry[PartSpec] = Registry('curriculum weighting')


def _decorator(registry: Registry, name: str, summary: str, options: Tuple[PartOption, ...]) -> Callable[[type], type]:
    def register(cls: type) -> type:
        registry.register(PartSpec(name, cls, summary, tuple(options)))
        cls.name = name
        return cls

    return register


def register_measure(name: str, summary: str, options: Tuple[PartOption, ...] = ()) -> Callable[[type], type]:
    """Class decorator: a :class:`~nni_cnas.curriculum.measures.Measure` known by ``name``, with its
    options (:class:`PartOption`)."""
    return _decorator(MEASURES, name, summary, options)


def register_weighting(name: str, summary: str, options: Tuple[PartOption, ...] = ()) -> Callable[[type], type]:
    """Class decorator: a :class:`~nni_cnas.curriculum.weightings.Weighting` known by ``name``, with
    its options (:class:`PartOption`)."""
    return _decorator(WEIGHTINGS, name, summary, options)


def measure_names() -> Tuple[str, ...]:
    return MEASURES.names()


def weighting_names() -> Tuple[str, ...]:
    return WEIGHTINGS.names()


_MODULE = 'nni_cnas.curriculum'
#: Which K subnets a measure that runs subnets passes the samples through.
SUBNETS = PartOption('subnets', str, 'policy', 'the K subnets: policy (the K best under the search policy, as the '
                     'paper; uniform draws where the policy is uniform) or uniform (K uniform draws from the space)',
                     choices=('policy', 'uniform'))
for _spec in (
    PartSpec('uncertainty', f'{_MODULE}.measures:Uncertainty',
             'sigma = sqrt(mean loss) over the K best subnets of the search policy (Eq. 10, the paper)', (SUBNETS,)),
    PartSpec('disagreement', f'{_MODULE}.measures:Disagreement',
             'how much the curriculum\'s K subnets disagree: the std across them of the true class\'s probability '
             '(Active Bias; classifiers)', (SUBNETS,)),
    PartSpec('disagreement-history', f'{_MODULE}.measures:DisagreementHistory',
             'the same spread over each sample\'s last K training steps, each on its own path (single-path '
             'strategies; no extra pass; classifiers)'),
    PartSpec('margin', f'{_MODULE}.measures:Margin',
             '||softmax - onehot|| of the trained path\'s own forward, each sample\'s mean over the last epoch '
             '(PA&DA\'s score; no extra pass; classifiers)'),
    PartSpec('amortised', f'{_MODULE}.measures:Amortised',
             'sigma over each sample\'s last K training losses (single-path strategies; no extra pass)'),
    PartSpec('loss', f'{_MODULE}.measures:TrainingLoss',
             'the trained path\'s own loss of the sample (K-free; hard-example mining\'s measure)'),
    PartSpec('random', f'{_MODULE}.measures:RandomDifficulty',
             'a fixed random difficulty per sample, no information (the control of pacing alone: with self-paced, '
             'a random subset growing to all of the data)'),
):
    MEASURES.register(_spec)
for _spec in (
    PartSpec('proportional', f'{_MODULE}.weightings:Proportional',
             'v proportional to difficulty^alpha (alpha = 1: Eq. 11, the paper; alpha = 0: the base algorithm)'),
    PartSpec('inverse', f'{_MODULE}.weightings:Inverse', 'v proportional to difficulty^-alpha: easy samples first',
             (PartOption('floor', float, 1e-3, 'the smallest difficulty counted, as a share of the mean difficulty '
                         '(so that a sample with no loss does not take every weight)', minimum=0, above=True),)),
    PartSpec('self-paced', f'{_MODULE}.weightings:SelfPaced',
             'weight on the easiest samples only, a share growing from initial_share to all over the epochs '
             '(Kumar et al. 2010)',
             (PartOption('initial_share', float, 0.5, 'the share of the samples admitted at the curriculum\'s first '
                         'epoch', minimum=0, maximum=1, above=True),)),
    PartSpec('ramp', f'{_MODULE}.weightings:Ramp',
             'even weights ramped to proportional ones over the epochs: (1 - p) + p N d^alpha / sum d^alpha, p the '
             'progress (PA&DA\'s schedule)'),
    PartSpec('permuted', f'{_MODULE}.weightings:Permuted',
             'the control: the proportional weights shuffled across samples each time (same values, no information)'),
):
    WEIGHTINGS.register(_spec)
