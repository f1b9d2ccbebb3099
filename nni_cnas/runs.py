"""The run folder of a search, and the Lightning callback that fills it.

::

    RUN/
      config.yaml     every option of the run, resolved, with the versions that ran it
      status.json     {"state": "running" | "finished" | "failed", ...}
      metrics.jsonl   one JSON object per epoch: losses, accuracies, data-weight statistics
                      (min, max, std, entropy, Gini), the current architecture and its look-up
      result.json     the final architecture, how it was chosen, and its benchmark look-up
      checkpoints/    the search state after each epoch and at an interruption (nni_cnas.checkpoint)

Every file is written whole (temporary file + rename) or appended a line at a time, so a killed
run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

import yaml
from pytorch_lightning.callbacks import Callback

from .errors import UserError

__all__ = ['RunFolder', 'RunRecorder', 'atomic_write_text', 'atomic_write_json', 'atomic_write_csv', 'append_json_line', 'read_json_lines']


def atomic_write_text(path: Path, text: str) -> None:
    partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
    with open(partial, 'w', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def atomic_write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written whole (a results file of a benchmark or a run), its folder
    made if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(_jsonable(data), indent=2) + '\n')


def atomic_write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV with ``columns`` first and any other keys of the rows before them."""
    buffer = io.StringIO()
    extra = [key for key in dict.fromkeys(key for row in rows for key in row) if key not in columns]
    writer = csv.DictWriter(buffer, fieldnames=[*extra, *columns])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(path), buffer.getvalue())


def append_json_line(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one whole JSON line, flushed to disk; after a line torn by a crash
    while appending, start a fresh line (:func:`read_json_lines` skips the torn one)."""
    path = Path(path)
    text = json.dumps(_jsonable(record)) + '\n'
    if path.is_file() and path.stat().st_size:
        with open(path, 'rb') as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b'\n':
                text = '\n' + text
    with open(path, 'a', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_json_lines(path: Path) -> list:
    """The JSON objects of a JSON-lines file (none when it does not exist); torn lines are skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding='utf-8').splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (bool, int, float)):  # numpy and torch scalars, int/float subclasses
        return value.item() if hasattr(value, 'item') else type(value).__mro__[1](value)
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        return value.item()
    return str(value)  # paths, version objects (str subclasses), anything else


class RunFolder:
    """A search's folder (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, config: Dict[str, Any], overwrite: bool = False) -> 'RunFolder':
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f'{path} exists and is not a folder; choose another --out')
        if path.is_dir() and any(path.iterdir()):
            if not overwrite:
                raise UserError(f'run folder {path} already exists; choose another --out, or add --overwrite')
            for name in ('config.yaml', 'status.json', 'metrics.jsonl', 'result.json', 'ranks.csv', 'ranking.csv'):
                (path / name).unlink(missing_ok=True)
            # A previous run's checkpoints would be resumed from: they go too.
            shutil.rmtree(path / 'checkpoints', ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        atomic_write_text(path / 'config.yaml', yaml.safe_dump(_jsonable(config), sort_keys=False))
        run.set_status('running')
        return run

    def set_status(self, state: str, **details: Any) -> None:
        record = {'state': state, 'time': time.strftime('%Y-%m-%dT%H:%M:%S'), **details}
        atomic_write_text(self.path / 'status.json', json.dumps(_jsonable(record), indent=2) + '\n')

    def state(self) -> Optional[str]:
        """``running``, ``finished``, ``interrupted`` or ``failed``; None without a readable status."""
        try:
            return json.loads((self.path / 'status.json').read_text(encoding='utf-8')).get('state')
        except (OSError, ValueError, AttributeError):
            return None

    def append_metrics(self, record: Dict[str, Any]) -> None:
        append_json_line(self.path / 'metrics.jsonl', record)

    def write_result(self, result: Dict[str, Any]) -> None:
        atomic_write_text(self.path / 'result.json', json.dumps(_jsonable(result), indent=2) + '\n')

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
        """Drop the metrics of epochs after ``epoch``: a search resumed from a checkpoint of that
        epoch writes them again. (A line is written when an epoch's last step ends, so a line for
        the checkpoint's own epoch is complete, also when the checkpoint is mid-epoch.)"""
        kept = [m for m in self.metrics() if m.get('epoch', -1) <= epoch]
        atomic_write_text(self.path / 'metrics.jsonl', ''.join(json.dumps(_jsonable(m)) + '\n' for m in kept))

    def metrics(self) -> list:
        return read_json_lines(self.path / 'metrics.jsonl')


def _format_percent(value: Optional[float]) -> str:
    return '   -  ' if value is None else f'{100 * value:5.1f}%'


def _format_number(value: Optional[float]) -> str:
    return '     -  ' if value is None else f'{value:8.2f}'


class RunRecorder(Callback):
    """Writes each epoch's summary (``module.epoch_summary``) to the run folder and prints a line.

    ``describe`` turns an architecture sample into a string (an NB201 arch string); ``lookup``
    (optional) turns that string into benchmark accuracies.
    """

    def __init__(self, run: RunFolder, describe: Callable[[Dict], str],
                 lookup: Optional[Callable[[str], Dict]] = None, benchmark_dataset: str = 'cifar10',
                 stream=None, seconds_before: float = 0.0, on_record: Optional[Callable[[Dict], None]] = None):
        self.run, self.describe, self.lookup, self.on_record = run, describe, lookup, on_record
        self.benchmark_dataset = benchmark_dataset
        self.stream = stream or sys.stdout
        # A resumed search counts on from its last recorded epoch (the part of an interrupted epoch
        # that was not recorded is not counted).
        self.seconds_before = seconds_before
        self._started = time.time() - seconds_before

    def on_train_start(self, trainer, pl_module):
        self._started = time.time() - self.seconds_before

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # The module finishes its epoch inside the last training step; record it right after that
        # step, before anything (an epoch-end hook, a SIGTERM stop) can come between.
        if batch_idx + 1 == trainer.num_training_batches:
            self.record(trainer, pl_module)

    def record(self, trainer, pl_module):
        summary = dict(getattr(pl_module, 'epoch_summary', {}))
        summary['seconds'] = round(time.time() - self._started, 3)
        summary['lr'] = trainer.optimizers[0].param_groups[0]['lr'] if trainer.optimizers else None
        if 'arch' in summary:
            summary['arch_string'] = self.describe(summary['arch'])
            if self.lookup is not None:
                summary['lookup'] = self.lookup(summary['arch_string'])
                # The search's own benchmark dataset, so readers need not know which one it is.
                summary['lookup_test'] = summary['lookup'][self.benchmark_dataset]['test']
        test = summary.get('lookup_test')
        self.run.append_metrics(summary)
        if self.on_record is not None:
            self.on_record(summary)
        if 'train_ppl' in summary:  # a language model
            quality = f'train ppl {_format_number(summary.get("train_ppl"))}  val ppl {_format_number(summary.get("val_ppl"))}  '
        else:
            quality = (f'train acc {_format_percent(summary.get("train_acc"))}  '
                       f'val acc {_format_percent(summary.get("val_acc"))}  ')
        line = (f'epoch {summary.get("epoch", 0) + 1:>3}/{trainer.max_epochs}  {quality}'
                f'weights gini {summary.get("data_weights", {}).get("gini", 0.0):.3f}  '
                f'{summary["seconds"]:7.1f}s')
        if 'arch_string' in summary:
            line += f'  {summary["arch_string"]}'
            if test is not None:
                line += f'  ({self.benchmark_dataset} test {test:.2f}%)'
        print(line, file=self.stream, flush=True)
