"""The CPU search-quality protocol: plain against curriculum, several seeds, measured by
the found cell's NAS-Bench-201 test accuracy and by the supernet's ranking of random cells.

A protocol file (YAML) fixes everything::

    search:            # SearchConfig options shared by every run (data, size, epochs, ranking)
      dataset: cifar10
      subset: 2000
      ...
    strategies: [rsps, darts, gdas, enas, setn]
    curricula: [none, epoch]
    seeds: [0, 1, 2]
    k: 5

``k`` may be a list (a K sweep: each curriculum runs at every K; plain runs once). A file may start
from another with ``base: other.yaml`` (relative to it) and state only what differs: its ``search``
options are merged key by key into the base's, the other keys replace the base's.

``run_protocol`` runs every (seed, strategy, curriculum, K) not in the results file yet, seeds outer so
that a partial run already compares all strategies, and appends one JSON line per finished search;
a search stopped midway continues from its checkpoint in its run folder. ``quality_table`` renders
mean and std per strategy and curriculum (and CLOSE, for protocols with ``close: true`` in ``search``).
"""

from __future__ import annotations

import logging
import re
import statistics
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ..errors import UserError
from .jobs import Shard

_logger = logging.getLogger(__name__)

__all__ = ['Protocol', 'Run', 'run_protocol', 'rescore_results', 'read_results', 'quality_table',
           'format_quality_table', 'variant']

#: Options the protocol sets per run; the ``search`` section may not hold them.
PER_RUN = ('strategy', 'curriculum', 'k', 'seed', 'out', 'overwrite')
#: The keys of a protocol file (besides ``base``); ``variants`` may be left out.
FIELDS = ('search', 'strategies', 'curricula', 'seeds', 'k', 'variants')
REQUIRED = FIELDS[:-1]


