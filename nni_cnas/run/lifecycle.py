"""The life of a search's run folder: created (or resumed) once every input has passed its checks,
then ``running``, and at the end ``finished``, ``interrupted`` (with the command that continues it)
or ``failed`` (with the reason), whatever ended the training."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import NonFiniteLoss, SearchInterrupted, UserError

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
    resume.keep_metrics_through(checkpoint_order(checkpoint_path)[0])
    resume.set_status('running', resumed_from=checkpoint_path.name)
    _logger.info('resuming from %s', checkpoint_path)
    return resume, checkpoint_path


def train_and_export(strategy, space, evaluator, run, checkpoints, progress_bar):
    """Train the supernet and export; on an interruption, a non-finite loss or a crash, the run's
    status says what happened and how to go on."""
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
    except BaseException as error:
        run.set_status('failed', reason=f'{type(error).__name__}: {error}')
        raise
