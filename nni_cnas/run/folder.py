"""The run folder of a search, and the Lightning callback that fills it.

::

    RUN/
      config.yaml     every option of the run, resolved, with the versions that ran it
      status.json     {"state": "running" | "finished" | "failed", ...}
      metrics.jsonl   one JSON object per epoch (nni_cnas.records.EpochRecord): losses, accuracies,
                      data-weight statistics, the current cell (sample and arch) and its look-up
      result.json     the final architecture, how it was chosen, and its benchmark look-up
      checkpoints/    the search state after each epoch and at an interruption (nni_cnas.run.checkpoint)

Every file is written whole (temporary file + rename) or appended a line at a time, so a killed
run never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml
from pytorch_lightning.callbacks import Callback

from ..errors import UserError
from ..files import append_json_line, atomic_write_text, check_writable_folder, jsonable, read_json_lines
from ..records import EpochRecord
from ..strategies.epochs import pending_epoch_end

_logger = logging.getLogger(__name__)

#: The epoch line shows the architecture when its text is this short (an NNI hub space's sample
#: as JSON is not: it is in metrics.jsonl).
ARCH_IN_LINE = 200

__all__ = ['RunFolder', 'FollowerFolder', 'RunRecorder']


class RunFolder:
    """A search's folder (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, config: Dict[str, Any], overwrite: bool = False) -> 'RunFolder':
        path = Path(path)
        check_writable_folder(path)
        if path.exists() and not path.is_dir():
            raise UserError(f'{path} exists and is not a folder; choose another --out')
        if path.is_dir() and any(path.iterdir()):
            if not overwrite:
                raise UserError(f'run folder {path} already exists; choose another --out, or add --overwrite')
            for name in ('config.yaml', 'status.json', 'metrics.jsonl', 'result.json', 'ranks.csv', 'ranking.csv'):
                (path / name).unlink(missing_ok=True)
            # A previous run's checkpoints would be resumed from: they go too.
            shutil.rmtree(path / 'checkpoints', ignore_errors=True)
        try:
            path.mkdir(parents=True, exist_ok=True)
            run = cls(path)
            atomic_write_text(path / 'config.yaml', yaml.safe_dump(jsonable(config), sort_keys=False))
            run.set_status('running')
        except OSError as error:
            raise UserError(f'cannot write the run folder {path}: {error.strerror or error}; choose another --out') from None
        return run

    def set_status(self, state: str, **details: Any) -> None:
        record = {'state': state, 'time': time.strftime('%Y-%m-%dT%H:%M:%S'), **details}
        atomic_write_text(self.path / 'status.json', json.dumps(jsonable(record), indent=2) + '\n')

    def state(self) -> Optional[str]:
        """``running``, ``finished``, ``interrupted`` or ``failed``; None without a readable status."""
        try:
            return json.loads((self.path / 'status.json').read_text(encoding='utf-8')).get('state')
        except (OSError, ValueError, AttributeError):
            return None

    def append_metrics(self, record: EpochRecord) -> None:
        append_json_line(self.path / 'metrics.jsonl', record.to_json())

    def write_result(self, result: Dict[str, Any]) -> None:
        atomic_write_text(self.path / 'result.json', json.dumps(jsonable(result), indent=2) + '\n')

    def read_record(self) -> Dict[str, Any]:
        """The ``config.yaml`` record of an existing run (for ``--resume``)."""
        path = self.path / 'config.yaml'
        if not path.is_file():
            raise UserError(f'{self.path} is not a run folder (no config.yaml); give the folder a search wrote')
        try:
            record = yaml.safe_load(path.read_text(encoding='utf-8'))
        except yaml.YAMLError as error:
            raise UserError(f'{path} is not valid YAML ({error}); the run cannot be resumed') from None
        if not isinstance(record, dict) or not isinstance(record.get('config'), dict):
            raise UserError(f'{path} has no config section; the run cannot be resumed')
        return record

    def keep_metrics_through(self, epoch: int) -> None:
        """Drop the metrics of epochs after ``epoch``: a search resumed from a checkpoint after
        that epoch writes them again (an epoch's own checkpoint: its epoch; one written inside an
        epoch, whose end a resumed search may finish and record: the epoch before)."""
        kept = [record.to_json() for record in self.metrics() if record.epoch <= epoch]
        atomic_write_text(self.path / 'metrics.jsonl', ''.join(json.dumps(jsonable(m)) + '\n' for m in kept))

    def metrics(self) -> List[EpochRecord]:
        """The epochs' records, earlier versions' lines read as this version's."""
        return [EpochRecord.from_json(line) for line in read_json_lines(self.path / 'metrics.jsonl')]


