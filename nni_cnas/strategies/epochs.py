"""An epoch's bookkeeping in the search module: its running sums and record (:class:`EpochSummary`)
and the end-of-epoch work that a stop may interrupt and a resumed search finishes (:class:`EpochEndWork`)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from pytorch_lightning.utilities.exceptions import SIGTERMException

from ..records import EpochRecord
from ..spaces import contract as space_contract
from .losses import perplexity
from .meters import EpochMeter

__all__ = ['EpochSummary', 'EpochEndWork', 'describe_epoch', 'pending_epoch_end', 'policy_max_probability']


def policy_max_probability(policy: Dict[str, Dict[Any, float]]) -> float:
    """How decided a policy is: the mean over its decisions of the largest probability (1 / options
    when undecided, 1 when every decision is made)."""
    largest = [max(probs.values()) / sum(probs.values()) for probs in policy.values() if probs]
    return sum(largest) / len(largest) if largest else float('nan')


def describe_epoch(module, record: EpochRecord) -> None:
    """What the search stands at after the epoch's end work, into its record: the space's own
    summary, the policy, the current architecture and, where candidates can be scored, their
    validation quality and the supernet's where no architecture step measured it."""
    record.space = space_contract.summary_of(module.model)
    record.policy = module.policy()
    if record.policy is not None:
        record.policy_max_prob = policy_max_probability(record.policy)
    record.sample = module.current_architecture()
    if not module.loaders.has('selection'):
        return
    if record.arch_acc is None and not module.losses.sequence_task:
        supernet = supernet_accuracy(module)
        if supernet is not None:
            record.set_quality('supernet', *module.selector.quality_kind(supernet))
    if record.sample is not None:
        record.set_quality('val', *module.selector.quality_kind(module.score(record.sample)))


def supernet_accuracy(module) -> Optional[float]:
    """The supernet's validation accuracy: its policy's paths' (RSPS, ENAS: their ``draw``), the
    mixture's (DARTS' warm-up), None for GDAS (a single path with no policy draw of its own)."""
    draw = getattr(module, 'draw', None)
    if callable(draw) or not module.single_path:
        return module.selector.supernet_quality(draw if callable(draw) else None,
                                                module.seed + 3 + module.search_epoch)
    return None


def pending_epoch_end(module) -> Optional[int]:
    """The epoch whose end work a search module runs or owes after a stop (None: none, or not one
    of nni_cnas' modules)."""
    return getattr(getattr(module, 'epoch_end', None), 'pending', None)


class EpochSummary:
    """The epoch's running sums of the weight steps (``train``) and the architecture steps (``arch``),
    kept on the device, and the record they give at the epoch's end. Lightning does not call
    ``on_train_epoch_start`` when it resumes in the middle of an epoch, so the sums are in the
    checkpoint."""

    state_key = 'epoch_state'

    def __init__(self):
        self.train, self.arch = EpochMeter(), EpochMeter()

    def start(self) -> None:
        self.train, self.arch = EpochMeter(), EpochMeter()

    def record(self, epoch: int, sequence_task: bool) -> EpochRecord:
        """The epoch's record with its mean losses and accuracies (perplexities for a language
        model), summed over DDP's ranks."""
        record = EpochRecord(epoch)
        for place, meter in (('train', self.train), ('arch', self.arch)):
            for kind, value in meter.over_ranks().summary().items():
                record.set_quality(place, kind, value)
                if kind == 'loss' and sequence_task:
                    record.set_quality(place, 'ppl', perplexity(value))
        return record

    def state_dict(self) -> Dict[str, Any]:
        return {'train': self.train.state(), 'arch': self.arch.state()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.train, self.arch = EpochMeter.from_state(state['train']), EpochMeter.from_state(state['arch'])


class EpochEndWork:
    """Which epoch's end work runs, or stopped at a stop request and waits to be finished (ENAS'
    controller training, the curriculum's pass over the training split), and where the module's own
    loaders' passes stood as it began: the work resumed after a stop starts from there again
    (Lightning restores no loader position at an epoch's end).

    A stop inside the work stops the fit before the next epoch, with Lightning's own graceful stop
    (SIGTERMException; Lightning raises it itself only after a batch that does not end an epoch),
    and the resumed search finishes the stopped work first (:meth:`finish_interrupted`). Where it
    stops decides how Lightning resumes: from a checkpoint written at an epoch's end, at the next
    epoch's start with its start hooks (from one written at the last batch's end Lightning skips
    them); but after the final epoch's end the fit counts as done and Lightning would not start it
    at all, so the final epoch stops at its last batch's end (:meth:`stop_if_final_pending`)."""

    state_key = 'epoch_end'

    def __init__(self):
        #: The epoch whose end work runs or waits; None between epochs' ends.
        self.pending: Optional[int] = None
        self.loader_passes: Dict[str, Tuple[int, int]] = {}
        #: True while a resumed search finishes the work (a stop asked for meanwhile waits for it).
        self.resuming = False

    def begin(self, epoch: int, loaders: Dict[str, Any]) -> None:
        if self.pending is None:
            self.loader_passes = {name: (loader.sampler.epoch, loader.sampler.passes) for name, loader in loaders.items()
                                  if hasattr(getattr(loader, 'sampler', None), 'passes')}
        self.pending = epoch

    def done(self) -> None:
        self.pending = None

    def stop_wanted(self, trainer) -> bool:
        """Whether a stop was asked for while the work runs: SIGTERM or Ctrl+C, or a callback's
        ``stop_due()`` (a time limit, a runner's stop). Lightning acts on a stop only between
        batches; this lets work inside the last one stop too. Never while a resumed search finishes
        stopped work: Lightning's loops already count that epoch done, so a checkpoint written then
        would not resume it."""
        if self.resuming:
            return False
        return bool(trainer.received_sigterm) or any(
            callback.stop_due() for callback in trainer.callbacks if callable(getattr(callback, 'stop_due', None)))

    def stop_if_final_pending(self, max_epochs: int) -> None:
        """At a batch's end: stop the fit where the final epoch's end work is pending."""
        if self.pending is not None and self.pending + 1 >= max_epochs:
            raise SIGTERMException()

    def stop_if_pending(self) -> None:
        """At an epoch's end: stop the fit where its end work is pending."""
        if self.pending is not None:
            raise SIGTERMException()

    def finish_interrupted(self, loaders: Dict[str, Any], finish: Callable[[], None]) -> None:
        """At the resumed fit's start: the stopped work again, its loaders where it began."""
        if self.pending is None:
            return
        self.resuming = True
        self.rewind(loaders)
        try:
            finish()
        finally:
            self.resuming = False

    def rewind(self, loaders: Dict[str, Any]) -> None:
        """The loaders' passes where the interrupted work began."""
        for name, (epoch, passes) in self.loader_passes.items():
            sampler = loaders[name].sampler
            sampler.set_epoch(epoch)
            sampler.passes = passes

    def state_dict(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {'pending': self.pending}
        if self.pending is not None:
            state['loader_passes'] = self.loader_passes
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.pending = state.get('pending')
        self.loader_passes = state.get('loader_passes', {})

    @staticmethod
    def migrate(saved: Dict[str, Any]) -> None:
        """Checkpoints written before this object kept its state in two keys of their own."""
        if EpochEndWork.state_key not in saved and 'epoch_end_pending' in saved:
            saved[EpochEndWork.state_key] = {'pending': saved.pop('epoch_end_pending'),
                                             'loader_passes': saved.pop('loader_passes', {})}
