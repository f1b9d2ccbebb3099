"""SETN (Dong & Yang, "One-shot neural architecture search via self-evaluated template network",
ICCV 2019) as NATS-Bench runs it, with the data curriculum.

From xautodl's ``exps/NATS-algos/search-cell.py`` (algo ``setn``), re-written here:

* weight step: one architecture drawn uniformly at random (``dync_genotype(True)``), trained alone;
* architecture step: the whole mixture (``joint`` mode, as DARTS-V1) on the validation loss, Adam;
* final architecture: of the ``num_candidates`` (100) most probable architectures under the
  softmax of the alphas, the best on one validation batch.

Top-K for the curriculum: the K most probable, as for DARTS.
"""

from __future__ import annotations

from typing import List

from ...arch.supernet import fixed_architecture
from ...arch.sampling import uniform_samples
from ..base import Sample
from .darts import DARTS, DartsModule

__all__ = ['SETN', 'SetnModule']


class SetnModule(DartsModule):
    """DARTS' architecture step; weight steps on uniformly drawn single paths."""

    single_path = True

    def weight_step(self, batch, batch_idx, weights):
        path = self.expand(uniform_samples(self.options, 1, self.rng, distinct=False)[0])
        with fixed_architecture(self.model, path):
            return super().weight_step(batch, batch_idx, weights)

    def export_candidates(self) -> List[Sample]:
        return self.most_probable(self.num_candidates, what='num_candidates')


class SETN(DARTS):
    """SETN with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain SETN.

    Same arguments as :class:`~nni_cnas.DARTS`; ``num_candidates`` (100) most probable architectures
    are scored for the final choice.
    """

    module_class = SetnModule
