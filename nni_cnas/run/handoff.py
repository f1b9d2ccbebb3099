"""The DDP hand-off of a search: which process this is, and what rank 0 tells the others.

Lightning's launcher starts the other ranks of a machine as copies of the command; torchrun or a
cluster starts them itself. Rank 0 creates (or resumes) the run folder and writes everything; the
others train with it, find its folder and checkpoint through the environment (or, started by a
launcher on another machine, choose the same checkpoint read-only), and stay quiet.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from pytorch_lightning.callbacks import Callback

from ..launch import RESUME_ENV, RUN_FOLDER_ENV, launch_rank
from ..logs import quiet_rank

__all__ = ['is_follower', 'as_follower', 'hand_off', 'follower_folder', 'RankWatch', 'dead_ranks']

#: The processes of the local ranks rank 0's launcher started on this machine, by rank (:class:`RankWatch`).
_RANKS: Dict[int, Any] = {}


def is_follower() -> bool:
    """Whether this process is a DDP rank other than 0: it trains, rank 0 writes."""
    return launch_rank() > 0


def as_follower(config):
    """A follower's view of the search: rank 0's run folder, and a quiet log."""
    quiet_rank()
    return dataclasses.replace(config, out=os.environ.get(RUN_FOLDER_ENV, config.out))


def hand_off(config, run_path: Path, checkpoint: Optional[Path]) -> None:
    """On rank 0 of a search on several processes: the run folder (its default name has the time in
    it) and the checkpoint to start from, for the copies of this command the launcher starts."""
    if config.devices * config.num_nodes > 1:
        os.environ[RUN_FOLDER_ENV] = str(run_path)
        os.environ[RESUME_ENV] = str(checkpoint or '')


def follower_folder(config, resume: bool) -> Tuple[Any, Optional[Path]]:
    """A follower's view of rank 0's run folder, and the checkpoint rank 0 resumes from."""
    from .checkpoint import CHECKPOINT_DIR, latest_checkpoint
    from .folder import FollowerFolder

    given = os.environ.get(RESUME_ENV)
    if given is not None:  # started by rank 0's launcher, which chose
        checkpoint = Path(given) if given else None
    else:  # started by torchrun or a cluster on another machine: the same choice, read only
        checkpoint = latest_checkpoint(Path(config.out) / CHECKPOINT_DIR, warn=lambda message: None) if resume else None
    return FollowerFolder(Path(config.out)), checkpoint


class RankWatch(Callback):
    """On rank 0 of a search on several processes of this machine: the processes of the other ranks
    (Lightning's launcher started them as its children), kept once training starts, so that a
    failure can name the rank that died (:func:`dead_ranks`)."""

    def on_train_start(self, trainer, pl_module):
        _RANKS.clear()
        launcher = getattr(trainer.strategy, 'launcher', None)
        if trainer.global_rank == 0:
            _RANKS.update({rank: process for rank, process in enumerate(getattr(launcher, 'procs', []) or [], 1)})


def dead_ranks() -> List[str]:
    """The ranks of this machine that have ended, each with how (an exit code or a signal): what
    a collective that failed on rank 0 was waiting for."""
    import signal

    found = []
    for rank, process in sorted(_RANKS.items()):
        code = process.poll()
        if code is None or code == 0:
            continue
        how = f'was killed by {signal.Signals(-code).name}' if code < 0 else f'exited with code {code}'
        found.append(f'rank {rank} (process {process.pid}) {how}')
    return found
