"""The step skeleton every curriculum strategy shares, written once.

:class:`SearchModule` is a mixin placed before one of NNI's one-shot Lightning modules
(``class DartsModule(SearchModule, DartsLightningModule)``). Its training step is:

1. the base algorithm's architecture step on a validation batch, unweighted (DARTS, GDAS, ...);
2. the training batch's data weights, from the :class:`~nni_cnas.curriculum.Curriculum`;
3. the base algorithm's choice of the weight step's architecture (a path, a Gumbel draw, ...);
4. the weight step with the weighted loss ``mean_i(v_i * l_i)``, or the plain loss without weights,
   whose per-sample losses and weights go back to the curriculum.

NNI's own ``training_step`` uses a mean-reduced criterion, so per-sample weighting needs this one.
Losses, meters, selection and loaders are mixins of their own (:mod:`.losses`, :mod:`.meters`,
:mod:`.selection`, :mod:`.loaders`). The algorithms fill in small hooks: :meth:`architecture_step`,
:meth:`resample`, :meth:`curriculum_subnets`, :meth:`export_candidates`, :meth:`direct_export`,
:meth:`current_architecture`, :meth:`policy`, :meth:`end_of_epoch`.

:class:`CurriculumStrategy` is the matching mixin for NNI strategies: the curriculum's options and
the loaders (:func:`~nni_cnas.strategies.loaders.search_loaders`).
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from nni.mutable import Sample
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.model_helpers import is_overridden

from ..arch.decisions import Decisions, decisions_of
from ..arch.sampling import uniform_samples
from ..arch.supernet import adapt_supernet_module, fixed_architecture
from ..curriculum.component import Curriculum
from ..curriculum.config import CurriculumConfig, measure_of_estimator
from ..curriculum.measures import Reduce, SubnetOutputs, loss_sums
from ..curriculum.parts import MEASURES
from ..data.batches import inputs_and_targets, rank_batches, unpack
from .. import distributed
from ..progress import progress
from ..quiet import silence_known_noise
from ..records import EpochRecord
from ..spaces import contract as space_contract
from . import registry
from .ddp import adopt_ddp_strategy
from .loaders import LoadersMixin, NoValidationBatches, search_loaders, split_batch
from .losses import LossesMixin, check_classifier, check_sample_losses, evaluation_mode, perplexity
from .meters import EpochMeter
from .selection import SelectionMixin

__all__ = ['SearchModule', 'CurriculumStrategy', 'Sample']



#: The curriculum's defaults (the paper's method), which the strategies' signatures show.
_CURRICULUM = CurriculumConfig()
#: Sampled paths whose mean validation accuracy is the supernet's, for algorithms that draw paths.
SUPERNET_PATHS = 5


def _length(loader) -> Optional[int]:
    try:
        return len(loader)
    except TypeError:
        return None


def policy_max_probability(policy: Dict[str, Dict[Any, float]]) -> float:
    """How decided a policy is: the mean over its decisions of the largest probability (1 / options
    when undecided, 1 when every decision is made)."""
    largest = [max(probs.values()) / sum(probs.values()) for probs in policy.values() if probs]
    return sum(largest) / len(largest) if largest else float('nan')


class SearchModule(LossesMixin, SelectionMixin, LoadersMixin):
    """Curriculum mixin for NNI one-shot modules (see the module docstring)."""

    #: Whether the weight step trains one subnet (a path), so that its per-sample losses are
    #: subnet losses the amortised estimator can reuse. DARTS trains the mixture: False.
    single_path = False
    #: Progress bars of the module's own passes: True, False, or None (when stderr is a terminal).
    progress_bar: Optional[bool] = None

    def __init__(self, training_module, *, curriculum: CurriculumConfig = CurriculumConfig(),
                 num_candidates: int = registry.NUM_CANDIDATES, selection_size: int = registry.SELECTION_SIZE,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(training_module, **kwargs)
        self.num_candidates = num_candidates
        self.selection_size = selection_size
        seed = torch.initial_seed() % (2 ** 32) if seed is None else seed
        self.seed = seed
        # Our own seeded generators, saved in checkpoints: the base algorithm's sampling (rng) and the
        # curriculum's never consume each other's random numbers, so k=0 is exactly the base
        # algorithm and the curriculum does not change which paths the base algorithm trains.
        self.rng = random.Random(seed)
        self.curriculum = Curriculum(curriculum, seed + 1)
        self._loaders: Dict[str, Any] = {}
        self._forget_supernet()
        #: Under DDP, the supernet's buffers that rank 0 shares with the others before each forward.
        self._rank_buffers: Optional[List[torch.Tensor]] = None
        self._train_meter = EpochMeter()
        self._arch_meter = EpochMeter()
        #: The last finished epoch's record (the run folder adds its time, cell string and look-up).
        self.epoch_record: Optional[EpochRecord] = None
        #: The epoch whose end work (:meth:`finish_epoch`) runs, or stopped at a stop request and waits
        #: to be finished (the checkpoint carries it; a resumed search finishes it first); else None.
        self.epoch_end_pending: Optional[int] = None
        self._resuming_epoch_end = False
        self._loader_passes: Dict[str, Tuple[int, int]] = {}

    # Lightning: the one-shot modules drive their optimisers themselves (as NNI's do).
    @property
    def automatic_optimization(self) -> bool:
        return False

    # ------------------------------------------------------------------ hooks for the algorithms

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
        """K distinct architectures drawn uniformly from the space with the curriculum's generator
        (a measure's ``subnets='uniform'``); algorithms that restrict the space (RSPS' filter) draw
        from what they accept."""
        return [self.expand(s) for s in uniform_samples(self.options, k, self.curriculum_rng)]

    def measure_subnets(self, k: int) -> List[Sample]:
        """The K subnets of the curriculum's passes: the policy's (:meth:`curriculum_subnets`) or
        uniform draws (:meth:`uniform_subnets`), as the measure's ``subnets`` option says."""
        return self.uniform_subnets(k) if self.curriculum.measure.subnets == 'uniform' else self.curriculum_subnets(k)

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
        """Algorithm work at the end of each epoch (ENAS trains its controller here). Long work
        polls :meth:`stop_wanted` and, when a stop is asked for, keeps its progress in the
        checkpoint and returns False; it is called again when the search resumes and goes on
        from where it stopped. True: the work is done."""
        return True

    def stop_wanted(self) -> bool:
        """Whether a stop was asked for while the epoch's end work runs: SIGTERM or Ctrl+C
        (Lightning's flag), or a callback's ``stop_due()`` (a time limit, a runner's stop). Lightning
        acts on a stop only between batches; this lets work inside the last one stop too."""
        trainer = self.trainer
        if self._resuming_epoch_end:  # see on_train_start
            return False
        return bool(trainer.received_sigterm) or any(
            callback.stop_due() for callback in trainer.callbacks if callable(getattr(callback, 'stop_due', None)))

    def set_model(self, model) -> None:
        super().set_model(model)
        self._forget_supernet()

    def _forget_supernet(self) -> None:
        """Forget what was read of the previous supernet (its decisions, the unreduced criterion;
        algorithms extend it with their own, such as GDAS' alphas)."""
        self._decisions: Optional[Decisions] = None
        self._unreduced_criterion = None
        self._selection_batch: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    @property
    def decisions(self) -> Decisions:
        """The space's independent decisions (read once): NNI's labels, or the space's own
        (DARTS cells: one decision per node, see :mod:`nni_cnas.arch.decisions`)."""
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

    def supernet_accuracy(self, paths: int = SUPERNET_PATHS) -> Optional[float]:
        """The supernet's own validation accuracy on the selection batch where no architecture step
        measured it this epoch: the mean over ``paths`` architectures of the algorithm's policy,
        drawn from a generator of their own (the search's draws are not touched), for algorithms
        that draw paths (RSPS, ENAS); the mixture's for DARTS' warm-up epochs; None for GDAS."""
        draw = getattr(self, 'draw', None)
        if callable(draw):
            rng = random.Random(self.seed + 3 + self.search_epoch)
            samples = [draw(rng) for _ in range(paths)]
            return sum(self.score(sample) for sample in samples) / len(samples)
        if self.single_path:
            return None
        with evaluation_mode(self):
            return self.batch_quality(self.selection_batch())

    @property
    def curriculum_rng(self) -> random.Random:
        """The generator of the curriculum's own draws (RSPS' K uniform subnets, ENAS' K samples)."""
        return self.curriculum.rng

    # ------------------------------------------------------------------ the training step

    def training_step(self, batch, batch_idx):
        self._share_buffers()
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

    def weight_step(self, batch, batch_idx: int, weights: Optional[torch.Tensor]) -> torch.Tensor:
        losses = logits = None
        if self._supervised:
            loss, logits, losses = self.supervised_loss(batch, self._train_meter, weights)
            self._log_step('train', loss, logits, inputs_and_targets(batch)[1])
            if weights is not None:
                self.log('train_weighted_loss', loss)
        elif weights is not None:  # a user's module: its per-sample losses, weighted
            losses = self.sample_losses(batch)
            if callable(weights):
                weights = weights(losses)
            loss = (losses * weights).mean()
            losses = losses.detach()
        else:  # a user's module, plain: its own training_step, as NNI calls it
            loss = self.evaluator_loss(batch, 2 * batch_idx + 1)
        self.check_finite(loss, 'weight', batch_idx)
        self.curriculum.record(batch, losses, weights, logits)
        self.advance_optimization(loss, batch_idx, getattr(self, 'gradient_clip_val', None))
        return loss

    def weight_optimizers(self) -> list:
        """Lightning's optimisers of this module but the architecture's (NNI marks those ``is_arch_optimizer``)."""
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        return [opt for opt in optimizers if not getattr(opt, 'is_arch_optimizer', False)]

    def advance_optimization(self, loss, batch_idx: int, gradient_clip_val=None, gradient_clip_algorithm=None):
        # NNI's advance_optimization (Lightning 2) with the gradients averaged over the ranks between
        # the backward pass and the clipping, where DistributedDataParallel would average them; NNI's
        # has no hook there. One weight optimiser, as NNI requires.
        optimizers = self.weight_optimizers()
        if not self.training_module.automatic_optimization:
            raise ValueError('Evaluator module with manual optimization is not compatible with one-shot algorithms.')
        if len(optimizers) != 1:
            raise ValueError('More than one optimizer returned by evaluator. This is not supported in NAS.')
        optimizer = optimizers[0]
        self.training_module.optimizer_zero_grad(self.trainer.current_epoch, batch_idx, optimizer)
        self.manual_backward(loss)
        distributed.average_gradients(p for group in optimizer.param_groups for p in group['params'])
        self.training_module.configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        self.training_module.optimizer_step(self.trainer.current_epoch, batch_idx, optimizer)
        self._optimizer_progress += 1

    # ------------------------------------------------------------------ what the curriculum measures

    def subnet_outputs(self, archs: Sequence[Sample], batch) -> SubnetOutputs:
        """What each of the K subnets does on a batch with the shared weights, in evaluation mode:
        ``[K, B]`` per-sample losses and, for a classifier, ``[K, B, C]`` logits and the targets."""
        bf16 = self.curriculum.uses_bf16(self.device)
        with evaluation_mode(self), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            losses, logits, targets = [], [], None
            for arch in archs:
                with fixed_architecture(self.model, arch):
                    if self._supervised:
                        x, targets = inputs_and_targets(batch)
                        out = self.training_module(x)
                        out = out.float() if bf16 else out
                        losses.append(self.per_sample_loss(out, targets))
                        logits.append(out)
                    else:
                        losses.append(self.sample_losses(batch).float())
        classifier = (bool(logits) and logits[0].dim() == 2 and targets is not None and targets.dim() == 1
                      and not torch.is_floating_point(targets))  # class indices, not a regression's targets
        return SubnetOutputs(torch.stack(losses), torch.stack(logits) if classifier else None,
                             targets if classifier else None)

    def subnet_losses(self, archs: Sequence[Sample], batch) -> torch.Tensor:
        """``[K, B]`` per-sample losses of a batch under each of the K subnets, shared weights."""
        return self.subnet_outputs(archs, batch).losses

    def measure_batch(self, batch) -> SubnetOutputs:
        """The K subnets of the curriculum on one batch (the ``batch`` schedule)."""
        return self.subnet_outputs(self.measure_subnets(self.curriculum.k), batch)

    def measure_split(self, reduce: Reduce = loss_sums) -> Tuple[torch.Tensor, torch.Tensor]:
        """One pass over the training split (the ``epoch`` schedule), each batch through the K subnets
        of the curriculum, reduced per sample by the measure's ``reduce``: ``(sums, counts)`` over
        the split (all ranks' under DDP; default: the losses' sums, Eq. 10's)."""
        archs = self.measure_subnets(self.curriculum.k)
        n = len(self.curriculum.data_weights)
        sums = torch.zeros(n, device=self.device, dtype=torch.float64)
        counts = torch.zeros(n, device=self.device, dtype=torch.float64)
        loader = self.loader('train')
        batches = rank_batches(loader)  # under DDP each rank passes over its share
        for batch in progress(batches, self.progress_bar, f'uncertainty pass (K={len(archs)})', _length(loader), 'batch'):
            batch, index = unpack(self._device_batch(batch))
            if len(index) == 0:
                continue
            values, seen = reduce(self.subnet_outputs(archs, batch))
            index = index.to(self.device)
            sums.index_add_(0, index, values.to(torch.float64))
            counts.index_add_(0, index, seen.to(torch.float64))
        distributed.all_reduce_sum(sums, counts)  # sample indices are global: the sums of the whole split
        return sums, counts

    # ------------------------------------------------------------------ several processes (DDP)

    def on_fit_start(self):
        started = super().on_fit_start()  # the loaders' tensors on the device first
        self._start_ranks()
        return started

    def _share_buffers(self) -> None:
        """Under DDP, as DistributedDataParallel does before each forward: rank 0's buffers of the
        supernet (batch-norm statistics) on every rank, so that every rank holds one supernet."""
        if self._rank_buffers is not None:
            distributed.broadcast_tensors(self._rank_buffers)

    def on_train_end(self):
        self._share_buffers()  # the export's supernet
        return super().on_train_end()

    def setup(self, stage: str) -> None:
        # Before Lightning's strategy wraps the module: Lightning's own DDP becomes ours (nni_cnas.distributed).
        adopt_ddp_strategy(self.trainer)
        return super().setup(stage)

    def _start_ranks(self) -> None:
        """Under DDP: one search state on every rank (rank 0's generators, whatever each process
        was seeded with), each rank's share of the training and validation batches, the
        curriculum's sums over all ranks."""
        if not distributed.is_distributed():
            return
        rank, world = distributed.rank_and_world()
        self.seed, rng, curriculum_rng, torch_rng = distributed.broadcast_object(
            (self.seed, self.rng.getstate(), self.curriculum.rng.getstate(), torch.get_rng_state()))
        self.rng.setstate(rng)
        self.curriculum.rng.setstate(curriculum_rng)
        self.curriculum.set_seed(self.seed + 1)
        torch.set_rng_state(torch_rng)
        for name in ('train', 'val') if self.validation_in_batches else ('train',):
            loader = self._loaders.get(name)
            if hasattr(loader, 'shard'):  # nni_cnas' tensor loaders; Lightning shards torch DataLoaders
                loader.shard(rank, world)
        self.curriculum.reduce_sum = distributed.all_reduce_sum
        self._rank_buffers = list(self.model.buffers())

    # ------------------------------------------------------------------ epochs

    def on_train_epoch_start(self):
        self._train_meter, self._arch_meter = EpochMeter(), EpochMeter()
        self.curriculum.start_epoch(self.current_epoch, self.trainer.max_epochs)
        # Spaces with their own schedule (CLOSE's growing block pools) follow the search's epochs.
        # (A resume in the middle of an epoch skips this; such a space keeps its state in buffers.)
        space_contract.epoch_started(self.model, self.current_epoch, self.trainer.max_epochs)
        return super().on_train_epoch_start()

    def finish_epoch(self) -> None:
        self._share_buffers()  # the epoch-end passes and selection see one supernet on every rank
        if self.epoch_end_pending is None:
            # Where the loaders' passes stood as the work began: the work resumed after a stop
            # starts from there again (Lightning restores no loader position at an epoch's end).
            self._loader_passes = {name: (loader.sampler.epoch, loader.sampler.passes)
                                   for name, loader in self._loaders.items()
                                   if hasattr(getattr(loader, 'sampler', None), 'passes')}
        epoch = self.epoch_end_pending = self.search_epoch
        if not self.end_of_epoch():  # stopped at a stop request: on_train_batch_end stops the fit
            return
        record = EpochRecord(epoch)
        for place, meter in (('train', self._train_meter), ('arch', self._arch_meter)):
            for kind, value in meter.over_ranks().summary().items():
                record.set_quality(place, kind, value)
                if kind == 'loss' and self.sequence_task:
                    record.set_quality(place, 'ppl', perplexity(value))
        record.data_weights = self.curriculum.epoch_statistics()
        self.curriculum.end_epoch(epoch, self.trainer.max_epochs, self.measure_split)
        record.space = space_contract.summary_of(self.model)
        record.policy = self.policy()
        if record.policy is not None:
            record.policy_max_prob = policy_max_probability(record.policy)
        if record.arch_acc is None and not self.sequence_task and self._loaders.get('selection') is not None:
            accuracy = self.supernet_accuracy()
            if accuracy is not None:
                record.set_quality('supernet', *self.quality_kind(accuracy))
        record.sample = self.current_architecture()
        if record.sample is not None and self._loaders.get('selection') is not None:
            record.set_quality('val', *self.quality_kind(self.score(record.sample)))
        self.epoch_record = record
        for name, value in record.scalars().items():
            self.log(f'epoch/{name}', value)
        self.epoch_end_pending = None

    @property
    def search_epoch(self) -> int:
        """The epoch the module's work belongs to: Lightning's, except while a resumed search
        finishes the end of the epoch a stop interrupted (Lightning counts that one done)."""
        return self.current_epoch if self.epoch_end_pending is None else self.epoch_end_pending

    # An epoch's end work stopped by a stop request: the fit stops before the next epoch, with
    # Lightning's own graceful stop (SIGTERMException; Lightning raises it itself only after a
    # batch that does not end an epoch), and the resumed search finishes the stopped work first
    # (on_train_start). Where it stops decides how Lightning resumes: from a checkpoint written at
    # an epoch's end, at the next epoch's start with its start hooks (from one written at the last
    # batch's end Lightning skips them); but after the final epoch's end the fit counts as done and
    # Lightning would not start it at all, so the final epoch stops at its last batch's end.
    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.epoch_end_pending is not None and self.epoch_end_pending + 1 >= self.trainer.max_epochs:
            raise SIGTERMException()
        return super().on_train_batch_end(outputs, batch, batch_idx)

    def on_train_epoch_end(self):
        if self.epoch_end_pending is not None:
            raise SIGTERMException()
        return super().on_train_epoch_end()

    def on_train_start(self):
        started = super().on_train_start()
        if self.epoch_end_pending is not None:
            # A stop asked for meanwhile waits for this work: Lightning's loops already count the
            # epoch done, so a checkpoint written now would not resume it.
            self._resuming_epoch_end = True
            for name, (epoch, passes) in self._loader_passes.items():
                sampler = self._loaders[name].sampler
                sampler.set_epoch(epoch)
                sampler.passes = passes
            try:
                self.finish_epoch()
            finally:
                self._resuming_epoch_end = False
        return started

    # ------------------------------------------------------------------ checkpoints

    # The module's own state beyond its parameters and buffers (the curriculum keeps its own in
    # the state_dict): the base algorithm's generator, and the running sums of the current epoch
    # (Lightning does not call on_train_epoch_start when it resumes in the middle of an epoch, so
    # they must come back from the checkpoint).
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        checkpoint['nni_cnas'] = {
            'rng': self.rng.getstate(),
            'epoch_state': {'train': self._train_meter.state(), 'arch': self._arch_meter.state()},
            'epoch_end_pending': self.epoch_end_pending,
        }
        if self.epoch_end_pending is not None:
            checkpoint['nni_cnas']['loader_passes'] = self._loader_passes

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        Curriculum.migrate(checkpoint)
        state = checkpoint.get('nni_cnas')
        if state:
            self.rng.setstate(state['rng'])
            epoch_state = state['epoch_state']
            self._train_meter = EpochMeter.from_state(epoch_state['train'])
            self._arch_meter = EpochMeter.from_state(epoch_state['arch'])
            self.epoch_end_pending = state.get('epoch_end_pending')
            self._loader_passes = state.get('loader_passes', {})


