"""Each curriculum's difference to plain at several training budgets (the ranking study's budget
ladder): per rung, the rung's results files paired by seed (``benchmarks/paired.py``'s pairing, its
t-interval and sign count), and one figure of each variant's mean difference and 95% interval
against the rung, for Kendall tau, the top-10's true accuracy and the found cell's look-up; and the
ladder's reading by its design's rule (:func:`ladder_readings`).

A rung is a name and its results files; a (strategy, variant, seed) found in several of a rung's
files is taken from the first that has it (so a rung may reuse another protocol's runs of the same
searches). The variants are named by ``nni_cnas.experiments.quality.variant``:

    .venv/bin/python benchmarks/budget_ladder.py \\
        --rung 2k-e10 benchmarks/results/quality-cpu-ladder-2k.jsonl benchmarks/results/quality-cpu-ladder-2k-close.jsonl \\
        --rung 10k-e20 benchmarks/results/quality-cpu-10k-ranking-{plain,close,disagreement}.jsonl benchmarks/results/quality-cpu-10k.jsonl \\
        --rung 20k-e40 benchmarks/results/quality-cpu-ladder-20k.jsonl benchmarks/results/quality-cpu-ladder-20k-close.jsonl \\
        --md benchmarks/results/quality-cpu-ladder.md --png benchmarks/results/quality-cpu-ladder.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from paired import MEASURES, paired_rows, shared_options  # noqa: E402

#: The ladder's variants: their names in the results (``variant``) and in the table and figure.
VARIANTS = {'none + CLOSE': 'CLOSE', 'epoch': "the paper's weights",
            'epoch (disagreement) [subnets=uniform]': 'disagreement (uniform subnets)'}
#: The measures the ladder shows (paired.py's labels), primary first.
SHOWN = ('Kendall tau', 'top-10 true acc (points)', 'look-up test acc (points)')


def rung_records(paths, strategy: str, seeds):
    """The rung's records of one strategy and the seeds, each (variant, seed) once: the first file that has it wins."""
    from nni_cnas.experiments.quality import read_results, variant

    seen, records = set(), []
    for path in paths:
        for record in read_results(path):
            key = (variant(record), record['seed'])
            if record['strategy'] == strategy and record['seed'] in seeds and key not in seen:
                seen.add(key)
                records.append(record)
    return records


def ladder_rows(rungs, strategy: str, seeds):
    """One row per (rung, variant, shown measure): paired.py's row with the rung's name."""
    rows = []
    for name, paths in rungs:
        records = rung_records(paths, strategy, seeds)
        shared_options(records)
        for row in paired_rows(records, list(VARIANTS)):
            if row['measure'] in SHOWN:
                rows.append(dict(row, rung=name, label=VARIANTS[row['curriculum']]))
    return rows


def format_ladder(rows) -> str:
    lines = ['| rung | variant - plain | measure | seeds | mean | 95% interval | better / worse | per seed |',
             '|---|---|---|---|---|---|---|---|']
    for row in sorted(rows, key=lambda r: (SHOWN.index(r['measure']), list(VARIANTS.values()).index(r['label']))):
        interval = f'[{row["low"]:+.3f}, {row["high"]:+.3f}]' if row['seeds'] > 1 else 'n/a (one seed)'
        lines.append(f'| {row["rung"]} | {row["label"]} | {row["measure"]} | {row["seeds"]} | {row["mean"]:+.3f} | '
                     f'{interval} | {row["better"]} / {row["worse"]} | {", ".join(f"{d:+.3f}" for d in row["diffs"])} |')
    return '\n'.join(lines) + '\n'


