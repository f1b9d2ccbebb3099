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
(:mod:`.epochs`), ``ranks`` (:mod:`.ranks`); each stateful one owns its slice of the checkpoint.
The algorithms fill in the small hooks of :class:`~.hooks.AlgorithmHooks` (``architecture_step``,
``resample``, ``curriculum_subnets``, ``export_candidates``, ``direct_export``,
``current_architecture``, ``policy``, ``end_of_epoch``).
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from nni.mutable import Sample
from pytorch_lightning.utilities.exceptions import SIGTERMException

from .. import distributed
from ..arch.decisions import Decisions, decisions_of
from ..arch.sampling import uniform_samples
from ..curriculum.component import Curriculum
from ..curriculum.config import CurriculumConfig
from ..curriculum.measures import Reduce, SubnetOutputs, loss_sums
from ..spaces import contract as space_contract
from . import registry
from .ddp import adopt_ddp_strategy
from .compiled import StaticStepCompiler
from .epochs import EpochEndWork, EpochSummary, policy_max_probability
from .hooks import AlgorithmHooks
from .loaders import SearchLoaders, split_batch
from .losses import FiniteLossGuard, evaluation_mode, evaluator_losses
from .optimization import step_weight_optimizer, weight_optimizers
from .ranks import RankKeeper
from .selection import Selector
from .subnets import SubnetRunner

__all__ = ['SearchModule', 'SUPERNET_PATHS']

#: Sampled paths whose mean validation accuracy is the supernet's, for algorithms that draw paths.
SUPERNET_PATHS = 5


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
        #: The steps whose forward is the whole mixed supernet (compiled where compile_backend is set).
        self.static_steps = tuple(static_steps)
        self.compiler = StaticStepCompiler(compile_backend)
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

    def uniform_subnets(self, k: int) -> List[Sample]:
        """K distinct architectures drawn uniformly with the curriculum's generator (a measure's
        ``subnets='uniform'``); algorithms that restrict the space (RSPS' filter) draw from what they accept."""
        return [self.expand(s) for s in uniform_samples(self.options, k, self.curriculum.rng)]

    def measure_subnets(self, k: int) -> List[Sample]:
        """The K subnets of the curriculum's passes: the policy's or uniform draws, as the measure's
        ``subnets`` option says."""
        return self.uniform_subnets(k) if self.curriculum.measure.subnets == 'uniform' else self.curriculum_subnets(k)

    def stop_wanted(self) -> bool:
        """Whether a stop was asked for while the epoch's end work runs: SIGTERM or Ctrl+C, or a
        callback's ``stop_due()`` (a time limit, a runner's stop). Lightning acts on a stop only
        between batches; this lets work inside the last one stop too."""
        if self.epoch_end.resuming:  # see on_train_start
            return False
        return bool(self.trainer.received_sigterm) or any(
            callback.stop_due() for callback in self.trainer.callbacks if callable(getattr(callback, 'stop_due', None)))

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

    def _quality_kind(self, score: float):
        return self.losses.quality_kind(score, self.losses.classification(self.selector.batch()))

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

    def supernet_accuracy(self, paths: int = SUPERNET_PATHS) -> Optional[float]:
        """The supernet's validation accuracy where no architecture step measured it this epoch: the
        mean over ``paths`` architectures of the policy, drawn from a generator of their own, for
        algorithms that draw paths (RSPS, ENAS); the mixture's for DARTS' warm-up; None for GDAS."""
        draw = getattr(self, 'draw', None)
        if callable(draw):
            rng = random.Random(self.seed + 3 + self.search_epoch)
            samples = [draw(rng) for _ in range(paths)]
            return sum(self.score(sample) for sample in samples) / len(samples)
        if self.single_path:
            return None
        with evaluation_mode(self):
            return self.losses.batch_quality(self.selector.batch())

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
                                     self.compiler.forward('weight', self.static_steps))
        if step.logits is not None:  # as NNI's SupervisedLearningModule logs
            self.log('train_loss', step.loss, prog_bar=True)
            for name, metric in getattr(self.training_module, 'metrics', {}).items():
                self.log(f'train_{name}', metric(step.logits, step.targets), prog_bar=True)
            if weights is not None:
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
        sequence_task = self.losses.sequence_task
        record = self.summary.record(epoch, sequence_task)
        record.data_weights = self.curriculum.epoch_statistics()
        self.curriculum.end_epoch(epoch, self.trainer.max_epochs, self.measure_split)
        record.space = space_contract.summary_of(self.model)
        record.policy = self.policy()
        if record.policy is not None:
            record.policy_max_prob = policy_max_probability(record.policy)
        scores = self.loaders.has('selection')  # where candidates can be scored
        if record.arch_acc is None and not sequence_task and scores:
            accuracy = self.supernet_accuracy()
            if accuracy is not None:
                record.set_quality('supernet', *self._quality_kind(accuracy))
        record.sample = self.current_architecture()
        if record.sample is not None and scores:
            record.set_quality('val', *self._quality_kind(self.score(record.sample)))
        self.epoch_record = record
        for name, value in record.scalars().items():
            self.log(f'epoch/{name}', value)
        self.epoch_end.done()

    @property
    def search_epoch(self) -> int:
        """The epoch the module's work belongs to: Lightning's, except while a resumed search
        finishes the end of the epoch a stop interrupted (Lightning counts that one done)."""
        return self.current_epoch if self.epoch_end.pending is None else self.epoch_end.pending

    # An epoch's end work stopped by a stop request: the fit stops before the next epoch, with
    # Lightning's own graceful stop (SIGTERMException; Lightning raises it itself only after a
    # batch that does not end an epoch), and the resumed search finishes the stopped work first
    # (on_train_start). Where it stops decides how Lightning resumes: from a checkpoint written at
    # an epoch's end, at the next epoch's start with its start hooks (from one written at the last
    # batch's end Lightning skips them); but after the final epoch's end the fit counts as done and
    # Lightning would not start it at all, so the final epoch stops at its last batch's end.
    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.epoch_end.pending is not None and self.epoch_end.pending + 1 >= self.trainer.max_epochs:
            raise SIGTERMException()
        return super().on_train_batch_end(outputs, batch, batch_idx)

    def on_train_epoch_end(self):
        if self.epoch_end.pending is not None:
            raise SIGTERMException()
        return super().on_train_epoch_end()

    def on_train_start(self):
        started = super().on_train_start()
        if self.epoch_end.pending is not None:
            # A stop asked for meanwhile waits for this work: Lightning's loops already count the
            # epoch done, so a checkpoint written now would not resume it.
            self.epoch_end.resuming = True
            self.epoch_end.rewind(self.loaders.attached())
            try:
                self.finish_epoch()
            finally:
                self.epoch_end.resuming = False
        return started

    # ------------------------------------------------------------------ checkpoints

    # The module's own state beyond its parameters and buffers (the curriculum keeps its own in the
    # state_dict): the base algorithm's generator and each stateful part's slice.
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        checkpoint['nni_cnas'] = {'rng': self.rng.getstate(),
                                  **{part.state_key: part.state_dict() for part in self._checkpoint_parts()}}

    def _checkpoint_parts(self) -> tuple:
        """The parts with a slice of ``checkpoint['nni_cnas']`` (their ``state_key``)."""
        return self.summary, self.epoch_end

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        Curriculum.migrate(checkpoint)
        state = checkpoint.get('nni_cnas')
        if state:
            EpochEndWork.migrate(state)
            self.rng.setstate(state['rng'])
            for part in self._checkpoint_parts():
                if part.state_key in state:
                    part.load_state_dict(state[part.state_key])
