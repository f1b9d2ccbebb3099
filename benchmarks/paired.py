"""Plain against curriculum, paired by seed, from quality protocols' results files: per
strategy and curriculum variant (schedule, K, estimator), the curriculum run minus the plain run of
the same seed, for the look-up test accuracy, Kendall tau and the supernet's top-10's true accuracy;
mean, a 95% t-interval, the sign count and an exact sign test. Several files pair when their
searches differ only in the curriculum (a K sweep's or the amortised estimator's file with the main
protocol's plain runs). ``--against epoch`` pairs against another variant instead of plain (the
amortised estimator against the exact one). CLOSE's supernets (``close``) pair with plain ones
as a variant too. ``--second-cells`` adds Kendall tau over a second, independent set of cells
scored by the same supernets (``nni-cnas quality-rescore``), so that a reader sees how much of a
difference is the cell set's own noise.

    .venv/bin/python benchmarks/paired.py benchmarks/results/quality-cpu-10k.jsonl --md benchmarks/results/quality-cpu-10k-paired.md
    (``--png`` adds a forest plot of the differences and their intervals)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.run.config import CURRICULUM_PARTS  # noqa: E402

MEASURES = (('test_acc', 'look-up test acc (points)', lambda r: r['test_acc']),
            ('kendall_tau', 'Kendall tau', lambda r: (r.get('ranking') or {}).get('kendall_tau')),
            ('kendall_tau_2', 'Kendall tau (second cells)', lambda r: (r.get('second_ranking') or {}).get('kendall_tau')),
            ('top10_acc', 'top-10 true acc (points)', lambda r: (r.get('ranking') or {}).get('top10_mean_true_acc')))
#: Options in which paired runs may differ: the data curriculum's own, and CLOSE's (the curriculum
#: on the sharing extent).
CURRICULUM_OPTIONS = ('k', *CURRICULUM_PARTS, 'close', 'close_blocks', 'close_epochs')


def with_second_cells(records, second):
    """The records, each with ``second_ranking``: the ranking of the same search (strategy, variant
    and seed) in ``second``, the rescored results of a second cell set, where there is one."""
    from nni_cnas.experiments.quality import variant

    by = {(r['strategy'], variant(r), r['seed']): r.get('ranking') for r in second}
    return [dict(r, second_ranking=by.get((r['strategy'], variant(r), r['seed']))) for r in records]


def sign_test_p(better: int, worse: int) -> float:
    """Two-sided exact sign test (ties dropped): scipy's binomial test of ``better`` successes in
    ``better + worse`` at 1/2 (for 1/2, 2 P(X <= min), at most 1)."""
    n = better + worse
    return 1.0 if n == 0 else float(stats.binomtest(better, n, 0.5).pvalue)


def t_interval(values, confidence: float = 0.95):
    """The mean's two-sided t-interval (scipy's one-sample t-test), or NaNs for fewer than 2 values."""
    if len(values) < 2:
        return float('nan'), float('nan')
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    return float(low), float(high)


def shared_options(records):
    """The search options every record agrees on, or SystemExit naming the first that differs."""
    first = None
    for record in records:
        options = {k: v for k, v in (record.get('options') or {}).items() if k not in CURRICULUM_OPTIONS}
        if first is None:
            first = (record['run'], options)
        elif options != first[1]:
            keys = sorted(k for k in set(options) | set(first[1]) if options.get(k) != first[1].get(k))
            raise SystemExit(f'{record["run"]} and {first[0]} are searches of other options ({", ".join(keys)}); '
                             'pair only results of one protocol and its curriculum variants')
    return first[1] if first else {}


def paired_rows(records, curricula=None, against='none'):
    """One row per (strategy, curriculum variant, measure): differences by seed to the variant
    ``against`` (plain, ``'none'``, unless told)."""
    from nni_cnas.experiments.quality import variant

    by = {(r['strategy'], variant(r), r['seed']): r for r in records}
    ks = {(r['strategy'], variant(r)): r['k'] for r in records}
    rows = []
    for strategy in sorted({r['strategy'] for r in records}):
        variants = [v for s, v in dict.fromkeys((s, v) for s, v, _ in by) if s == strategy and v not in (against, 'none')
                    and (curricula is None or v in curricula)]
        for name in variants:
            seeds = sorted(seed for (s, v, seed) in by if s == strategy and v == name and (s, against, seed) in by)
            for key, label, read in MEASURES:
                diffs = [read(by[strategy, name, seed]) - read(by[strategy, against, seed]) for seed in seeds
                         if read(by[strategy, name, seed]) is not None and read(by[strategy, against, seed]) is not None]
                if not diffs:
                    continue
                mean, (low, high) = statistics.fmean(diffs), t_interval(diffs)
                better, worse = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
                rows.append(dict(strategy=strategy, curriculum=name, k=ks[strategy, name], measure=label,
                                 seeds=len(diffs), mean=mean, low=low, high=high,
                                 better=better, worse=worse, sign_p=sign_test_p(better, worse), diffs=diffs))
    return rows


def format_rows(rows, against='none') -> str:
    baseline = 'plain' if against == 'none' else against
    lines = [f'| strategy | curriculum - {baseline} | K | measure | seeds | mean | 95% interval | better / worse | sign test p '
             '| per seed |', '|---|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        interval = f'[{row["low"]:+.3f}, {row["high"]:+.3f}]' if row['seeds'] > 1 else 'n/a (one seed)'
        lines.append(f'| {row["strategy"]} | {row["curriculum"]} | {row["k"]} | {row["measure"]} | {row["seeds"]} | '
                     f'{row["mean"]:+.3f} | {interval} | {row["better"]} / {row["worse"]} | '
                     f'{row["sign_p"]:.2f} | {", ".join(f"{d:+.3f}" for d in row["diffs"])} |')
    return '\n'.join(lines) + '\n'


def plot_rows(rows, path: Path, against='none') -> None:
    """A forest plot: per strategy (rows of panels) and measure (columns), each variant's mean
    difference with its 95% interval, and the line of no difference."""
    from nni_cnas.figures import pyplot, save_figure

    plt = pyplot()
    strategies = list(dict.fromkeys(row['strategy'] for row in rows))
    measures = [label for _, label, _ in MEASURES]
    variants = max(sum(row['strategy'] == s and row['measure'] == measures[0] for row in rows) for s in strategies)
    figure, axes = plt.subplots(len(strategies), len(measures), squeeze=False, constrained_layout=True,
                                figsize=(4.2 * len(measures), 0.5 + 0.45 * variants * len(strategies)))
    baseline = 'plain' if against == 'none' else against
    for i, strategy in enumerate(strategies):
        for j, measure in enumerate(measures):
            axis = axes[i][j]
            mine = [row for row in rows if row['strategy'] == strategy and row['measure'] == measure]
            for y, row in enumerate(mine):
                axis.errorbar(row['mean'], y, xerr=[[row['mean'] - row['low']], [row['high'] - row['mean']]],
                              fmt='o', color='C3' if row['low'] > 0 or row['high'] < 0 else 'C0', capsize=3)
            axis.axvline(0, color='grey', linewidth=0.8)
            axis.set_yticks(range(len(mine)))
            axis.set_yticklabels([row['curriculum'] for row in mine] if j == 0 else [])
            axis.invert_yaxis()
            axis.set_title(f'{strategy.upper()}: {measure}', fontsize=9)
            axis.set_xlabel(f'minus {baseline}, paired by seed', fontsize=8)
            axis.grid(alpha=0.3)
    save_figure(figure, path)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', type=Path, nargs='+')
    parser.add_argument('--curriculum', action='append',
                        help='only this variant against plain (e.g. epoch, "epoch K=3", "epoch (amortised)"); repeatable')
    parser.add_argument('--against', default='none',
                        help='the variant the others are paired against (default none, plain; e.g. epoch)')
    parser.add_argument('--strategy', action='append', help='only this strategy; repeatable')
    parser.add_argument('--md', type=Path)
    parser.add_argument('--png', type=Path, help='a forest plot of the differences and their 95%% intervals')
    parser.add_argument('--second-cells', type=Path, nargs='+', default=[],
                        help='results files of the same searches rescored on a second set of cells (nni-cnas quality-rescore)')
    args = parser.parse_args()
    from nni_cnas.experiments.quality import read_results
    from nni_cnas.files import atomic_write_text

    missing = [str(path) for path in [*args.results, *args.second_cells] if not path.is_file()]
    if missing:
        raise SystemExit(f'no results file {", ".join(missing)}; run nni-cnas quality (or quality-rescore) first')
    records = [record for path in args.results for record in read_results(path)
               if args.strategy is None or record['strategy'] in args.strategy]
    records = with_second_cells(records, [record for path in args.second_cells for record in read_results(path)])
    shared_options(records)
    rows = paired_rows(records, args.curriculum, args.against)
    table = format_rows(rows, args.against)
    print(table)
    if args.md:
        atomic_write_text(args.md, table)
    if args.png:
        plot_rows(rows, args.png, args.against)


if __name__ == '__main__':
    main()
