"""The uncertainty pass against K bare inference forwards of the same subnets.

Ours: each batch through the DARTS supernet K times under ``fixed_architecture`` (shared weights,
no copies; exactly what ``SubnetRunner.outputs`` runs). Bare: the same K subnets as NNI's own
frozen standalone networks (``space.freeze(sample)``), each batch through each of them. Both in eval
mode, ``no_grad``, per-sample cross-entropy; the variants interleaved, median of ``--repeats``.

    python benchmarks/uncertainty_pass.py --channels 8 --cells 1 --samples 640 --repeats 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.quiet import quiet_libraries  # noqa: E402
from nni_cnas.run.search import seed_everything  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402
from nni_cnas.spaces import NasBench201Space  # noqa: E402
from nni_cnas.arch.supernet import fixed_architecture  # noqa: E402
from nni_cnas.arch.sampling import space_options, uniform_samples  # noqa: E402


def timed(fn):
    start = (time.perf_counter(), time.process_time())
    fn()
    return time.perf_counter() - start[0], time.process_time() - start[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, default=8)
    parser.add_argument('--cells', type=int, default=1)
    parser.add_argument('--samples', type=int, default=640)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--k', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    quiet_libraries()
    import nni_cnas

    seed_everything(0)
    kwargs = dict(channels=args.channels, cells=args.cells, num_classes=10, in_channels=3)
    supernet = nni_cnas.DARTS().mutate_model(NasBench201Space(**kwargs)).eval()
    archs = uniform_samples(space_options(supernet), args.k, random.Random(0))
    standalone = [NasBench201Space(**kwargs).freeze(arch).eval() for arch in archs]
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch_size, 3, 32, 32, generator=generator),
                torch.randint(0, 10, (args.batch_size,), generator=generator))
               for _ in range(max(args.samples // args.batch_size, 1))]

    def ours():
        with torch.no_grad():
            for x, y in batches:
                for arch in archs:
                    with fixed_architecture(supernet, arch):
                        F.cross_entropy(supernet(x), y, reduction='none')

    def bare():
        with torch.no_grad():
            for x, y in batches:
                for net in standalone:
                    F.cross_entropy(net(x), y, reduction='none')

    times = {'ours': [], 'bare': []}
    ours(), bare()  # warm-up
    for _ in range(args.repeats):
        times['ours'].append(timed(ours))
        times['bare'].append(timed(bare))
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(f'NB201 C={args.channels} N={args.cells}, {len(batches) * args.batch_size} images, batch {args.batch_size}, '
          f'K={args.k}, median of {args.repeats}, wall (CPU time)\n')
    print('| pass | seconds | ours / bare |')
    print('|---|---|---|')
    print(f'| K bare standalone forwards | {wall["bare"]:.3f} ({cpu["bare"]:.3f}) | 1.00x |')
    print(f'| ours: K fixed forwards of the supernet | {wall["ours"]:.3f} ({cpu["ours"]:.3f}) | '
          f'{wall["ours"] / wall["bare"]:.2f}x ({cpu["ours"] / cpu["bare"]:.2f}x) |')
    if args.json:
        atomic_write_json(args.json, {'args': vars(args), 'times': times, 'median_wall': wall, 'median_cpu': cpu})


if __name__ == '__main__':
    main()