class Protocol:
    """A validated protocol file: shared search options and the grid of runs."""

    def __init__(self, search: Mapping[str, Any], strategies: Sequence[str], curricula: Sequence[str],
                 seeds: Sequence[int], k: Union[int, Sequence[int]], variants: Optional[Mapping[str, Any]] = None,
                 source: str = 'protocol'):
        from ..run.config import CURRICULUM_PARTS, SearchConfig

        fixed = [name for name in PER_RUN if name in search]
        if fixed:
            raise UserError(f'{source}: the protocol sets {", ".join(fixed)} per run; remove it from "search"')
        ks = list(k) if isinstance(k, (list, tuple)) else [k]
        if not ks or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in ks) or len(set(ks)) != len(ks):
            raise UserError(f'{source}: k must be a positive integer (the curriculum\'s subnets) or a list of '
                            f'different ones (a K sweep), not {k!r}')
        for name, values, kind in (('strategies', strategies, str), ('curricula', curricula, str), ('seeds', seeds, int)):
            if (not isinstance(values, (list, tuple)) or not values
                    or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values)):
                raise UserError(f'{source}: {name} must be a non-empty list of {kind.__name__}s, not {values!r}')
            if len(set(values)) != len(values):
                raise UserError(f'{source}: {name} repeats a value: {list(values)}')
        if variants is not None:
            if not isinstance(variants, Mapping) or not variants:
                raise UserError(f'{source}: variants must map a name to curriculum options, e.g. '
                                f'{{permuted: {{weighting: permuted}}}}, not {variants!r}')
            for name, options in variants.items():
                if not isinstance(name, str) or not re.fullmatch(r'[a-z0-9][a-z0-9.-]*', name):
                    raise UserError(f'{source}: variant name {name!r} must be lower-case letters, digits, . and -')
                wrong = sorted(set(options) - set(CURRICULUM_PARTS)) if isinstance(options, Mapping) else [options]
                if wrong or not options:
                    raise UserError(f'{source}: variant {name} may set only the curriculum\'s parts '
                                    f'({", ".join(CURRICULUM_PARTS)}), not {", ".join(map(str, wrong)) or "nothing"}')
        self.variants = {name: dict(options) for name, options in (variants or {}).items()}
        self.search, self.source = dict(search), source
        self.whole = self  # the protocol as its file has it, before a partial run's ``select``
        self.k = ks if isinstance(k, (list, tuple)) else k
        self.strategies, self.curricula, self.seeds = list(strategies), list(curricula), list(seeds)
        SearchConfig.from_mapping(self.search, f'{source} "search"')
        for run in self.grid(seeds=self.seeds[:1]):  # every run's options, before any run starts
            self.config(run, Path('.'))

    @classmethod
    def load(cls, path: Path) -> 'Protocol':
        values = _read_protocol_values(Path(path), ())
        return cls(*(values.get(name) for name in FIELDS), source=str(path))

    def select(self, strategies: Optional[Sequence[str]] = None, seeds: Optional[Sequence[int]] = None) -> 'Protocol':
        """The same protocol restricted to some of its strategies or seeds (for a partial run)."""
        for name, chosen, known in (('strategies', strategies, self.strategies), ('seeds', seeds, self.seeds)):
            unknown = [v for v in chosen or () if v not in known]
            if unknown:
                raise UserError(f'{", ".join(map(str, unknown))} not among the protocol\'s {name} ({", ".join(map(str, known))})')
        chosen = Protocol(self.search, strategies or self.strategies, self.curricula, seeds or self.seeds, self.k,
                          self.variants or None, self.source)
        chosen.whole = self.whole
        return chosen

    def options(self, run: Optional['Run'] = None) -> Dict[str, Any]:
        """What makes results comparable: the shared options (with the run's variant's) and K."""
        return {**self.search, **self.variants.get(run.variant if run else '', {}), 'k': self.k}

    def config(self, run: 'Run', runs_dir: Path):
        from ..run.config import SearchConfig

        values = dict(self.search, **self.variants.get(run.variant, {}), strategy=run.strategy,
                      curriculum=run.curriculum, seed=run.seed, k=run.k, out=str(Path(runs_dir) / run.name))
        return SearchConfig.from_mapping(values, f'{self.source}').resolve()

    def grid(self, seeds: Optional[Sequence[int]] = None) -> List['Run']:
        """Every run, seeds outer; plain runs once (K=0), a curriculum at each K and in each variant."""
        sweep = isinstance(self.k, list)
        ks = self.k if sweep else [self.k]
        return [Run(strategy, curriculum, seed, k, sweep, variant)
                for seed in (self.seeds if seeds is None else seeds) for strategy in self.strategies
                for curriculum in self.curricula for k in ([0] if curriculum == 'none' else ks)
                for variant in ([''] if curriculum == 'none' or not self.variants else self.variants)]


class Run(NamedTuple):
    """One search of a protocol; ``sweep`` when the protocol's K is a list (its K is in the name),
    ``variant`` the name of its curriculum variant (in the name too), if the protocol has variants."""
    strategy: str
    curriculum: str
    seed: int
    k: int
    sweep: bool = False
    variant: str = ''

    @property
    def name(self) -> str:
        k = f'-k{self.k}' if self.sweep and self.curriculum != 'none' else ''
        variant = f'-{self.variant}' if self.variant else ''
        return f'{self.strategy}-{self.curriculum}{k}{variant}-s{self.seed}'


def _read_protocol_values(path: Path, seen: Tuple[Path, ...]) -> Dict[str, Any]:
    """A protocol file's keys with its ``base`` chain merged in (search options key by key)."""
    import yaml

    from ..files import read_user_text

    if path.resolve() in seen:
        raise UserError(f'{path}: its base chain comes back to it ({" -> ".join(map(str, seen + (path,)))})')
    try:
        values = yaml.safe_load(read_user_text(path, 'protocol file'))
    except yaml.YAMLError as error:
        raise UserError(f'{path} is not valid YAML ({str(error).splitlines()[0]})') from None
    keys = ', '.join(FIELDS)
    if not isinstance(values, dict):
        raise UserError(f'{path} must hold the keys {keys}; found {type(values).__name__}')
    if 'search' in values and not isinstance(values['search'], dict):
        raise UserError(f'{path}: "search" must be a mapping of search options')
    if 'base' not in values:
        if not set(REQUIRED) <= set(values) <= set(FIELDS):
            raise UserError(f'{path} must hold the keys {", ".join(REQUIRED)} (and may hold variants), or base: '
                            f'and what differs from it; '
                            f'found {", ".join(sorted(values))}')
        return values
    unknown = sorted(set(values) - set(FIELDS) - {'base'})
    if unknown or not isinstance(values['base'], str):
        raise UserError(f'{path}: with base: (a protocol file) it may hold only {keys}; found {", ".join(unknown or ["base: " + repr(values["base"])])}')
    base = _read_protocol_values(path.parent / values['base'], seen + (path.resolve(),))
    merged = dict(base, **{name: value for name, value in values.items() if name in FIELDS})
    merged['search'] = dict(base['search'], **values.get('search', {}))
    return merged