class FollowerFolder(RunFolder):
    """The run folder as a DDP rank other than 0 sees it: rank 0 writes it, the others read it
    (the checkpoint to resume from) and write nothing."""

    def set_status(self, state: str, **details: Any) -> None:
        pass

    def append_metrics(self, record: Dict[str, Any]) -> None:
        pass

    def write_result(self, result: Dict[str, Any]) -> None:
        pass

    def keep_metrics_through(self, epoch: int) -> None:
        pass


def _format_percent(value: Optional[float]) -> str:
    return '   -  ' if value is None else f'{100 * value:5.1f}%'


def _format_number(value: Optional[float]) -> str:
    return '     -  ' if value is None else f'{value:8.2f}'


def _epoch_end_pending(pl_module) -> bool:
    return pending_epoch_end(pl_module) is not None


class RunRecorder(Callback):
    """Writes each epoch's record (``module.epoch_record``) to the run folder and logs a line.

    ``describe`` turns an architecture sample into a string (an NB201 arch string); ``lookup``
    (optional) turns that string into benchmark accuracies.
    """

    def __init__(self, run: RunFolder, describe: Callable[[Dict], str],
                 lookup: Optional[Callable[[str], Dict]] = None, benchmark_dataset: str = 'cifar10',
                 seconds_before: float = 0.0, on_record: Optional[Callable[[EpochRecord], None]] = None):
        self.run, self.describe, self.lookup, self.on_record = run, describe, lookup, on_record
        self.benchmark_dataset = benchmark_dataset
        # A resumed search counts on from its last recorded epoch (the part of an interrupted epoch
        # that was not recorded is not counted).
        self.seconds_before = seconds_before
        self._started = time.time() - seconds_before
        self._owed = False

    def on_train_start(self, trainer, pl_module):
        self._started = time.time() - self.seconds_before
        # A search resumed with an epoch's end unfinished (a stop came during it) finishes it as
        # it starts (the module's on_train_start, after this); the epoch is recorded after that.
        self._owed = _epoch_end_pending(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # The module finishes its epoch inside the last training step; record it right after that
        # step, before anything (an epoch-end hook, a SIGTERM stop) can come between.
        if batch_idx + 1 == trainer.num_training_batches and not _epoch_end_pending(pl_module):
            self.record(trainer, pl_module)

    def on_train_epoch_start(self, trainer, pl_module):
        self._record_owed(trainer, pl_module)

    def on_train_end(self, trainer, pl_module):  # the owed epoch was the last
        self._record_owed(trainer, pl_module)

    def _record_owed(self, trainer, pl_module):
        if self._owed and not _epoch_end_pending(pl_module):
            self._owed = False
            self.record(trainer, pl_module)

    def record(self, trainer, pl_module):
        record = dataclasses.replace(pl_module.epoch_record)
        record.seconds = round(time.time() - self._started, 3)
        record.lr = trainer.optimizers[0].param_groups[0]['lr'] if trainer.optimizers else None
        if record.sample is not None:
            record.arch = self.describe(record.sample)
            if self.lookup is not None:
                record.lookup = self.lookup(record.arch)
                # The search's own benchmark dataset, so readers need not know which one it is.
                record.lookup_test = record.lookup[self.benchmark_dataset]['test']
                record.lookup_valid = record.lookup[self.benchmark_dataset]['valid']
        self.run.append_metrics(record)
        if self.on_record is not None:
            self.on_record(record)
        if record.train_ppl is not None:  # a language model
            quality = f'train ppl {_format_number(record.train_ppl)}  val ppl {_format_number(record.val_ppl)}  '
        else:
            supernet = record.arch_acc if record.arch_acc is not None else record.supernet_acc
            quality = (f'train acc {_format_percent(record.train_acc)}  '
                       f'supernet val {_format_percent(supernet)}  cell val {_format_percent(record.val_acc)}  ')
        line = (f'epoch {record.epoch + 1:>3}/{trainer.max_epochs}  {quality}'
                + (f'policy p_max {record.policy_max_prob:.2f}  ' if record.policy_max_prob is not None else '')
                + f'weights gini {(record.data_weights or {}).get("gini", 0.0):.3f}  '
                f'{record.seconds:7.1f}s')
        if record.arch is not None and len(record.arch) <= ARCH_IN_LINE:
            line += f'  {record.arch}'
            if record.lookup_test is not None:
                line += f'  ({self.benchmark_dataset} test {record.lookup_test:.2f}%)'
        _logger.info(line)
