"""ENAS' state that outlives a training step, as parts with their own slice of the checkpoint
(``state_key``): the epoch's paths drawn at its start (:class:`EpochPaths`), the search-wide
replay memory of the controller (:class:`ReplayMemory`) and an epoch's controller training that a
stop interrupted (:class:`StoppedTraining`). The keys are those of nni_cnas 0.1's checkpoints."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Deque, Dict, Iterable, List, Optional, Tuple

__all__ = ['ControllerProgress', 'EpochPaths', 'ReplayMemory', 'StoppedTraining']


@dataclasses.dataclass
class ControllerProgress:
    """How far an epoch's controller training got when a stop request stopped it: the samples
    scored, their rewards (for the epoch's mean) and, with ``controller_steps``, the epoch's own
    buffer of ``(sample, advantage)`` pairs (without, the search-wide replay memory holds them)."""

    done: int = 0
    rewards: List[float] = dataclasses.field(default_factory=list)
    buffer: List[Tuple[Dict[str, Any], float]] = dataclasses.field(default_factory=list)


class EpochPaths:
    """The epoch's decided paths not trained yet, per queue (``paths``: one per weight step;
    ``subnets``: the batch schedule's K per step), drawn when the epoch starts."""

    state_key = 'enas_queues'
    _RENAMED = {'top_k': 'subnets'}  # the name of nni_cnas 0.1's queue

    def __init__(self):
        self.queues: Dict[str, Deque[Dict[str, Any]]] = {}

    def refill(self, queues: Dict[str, Iterable[Dict[str, Any]]]) -> None:
        self.queues = {name: collections.deque(samples) for name, samples in queues.items()}

    def take(self, name: str, count: int = 1) -> Optional[List[Dict[str, Any]]]:
        """The next ``count`` paths of a queue, or None where it holds fewer (outside an epoch's
        steps, or a checkpoint of nni_cnas 0.1 resumed in the middle of an epoch)."""
        queued = self.queues.get(name)
        if not queued or len(queued) < count:
            return None
        return [queued.popleft() for _ in range(count)]

    def state_dict(self) -> Dict[str, List[Dict[str, Any]]]:
        return {name: list(queue) for name, queue in self.queues.items()}

    def load_state_dict(self, state: Dict[str, List[Dict[str, Any]]]) -> None:
        self.refill({self._RENAMED.get(name, name): queue for name, queue in state.items()})


class ReplayMemory:
    """The controller's samples drawn so far in the search and its buffer of the most recent
    ``(sample, advantage)`` pairs, kept across epochs as NNI's ENAS keeps them."""

    state_key = 'enas_replay'

    def __init__(self, size: int):
        self.samples_drawn = 0
        self.buffer: Deque[Tuple[Dict[str, Any], float]] = collections.deque(maxlen=size)

    def replace(self, samples_drawn: int, buffer: Iterable[Tuple[Dict[str, Any], float]]) -> None:
        self.samples_drawn = samples_drawn
        self.buffer = collections.deque(buffer, maxlen=self.buffer.maxlen)

    def state_dict(self) -> Dict[str, Any]:
        return {'samples': self.samples_drawn, 'buffer': list(self.buffer)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.replace(state['samples'], state['buffer'])


class StoppedTraining:
    """An epoch's controller training stopped by a stop request, continued when the search resumes
    (nothing in the checkpoint when none was stopped)."""

    state_key = 'enas_controller_progress'

    def __init__(self):
        self.progress: Optional[ControllerProgress] = None

    def take(self) -> ControllerProgress:
        """Where the training goes on from (a fresh start where none was stopped); forgotten here."""
        progress, self.progress = self.progress or ControllerProgress(), None
        return progress

    def state_dict(self) -> Optional[Dict[str, Any]]:
        return None if self.progress is None else dataclasses.asdict(self.progress)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.progress = ControllerProgress(**state)
