"""Search spaces in NNI 3.0's model-space API.

``SPACES`` maps CLI names to builders; importing this package is cheap (the model classes import
torch and NNI on first use).
"""

from .nb201_arch import arch_to_sample, sample_to_arch

__all__ = ['NasBench201Space', 'arch_to_sample', 'sample_to_arch', 'SPACES']

#: CLI name -> (module, class) of the model space.
SPACES = {'nb201': ('nni_cnas.spaces.nb201', 'NasBench201Space')}


def __getattr__(name):
    if name == 'NasBench201Space':
        from .nb201 import NasBench201Space
        return NasBench201Space
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
