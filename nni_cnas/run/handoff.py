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

#: The local ranks rank 0's launcher started on this machine, by process id (see :class:`RankWatch`).
_RANKS: Dict[int, int] = {}


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
    """On rank 0 of a search on several processes of this machine: which process is which rank
    (Lightning's launcher starts them as children of rank 0), read once training starts, so that a
    failure can name the rank that died (:func:`dead_ranks`)."""

    def on_train_start(self, trainer, pl_module):
        if trainer.global_rank != 0 or trainer.world_size == 1:
            return
        import psutil

        _RANKS.clear()
        for child in psutil.Process().children():
            try:
                rank = child.environ().get('LOCAL_RANK')
            except (psutil.Error, OSError):
                continue
            if rank is not None and rank.isdigit():
                _RANKS[child.pid] = int(rank)


def dead_ranks() -> List[str]:
    """The ranks of this machine that have ended, each with how (an exit code or a signal): what
    a collective that failed on rank 0 was waiting for."""
    import signal

    found = []
    for pid, rank in sorted(_RANKS.items(), key=lambda item: item[1]):
        try:
            ended, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if ended == 0:
            continue
        if os.WIFSIGNALED(status):
            how = f'was killed by {signal.Signals(os.WTERMSIG(status)).name}'
        else:
            how = f'exited with code {os.WEXITSTATUS(status)}'
        found.append(f'rank {rank} (process {pid}) {how}')
    return found
