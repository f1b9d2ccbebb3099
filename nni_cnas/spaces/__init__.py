"""Search spaces in NNI 3.0's model-space API: NAS-Bench-201 (and its CLOSENet), DARTS, NASNet and
recurrent cells, each registered with a :class:`~nni_cnas.spaces.contract.SpaceSpec`.

Importing this package is cheap: the specs name their builders, and the model classes import torch
and NNI on first use. A new space is one module with its model space and one :func:`register`
call (docs/architecture.md).
"""

from __future__ import annotations

from .._lazy import lazy_attributes
from .._registry import Registry
from ..option import Option
from .close_schedule import DEFAULT_BLOCKS, check_close_options
from .contract import KIND_NAMES, STEMS, SpaceSpec, describe

__all__ = ['SpaceSpec', 'SPECS', 'register', 'get', 'names', 'specs', 'build_space', 'describe', 'STEMS',
           'option_names', 'spaces_with', 'declaration', 'applies_to',
           'NasBench201Space', 'CloseNasBench201Space', 'DartsSpace', 'NasnetSpace', 'RecurrentSpace',
           'arch_to_sample', 'sample_to_arch']

#: The registered spaces (built-ins below; plug-ins call :func:`register`).
SPECS: Registry[SpaceSpec] = Registry('space')
register, get, names, specs = SPECS.register, SPECS.get, SPECS.names, SPECS.specs


def build_space(config, data):
    """The model space of a resolved search config, for its data."""
    return get(config.space).build(config, data)


#: Every space option's name, once; the spaces that declare one; its declaration.
option_names, spaces_with, declaration = SPECS.option_names, SPECS.having, SPECS.declaration


def applies_to(name: str) -> str:
    """The spaces a space option applies to, as messages name them (a kind's spaces by the kind)."""
    having = spaces_with(name)
    for kind, kind_name in KIND_NAMES.items():
        if set(having) == {spec.name for spec in specs() if spec.kind == kind}:
            return f'the {kind_name} ({", ".join(having)})'
    return ', '.join(having)


# ---------------------------------------------------------------------- the built-in spaces

def _nb201(config, data):
    """NAS-Bench-201, or its CLOSENet with ``--close`` (:mod:`.close`)."""
    size = dict(channels=config.channels, cells=config.cells, num_classes=data.num_classes, in_channels=data.in_channels)
    if config.close:
        from .close import CloseNasBench201Space
        from .close_schedule import growth_epochs_of

        return CloseNasBench201Space(**size, max_blocks=config.close_blocks, growth_epochs=growth_epochs_of(config.close_epochs))
    from .nb201 import NasBench201Space

    return NasBench201Space(**size)


def _cell_network(name: str):
    def build(config, data):
        from importlib import import_module

        space = getattr(import_module(f'.{name}', __name__), f'{name.capitalize()}Space')
        return space(channels=config.channels, cells=config.cells, num_classes=data.num_classes,
                     in_channels=data.in_channels, stem=config.stem)
    return build


#: DARTS' dropout rates of its recurrent search, which ``--dropout-scale`` multiplies.
RECURRENT_DROPOUT = dict(dropout=0.75, dropout_h=0.25, dropout_x=0.75, dropout_i=0.2)

#: The NAS-Bench-201 space's options: CLOSE (:mod:`.close`, :func:`.close_schedule.check_close_options`).
CLOSE_OPTIONS = (
    Option('close', bool, False, 'CLOSE\'s curriculum on the sharing extent: a CLOSENet supernet whose cells draw their '
           'convolutions from a pool of blocks that grows during the search'),
    Option('close_blocks', int, None, f'CLOSE: blocks the pool grows to (default {DEFAULT_BLOCKS})'),
    Option('close_epochs', str, None, 'CLOSE: 0-based epochs at which a block is added, e.g. 2,4,6 (default CLOSE\'s '
           'schedule, a block after each fifth of the epochs)'),
)
#: The recurrent spaces' options.
RECURRENT_OPTIONS = (
    Option('hidden', int, 300, 'hidden and embedding size', positive=True),
    Option('nodes', int, None, 'nodes of the recurrent cell (default the cell\'s own: rnn-darts 8, rnn-enas 12)',
           positive=True),
    Option('dropout_scale', float, 1.0, 'times DARTS\' dropout rates (0.75 output and cell input, 0.25 hidden, 0.2 '
           'embedding; 0: none)', minimum=0),
)


def _check_recurrent_options(values, config):
    if not values['dropout_scale'] < 4 / 3:
        return (f'--dropout-scale multiplies DARTS\' dropout rates (0.75 the largest): it must be in [0, 4/3), '
                f'not {values["dropout_scale"]}')
    return None


def _recurrent(config, data):
    from .rnn import RecurrentSpace

    return RecurrentSpace(vocabulary=data.vocabulary_size, hidden=config.hidden, preset=config.space, nodes=config.nodes,
                          **{key: rate * config.dropout_scale for key, rate in RECURRENT_DROPOUT.items()})


register(SpaceSpec('nb201', 'image', _nb201, 'NAS-Bench-201 cell (6 edges, 5 ops), looked up in the benchmark',
                   default_cells=5, benchmark='nb201', options=CLOSE_OPTIONS,
                   validate=check_close_options))
register(SpaceSpec('darts', 'image', _cell_network('darts'), 'DARTS normal and reduction cells',
                   default_cells=2, stems=STEMS))
register(SpaceSpec('nasnet', 'image', _cell_network('nasnet'), 'NASNet cells of 5 blocks',
                   default_cells=2, stems=STEMS))
def _hub(name: str):
    def build(config, data):
        from .hub import build_hub_space

        return build_hub_space(name, config, data)
    return build


def _register_hub_spaces() -> None:
    """``nni:<name>``: NNI's hub spaces (:mod:`.hub`), cell spaces with NNI's default of 8 cells (in
    all, spread over 3 stages)."""
    from .hub import HUB_SPACES, takes_cells

    for name, (_, _, summary) in HUB_SPACES.items():
        nb201, cells = name == 'nasbench201', takes_cells(name)
        register(SpaceSpec(f'nni:{name}', 'image', _hub(name), summary, default_cells=5 if nb201 else 8 if cells else 1,
                           stems=STEMS if cells and not nb201 else (), benchmark='nb201' if nb201 else None,
                           constructor_options=True, linear_cells=False, rgb=True))


register(SpaceSpec('rnn-darts', 'text', _recurrent, 'DARTS\' recurrent cell (language models)',
                   options=RECURRENT_OPTIONS, validate=_check_recurrent_options))
register(SpaceSpec('rnn-enas', 'text', _recurrent, 'ENAS\' recurrent cell (language models)',
                   options=RECURRENT_OPTIONS, validate=_check_recurrent_options))
_register_hub_spaces()

__getattr__ = lazy_attributes(__name__, {
    'NasBench201Space': '.nb201', 'CloseNasBench201Space': '.close', 'DartsSpace': '.darts', 'NasnetSpace': '.nasnet',
    'RecurrentSpace': '.rnn', 'arch_to_sample': '.nb201_arch', 'sample_to_arch': '.nb201_arch',
})
