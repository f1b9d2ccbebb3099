"""One search on 2 processes (``--devices 2``, Lightning's DDP, gloo) against 1, side by side on
this machine's cores: the epoch time, and the epoch schedule's uncertainty pass's share of it.

Each run is a real ``nni-cnas search`` (GDAS on the CPU proxy: CIFAR-10, 2,000 + 2,000 images at
16x16, C=8 N=1, batch 64), plain and with the ``epoch`` schedule (K=3), on 1 process with all the
cores as torch threads and on 2 processes with half each (the thread policy). An epoch's time comes
from ``metrics.jsonl`` (the search's own clock, start-up excluded); the pass's time is the curriculum
epoch minus the plain one. Interleaved, ``--repeats`` times; medians. Run it alone on the machine.

    .venv/bin/python benchmarks/ddp_scaling.py --out benchmarks/results/ddp-scaling.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SEARCH = ['search', '--strategy', 'gdas', '--dataset', 'cifar10', '--subset', '2000', '--image-size', '16',
          '--epochs', '4', '--channels', '8', '--cells', '1', '--batch-size', '64', '--device', 'cpu',
          '--no-tensorboard', '--no-progress-bar']
CURRICULA = {'plain': ['--curriculum', 'none'], 'epoch': ['--curriculum', 'epoch', '--k', '3']}


def epoch_seconds(devices: int, curriculum: str) -> float:
    """Median seconds of the epochs that end with the schedule's pass (all but the last)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / 'run'
        subprocess.run([sys.executable, '-m', 'nni_cnas.cli', *SEARCH, *CURRICULA[curriculum], '--devices', str(devices),
                        '--out', str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        clock = [json.loads(line)['seconds'] for line in (out / 'metrics.jsonl').read_text().splitlines()]
    durations = [b - a for a, b in zip([0.0] + clock, clock)][:-1]
    return statistics.median(durations)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', type=Path)
    args = parser.parse_args()
    runs = {f'{devices}:{curriculum}': [] for devices in (1, 2) for curriculum in CURRICULA}
    for repeat in range(args.repeats):
        for key in runs:
            devices, curriculum = key.split(':')
            runs[key].append(epoch_seconds(int(devices), curriculum))
            print(f'repeat {repeat + 1}: --devices {devices} {curriculum}: {runs[key][-1]:.2f} s an epoch', flush=True)
    median = {key: statistics.median(values) for key, values in runs.items()}
    summary = {}
    for devices in (1, 2):
        plain, epoch = median[f'{devices}:plain'], median[f'{devices}:epoch']
        summary[devices] = dict(plain_epoch=plain, curriculum_epoch=epoch, pass_seconds=epoch - plain,
                                pass_share=(epoch - plain) / epoch)
        print(f'--devices {devices}: plain epoch {plain:.2f} s, curriculum epoch {epoch:.2f} s, '
              f'pass {epoch - plain:.2f} s ({100 * (epoch - plain) / epoch:.0f}% of the epoch)')
    print(f'2 processes against 1: plain epoch x{median["1:plain"] / median["2:plain"]:.2f} faster, '
          f'pass x{summary[1]["pass_seconds"] / max(summary[2]["pass_seconds"], 1e-9):.2f}')
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(command=' '.join(SEARCH), curricula=CURRICULA, seconds=runs,
                                            median=median, summary=summary), indent=1) + '\n')


if __name__ == '__main__':
    main()
