"""What a search algorithm fills in of :class:`~nni_cnas.strategies.module.SearchModule`: the hooks
the shared step calls, each with its default (NNI's behaviour where NNI has one). A new algorithm
overrides the ones it needs (docs/architecture.md, "Add a strategy")."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from nni.mutable import Sample

__all__ = ['AlgorithmHooks']


class AlgorithmHooks:
    """The algorithm's side of the search module, placed before NNI's one-shot module in the MRO, so
    that a default's ``super()`` is NNI's method."""

    def architecture_step(self, batch, batch_idx: int, train_batch=None) -> None:
        """Update the architecture policy on a validation batch (unweighted). Second-order
        algorithms also use the training batch of the step. Default: nothing."""

    def resample(self) -> Sample:
        """Choose the architecture of the next forward (a path, a Gumbel draw). Default: NNI's."""
        return super().resample()

    def curriculum_subnets(self, k: int) -> List[Sample]:
        """The K subnets whose losses measure each sample's uncertainty (Sec. 3.4 of the paper: the
        K best under the search policy; uniform draws where the policy is uniform, as RSPS')."""
        raise NotImplementedError

    def uniform_subnets(self, k: int) -> List[Sample]:
        """K distinct architectures drawn uniformly with the curriculum's generator (a measure's
        ``subnets='uniform'``). Algorithms that restrict the space (RSPS' filter) draw from what they accept."""
        from ..arch.sampling import uniform_samples

        return [self.expand(s) for s in uniform_samples(self.options, k, self.curriculum_rng)]

    def export_candidates(self) -> Optional[List[Sample]]:
        """Candidates for the final choice on a validation batch, or None to export directly."""
        return None

    def direct_export(self) -> Sample:
        """The architecture exported without candidates. Default: NNI's own export."""
        return super().export()

    def current_architecture(self) -> Optional[Sample]:
        """The architecture the search would return now, if that is cheap to know (for per-epoch
        metrics); None when only the final selection can tell (RSPS)."""
        return None

    def policy(self) -> Optional[Dict[str, Dict[Any, float]]]:
        """The search policy as ``{label: {value: probability}}`` (recorded each epoch to trace
        ranks), or None when it has no closed form (RSPS, ENAS)."""
        return None

    def end_of_epoch(self) -> bool:
        """Algorithm work at the end of each epoch (ENAS trains its controller here). Long work polls
        :meth:`stop_wanted` and, when a stop is asked for, keeps its progress in the checkpoint and
        returns False; it is called again when the search resumes. True: the work is done."""
        return True
