"""Checkpoints of a search, so that a killed or pre-empted search continues exactly.

A checkpoint is Lightning's (supernet weights, architecture parameters or controller, the data
weights buffer, every optimiser and scheduler, the loops' progress, the loaders' positions) plus
the module's own generators and running epoch sums, plus the global RNG states (Python, NumPy,
torch, CUDA) kept by this callback. Resuming from it replays the same batches with the same
random numbers: the result is bit-identical on the CPU.

- after every epoch: ``checkpoints/epoch-NNNN.ckpt`` (the last ``keep`` are kept, every one with 0);
- on SIGTERM, at the end of the current batch (Lightning's own graceful stop), and on Ctrl+C,
  which is turned into the same graceful stop (a second Ctrl+C stops at once):
  ``checkpoints/interrupted-NNNN-BBBBBB.ckpt``.

Files are written to a temporary name, synced and renamed, so a kill never leaves a torn file
under a checkpoint's name; a damaged one (a full disk, a copy cut short) is detected on resume and
the previous one is used, with a warning.
"""

from __future__ import annotations

import io
import os
import random
import re
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback, Checkpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ..errors import UserError
from ..files import atomic_write_bytes
from ..strategies.epochs import pending_epoch_end

__all__ = ['SearchCheckpoint', 'latest_checkpoint', 'checkpoint_order', 'rng_states', 'set_rng_states', 'CHECKPOINT_DIR']

CHECKPOINT_DIR = 'checkpoints'
_NAME = re.compile(r'^(epoch-(?P<epoch>\d+)|interrupted-(?P<iepoch>\d+)-(?P<batch>\d+))\.ckpt$')


