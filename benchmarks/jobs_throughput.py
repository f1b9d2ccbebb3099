"""Throughput of ``--jobs 2`` against one search at a time, side by side, on this machine's cores.

The same sweep (four RSPS searches on the digits, K=0 and K=2 over two seeds) runs with ``--jobs 1``
and ``--jobs 2``, interleaved, ``--repeats`` times, each in a fresh folder and in its own
``nni-cnas`` process (so both pay their imports). Reported: the medians of the wall-clock time and
the ratio jobs=1 / jobs=2 (the throughput gain). Run it alone on the machine.

    .venv/bin/python benchmarks/jobs_throughput.py --out benchmarks/results/jobs-throughput.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ['sweep', '--strategy', 'rsps', '--ks', '0,2', '--seeds', '0,1', '--dataset', 'digits', '--epochs', '10',
         '--channels', '8', '--cells', '1', '--batch-size', '64', '--no-tensorboard', '--no-progress-bar']


def wall_seconds(jobs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run([sys.executable, '-m', 'nni_cnas.cli', *SWEEP, '--jobs', str(jobs), '--out', folder],
                       check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', type=Path)
    args = parser.parse_args()
    times = {1: [], 2: []}
    for repeat in range(args.repeats):
        for jobs in (1, 2):
            times[jobs].append(wall_seconds(jobs))
            print(f'repeat {repeat + 1}: --jobs {jobs}: {times[jobs][-1]:.1f} s', flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f'median: --jobs 1 {one:.1f} s, --jobs 2 {two:.1f} s, throughput x{one / two:.2f}')
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(command=' '.join(SWEEP), seconds=times, jobs1_median=one, jobs2_median=two,
                                            throughput_ratio=one / two), indent=1) + '\n')


if __name__ == '__main__':
    main()
