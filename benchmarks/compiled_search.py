"""Whole searches eager against ``--compile``, side by side: for each strategy with a static step,
size and curriculum, one eager and one compiled ``nni-cnas search`` (each in a process of its own,
one after the other, the compiled one with an empty inductor cache so that its first compile is
counted), the search's seconds (training and selection), its first epoch's (the compile's) and the
median of its later epochs', and the ratios eager / compiled. With ``--warm``, the compiled search
once more with the first one's cache (the searches of a sweep or a ``--jobs`` run after the first).
Run it alone on the machine; each pair's line is written as soon as it is measured, so a run stopped
by a time limit keeps what it finished.

    .venv/bin/python benchmarks/compiled_search.py --strategies darts,setn --sizes 8x1x16,16x5x32 \\
        --curricula none,epoch --epochs 3 --subset 1280 --json benchmarks/results/compiled-search-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiled_step import parse_size  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402

NNI_CNAS = str(Path(sys.executable).with_name('nni-cnas'))


def search(out: Path, strategy: str, size, curriculum: str, args, cache: Optional[str] = None) -> dict:
    """One search's seconds: the whole search's, its first epoch's and the median of the others'; compiled
    with inductor's cache in the folder ``cache`` where given, else eager."""
    channels, cells, side = size
    argv = [NNI_CNAS, 'search', '--strategy', strategy, '--curriculum', curriculum, '--dataset', args.dataset,
            '--subset', str(args.subset), '--image-size', str(side), '--channels', str(channels), '--cells', str(cells),
            '--epochs', str(args.epochs), '--batch-size', str(args.batch_size), '--threads', str(args.threads),
            '--seed', '0', '--no-progress-bar', '--no-tensorboard', '--rank-cells', '0', '--out', str(out), '--overwrite']
    if args.data_dir:
        argv += ['--data-dir', args.data_dir]
    env = dict(os.environ)
    if cache is not None:
        argv += ['--compile', '--compile-backend', args.backend]
        env['TORCHINDUCTOR_CACHE_DIR'] = cache
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f'{" ".join(argv)} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}')
    epochs = [json.loads(line)['seconds'] for line in (out / 'metrics.jsonl').read_text().splitlines()]
    steps = [later - earlier for earlier, later in zip(epochs, epochs[1:])]
    result = json.loads((out / 'result.json').read_text())
    return {'search_seconds': result['search_seconds'], 'first_epoch_seconds': epochs[0],
            'later_epoch_seconds': statistics.median(steps) if steps else None, 'arch': result['arch']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--strategies', default='darts,setn', help='strategies with a static step (darts, darts-v2, '
                        'amended-darts, setn)')
    parser.add_argument('--sizes', default='8x1x16', help='comma-separated CxNxS: channels, cells, image side')
    parser.add_argument('--curricula', default='none,epoch')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--subset', type=int, default=1280)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--dataset', default='cifar10')
    parser.add_argument('--data-dir')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--backend', default='inductor', help="torch.compile's backend (inductor; aot_eager to test the script)")
    parser.add_argument('--json', type=Path, required=True)
    parser.add_argument('--runs-dir', type=Path, help='where the searches run (default: a temporary folder)')
    parser.add_argument('--warm', action='store_true', help='the compiled search again with the first one\'s cache')
    args = parser.parse_args()
    if args.epochs < 2:
        raise SystemExit('--epochs must be 2 or more: the first epoch holds the compile, the later ones the steady step')
    sizes = [parse_size(text) for text in args.sizes.split(',')]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.runs_dir or Path(scratch)
        for strategy in args.strategies.split(','):
            for size in sizes:
                for curriculum in args.curricula.split(','):
                    name = f'{strategy}-{"x".join(map(str, size))}-{curriculum}'
                    eager = search(root / f'{name}-eager', strategy, size, curriculum, args)
                    with tempfile.TemporaryDirectory() as cache:  # empty: the first compile is counted
                        compiled = search(root / f'{name}-compiled', strategy, size, curriculum, args, cache)
                        warm = search(root / f'{name}-compiled-warm', strategy, size, curriculum, args, cache) \
                            if args.warm else None
                    rows.append({'strategy': strategy, 'size': 'x'.join(map(str, size)), 'curriculum': curriculum,
                                 'eager': eager, 'compiled': compiled,
                                 'search_speedup': eager['search_seconds'] / compiled['search_seconds'],
                                 'epoch_speedup': (eager['later_epoch_seconds'] / compiled['later_epoch_seconds']
                                                   if compiled['later_epoch_seconds'] else None),
                                 'compile_seconds': compiled['first_epoch_seconds'] - (compiled['later_epoch_seconds'] or 0)})
                    if warm is not None:
                        rows[-1].update(compiled_warm=warm, warm_search_speedup=eager['search_seconds'] / warm['search_seconds'])
                    print(json.dumps(rows[-1]), flush=True)
                    atomic_write_json(args.json, {'backend': args.backend, 'epochs': args.epochs, 'subset': args.subset,
                                                  'batch_size': args.batch_size, 'threads': args.threads, 'rows': rows})


if __name__ == '__main__':
    main()
