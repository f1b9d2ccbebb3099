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
``Proxyless``          ``nni.nas.strategy.Proxyless``         K most probable under softmax(alpha)
=====================  =====================================  ===========================================

Layout, as NNI's ``oneshot/pytorch/``: :mod:`.base` (the strategy side) and :mod:`.module` (the step),
composed of :mod:`.losses`, :mod:`.loaders`, :mod:`.selection`, :mod:`.subnets`, :mod:`.epochs`,
:mod:`.ranks`, :mod:`.optimization` and :mod:`.meters`, with the algorithms' hooks in :mod:`.hooks`;
:mod:`.differentiable` (alphas trained by Adam: DARTS, DARTS-V2, Amended-DARTS, GDAS, SETN, Proxyless)
and :mod:`.sampling` (paths drawn by the algorithm: RSPS, ENAS); :mod:`.registry`, the table of names,
classes and options. Classes load on first access, so that importing the registry stays cheap.
"""

from .._lazy import lazy_attributes
from . import registry

_CLASSES = {target.rpartition(':')[2]: target for target in
            (spec.target for spec in registry.specs() if isinstance(spec.target, str))}
_attribute = lazy_attributes(__name__, {
    **{name: '.' + target.partition(':')[0][len(__name__) + 1:] for name, target in _CLASSES.items()},
    'CurriculumStrategy': '.base', 'SearchModule': '.module',
})


def __getattr__(name: str):
    if name == 'STRATEGIES':  # strategy classes by their CLI name, plug-ins included
        return {spec.name: spec.load() for spec in registry.specs()}
    return _attribute(name)


__all__ = [*_CLASSES, 'STRATEGIES', 'CurriculumStrategy', 'SearchModule', 'registry']