def rng_states() -> dict:
    states = {'python': random.getstate(), 'numpy': np.random.get_state(), 'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


def checkpoint_order(path: Path) -> Optional[Tuple[int, float]]:
    """(epoch, batch) of a checkpoint name; an epoch's own checkpoint comes after its interruptions."""
    match = _NAME.match(path.name)
    if not match:
        return None
    if match['epoch'] is not None:
        return int(match['epoch']), float('inf')
    return int(match['iepoch']), int(match['batch'])


def _checkpoints(folder: Path) -> List[Path]:
    """Checkpoints in ``folder``, newest first."""
    found = [(order, path) for path in folder.glob('*.ckpt') if (order := checkpoint_order(path)) is not None]
    return [path for _, path in sorted(found, key=lambda item: item[0], reverse=True)]


def latest_checkpoint(folder: Path, warn=None) -> Path:
    """The newest checkpoint that loads; damaged ones are reported through ``warn`` and skipped."""
    warn = warn or (lambda message: warnings.warn(message, RuntimeWarning))
    candidates = _checkpoints(folder) if folder.is_dir() else []
    for path in candidates:
        try:
            checkpoint = torch.load(path, map_location='cpu', weights_only=False)
            if not {'state_dict', 'loops', 'epoch'} <= set(checkpoint):
                raise ValueError('it is not a search checkpoint')
            return path
        except Exception as error:  # torn zip, truncated pickle, foreign file: all mean "do not use"
            warn(f'checkpoint {path.name} is damaged ({type(error).__name__}: {error}); using an older one')
    raise UserError(f'no usable checkpoint in {folder}; the search cannot be resumed, start it again')


class StopAt(Callback):
    """Stops the search at the first batch end after ``stop_at`` (a time.time() value), or after a
    stop was requested (:mod:`nni_cnas.run.stop`: a signal to a runner of several searches, which
    may come before this fit began), as SIGTERM stops it: Lightning's graceful stop, then
    SearchCheckpoint's interrupted checkpoint, from which the search resumes bit for bit.
    (Lightning has no public way to ask for that stop: its signal connector's flag is set, as its
    SIGTERM handler sets it.)"""

    def __init__(self, stop_at: Optional[float] = None):
        self.stop_at = stop_at

    def stop_due(self) -> bool:
        """Whether the search should stop now (the module's long epoch-end work asks it too)."""
        from .stop import stop_requested

        return stop_requested() or (self.stop_at is not None and time.time() >= self.stop_at)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.stop_due():
            trainer._signal_connector.received_sigterm = True


class SearchCheckpoint(Checkpoint):
    """Saves the whole search state (see the module docstring) into ``folder``."""

    def __init__(self, folder: Path, keep: int = 2):
        self.folder = Path(folder)
        self.keep = keep
        self._sigint_installed = False
        self._previous_sigint = None
        self.interrupted: Optional[Path] = None
        self._owed: Optional[int] = None  # an epoch whose end the resumed search finishes
        #: Bytes of the last checkpoint this process serialised (what a full disk must make room for).
        self.last_size: Optional[int] = None

    # The global RNG states travel with the checkpoint as this callback's state.
    def state_dict(self) -> dict:
        return {'rng': rng_states()}

    def load_state_dict(self, state_dict: dict) -> None:
        set_rng_states(state_dict['rng'])

    def save(self, trainer, name: str) -> Path:
        # Lightning's own save (trainer.save_checkpoint) writes to the system temp folder and moves
        # the file across file systems; a full run folder then fails in the move and leaves a
        # partial file behind. Lightning's dump, and one write in the run folder's file system.
        final = self.folder / name
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)  # every rank: collectives
        if trainer.is_global_zero:
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            self.last_size = buffer.tell()
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(final, buffer.getbuffer())
        trainer.strategy.barrier('nni_cnas checkpoint')
        return final

    def on_train_epoch_end(self, trainer, pl_module):
        self.save_epoch(trainer, trainer.current_epoch)

    def on_train_end(self, trainer, pl_module):
        # The final epoch, whose end work a stop interrupted and the resumed search finished as it
        # started: Lightning ends the fit without the epoch's end hooks.
        owed = self._owed
        if owed is not None and owed + 1 >= trainer.max_epochs and pending_epoch_end(pl_module) is None:
            self.save_epoch(trainer, owed)

    def save_epoch(self, trainer, epoch: int) -> None:
        """``epoch-NNNN.ckpt``; older epochs' checkpoints beyond ``keep`` and interrupted ones go."""
        self.save(trainer, f'epoch-{epoch:04d}.ckpt')
        if not trainer.is_global_zero:
            return
        epochs = [p for p in _checkpoints(self.folder) if p.name.startswith('epoch-')]
        for old in epochs[self.keep:] if self.keep else ():
            old.unlink(missing_ok=True)
        newest = checkpoint_order(epochs[0])
        for path in _checkpoints(self.folder):
            if path.name.startswith('interrupted-') and checkpoint_order(path) < newest:
                path.unlink(missing_ok=True)

    def on_exception(self, trainer, pl_module, exception):
        # Lightning raises SIGTERMException at the end of a batch: the state is whole, save it.
        # Other exceptions (a crash, a non-finite loss) may leave it half-updated: keep the last
        # epoch's checkpoint instead.
        if isinstance(exception, SIGTERMException):
            # (processed: an epoch's end work stopped in its last batch stops before it completes)
            batch = trainer.fit_loop.epoch_loop.batch_progress.current.processed
            self.interrupted = self.save(trainer, f'interrupted-{trainer.current_epoch:04d}-{batch:06d}.ckpt')

    # Ctrl+C: the same graceful stop as SIGTERM (Lightning handles SIGTERM during fit).
    def on_train_start(self, trainer, pl_module):
        self._owed = pending_epoch_end(pl_module)
        # A process that ignores SIGINT (a runner's worker: the runner passes Ctrl+C on) keeps ignoring it.
        if sys.platform != 'win32' and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous_sigint = signal.signal(signal.SIGINT, self._graceful_sigint)
            self._sigint_installed = True

    def _graceful_sigint(self, signum, frame):
        # A plain write: logging takes locks that a signal handler must not wait on.
        print('\nstopping at the end of this batch and saving a checkpoint; Ctrl+C again to stop now',
              file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.kill(os.getpid(), signal.SIGTERM)

    def teardown(self, trainer, pl_module, stage):
        if self._sigint_installed:
            signal.signal(signal.SIGINT, self._previous_sigint or signal.default_int_handler)
            self._sigint_installed = False
