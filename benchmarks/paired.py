"""Plain against curriculum, paired by seed, from a quality protocol's results file (issue 24): per
strategy, the curriculum run minus the plain run of the same seed, for the look-up test accuracy,
Kendall tau and the supernet's top-10's true accuracy; mean, a 95% t-interval and the sign count.

    .venv/bin/python benchmarks/paired.py benchmarks/results/quality-cpu-10k.jsonl --md benchmarks/results/quality-cpu-10k-paired.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Two-sided 95% quantiles of Student's t by degrees of freedom (1-9), for the interval of a mean.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
MEASURES = (('test_acc', 'look-up test acc (points)', lambda r: r['test_acc']),
            ('kendall_tau', 'Kendall tau', lambda r: (r.get('ranking') or {}).get('kendall_tau')),
            ('top10_acc', 'top-10 true acc (points)', lambda r: (r.get('ranking') or {}).get('top10_mean_true_acc')))


def paired_rows(records, curriculum='epoch'):
    from nni_cnas.experiments.quality import variant

    by = {(r['strategy'], variant(r), r['seed']): r for r in records}
    rows = []
    for strategy in sorted({r['strategy'] for r in records}):
        seeds = sorted(seed for (s, v, seed) in by if s == strategy and v == curriculum and (s, 'none', seed) in by)
        for key, label, read in MEASURES:
            diffs = [read(by[strategy, curriculum, seed]) - read(by[strategy, 'none', seed]) for seed in seeds
                     if read(by[strategy, curriculum, seed]) is not None and read(by[strategy, 'none', seed]) is not None]
            if not diffs:
                continue
            mean = statistics.fmean(diffs)
            half = T95.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float('nan')
            rows.append(dict(strategy=strategy, measure=label, seeds=len(diffs), mean=mean, low=mean - half, high=mean + half,
                             better=sum(d > 0 for d in diffs), worse=sum(d < 0 for d in diffs), diffs=diffs))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', type=Path)
    parser.add_argument('--curriculum', default='epoch', help='the variant against plain (epoch, batch, epoch (amortised))')
    parser.add_argument('--md', type=Path)
    args = parser.parse_args()
    from nni_cnas.experiments.quality import read_results

    rows = paired_rows(read_results(args.results), args.curriculum)
    lines = [f'| strategy | {args.curriculum} - plain | seeds | mean | 95% interval | better / worse | per seed |',
             '|---|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f'| {row["strategy"]} | {row["measure"]} | {row["seeds"]} | {row["mean"]:+.3f} | '
                     f'[{row["low"]:+.3f}, {row["high"]:+.3f}] | {row["better"]} / {row["worse"]} | '
                     f'{", ".join(f"{d:+.3f}" for d in row["diffs"])} |')
    table = '\n'.join(lines) + '\n'
    print(table)
    if args.md:
        args.md.write_text(table)


if __name__ == '__main__':
    main()
