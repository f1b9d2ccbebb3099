"""What a search space is to nni_cnas: a registered :class:`SpaceSpec` (what the search config and
CLI need to know before anything is built) and an NNI model space that may offer the hooks of
:class:`SearchSpace`. Every hook is optional: a plain NNI ``ModelSpace`` is a valid space.

Import-light (no torch, no NNI): specs are read by ``nni-cnas --help`` and input checks.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from ..errors import UserError
from ..option import Option, find, resolve

__all__ = ['SpaceSpec', 'SearchSpace', 'STEMS', 'KINDS', 'KIND_NAMES', 'describe', 'genotype_of', 'epoch_started', 'summary_of']

#: Kinds of space: image classifiers, or language models over token sequences. A kind chooses the
#: data, the evaluator and the defaults of the training options (see :mod:`nni_cnas.run.config`).
KINDS = ('image', 'text')
#: How messages name the spaces of each kind.
KIND_NAMES = {'image': 'image spaces', 'text': 'recurrent spaces'}
#: Input stems of the cell networks that offer a choice: CIFAR-size or ImageNet-size inputs.
STEMS = ('cifar', 'imagenet')


@dataclasses.dataclass(frozen=True)
class SpaceSpec:
    """A registered space.

    ``builder`` is a function ``(config, data) -> model space`` or its ``'module:function'`` path
    (imported on first use); ``config`` is the resolved :class:`~nni_cnas.run.config.SearchConfig`,
    ``data`` the loaded search data (``num_classes``, ``in_channels``; ``vocabulary_size`` for text).
    ``default_cells`` is the cells per stage when ``--cells`` is not given (image spaces);
    ``stems`` the stems the space offers (empty: it has its own); ``benchmark`` ``'nb201'`` when found
    cells are looked up in NAS-Bench-201 (and ranked against it); ``options`` the space's own options
    (:class:`~nni_cnas.option.Option`: each a keyword of the search config, a flag, a ``config.yaml``
    key, checked; the builder reads them from the resolved config, ``config.hidden``), and
    ``validate(values, config)`` checks them together (a one-line error text, or None) and may fill
    in what follows from them; ``constructor_options`` whether the space takes any constructor
    argument in ``--space-options`` (NNI's hub spaces); ``linear_cells`` whether
    each cell per stage past the second adds the same parameters and activations (the memory estimate
    then extrapolates from two and three cells instead of building the space at its size); ``rgb``
    whether its stem takes only RGB images (a search then repeats a grey data set's channel, and says so).
    """

    name: str
    kind: str
    builder: Union[Callable[[Any, Any], Any], str]
    summary: str
    default_cells: Optional[int] = None
    stems: Tuple[str, ...] = ()
    benchmark: Optional[str] = None
    options: Tuple[Option, ...] = ()
    linear_cells: bool = True
    rgb: bool = False
    constructor_options: bool = False
    validate: Optional[Callable[[Dict[str, Any], Any], Optional[str]]] = None

    def __post_init__(self):
        if isinstance(self.options, bool):  # the former meaning of options: constructor arguments
            object.__setattr__(self, 'constructor_options', self.options)
            object.__setattr__(self, 'options', ())
        object.__setattr__(self, 'options', tuple(self.options))
        if self.kind not in KINDS:
            raise ValueError(f'{self.name}: kind must be one of {KINDS}, not {self.kind!r}')
        if self.kind == 'image' and self.default_cells is None:
            raise ValueError(f'{self.name}: an image space needs default_cells')

    def option(self, name: str) -> Optional[Option]:
        return find(self.options, name)

    def resolve_options(self, given: Mapping[str, Any], config) -> Dict[str, Any]:
        """Every option of this space: the given values (checked) and the defaults for its kind, then
        :attr:`validate` on them together; raises :class:`~nni_cnas.errors.UserError`."""
        resolved = resolve(self.options, given, self.kind)
        problem = self.validate(resolved, config) if self.validate else None
        if problem:
            raise UserError(problem)
        return resolved

    def build(self, config, data):
        builder = self.builder
        if isinstance(builder, str):
            module, _, name = builder.partition(':')
            builder = getattr(importlib.import_module(module), name)
        return builder(config, data)


class SearchSpace:
    """The hooks a model space may offer nni_cnas (a description; spaces need not subclass it).

    ``architecture_decisions() -> Decisions``
        Its independent decisions when they are not NNI's labels (DARTS cells: one decision per
        node, so that samplers only draw valid cells; :mod:`nni_cnas.arch.decisions`).
    ``describe(sample) -> str``
        The architecture as text (NAS-Bench-201 arch string); default: the genotype's text, else the
        NNI sample as JSON.
    ``genotype(sample)``
        A genotype object (``text()``, ``to_json()``; drawn by :func:`nni_cnas.spaces.drawing.plot_cells`):
        the run folder gets ``genotype.txt``, ``genotype.json`` and ``cells.png``.
    ``on_search_epoch_start(epoch, max_epochs)``
        Called at the start of each search epoch (CLOSE grows its block pools here).
    ``search_summary() -> dict``
        Numbers added to each epoch's metrics (CLOSE: ``close_blocks``).
    """


def _hook(space, name: str) -> Optional[Callable]:
    hook = getattr(space, name, None)
    return hook if callable(hook) else None


def genotype_of(space, sample: Mapping[str, Any]):
    """The space's genotype of ``sample``, or None for a space without genotypes."""
    hook = _hook(space, 'genotype')
    return hook(sample) if hook else None


def describe(space, sample: Mapping[str, Any]) -> str:
    """An architecture as text: the space's own description, its genotype, or the sample as JSON."""
    hook = _hook(space, 'describe')
    if hook:
        return hook(sample)
    genotype = genotype_of(space, sample)
    return str(genotype) if genotype is not None else json.dumps(dict(sample), sort_keys=True, default=str)


def epoch_started(space, epoch: int, max_epochs: int) -> None:
    hook = _hook(space, 'on_search_epoch_start')
    if hook:
        hook(epoch, max_epochs)


def summary_of(space) -> Dict[str, Any]:
    hook = _hook(space, 'search_summary')
    return dict(hook()) if hook else {}
