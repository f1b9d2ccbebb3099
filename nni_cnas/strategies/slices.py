"""The search module's own slice of a Lightning checkpoint, ``checkpoint['nni_cnas']``: each
stateful part writes and reads its own entry under its ``state_key`` (Lightning's idiom for
callbacks' state), and checkpoints of older layouts are brought to the current one first."""

from __future__ import annotations

import random
from typing import Any, Dict, Sequence

from ..curriculum.component import Curriculum
from .epochs import EpochEndWork

__all__ = ['KEY', 'GeneratorState', 'save_parts', 'load_parts']

#: The checkpoint's entry that holds the parts' slices.
KEY = 'nni_cnas'


class GeneratorState:
    """A Python generator as a part (the base algorithm's draws: paths, candidates)."""

    def __init__(self, rng: random.Random, state_key: str):
        self.rng, self.state_key = rng, state_key

    def state_dict(self):
        return self.rng.getstate()

    def load_state_dict(self, state) -> None:
        self.rng.setstate(state)


def save_parts(checkpoint: Dict[str, Any], parts: Sequence[Any]) -> None:
    """Each part's ``state_dict()`` under its ``state_key`` (a state of None writes none)."""
    slices = ((part.state_key, part.state_dict()) for part in parts)
    checkpoint[KEY] = {key: state for key, state in slices if state is not None}


def load_parts(checkpoint: Dict[str, Any], parts: Sequence[Any]) -> None:
    """Each part's slice back, where the checkpoint has one (a part without keeps its fresh state)."""
    Curriculum.migrate(checkpoint)
    state = checkpoint.get(KEY)
    if not state:
        return
    EpochEndWork.migrate(state)
    for part in parts:
        if part.state_key in state:
            part.load_state_dict(state[part.state_key])
