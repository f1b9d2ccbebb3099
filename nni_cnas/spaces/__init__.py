"""Search spaces in NNI 3.0's model-space API: NAS-Bench-201, DARTS, NASNet and recurrent cells.

``SPACES`` maps CLI names to builders; importing this package is cheap (the model classes import
torch and NNI on first use).
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional, Sequence

from .nb201_arch import arch_to_sample, sample_to_arch

__all__ = ['NasBench201Space', 'CloseNasBench201Space', 'DartsSpace', 'NasnetSpace', 'RecurrentSpace', 'arch_to_sample', 'sample_to_arch', 'SPACES',
           'DEFAULT_CELLS', 'STEMS', 'TEXT_SPACES', 'build_space', 'build_text_space', 'describe_sample']

#: CLI name -> (module, class) of the model space.
SPACES = {
    'nb201': ('nni_cnas.spaces.nb201', 'NasBench201Space'),
    'darts': ('nni_cnas.spaces.darts', 'DartsSpace'),
    'nasnet': ('nni_cnas.spaces.nasnet', 'NasnetSpace'),
    'rnn-darts': ('nni_cnas.spaces.rnn', 'RecurrentSpace'),
    'rnn-enas': ('nni_cnas.spaces.rnn', 'RecurrentSpace'),
}
#: Recurrent cell spaces: language models on token sequences (the others classify images).
TEXT_SPACES = ('rnn-darts', 'rnn-enas')
#: Stems of the DARTS and NASNet networks: CIFAR-size or ImageNet-size inputs.
STEMS = ('cifar', 'imagenet')
#: Default cells per stage: NAS-Bench-201's 5; DARTS' 8-cell search network (2 per stage).
DEFAULT_CELLS = {'nb201': 5, 'darts': 2, 'nasnet': 2, 'rnn-darts': None, 'rnn-enas': None}
_CLASSES = {cls: module for module, cls in SPACES.values()}
_CLASSES['CloseNasBench201Space'] = 'nni_cnas.spaces.close'


def space_class(name: str):
    module, cls = SPACES[name]
    return getattr(importlib.import_module(module), cls)


def build_space(name: str, channels: int, cells: int, num_classes: int, in_channels: int, stem: str = 'cifar',
                close_blocks: Optional[int] = None, growth_epochs: Optional[Sequence[int]] = None):
    """The model space ``name`` at this size (``stem`` applies to DARTS and NASNet); with
    ``close_blocks``, NAS-Bench-201 as a CLOSENet of that many blocks (:mod:`nni_cnas.spaces.close`)."""
    kwargs: Dict[str, Any] = dict(channels=channels, cells=cells, num_classes=num_classes, in_channels=in_channels)
    if close_blocks is not None:
        if name != 'nb201':
            raise ValueError(f'CLOSE is built for the NAS-Bench-201 space, not {name}')
        from .close import CloseNasBench201Space

        return CloseNasBench201Space(**kwargs, max_blocks=close_blocks, growth_epochs=growth_epochs)
    if name != 'nb201':
        kwargs['stem'] = stem
    return space_class(name)(**kwargs)


def build_text_space(name: str, vocabulary: int, hidden: int, nodes: Optional[int] = None, dropout_scale: float = 1.0):
    """The recurrent space ``name`` (``rnn-darts``/``rnn-enas``) for a vocabulary, at this width,
    with DARTS' dropout rates times ``dropout_scale``."""
    rates = dict(dropout=0.75, dropout_h=0.25, dropout_x=0.75, dropout_i=0.2)
    return space_class(name)(vocabulary=vocabulary, hidden=hidden, preset=name, nodes=nodes,
                             **{key: rate * dropout_scale for key, rate in rates.items()})


def describe_sample(space, sample) -> str:
    """An architecture as text: a NAS-Bench-201 arch string, or a DARTS/NASNet genotype."""
    genotype = getattr(space, 'genotype', None)
    return str(genotype(sample)) if callable(genotype) else sample_to_arch(sample)


def __getattr__(name):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
