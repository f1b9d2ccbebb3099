"""Plain against curriculum, paired by seed, from quality protocols' results files: per
strategy and curriculum variant (schedule, K, estimator), the curriculum run minus the plain run of
the same seed, for the look-up test accuracy, Kendall tau and the supernet's top-10's true accuracy;
mean, a 95% t-interval, the sign count and an exact sign test. Several files pair when their
searches differ only in the curriculum (a K sweep's or the amortised estimator's file with the main
protocol's plain runs). ``--against epoch`` pairs against another variant instead of plain (the
amortised estimator against the exact one).

    .venv/bin/python benchmarks/paired.py benchmarks/results/quality-cpu-10k.jsonl --md benchmarks/results/quality-cpu-10k-paired.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.run.config import CURRICULUM_PARTS  # noqa: E402

#: Two-sided 95% quantiles of Student's t by degrees of freedom (1-9), for the interval of a mean.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
MEASURES = (('test_acc', 'look-up test acc (points)', lambda r: r['test_acc']),
            ('kendall_tau', 'Kendall tau', lambda r: (r.get('ranking') or {}).get('kendall_tau')),
            ('top10_acc', 'top-10 true acc (points)', lambda r: (r.get('ranking') or {}).get('top10_mean_true_acc')))
#: Options in which paired runs may differ: the curriculum's own.
CURRICULUM_OPTIONS = ('k', *CURRICULUM_PARTS)


def sign_test_p(better: int, worse: int) -> float:
    """Two-sided exact sign test (ties dropped): the chance under no effect of a split at least this
    lopsided, 2 P(X <= min) for X ~ Binomial(better + worse, 1/2), at most 1."""
    from math import comb

    n = better + worse
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(min(better, worse) + 1)) / 2 ** n)


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
                mean = statistics.fmean(diffs)
                half = (T95.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / len(diffs) ** 0.5
                        if len(diffs) > 1 else float('nan'))
                better, worse = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
                rows.append(dict(strategy=strategy, curriculum=name, k=ks[strategy, name], measure=label,
                                 seeds=len(diffs), mean=mean, low=mean - half, high=mean + half,
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', type=Path, nargs='+')
    parser.add_argument('--curriculum', action='append',
                        help='only this variant against plain (e.g. epoch, "epoch K=3", "epoch (amortised)"); repeatable')
    parser.add_argument('--against', default='none',
                        help='the variant the others are paired against (default none, plain; e.g. epoch)')
    parser.add_argument('--md', type=Path)
    args = parser.parse_args()
    from nni_cnas.experiments.quality import read_results

    missing = [str(path) for path in args.results if not path.is_file()]
    if missing:
        raise SystemExit(f'no results file {", ".join(missing)}; run nni-cnas quality first')
    records = [record for path in args.results for record in read_results(path)]
    shared_options(records)
    table = format_rows(paired_rows(records, args.curriculum, args.against), args.against)
    print(table)
    if args.md:
        args.md.write_text(table)


if __name__ == '__main__':
    main()
