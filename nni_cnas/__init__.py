"""nni_cnas: Curriculum-NAS (Zhou et al., ACM MM 2022) for Microsoft NNI 3.0.

Drop-in strategies: ``nni_cnas.DARTS()`` where ``nni.nas.strategy.DARTS()`` was, and likewise
``GDAS`` (for GumbelDARTS), ``RSPS`` (RandomOneShot), ``ENAS`` and ``Proxyless``; also ``DARTSV2``,
``AmendedDARTS`` and ``SETN``. See ``nni_cnas.strategies``.
"""

import warnings

from ._version import __version__

# NNI 3.0 inspects torch.nn at import and warns about classes newer than it knows (torch 2.x's
# Buffer, LinearCrossEntropyOptions); the warnings are harmless and only noise for our users.
warnings.filterwarnings('ignore', message=r'.*is found to be not a nn\.Module.*', category=RuntimeWarning)

_SPACES = ('NasBench201Space', 'CloseNasBench201Space')


def __getattr__(name):
    # Strategies import NNI, Lightning and torch: load them on first use, so that `nni-cnas --help`
    # and input checks stay fast. Subpackages (nni_cnas.spaces, ...) load on first access too.
    import importlib

    if name in _SPACES:
        from . import spaces
        return getattr(spaces, name)
    strategies = importlib.import_module(f'{__name__}.strategies')  # the registry only: cheap
    if name in strategies.__all__:
        return getattr(strategies, name)
    try:
        return importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}') from None


def _strategy_names():
    from .strategies import __all__ as names  # the registry only: cheap

    return [name for name in names if name[:1].isupper() and name != 'STRATEGIES']


__all__ = ['__version__', *_strategy_names(), *_SPACES]