def ladder_readings(rows, rung_names):
    """The design's rule, per (variant, measure): a trend is read only where the intervals say so, the
    top rung's interval excluding 0 or the cheapest and the top rung's intervals apart; anything else is
    "no trend measured". A variant missing from either end, or with one seed there, has no reading."""
    cheapest, top = rung_names[0], rung_names[-1]
    readings = []
    for measure in SHOWN:
        for label in VARIANTS.values():
            ends = {row['rung']: row for row in rows if row['measure'] == measure and row['label'] == label
                    and row['rung'] in (cheapest, top) and row['seeds'] > 1}
            if len(ends) < 2:
                continue
            low, high = ends[cheapest], ends[top]
            said = []
            if high['low'] > 0 or high['high'] < 0:
                said.append(f'{top} {"above" if high["low"] > 0 else "below"} plain')
            if high['high'] < low['low'] or low['high'] < high['low']:
                said.append(f'{cheapest} and {top} apart ({"falls" if high["mean"] < low["mean"] else "rises"})')
            readings.append({'label': label, 'measure': measure, 'reading': '; '.join(said) or 'no trend measured'})
    return readings


def format_readings(readings) -> str:
    lines = ['| variant - plain | measure | reading (the design\'s rule) |', '|---|---|---|']
    lines += [f'| {r["label"]} | {r["measure"]} | {r["reading"]} |' for r in readings]
    return '\n'.join(lines) + '\n'


def plot_ladder(rows, rungs, path: Path, strategy: str) -> None:
    """One panel per shown measure: each variant's mean difference to plain (95% interval) at each rung."""
    from nni_cnas.figures import pyplot, save_figure

    plt = pyplot()
    names = [name for name, _ in rungs]
    labels = list(VARIANTS.values())
    figure, axes = plt.subplots(1, len(SHOWN), squeeze=False, constrained_layout=True, figsize=(4.6 * len(SHOWN), 3.6))
    for axis, measure in zip(axes[0], SHOWN):
        for i, label in enumerate(labels):
            mine = {row['rung']: row for row in rows if row['measure'] == measure and row['label'] == label}
            xs = [j + (i - (len(labels) - 1) / 2) * 0.12 for j, name in enumerate(names) if name in mine]
            points = [mine[name] for name in names if name in mine]
            if not points:
                continue
            low = [p['mean'] - p['low'] if p['seeds'] > 1 else 0.0 for p in points]
            high = [p['high'] - p['mean'] if p['seeds'] > 1 else 0.0 for p in points]
            axis.errorbar(xs, [p['mean'] for p in points], yerr=[low, high], fmt='o-', capsize=3, color=f'C{i}',
                          label=label if measure == SHOWN[0] else None)
        axis.axhline(0, color='grey', linewidth=0.8)
        axis.set_xticks(range(len(names)))
        axis.set_xticklabels(names)
        axis.set_title(f'{strategy.upper()}: {measure}, minus plain', fontsize=9)
        axis.set_xlabel('training budget (images a split, epochs)', fontsize=8)
        axis.grid(alpha=0.3)
    figure.legend(loc='outside lower center', ncol=len(labels), fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rung', nargs='+', action='append', required=True, metavar=('NAME', 'RESULTS'),
                        help='a rung: its name, then its results files (repeat for each rung, cheapest first)')
    parser.add_argument('--strategy', default='rsps')
    parser.add_argument('--seeds', default='0,1,2,3,4', help='the seeds paired at every rung (default 0-4)')
    parser.add_argument('--md', type=Path)
    parser.add_argument('--png', type=Path)
    args = parser.parse_args()
    from nni_cnas.files import atomic_write_text

    rungs = []
    for name, *files in args.rung:
        paths = [Path(f) for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if not paths or missing:
            raise SystemExit(f'rung {name}: ' + (f'no results file {", ".join(missing)}; run nni-cnas quality first'
                                                 if missing else 'give its results files after its name'))
        rungs.append((name, paths))
    rows = ladder_rows(rungs, args.strategy, {int(seed) for seed in args.seeds.split(',')})
    table = format_ladder(rows) + '\n' + format_readings(ladder_readings(rows, [name for name, _ in rungs]))
    print(table)
    if args.md:
        atomic_write_text(args.md, table)
    if args.png:
        plot_ladder(rows, rungs, args.png, args.strategy)


if __name__ == '__main__':
    main()
