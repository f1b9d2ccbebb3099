"""Curriculum-NAS strategies: drop-ins for NNI 3.0's one-shot strategies.

=====================  =====================================  ===========================================
nni_cnas               replaces                               top-K subnets for the uncertainty
=====================  =====================================  ===========================================
``DARTS``              ``nni.nas.strategy.DARTS``             K most probable under softmax(alpha)
``DARTSV2``            (second-order DARTS; not in NNI 3.0)   K most probable under softmax(alpha)
``AmendedDARTS``       (not in NNI)                           K most probable under softmax(alpha)
``SETN``               (not in NNI)                           K most probable under softmax(alpha)
``GDAS``               ``nni.nas.strategy.GumbelDARTS``       K most probable under softmax(alpha)
``RSPS``               ``nni.nas.strategy.RandomOneShot``     K uniform samples
``ENAS``               ``nni.nas.strategy.ENAS``              the first K controller samples
=====================  =====================================  ===========================================
"""

from .base import CurriculumStrategy, SearchModule
from .differentiable.amended import AmendedDARTS
from .differentiable.darts import DARTS
from .differentiable.darts_v2 import DARTSV2
from .sampling.enas import ENAS
from .differentiable.gdas import GDAS
from .sampling.rsps import RSPS
from .differentiable.setn import SETN

#: Strategy classes by their CLI name.
STRATEGIES = {'darts': DARTS, 'darts-v2': DARTSV2, 'amended-darts': AmendedDARTS, 'gdas': GDAS, 'setn': SETN,
              'rsps': RSPS, 'enas': ENAS}

__all__ = ['DARTS', 'DARTSV2', 'AmendedDARTS', 'GDAS', 'SETN', 'RSPS', 'ENAS', 'STRATEGIES', 'CurriculumStrategy', 'SearchModule']
