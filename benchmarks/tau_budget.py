"""Kendall tau of a plain RSPS supernet against its training budget, on the CPU:
at which budget does a plain supernet rank NAS-Bench-201's cells at all?

Each budget is the CPU proxy's protocol (CIFAR-10 at 16x16, NB201 supernet, plain RSPS, the same
200 random cells scored on 1,000 validation images after the search, tau against NAS-Bench-201's
CIFAR-10 test accuracy) with more training images, epochs or width. Budgets run cheapest first,
``--jobs`` searches at once (each with its share of the cores); every finished search is one line
of ``--results``, so an interrupted run continues where it stopped. Prints (and writes to
``--table``) tau's mean and std per budget with the search minutes.

    .venv/bin/python benchmarks/tau_budget.py --jobs 2 --results benchmarks/results/tau-budget.jsonl \
        --runs-dir runs/tau-budget --table benchmarks/results/tau-budget.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: name: (search-train = search-valid images, epochs, channels); the proxy of BENCHMARKS.md is "2k-e10".
BUDGETS = {
    '2k-e10': (2000, 10, 8),
    '2k-e40': (2000, 40, 8),
    '10k-e20': (10000, 20, 8),
    '25k-e10': (25000, 10, 8),
    '25k-e20': (25000, 20, 8),
    # Candidates for a larger budget than 10k-e20 (the ranking study's budget ladder): more steps.
    '10k-e40': (10000, 40, 8),
    '20k-e40': (20000, 40, 8),
}
COMMON = dict(dataset='cifar10', image_size=16, cells=1, batch_size=64, rank_cells=200, rank_samples=1000,
              device='cpu', progress_bar=False, tensorboard=False)


def protocol_of(name: str, seeds):
    from nni_cnas.experiments.quality import Protocol

    subset, epochs, channels = BUDGETS[name]
    return Protocol(dict(COMMON, subset=subset, epochs=epochs, channels=channels), ['rsps'], ['none'], list(seeds), k=5,
                    source=f'budget {name}')


def main():
    from nni_cnas.experiments.quality import read_results, run_protocol
    from nni_cnas.quiet import quiet_libraries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--budgets', default=','.join(BUDGETS), help='comma-separated subset of ' + ','.join(BUDGETS))
    parser.add_argument('--seeds', default='0,1')
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument('--results', type=Path, required=True, help='folder of one JSON-lines file per budget')
    parser.add_argument('--runs-dir', type=Path, required=True)
    parser.add_argument('--table', type=Path)
    args = parser.parse_args()
    quiet_libraries()
    seeds = [int(s) for s in args.seeds.split(',')]
    names = args.budgets.split(',')
    for name in names:
        run_protocol(protocol_of(name, seeds), args.results / f'{name}.jsonl', args.runs_dir / name, jobs=args.jobs)
    lines = ['| budget | train + valid images | epochs | C | image-epochs | Kendall tau (mean ± std) | runs | minutes a search |',
             '|---|---|---|---|---|---|---|---|']
    for name in names:
        subset, epochs, channels = BUDGETS[name]
        records = read_results(args.results / f'{name}.jsonl')
        taus = [r['ranking']['kendall_tau'] for r in records if r.get('ranking')]
        minutes = statistics.fmean(r['search_seconds'] for r in records) / 60 if records else float('nan')
        spread = statistics.stdev(taus) if len(taus) > 1 else 0.0
        lines.append(f'| {name} | {subset:,} + {subset:,} | {epochs} | {channels} | {subset * epochs:,} | '
                     f'{statistics.fmean(taus):.3f} ± {spread:.3f} | {", ".join(f"{t:.3f}" for t in taus)} | {minutes:.1f} |')
    table = '\n'.join(lines) + '\n'
    print(table)
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(table)


if __name__ == '__main__':
    main()
