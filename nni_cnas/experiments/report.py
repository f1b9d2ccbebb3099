"""``nni-cnas report``: what a set of run folders did, as a table and figures, without nnictl.

One row per run (finished, running, interrupted or failed; with its last epoch's data-weight
diagnostics) and, with ``--png-dir``: ``curves.png``
(train accuracy, the current cell's validation and look-up accuracy per epoch, every run on the same
axes, so plain and curriculum runs sit side by side) and ``weights.png`` (each curriculum run's
data-weight histogram per epoch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

from ..errors import UserError
from ..records import EpochRecord

__all__ = ['RunSummary', 'read_runs', 'format_runs', 'WEIGHT_DIAGNOSTICS']

#: The last epoch's diagnostics of the data weights in a run's row (:mod:`nni_cnas.curriculum.diagnostics`):
#: the share of the weight on the top 10% of samples, Spearman's rank correlation of the weights with
#: the samples' training losses and with the previous epoch's weights.
WEIGHT_DIAGNOSTICS = ('top10_share', 'rank_corr_loss', 'rank_corr_previous')


class RunSummary:
    """One run folder, read: its name, config, status, per-epoch metrics and result (if any)."""

    def __init__(self, path: Path):
        from ..run.folder import RunFolder

        folder = RunFolder(Path(path))
        self.path = folder.path
        self.name = self.path.name
        self.config = folder.read_record()['config']
        self.status = folder.state() or '?'
        self.metrics = folder.metrics()
        result_path = self.path / 'result.json'
        self.result = json.loads(result_path.read_text(encoding='utf-8')) if result_path.is_file() else None

    @property
    def label(self) -> str:
        c = self.config
        curriculum = 'plain' if c.get('curriculum') == 'none' or not c.get('k') else f'CL k={c.get("k")}'
        return f'{self.name} ({c.get("strategy")}, {curriculum})'

    def row(self) -> Dict[str, Any]:
        c, r = self.config, self.result or {}
        last = self.metrics[-1] if self.metrics else EpochRecord(-1)
        weights = last.data_weights or {}
        lookup = r.get('lookup_test', last.lookup_test)
        return {
            'run': self.name, 'strategy': c.get('strategy'), 'curriculum': c.get('curriculum'), 'k': c.get('k'),
            'seed': c.get('seed'), 'status': self.status, 'epochs': f'{len(self.metrics)}/{c.get("epochs")}',
            'arch': r.get('arch') or last.arch or '-',
            'val_acc': r.get('val_acc', last.val_acc), 'lookup_test': lookup,
            'kendall_tau': (r.get('ranking') or {}).get('kendall_tau'),
            'minutes': (r.get('search_seconds') or last.seconds or 0) / 60,
            **{key: weights.get(key) for key in WEIGHT_DIAGNOSTICS},
        }


def read_runs(folders: Sequence[str]) -> List[RunSummary]:
    runs = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise UserError(f'{folder} is not a folder; give run folders of nni-cnas search')
        runs.append(RunSummary(Path(folder)))
    return runs


def format_runs(runs: Sequence[RunSummary]) -> str:
    """Markdown table, one row per run."""
    def number(value, digits=2, scale=1.0):
        return '-' if value is None else f'{value * scale:.{digits}f}'

    lines = ['| run | strategy | curriculum | k | seed | status | epochs | val acc. (%) | look-up test (%) | '
             'Kendall tau | top-10% weight | weights~loss | weights~previous | minutes | found cell |',
             '|' + '---|' * 15]
    for run in runs:
        row = run.row()
        lines.append(f'| {row["run"]} | {row["strategy"]} | {row["curriculum"]} | {row["k"]} | {row["seed"]} | '
                     f'{row["status"]} | {row["epochs"]} | {number(row["val_acc"], 2, 100)} | '
                     f'{number(row["lookup_test"])} | {number(row["kendall_tau"], 3)} | '
                     f'{number(row["top10_share"], 3)} | {number(row["rank_corr_loss"], 2)} | '
                     f'{number(row["rank_corr_previous"], 2)} | {row["minutes"]:.1f} | '
                     f'`{row["arch"].replace("|", chr(92) + "|")}` |')  # a bare | would end the cell
    return '\n'.join(lines)