def read_results(path: Path) -> List[Dict[str, Any]]:
    """The records of a results file; a line torn by a crash while appending is ignored."""
    from ..files import read_json_lines

    return [record for record in read_json_lines(path) if 'run' in record]


def _record(protocol: Protocol, run: Run, result: Mapping[str, Any]) -> Dict:
    return {
        'run': run.name, 'strategy': run.strategy, 'curriculum': run.curriculum,
        'k': result['k'], 'seed': run.seed, 'arch': result['arch'], 'val_acc': result['val_acc'],
        'test_acc': result.get('lookup_test'), 'benchmark_dataset': result.get('benchmark_dataset'),
        'ranking': result.get('ranking'), 'search_seconds': result['search_seconds'],
        'options': protocol.options(run),
    }


def run_protocol(protocol: Protocol, results: Path, runs_dir: Path, jobs: int = 1,
                 shard: Optional[Shard] = None, stop_at: Optional[float] = None) -> List[Dict[str, Any]]:
    """Run what is missing from ``results`` (of this ``shard`` of the grid), ``jobs`` searches at a
    time; returns the records of the grid (of the shard) that are in ``results``."""
    from ..benchmarks.nb201 import open_benchmark
    from ..files import append_json_line
    from ..progress import Countdown
    from ..run.search import finished_before
    from .jobs import run_searches

    results, runs_dir = Path(results), Path(runs_dir)
    open_benchmark(protocol.search.get('nb201_table'), protocol.search.get('nats_bench'), required=True)
    done = {}
    # Checked against the whole protocol: a partial run shares its results file with the other parts.
    options = {run.name: protocol.options(run) for run in protocol.whole.grid()}
    for record in read_results(results):
        if record.get('options') != options.get(record.get('run'), protocol.options()):
            raise UserError(f'{results} holds results of other protocol options ({record.get("run")}); '
                            'give another --results file, or restore the protocol file they came from')
        done[record['run']] = record
    results.parent.mkdir(parents=True, exist_ok=True)
    grid = (shard or Shard()).take(protocol.grid())
    countdown = Countdown(len(grid), jobs)
    tasks = []
    for run in grid:
        if run.name in done:
            _logger.info('%s %s: in %s, skipped', countdown.prefix(), run.name, results)
            countdown.finish(timed=False)
            continue
        tasks.append((run.name, protocol.config(run, runs_dir), run))
    fresh = {name for name, config, _ in tasks if not finished_before(Path(config.out))}
    runs = {name: run for name, _, run in tasks}

    def record(task, result):
        name = task[0]
        countdown.finish(timed=name in fresh, seconds=result.get('search_seconds'))
        done[name] = _record(protocol, runs[name], result)
        append_json_line(results, done[name])
        _logger.info('%s %s: test accuracy %s, Kendall tau %s', countdown.prefix(done=True), name,
                     done[name]['test_acc'], (done[name]['ranking'] or {}).get('kendall_tau'))

    run_searches([(name, config) for name, config, _ in tasks], jobs, record, stop_at=stop_at)
    return [done[run.name] for run in grid if run.name in done]


