"""Seconds per search step and peak memory of each strategy on the DARTS and NASNet spaces,
plain and with the curriculum (``batch`` schedule, K=5, exact estimator), and their ratio.

Each (space, strategy, variant) runs in a fresh child process: it builds the supernet on synthetic
CIFAR-size data, trains ``--steps`` steps (architecture step + curriculum + weight step) and
reports the median step time without the first step (warm-up), and its peak RSS above the RSS
after set-up. Plain and CL children of one strategy run one after the other, ``--repeats`` times;
the medians of the repeats are reported.

    python benchmarks/cell_spaces.py --channels 8 --cells 1 --batch-size 32 --steps 4 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.files import atomic_write_json  # noqa: E402

STRATEGIES = ('darts', 'darts-v2', 'amended-darts', 'gdas', 'setn', 'rsps', 'enas')
VARIANTS = ('plain', 'cl')


def child(args) -> dict:
    import torch
    from step_cost import StepTimer

    from overhead import peak_rss_bytes, synthetic
    from nni_cnas.quiet import quiet_libraries
    from nni_cnas.run.evaluator import SearchClassificationModule, build_evaluator
    from nni_cnas.run.config import SearchConfig
    from nni_cnas.run.search import build_strategy, seed_everything
    from nni_cnas.spaces import build_space

    quiet_libraries()
    cl = args.variant == 'cl'
    extra = dict(controller_steps=1, controller_aggregate=2) if args.strategy == 'enas' else {}
    config = SearchConfig(space=args.space, strategy=args.strategy, curriculum='batch' if cl else 'none',
                          k=5 if cl else None, epochs=1, channels=args.channels, cells=args.cells,
                          batch_size=args.batch_size, num_candidates=2, selection_size=args.batch_size, out='unused',
                          **extra).resolve()
    data = synthetic(args.steps * args.batch_size, size=args.image_size)
    seed_everything(0)
    space = build_space(config, data)
    strategy = build_strategy(config)
    timer = StepTimer()
    evaluator = build_evaluator(SearchClassificationModule(10), data.loaders(args.batch_size, 0), max_epochs=1,
                                accelerator='auto', callbacks=[timer])
    supernet = strategy.mutate_model(space)
    evaluator = strategy.mutate_evaluator(evaluator)
    import psutil

    rss_after_setup = psutil.Process().memory_info().rss
    evaluator.evaluate(supernet)
    return {'seconds': statistics.median(timer.wall[1:]), 'steps': timer.wall,
            'peak_mib': (peak_rss_bytes() - rss_after_setup) / 2 ** 20,
            'threads': torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--spaces', default='darts,nasnet')
    parser.add_argument('--strategies', default=','.join(STRATEGIES))
    parser.add_argument('--channels', type=int, default=16)
    parser.add_argument('--cells', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--image-size', type=int, default=32)
    parser.add_argument('--steps', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--child', nargs=3, metavar=('SPACE', 'STRATEGY', 'VARIANT'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.space, args.strategy, args.variant = args.child
        print(json.dumps(child(args)))
        return
    rows = []
    started = time.time()
    for space in args.spaces.split(','):
        for strategy in args.strategies.split(','):
            runs = {variant: [] for variant in VARIANTS}
            for repeat in range(args.repeats):
                for variant in VARIANTS:
                    command = [sys.executable, __file__, '--child', space, strategy, variant,
                               '--channels', str(args.channels), '--cells', str(args.cells),
                               '--batch-size', str(args.batch_size), '--image-size', str(args.image_size),
                               '--steps', str(args.steps)]
                    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                    runs[variant].append(json.loads(output.strip().splitlines()[-1]))
            row = {'space': space, 'strategy': strategy}
            for variant in VARIANTS:
                row[f'{variant}_seconds'] = statistics.median(r['seconds'] for r in runs[variant])
                row[f'{variant}_peak_mib'] = statistics.median(r['peak_mib'] for r in runs[variant])
            row['ratio'] = row['cl_seconds'] / row['plain_seconds']
            row['runs'] = runs
            rows.append(row)
            print(f'{space} {strategy}: {row["plain_seconds"]:.2f}s / {row["cl_seconds"]:.2f}s per step '
                  f'({time.time() - started:.0f}s so far)', file=sys.stderr, flush=True)
    print(f'\nC={args.channels} N={args.cells} ({3 * args.cells + 2} cells), batch {args.batch_size}, '
          f'{args.image_size}x{args.image_size}; median seconds per step over {args.repeats} runs of '
          f'{args.steps - 1} timed steps; peak memory above set-up\n')
    print('| space | strategy | X s/step | CL-X s/step (K=5, batch) | CL-X / X | X peak MiB | CL-X peak MiB |')
    print('|---|---|---|---|---|---|---|')
    for row in rows:
        print(f'| {row["space"]} | {row["strategy"]} | {row["plain_seconds"]:.2f} | {row["cl_seconds"]:.2f} | '
              f'{row["ratio"]:.2f}x | {row["plain_peak_mib"]:.0f} | {row["cl_peak_mib"]:.0f} |')
    if args.json:
        atomic_write_json(args.json, {'args': vars(args), 'rows': rows})


if __name__ == '__main__':
    main()
