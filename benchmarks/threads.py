"""Thread policies of a CPU search, alone and beside a second search.

PyTorch's OpenMP threads spin while they wait for work; two processes that each run a thread per
core on the same cores slow each other down by far more than 2x. Each variant runs one tiny search
(GDAS on digits) alone, then two of them at once; the ratio
``beside / alone`` is the cost of sharing the machine (the target is at most 1.5x).

Variants are environments of the ``nni-cnas search`` processes:

- ``torch-default``: torch's default threads (one per core) and OpenMP's default waits (``--threads 0``,
  and ``OMP_NUM_THREADS`` set to the core count so that nni_cnas leaves OpenMP alone);
- ``passive``: the same threads, ``OMP_WAIT_POLICY=PASSIVE``;
- ``one-thread``: ``OMP_NUM_THREADS=1``;
- ``policy``: nothing set: nni_cnas' own default (``nni_cnas/threads.py``).

Wall time of each search process, median of ``--repeats``; variants interleaved.

    python benchmarks/threads.py --repeats 3 --json benchmarks/results/threads.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.files import atomic_write_json  # noqa: E402

NNI_CNAS = str(Path(sys.executable).with_name('nni-cnas'))
VARIANTS = {
    'torch-default': ({'OMP_NUM_THREADS': str(os.cpu_count())}, ['--threads', '0']),
    'passive': ({'OMP_WAIT_POLICY': 'PASSIVE'}, ['--threads', '0']),
    'one-thread': ({'OMP_NUM_THREADS': '1'}, []),
    'policy': ({}, []),
}


def search_argv(out: Path, epochs: int):
    return [NNI_CNAS, 'search', '--strategy', 'gdas', '--curriculum', 'epoch', '--dataset', 'digits',
            '--epochs', str(epochs), '--channels', '8', '--cells', '1', '--no-tensorboard', '--no-progress-bar',
            '--out', str(out), '--overwrite']


def timed_searches(variant: str, count: int, epochs: int, folder: Path) -> list:
    """Wall seconds of ``count`` searches started together."""
    extra_env, extra_args = VARIANTS[variant]
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY')}
    env.update(extra_env)
    started, processes = [], []
    for i in range(count):
        started.append(time.perf_counter())
        processes.append(subprocess.Popen(search_argv(folder / f'{variant}-{i}', epochs) + extra_args, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    seconds = []
    for start, process in zip(started, processes):
        _, stderr = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise SystemExit(f'{variant}: search failed: {stderr[-2000:]}')
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--variants', default=','.join(VARIANTS))
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args()
    variants = [v for v in args.variants.split(',') if v]
    alone = {v: [] for v in variants}
    beside = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for repeat in range(args.repeats):
            for variant in variants:
                alone[variant] += timed_searches(variant, 1, args.epochs, folder)
                beside[variant] += timed_searches(variant, 2, args.epochs, folder)
                print(f'repeat {repeat + 1}: {variant:<14} alone {alone[variant][-1]:7.1f} s   '
                      f'beside another {statistics.mean(beside[variant][-2:]):7.1f} s', flush=True)
    rows = {v: {'alone_s': statistics.median(alone[v]), 'beside_s': statistics.median(beside[v]),
                'ratio': statistics.median(beside[v]) / statistics.median(alone[v]),
                'alone_all': alone[v], 'beside_all': beside[v]} for v in variants}
    print(f'\n{"variant":<14} {"alone":>8} {"beside":>8} {"ratio":>6}')
    for v, row in rows.items():
        print(f'{v:<14} {row["alone_s"]:7.1f}s {row["beside_s"]:7.1f}s {row["ratio"]:5.2f}x')
    if args.json:
        atomic_write_json(Path(args.json), {'command': ' '.join(sys.argv), 'cores': os.cpu_count(),
                                            'epochs': args.epochs, 'results': rows})


if __name__ == '__main__':
    main()