class CurriculumStrategy:
    """Mixin for NNI one-shot strategies: the curriculum's options and its data plumbing.

    Parameters
    ----------
    curriculum
        ``'epoch'`` (default; the authors' released code), ``'batch'`` (the paper's Algorithm 1),
        ``'sample'`` (the weights draw the next epoch's samples, the loss unweighted; nni_cnas' tensor
        loaders), or ``None``/``'none'`` for the plain base algorithm.
    k
        Number of subnets whose losses measure each sample's uncertainty; ``0`` is the plain algorithm.
    measure
        How hard each sample is: ``'uncertainty'`` (default; K extra forward passes of the K best subnets,
        the paper), ``'amortised'`` (single-path strategies only: each sample's last K training losses, no
        extra pass; see :class:`~nni_cnas.curriculum.LossHistory`) or ``'loss'`` (the trained path's own
        loss, K-free). A researcher's own: :func:`~nni_cnas.curriculum.register_measure`.
    weighting
        Difficulty to weights: ``'proportional'`` (default; ``v ~ d^alpha``, Eq. 11 at ``alpha=1``),
        ``'inverse'`` (``v ~ d^-alpha``, easy first), ``'self-paced'`` (the easiest share of the samples,
        growing from half to all) or ``'permuted'`` (the control: proportional weights shuffled across samples).
    alpha
        Power of the proportional, inverse and permuted weightings; ``0`` is the plain algorithm.
    curriculum_start
        First epoch with data weights: a share of the epochs below 1 (``0.5``: the second half), an
        epoch number from 1 up; before it, the plain algorithm. Default 0 (the paper).
    estimator
        The former name of ``measure``, still accepted: ``'exact'`` is ``'uncertainty'``, ``'amortised'``
        is ``'amortised'``.
    measure_options, weighting_options
        The measure's and the weighting's own options, as a dict or ``KEY=VALUE`` items: for example
        ``measure_options={'subnets': 'uniform'}`` (the K subnets drawn uniformly, not the policy's) or
        ``weighting_options='initial_share=0.2'`` (self-paced). ``nni-cnas parts`` lists every option.
    uncertainty_precision
        Arithmetic of the uncertainty measure's passes: ``'auto'`` (bf16 autocast on a CUDA GPU with bf16,
        else fp32), ``'fp32'`` or ``'bf16'``. The weight and architecture steps are not affected.
    num_candidates
        Candidates scored on one validation batch for the final choice (where the algorithm selects).
    selection_size
        Samples in that validation batch.
    seed
        Seed of the strategy's own random choices; default: derived from ``torch.initial_seed()``.
    """

    #: The architecture step of differentiable algorithms needs a validation batch with each training batch.
    needs_validation_batches = True

    def __init__(self, *, curriculum: Optional[str] = _CURRICULUM.schedule, k: int = _CURRICULUM.k,
                 measure: str = _CURRICULUM.measure, weighting: str = _CURRICULUM.weighting,
                 alpha: float = _CURRICULUM.alpha, curriculum_start: float = _CURRICULUM.start,
                 estimator: Optional[str] = None, uncertainty_precision: str = _CURRICULUM.uncertainty_precision,
                 measure_options: Union[Mapping[str, Any], str, None] = None,
                 weighting_options: Union[Mapping[str, Any], str, None] = None,
                 num_candidates: int = registry.NUM_CANDIDATES, selection_size: int = registry.SELECTION_SIZE,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        silence_known_noise()
        measure = measure_of_estimator(estimator, measure)
        self.curriculum_config = CurriculumConfig('none' if curriculum is None else curriculum, k, measure,
                                                  uncertainty_precision, weighting, alpha, curriculum_start,
                                                  measure_options or {}, weighting_options or {})
        spec = registry.spec_of(type(self))
        registry.check_measure(spec.name if spec else type(self).__name__,
                               spec.single_path if spec else self.module_class.single_path, measure)
        if num_candidates < 1 or selection_size < 1:
            raise ValueError('num_candidates and selection_size must be positive')
        self.num_candidates = num_candidates
        self.selection_size = selection_size
        self.seed = seed
        self._search_module: Optional[SearchModule] = None
        self._fits_a_datamodule = False

    #: The one-shot module class of the algorithm (a :class:`SearchModule`).
    module_class: type

    def module_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :attr:`module_class`; algorithms add their own."""
        return dict(curriculum=self.curriculum_config, num_candidates=self.num_candidates,
                    selection_size=self.selection_size, seed=self.seed)

    def mutate_evaluator(self, evaluator):
        # What val_dataloader may return depends on how NNI passes the loaders to the fit.
        self._fits_a_datamodule = getattr(evaluator, 'datamodule', None) is not None
        return super().mutate_evaluator(evaluator)

    def configure_oneshot_module(self, training_module) -> SearchModule:
        if self.curriculum_config.enabled:
            check_sample_losses(training_module)  # before any training, not at the first weighted step
            if MEASURES.get(self.curriculum_config.measure).load().needs_class_logits:
                check_classifier(training_module, self.curriculum_config.measure)
        self._search_module = self.module_class(training_module, **self.module_kwargs())
        return self._search_module

    @property
    def search_module(self) -> SearchModule:
        """The one-shot module of the search (available once the evaluator is mutated)."""
        if self._search_module is None:
            raise RuntimeError('the strategy has not built its one-shot module yet')
        return self._search_module

    def run_hook(self, hook, name, module, memo):
        # Every module a mutation hook makes (NNI's, a model space's own, a user's) gets what our
        # modules need: the fixed-architecture switch, a working export (nni_cnas.arch.supernet).
        def adapted(module, name, memo, kwargs):
            made = hook(module, name, memo, kwargs)
            if isinstance(made, tuple):
                return (adapt_supernet_module(made[0]),) + tuple(made[1:])
            return adapt_supernet_module(made) if isinstance(made, torch.nn.Module) else made

        return super().run_hook(adapted, name, module, memo)

    def train_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        if self._search_module is None:
            raise RuntimeError('configure_oneshot_module must run before train_dataloader')
        return search_loaders(self._search_module, train_dataloader_fn(), val_dataloader_fn(),
                              selection_size=self.selection_size, validation_batches=self.needs_validation_batches,
                              name=type(self).__name__)

    def val_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        # No validation loop: the module scores subnets itself, on the loaders train_dataloader
        # attached. Said to Lightning without a warning: no loader where the module has no
        # validation_step (as NNI's DARTS returns), a loader without batches where it has one (NNI's
        # RandomOneShot's). A LightningDataModule's val_dataloader may not return None (NNI's own
        # strategies fail there): an empty loader, whose warning names our class and is filtered.
        if self._fits_a_datamodule or is_overridden('validation_step', self.search_module):
            return NoValidationBatches()
        return None
