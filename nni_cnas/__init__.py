"""nni_cnas: Curriculum-NAS (Zhou et al., ACM MM 2022) for Microsoft NNI 3.0.

Drop-in strategies: ``nni_cnas.DARTS()`` where ``nni.nas.strategy.DARTS()`` was, and likewise
``GDAS``, ``RSPS`` and ``ENAS``; also ``DARTSV2``, ``AmendedDARTS`` and ``SETN``. See ``nni_cnas.strategies``.
"""

import warnings

from ._version import __version__

# NNI 3.0 inspects torch.nn at import and warns about classes newer than it knows (torch 2.x's
# Buffer, LinearCrossEntropyOptions); the warnings are harmless and only noise for our users.
warnings.filterwarnings('ignore', message=r'.*is found to be not a nn\.Module.*', category=RuntimeWarning)

_LAZY = {'DARTS', 'DARTSV2', 'AmendedDARTS', 'GDAS', 'SETN', 'RSPS', 'ENAS', 'STRATEGIES', 'NasBench201Space', 'CloseNasBench201Space'}


def __getattr__(name):
    # Strategies import NNI, Lightning and torch: load them on first use, so that `nni-cnas --help`
    # and input checks stay fast. Subpackages (nni_cnas.spaces, ...) load on first access too.
    import importlib

    if name in ('NasBench201Space', 'CloseNasBench201Space'):
        from . import spaces
        return getattr(spaces, name)
    if name in _LAZY:
        from . import strategies
        return getattr(strategies, name)
    try:
        return importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}') from None


__all__ = ['__version__', 'DARTS', 'DARTSV2', 'AmendedDARTS', 'GDAS', 'SETN', 'RSPS', 'ENAS', 'NasBench201Space', 'CloseNasBench201Space']
