"""Curriculum-NAS strategies: drop-ins for NNI 3.0's one-shot strategies.

=====================  =====================================  ===========================================
nni_cnas               replaces                               top-K subnets for the uncertainty
=====================  =====================================  ===========================================
``DARTS``              ``nni.nas.strategy.DARTS``             K most probable under softmax(alpha)
``GDAS``               ``nni.nas.strategy.GumbelDARTS``       K most probable under softmax(alpha)
``RSPS``               ``nni.nas.strategy.RandomOneShot``     K uniform samples
``ENAS``               ``nni.nas.strategy.ENAS``              the first K controller samples
=====================  =====================================  ===========================================
"""

from .base import CurriculumStrategy, SearchModule
from .darts import DARTS
from .enas import ENAS
from .gdas import GDAS
from .rsps import RSPS

#: Strategy classes by their CLI name.
STRATEGIES = {'darts': DARTS, 'gdas': GDAS, 'rsps': RSPS, 'enas': ENAS}

__all__ = ['DARTS', 'GDAS', 'RSPS', 'ENAS', 'STRATEGIES', 'CurriculumStrategy', 'SearchModule']
