"""K sweeps (paper Fig. 5): one search per (K, seed) in its own run folder under one sweep folder.

Resumable: a finished run (``result.json``) is skipped, an interrupted one continues from its
checkpoint, so the same command can be run again after any stop. K=0 is the plain strategy.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..errors import UserError
from ..progress import Countdown
from ..run.search import finished_before, search_or_resume
from .jobs import Shard, run_searches

_logger = logging.getLogger(__name__)

__all__ = ['run_sweep', 'search_or_resume', 'sweep_results', 'sweep_points', 'parse_int_list']


def parse_int_list(text: str, name: str) -> List[int]:
    try:
        values = [int(part) for part in text.split(',') if part.strip()]
    except ValueError:
        raise UserError(f'{name} must be comma-separated integers such as 1,3,5, not {text!r}') from None
    if not values:
        raise UserError(f'{name} is empty; give comma-separated integers such as 1,3,5')
    if len(set(values)) != len(values):
        raise UserError(f'{name} repeats a value: {text!r}')
    return values


def run_folder_name(k: int, seed: int) -> str:
    return f'k{k}-s{seed}'


def run_sweep(base: Mapping[str, Any], ks: Sequence[int], seeds: Sequence[int], out: Path, jobs: int = 1, shard: Optional[Shard] = None, stop_at: Optional[float] = None) -> List[Dict]:
    """Run every (K, seed) (of this ``shard``) not finished yet, ``jobs`` at a time; returns all
    results of the sweep folder."""
    from ..run.config import CURRICULUM_PARTS, SearchConfig

    out = Path(out)
    if any(k < 0 for k in ks):
        raise UserError('--ks must be 0 or more (0 is the plain strategy)')
    configs = []
    for k in ks:
        for seed in seeds:
            values = dict(base, k=k, seed=seed, out=str(out / run_folder_name(k, seed)))
            if k == 0:
                values['curriculum'] = 'none'
                for name in CURRICULUM_PARTS:
                    values.pop(name, None)
            configs.append(SearchConfig.from_mapping(values, 'sweep options').resolve())  # all checked before any run
    configs = (shard or Shard()).take(configs)
    countdown = Countdown(len(configs), jobs)
    fresh = {config.out for config in configs if not finished_before(Path(config.out))}

    def finished(task, result):
        countdown.finish(timed=task[1].out in fresh, seconds=result.get('search_seconds'))
        _logger.info('%s %s: done', countdown.prefix(done=True), task[0])

    run_searches([(f'k={config.k} seed={config.seed}', config) for config in configs], jobs, finished,
                 stop_at=stop_at)
    return sweep_results(out)


def _finished_runs(out: Path) -> Iterator[Path]:
    for folder in sorted(Path(out).iterdir()):
        if folder.is_dir() and finished_before(folder):
            yield folder


def sweep_results(out: Path) -> List[Dict]:
    if not Path(out).is_dir():
        raise UserError(f'{out} is not a sweep folder; run nni-cnas sweep --out {out} first')
    return [json.loads((folder / 'result.json').read_text(encoding='utf-8')) for folder in _finished_runs(out)]


def sweep_points(results: Sequence[Mapping[str, Any]], dataset: str) -> Tuple[List[Tuple[int, float]], str]:
    """``(K, value)`` per finished run: the NAS-Bench-201 test accuracy of the found cell on
    ``dataset`` when every run was looked up, else the found cell's accuracy (%) on the validation
    batch that scores candidates (digits, or no benchmark table)."""
    if results and all(r.get('lookup') for r in results):
        return [(r['k'], r['lookup'][dataset]['test']) for r in results], f'NAS-Bench-201 {dataset} test accuracy (%)'
    return [(r['k'], 100 * r['val_acc']) for r in results], 'validation accuracy of the found cell (%)'
