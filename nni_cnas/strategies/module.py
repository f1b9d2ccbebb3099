"""The one-shot module every curriculum strategy shares, composed of parts with one job each.

:class:`SearchModule` is placed before one of NNI's one-shot Lightning modules
(``class DartsModule(SearchModule, DartsLightningModule)``). Its training step is:

1. the base algorithm's architecture step on a validation batch, unweighted (DARTS, GDAS, ...);
2. the training batch's data weights, from the :class:`~nni_cnas.curriculum.Curriculum`;
3. the base algorithm's choice of the weight step's architecture (a path, a Gumbel draw, ...);
4. the weight step with the weighted loss ``mean_i(v_i * l_i)``, or the plain loss without weights,
   whose per-sample losses and weights go back to the curriculum.

NNI's own ``training_step`` uses a mean-reduced criterion, so per-sample weighting needs this one.
Its parts: ``losses`` (the evaluator's module, :mod:`.losses`), ``loaders`` (:mod:`.loaders`),
``selector`` (:mod:`.selection`), ``subnets`` (:mod:`.subnets`), ``summary`` and ``epoch_end``
(:mod:`.epochs`), ``ranks`` (:mod:`.ranks`); each stateful one owns its slice of the checkpoint
(:mod:`.slices`). The algorithms fill in the hooks of :class:`~.hooks.AlgorithmHooks`.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from nni.mutable import Sample

from .. import distributed
from ..arch.decisions import Decisions, decisions_of
from ..curriculum.component import Curriculum
from ..curriculum.config import CurriculumConfig
from ..curriculum.measures import Reduce, SubnetOutputs, loss_sums
from ..spaces import contract as space_contract
from . import registry
from .ddp import adopt_ddp_strategy
from .compiled import StaticStepCompiler
from .epochs import EpochEndWork, EpochSummary, describe_epoch
from .hooks import AlgorithmHooks
from .loaders import SearchLoaders, split_batch
from .losses import FiniteLossGuard, evaluator_losses
from .optimization import step_weight_optimizer, weight_optimizers
from .ranks import RankKeeper
from .selection import SUPERNET_PATHS, Selector
from .slices import GeneratorState, load_parts, save_parts
from .subnets import SubnetRunner

__all__ = ['SearchModule', 'SUPERNET_PATHS']


class SearchModule(AlgorithmHooks):
    """Curriculum mixin for NNI one-shot modules (see the module docstring)."""

    #: Whether the weight step trains one subnet (a path), so that its per-sample losses are
    #: subnet losses the amortised estimator can reuse. DARTS trains the mixture: False.
    single_path = False
    #: Progress bars of the module's own passes: True, False, or None (when stderr is a terminal).
    progress_bar: Optional[bool] = None
    #: Whether validation batches come with the training ones (an architecture step per batch): under
    #: DDP both are split across the ranks; else the module's own passes (ENAS') see all of them.
    validation_in_batches = False

    def __init__(self, training_module, *, curriculum: CurriculumConfig = CurriculumConfig(),
                 num_candidates: int = registry.NUM_CANDIDATES, selection_size: int = registry.SELECTION_SIZE,
                 seed: Optional[int] = None, compile_backend: Optional[str] = None,
                 static_steps: Sequence[str] = (), **kwargs):
        super().__init__(training_module, **kwargs)
        self.num_candidates = num_candidates
        self.seed = torch.initial_seed() % (2 ** 32) if seed is None else seed
        # Our own seeded generators, saved in checkpoints: the base algorithm's sampling (rng) and the
        # curriculum's never consume each other's random numbers, so k=0 is exactly the base
        # algorithm and the curriculum does not change which paths the base algorithm trains.
        self.rng = random.Random(self.seed)
        self.curriculum = Curriculum(curriculum, self.seed + 1)
        self.losses = evaluator_losses(training_module)
        self.finite = FiniteLossGuard()
        #: The forward of the steps that run the whole mixed supernet, compiled where compile_backend is set.
        self.compiler = StaticStepCompiler(compile_backend, static_steps)
        self.loaders = SearchLoaders()
        self.selector = Selector(self, selection_size)
        self.subnets = SubnetRunner(self)
        self.summary = EpochSummary()
        self.epoch_end = EpochEndWork()
        self.ranks = RankKeeper()
        self.ranks.share('seed', lambda: self.seed, self._set_seed)
        self.ranks.share('rng', self.rng.getstate, self.rng.setstate)
        self.ranks.share('curriculum_rng', self.curriculum.rng.getstate, self.curriculum.rng.setstate)
        self.ranks.share('torch_rng', torch.get_rng_state, torch.set_rng_state)
        self._decisions: Optional[Decisions] = None
        #: The last finished epoch's record (the run folder adds its time, cell string and look-up).
        self.epoch_record = None

    def _set_seed(self, seed: int) -> None:
        self.seed = seed
        self.curriculum.set_seed(seed + 1)

    # Lightning: the one-shot modules drive their optimisers themselves (as NNI's do).
    @property
    def automatic_optimization(self) -> bool:
        return False

    # ------------------------------------------------------------------ the curriculum's subnets

    def measure_subnets(self, k: int) -> List[Sample]:
        """The K subnets of the curriculum's passes: the policy's or uniform draws, as the measure's
        ``subnets`` option says."""
        return self.uniform_subnets(k) if self.curriculum.measure.subnets == 'uniform' else self.curriculum_subnets(k)

    def stop_wanted(self) -> bool:
        """Whether a stop was asked for while the epoch's end work runs (:meth:`.EpochEndWork.stop_wanted`)."""
        return self.epoch_end.stop_wanted(self.trainer)

    # ------------------------------------------------------------------ what the parts lend the algorithms

    def set_model(self, model) -> None:
        super().set_model(model)
        self._forget_supernet()

    def _forget_supernet(self) -> None:
        """Forget what was read of the previous supernet (algorithms extend it: GDAS' alphas)."""
        self._decisions = None
        self.selector.forget_batch()

    @property
    def decisions(self) -> Decisions:
        """The space's independent decisions (read once): NNI's labels, or the space's own."""
        if self._decisions is None:
            self._decisions = decisions_of(self.model)
        return self._decisions

    @property
    def options(self) -> Dict[str, List[Any]]:
        """``{decision: values}``; samplers draw from these and :meth:`expand` their draws."""
        return self.decisions.options

    def expand(self, decided: Sample) -> Sample:
        """The NNI sample of an architecture drawn from :attr:`options`."""
        return self.decisions.expand(decided)

    @property
    def curriculum_rng(self) -> random.Random:
        """The generator of the curriculum's own draws (RSPS' K uniform subnets, ENAS' K samples)."""
        return self.curriculum.rng

    def score(self, arch: Sample) -> float:
        """The evaluator's quality of a subnet on the selection batch (higher is better)."""
        return self.selector.score(arch)

    def export(self) -> Sample:
        candidates = self.export_candidates()
        if candidates is None:
            return self.direct_export()
        return self.selector.select_best(candidates).sample

    def loader(self, name: str):
        """An attached loader, for the module's own passes, its epoch the search's."""
        return self.loaders.get(name, self.search_epoch)

    def device_batch(self, batch):
        return self.transfer_batch_to_device(batch, self.device, 0)

    def attach_loaders(self, train, val, selection=None) -> None:
        """Called by :func:`~.loaders.search_loaders` once the evaluator's loaders are known."""
        self.loaders.attach(train, val, selection)
        self.selector.forget_batch()
        self.curriculum.attach(self.loaders.train_size() if self.curriculum.needs_indices else 0)

    def check_finite(self, loss: torch.Tensor, what: str, batch_idx: int) -> None:
        self.finite.watch(loss, what, batch_idx, self.current_epoch, batch_idx + 1 == self.trainer.num_training_batches)

    def measure_batch(self, batch) -> SubnetOutputs:
        """The curriculum's K subnets on one batch (the ``batch`` schedule)."""
        return self.subnets.outputs(self.measure_subnets(self.curriculum.k), batch)

    def measure_split(self, reduce: Reduce = loss_sums) -> Tuple[torch.Tensor, torch.Tensor]:
        """The curriculum's K subnets over the training split (the ``epoch`` schedule)."""
        archs = self.measure_subnets(self.curriculum.k)
        return self.subnets.over_split(archs, len(self.curriculum.data_weights), reduce)

    # ------------------------------------------------------------------ the training step

    def training_step(self, batch, batch_idx):
        self.ranks.share_buffers()
        train_batch, val_batch = split_batch(batch, self.validation_in_batches)
        if val_batch is not None:
            self.architecture_step(val_batch, batch_idx, train_batch)
        weights = self.curriculum.batch_weights(train_batch, self.measure_batch, self.current_epoch,
                                                self.trainer.max_epochs)
        self.resample()
        loss = self.weight_step(train_batch, batch_idx, weights)
        self.advance_lr_schedulers(batch_idx)
        if batch_idx + 1 == self.trainer.num_training_batches:
            # Epoch-end work happens inside the last step, so every callback's on_train_epoch_end
            # (run folder, checkpoints, NNI reports) sees the finished epoch, whatever its type.
            self.finish_epoch()
        return loss

    def weight_step(self, batch, batch_idx: int, weights) -> torch.Tensor:
        step = self.losses.step_loss(batch, 2 * batch_idx + 1, self.summary.train, weights,
                                     self.compiler.forward('weight'))
        metrics = self.losses.step_metrics(step)
        self.log_dict(metrics, prog_bar=True)
        if metrics and weights is not None:
            self.log('train_weighted_loss', step.loss)
        self.check_finite(step.loss, 'weight', batch_idx)
        self.curriculum.record(batch, step.losses, weights, step.logits)
        self.advance_optimization(step.loss, batch_idx, getattr(self, 'gradient_clip_val', None))
        return step.loss

    def weight_optimizers(self) -> list:
        return weight_optimizers(self)

    def advance_optimization(self, loss, batch_idx: int, gradient_clip_val=None, gradient_clip_algorithm=None):
        step_weight_optimizer(self, loss, batch_idx, gradient_clip_val, gradient_clip_algorithm)

    # ------------------------------------------------------------------ the fit, its epochs, DDP

    def setup(self, stage: str) -> None:
        # Before Lightning's strategy wraps the module: Lightning's own DDP becomes ours (nni_cnas.distributed).
        adopt_ddp_strategy(self.trainer)
        return super().setup(stage)

    def on_fit_start(self):
        self.loaders.to_device(self.device)  # tensor loaders (nni_cnas.data) move their data once
        self.compiler.build(self.training_module, self.device)
        self.selector.forget_batch()
        started = super().on_fit_start()
        if self.ranks.start(list(self.model.buffers())):  # rank 0's state; each rank's share of the batches
            self.loaders.shard(*distributed.rank_and_world(), self.validation_in_batches)
            self.curriculum.reduce_sum = distributed.all_reduce_sum
        return started

    def on_train_end(self):
        self.ranks.share_buffers()  # the export's supernet
        return super().on_train_end()

    def on_train_epoch_start(self):
        self.summary.start()
        self.curriculum.start_epoch(self.current_epoch, self.trainer.max_epochs)
        # Spaces with their own schedule (CLOSE's growing block pools) follow the search's epochs.
        # (A resume in the middle of an epoch skips this; such a space keeps its state in buffers.)
        space_contract.epoch_started(self.model, self.current_epoch, self.trainer.max_epochs)
        return super().on_train_epoch_start()

    def finish_epoch(self) -> None:
        self.ranks.share_buffers()  # the epoch-end passes and selection see one supernet on every rank
        self.epoch_end.begin(self.search_epoch, self.loaders.attached())
        epoch = self.epoch_end.pending
        if not self.end_of_epoch():  # stopped at a stop request: on_train_batch_end stops the fit
            return
        record = self.summary.record(epoch, self.losses.sequence_task)
        record.data_weights = self.curriculum.epoch_statistics()
        self.curriculum.end_epoch(epoch, self.trainer.max_epochs, self.measure_split)
        describe_epoch(self, record)
        self.epoch_record = record
        for name, value in record.scalars().items():
            self.log(f'epoch/{name}', value)
        self.epoch_end.done()

    @property
    def search_epoch(self) -> int:
        """The epoch the module's work belongs to: Lightning's, except while a resumed search
        finishes the end of the epoch a stop interrupted (Lightning counts that one done)."""
        return self.current_epoch if self.epoch_end.pending is None else self.epoch_end.pending

    # An epoch's end work stopped by a stop request stops the fit where a resume finishes it first
    # (:class:`.EpochEndWork`, which says why there).
    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.epoch_end.stop_if_final_pending(self.trainer.max_epochs)
        return super().on_train_batch_end(outputs, batch, batch_idx)

    def on_train_epoch_end(self):
        self.epoch_end.stop_if_pending()
        return super().on_train_epoch_end()

    def on_train_start(self):
        started = super().on_train_start()
        self.epoch_end.finish_interrupted(self.loaders.attached(), self.finish_epoch)
        return started

    # ------------------------------------------------------------------ checkpoints

    # The module's own state beyond its parameters and buffers (the curriculum keeps its own in the
    # state_dict): the base algorithm's generator and each stateful part's slice (:mod:`.slices`).
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        save_parts(checkpoint, self._checkpoint_parts())

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        load_parts(checkpoint, self._checkpoint_parts())

    def _checkpoint_parts(self) -> tuple:
        """The parts with a slice of the checkpoint; algorithms add their own."""
        return GeneratorState(self.rng, 'rng'), self.summary, self.epoch_end
