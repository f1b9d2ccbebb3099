"""Search spaces in NNI 3.0's model-space API: NAS-Bench-201 (and its CLOSENet), DARTS, NASNet and
recurrent cells, each registered with a :class:`~nni_cnas.spaces.contract.SpaceSpec`.

Importing this package is cheap: the specs name their builders, and the model classes import torch
and NNI on first use. A new space is one module with its model space and one :func:`register`
call (docs/architecture.md).
"""

from __future__ import annotations

from .._lazy import lazy_attributes
from .._registry import Registry
from .contract import STEMS, SpaceSpec, describe

__all__ = ['SpaceSpec', 'SPECS', 'register', 'get', 'names', 'specs', 'build_space', 'describe', 'STEMS',
           'NasBench201Space', 'CloseNasBench201Space', 'DartsSpace', 'NasnetSpace', 'RecurrentSpace',
           'arch_to_sample', 'sample_to_arch']

#: The registered spaces (built-ins below; plug-ins call :func:`register`).
SPECS: Registry[SpaceSpec] = Registry('space')
register, get, names, specs = SPECS.register, SPECS.get, SPECS.names, SPECS.specs


def build_space(config, data):
    """The model space of a resolved search config, for its data."""
    return get(config.space).build(config, data)


# ---------------------------------------------------------------------- the built-in spaces

def _nb201(config, data):
    """NAS-Bench-201, or its CLOSENet with ``--close`` (:mod:`.close`)."""
    size = dict(channels=config.channels, cells=config.cells, num_classes=data.num_classes, in_channels=data.in_channels)
    if config.close:
        from .close import CloseNasBench201Space

        return CloseNasBench201Space(**size, max_blocks=config.close_blocks, growth_epochs=config.growth_epochs())
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


def _recurrent(config, data):
    from .rnn import RecurrentSpace

    return RecurrentSpace(vocabulary=data.vocabulary_size, hidden=config.hidden, preset=config.space, nodes=config.nodes,
                          **{key: rate * config.dropout_scale for key, rate in RECURRENT_DROPOUT.items()})


register(SpaceSpec('nb201', 'image', _nb201, 'NAS-Bench-201 cell (6 edges, 5 ops), looked up in the benchmark',
                   default_cells=5, benchmark='nb201'))
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
                           options=True, linear_cells=False, rgb=True))


register(SpaceSpec('rnn-darts', 'text', _recurrent, 'DARTS\' recurrent cell (language models)'))
register(SpaceSpec('rnn-enas', 'text', _recurrent, 'ENAS\' recurrent cell (language models)'))
_register_hub_spaces()

__getattr__ = lazy_attributes(__name__, {
    'NasBench201Space': '.nb201', 'CloseNasBench201Space': '.close', 'DartsSpace': '.darts', 'NasnetSpace': '.nasnet',
    'RecurrentSpace': '.rnn', 'arch_to_sample': '.nb201_arch', 'sample_to_arch': '.nb201_arch',
})
