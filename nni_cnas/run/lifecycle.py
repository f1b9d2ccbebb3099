"""The life of a search's run folder: created (or resumed) once every input has passed its checks,
then ``running``, and at the end ``finished``, ``interrupted`` (with the command that continues it)
or ``failed`` (with the reason), whatever ended the training."""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import NonFiniteLoss, OutOfMemory, SearchFailed, SearchInterrupted, StorageFull, UserError
from ..files import STORAGE_ERRNOS

__all__ = ['open_run_folder', 'train_and_export', 'resume_command']

_logger = logging.getLogger(__name__)


def resume_command(run_path: Path) -> str:
    return f'nni-cnas search --resume {run_path}'


def open_run_folder(config, resume, record: Dict[str, Any]) -> Tuple[Any, Optional[Path]]:
    """``(run folder, checkpoint to resume from or None)``: a new folder holding ``record`` (the
    config, versions, data and benchmark), or the resumed one cut back to its newest usable
    checkpoint."""
    from .checkpoint import CHECKPOINT_DIR, checkpoint_order, latest_checkpoint
    from .folder import RunFolder

    if resume is None:
        return RunFolder.create(Path(config.out), record, overwrite=config.overwrite), None
    checkpoint_path = latest_checkpoint(resume.path / CHECKPOINT_DIR, warn=_logger.warning)
    epoch, batch = checkpoint_order(checkpoint_path)
    resume.keep_metrics_through(epoch if batch == float('inf') else epoch - 1)  # an epoch's own, or one inside it
    resume.set_status('running', resumed_from=checkpoint_path.name)
    _logger.info('resuming from %s', checkpoint_path)
    return resume, checkpoint_path


def train_and_export(strategy, space, evaluator, run, checkpoints, progress_bar,
                     memory_advice: Optional[Callable[[], str]] = None):
    """Train the supernet and export; on an interruption, a non-finite loss, a full run folder, a
    device out of memory or a crash, the run's status says what happened and how to go on.
    ``memory_advice`` says what would fit, when memory runs out."""
    import torch
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from .checkpoint import CHECKPOINT_DIR, latest_checkpoint

    try:
        supernet = strategy.mutate_model(space)
        evaluator = strategy.mutate_evaluator(evaluator)
        strategy.search_module.progress_bar = progress_bar
        evaluator.evaluate(supernet)
        search_module = strategy.search_module
        return search_module, search_module.export()
    except SIGTERMException:
        command = resume_command(run.path)
        run.set_status('interrupted', checkpoint=checkpoints.interrupted, resume=command)
        raise SearchInterrupted(f'stopped after saving {checkpoints.interrupted}; continue with: {command}') from None
    except NonFiniteLoss as error:
        try:
            last = latest_checkpoint(run.path / CHECKPOINT_DIR, warn=lambda message: None)
        except UserError:
            last = None
        run.set_status('failed', reason=str(error), last_good_checkpoint=last)
        where = f'the last good checkpoint is {last}' if last else 'no epoch finished, so there is no checkpoint'
        raise NonFiniteLoss(f'{error}; the search stopped, {where} (lower --lr or add --grad-clip)') from None
    except (MemoryError, getattr(torch, 'OutOfMemoryError', MemoryError)) as error:
        raise out_of_memory(error, run, memory_advice) from None
    except OSError as error:
        if error.errno in STORAGE_ERRNOS:
            raise storage_fault(error, run, checkpoints) from None
        raise failure(error, run) from error
    except (KeyboardInterrupt, SystemExit, UserError) as error:
        run.set_status('failed', reason=f'{type(error).__name__}: {error}')
        raise
    except Exception as error:  # noqa: BLE001  (any other failure: one line, the traceback in error.log)
        raise failure(error, run) from error


def _last_good(run) -> Optional[Path]:
    from .checkpoint import CHECKPOINT_DIR, latest_checkpoint

    try:
        return latest_checkpoint(run.path / CHECKPOINT_DIR, warn=lambda message: None)
    except UserError:
        return None


def _remove_partial_files(run) -> None:
    """The temporary files of writes that did not finish (they never hold a whole file)."""
    for partial in run.path.rglob('.*.partial'):
        partial.unlink(missing_ok=True)


def storage_fault(error: OSError, run, checkpoints) -> StorageFull:
    """A write to the run folder failed for want of space or rights: partial files removed, the
    status says so where it still can be written, and one line says what, where, and how to go on."""
    import shutil

    from ..resources import format_bytes

    _remove_partial_files(run)
    last = _last_good(run)
    where = error.filename or run.path
    needed = f'a checkpoint needs {format_bytes(checkpoints.last_size)}, ' if checkpoints.last_size else ''
    try:
        free = f'{format_bytes(shutil.disk_usage(run.path).free)} is free there'
    except OSError:
        free = 'the free space cannot be read'
    good = f'the last good checkpoint is {last}' if last else 'no checkpoint was written'
    fix = 'make room' if error.errno in (errno.ENOSPC, errno.EDQUOT) else 'make the run folder writable'
    message = (f'cannot write {where}: {error.strerror} ({needed}{free}); {good}; {fix}, then continue with: '
               f'{resume_command(run.path)}')
    try:
        run.set_status('failed', reason=message, last_good_checkpoint=last, resume=resume_command(run.path))
    except OSError:
        message += ' (status.json could not be updated either)'
        _remove_partial_files(run)
    return StorageFull(message)


def out_of_memory(error: BaseException, run, advice: Optional[Callable[[], str]]) -> OutOfMemory:
    """The device ran out of memory: the figures and what fits, the status, the resume command."""
    import gc

    gc.collect()  # what the failed step held, before the advice measures what is available
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    last = _last_good(run)
    good = f'the last good checkpoint is {last}' if last else 'no checkpoint was written'
    try:
        what = advice() if advice is not None else 'use a smaller network, batch or dataset'
    except Exception:  # noqa: BLE001  (the advice is a courtesy; the failure is the message)
        what = 'use a smaller network, batch or dataset'
    message = (f'out of memory ({detail}): {what} (a new search); {good}; after freeing memory, continue this one '
               f'with: {resume_command(run.path)}')
    try:
        run.set_status('failed', reason=message, last_good_checkpoint=last, resume=resume_command(run.path))
    except OSError:
        pass
    return OutOfMemory(message)


def failure(error: BaseException, run) -> SearchFailed:
    """Any other failure: its traceback in the run folder's ``error.log``, the status ``failed`` with
    the reason, one line."""
    import traceback

    from ..files import atomic_write_text

    from ..launch import launch_rank

    from .handoff import dead_ranks

    dead = dead_ranks()
    # The collective that failed on rank 0 ("Connection closed by peer", a timeout) says little; a
    # rank that died says what happened.
    reason = (f'{"; ".join(dead)} (this rank then failed: {type(error).__name__})' if dead
              else f'{type(error).__name__}: {error}')
    rank = launch_rank()
    log = run.path / ('error.log' if rank == 0 else f'error-rank{rank}.log')
    try:
        atomic_write_text(log, ''.join(traceback.format_exception(error)))
        where = f'the traceback is in {log}'
    except OSError:
        where = 'the traceback could not be written to the run folder'
    last = _last_good(run)
    try:
        run.set_status('failed', reason=reason, last_good_checkpoint=last, resume=resume_command(run.path) if last else None)
    except OSError:
        pass
    good = f'; the last good checkpoint is {last}' if last else ''
    after = f'; after a fix, continue with: {resume_command(run.path)}' if last else ''
    return SearchFailed(f'the search failed: {reason}{good}; {where}{after}')
