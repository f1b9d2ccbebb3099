"""Proxyless (Cai et al., ICLR 2019) with the data curriculum: a drop-in for ``nni.nas.strategy.Proxyless``.

NNI's algorithm as it is: each step samples one path from softmax(alpha) in every layer and input
choice, trains the weights on it, and updates the alphas with the binary-gate gradient of the
sampled path (NNI's ``_ProxylessFunction``). Only the modules change: NNI's Proxyless layers with
the fixed-architecture switch the curriculum's K subnets need (:mod:`nni_cnas.arch.supernet`).
Top-K: the K most probable architectures under softmax(alpha), as for DARTS; the export is the
most probable one (NNI's Proxyless exports a fresh sample).

The spaces are those NNI's Proxyless handles: layer choices and input choices of one input;
NNI's own Proxyless skips cells, ``Repeat`` depths and mixed operations (its hub test does too).
"""

from __future__ import annotations

from nni.nas.oneshot.pytorch.strategy import no_default_hook
from nni.nas.oneshot.pytorch.supermodule.proxyless import suppress_already_mutated

from ...arch.supernet import FixableProxylessInput, FixableProxylessLayer
from .darts import DARTS, DartsModule

__all__ = ['Proxyless', 'ProxylessModule']


class ProxylessModule(DartsModule):
    """DARTS' step over Proxyless modules: NNI's resample draws the path of each step."""

    single_path = True


class Proxyless(DARTS):
    """Proxyless with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain Proxyless.

    Accepts every argument of ``nni.nas.strategy.Proxyless`` (those of NNI's DARTS) and those of
    :class:`~nni_cnas.strategies.base.CurriculumStrategy`.
    """

    module_class = ProxylessModule

    def default_mutation_hooks(self):
        # NNI's Proxyless hooks (nni.nas.strategy.Proxyless) with its layer and input modules
        # swapped for ones with the fixed-architecture switch. NNI's ProxylessMixedRepeat is left
        # out: its depth is decided by hidden per-block layers, not by the space's depth label.
        return [suppress_already_mutated, FixableProxylessLayer.mutate, FixableProxylessInput.mutate, no_default_hook]