def rescore_results(results: Path, runs_dir: Path, out: Path, cells: int, cell_seed: int,
                    device: str = 'cpu') -> List[Dict[str, Any]]:
    """A second set of cells for a protocol's finished searches: each record of ``results`` whose run
    folder is in ``runs_dir`` scored again on ``cells`` cells of ``cell_seed`` (none of the search's
    own), appended to ``out`` as the same record with this ``ranking``, so that every table and
    paired comparison reads it as it reads ``results``. Records already in ``out`` are skipped."""
    from ..files import append_json_line
    from ..run.rescore import rescore_run

    results, runs_dir, out = Path(results), Path(runs_dir), Path(out)
    records = read_results(results)
    if not records:
        raise UserError(f'{results} holds no results of finished searches')
    missing = [r['run'] for r in records if not (runs_dir / r['run']).is_dir()]
    if missing:
        raise UserError(f'{runs_dir} lacks the run folders of {", ".join(missing[:3])}'
                        f'{" and more" if len(missing) > 3 else ""}; give the --runs-dir the protocol ran in')
    done = {record['run']: record for record in read_results(out)}
    for record in records:
        if record['run'] in done:
            continue
        summary = rescore_run(runs_dir / record['run'], cells, cell_seed, device=device)
        done[record['run']] = dict(record, ranking=summary)
        append_json_line(out, done[record['run']])
        _logger.info('%s: Kendall tau %.3f on the cells of seed %d (%.3f on its own)', record['run'],
                     summary['kendall_tau'], cell_seed, (record.get('ranking') or {}).get('kendall_tau', float('nan')))
    return [done[record['run']] for record in records]


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return float('nan'), float('nan')
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def variant(record: Mapping[str, Any]) -> str:
    """The curriculum setting of a run: the data curriculum's schedule, then what differs from the
    paper's parts (``K=`` in a K sweep, the measure in brackets such as ``(amortised)``, the
    weighting, ``alpha=``, ``start=``, the parts' options in square brackets), ``+ CLOSE`` when the
    supernet was a CLOSENet."""
    from ..curriculum.config import ESTIMATOR_MEASURES, CurriculumConfig

    options = record.get('options') or {}
    default = CurriculumConfig()
    name = record['curriculum']
    if name != 'none':
        if isinstance(options.get('k'), list):  # a run of a K sweep
            name += f' K={record["k"]}'
        measure = options.get('measure') or ESTIMATOR_MEASURES.get(options.get('estimator'), default.measure)
        if measure != default.measure:
            name += f' ({measure})'
        if options.get('weighting', default.weighting) != default.weighting:
            name += f' {options["weighting"]}'
        for key, label, value in (('alpha', 'alpha', default.alpha), ('curriculum_start', 'start', default.start)):
            if options.get(key, value) != value:
                name += f' {label}={options[key]:g}'
        for key in ('measure_options', 'weighting_options'):
            if options.get(key):
                name += f' [{options[key]}]'
    return f'{name} + CLOSE' if options.get('close') else name


def quality_table(records: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Per (strategy, :func:`variant`), in the order first seen: runs, and mean and sample std over
    seeds of the look-up test accuracy, Kendall's tau and the supernet's top-10 mean true accuracy."""
    groups: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record['strategy'], variant(record)), []).append(record)
    rows = []
    for (strategy, curriculum), group in groups.items():
        rankings = [r.get('ranking') or {} for r in group]
        rows.append({
            'strategy': strategy, 'curriculum': curriculum, 'runs': len(group),
            'seeds': sorted(r['seed'] for r in group),
            'test_acc': _mean_std([r.get('test_acc') for r in group]),
            'kendall_tau': _mean_std([r.get('kendall_tau') for r in rankings]),
            'top10_acc': _mean_std([r.get('top10_mean_true_acc') for r in rankings]),
            'minutes': statistics.fmean(r['search_seconds'] for r in group) / 60,
        })
    return rows


def format_quality_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of :func:`quality_table` rows."""
    def pm(pair, digits):
        mean, std = pair
        return '-' if mean != mean else f'{mean:.{digits}f} ± {std:.{digits}f}'

    lines = ['| strategy | curriculum | seeds | look-up test acc. (%) | Kendall tau | '
             'top-10 mean true acc. (%) | minutes per search |',
             '|---|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f'| {row["strategy"]} | {row["curriculum"]} | {len(row["seeds"])} | {pm(row["test_acc"], 2)} | '
                     f'{pm(row["kendall_tau"], 3)} | {pm(row["top10_acc"], 2)} | {row["minutes"]:.1f} |')
    return '\n'.join(lines)
