"""The NAS-Bench-201 ops' CPU layout choices, before and after, side by side.

Two changes in ``nni_cnas.spaces.nb201`` that keep every value and gradient bitwise the same:
the 3x3 average pool runs on a channels-last copy on the CPU (PyTorch's NCHW CPU kernel is much
slower), and a node's incoming edges are summed by chained adds instead of NNI's stack-and-sum.
Measured: each op alone at the shapes of the C=16 network, then whole networks (random cells,
C and N as given, batch 64, 32x32): one eval forward without autograd (the uncertainty pass's
unit) and one training step (forward and backward). "before" patches NNI's cell forward and the
NCHW pool back in; each variant is warmed up once, then they alternate, median of ``--repeats``.

    python benchmarks/op_layout.py --channels 16 --cells 5 --repeats 5 --json benchmarks/results/op-layout.json
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

# NNI 3.0 walks torch.nn's namespace on import and warns about newer torch classes; harmless.
warnings.filterwarnings('ignore', message=r'.*is found to be not a nn.Module.*')
from nni.nas.hub.pytorch.modules import NasBench201Cell  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.run.search import seed_everything  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402
from nni_cnas.spaces import NasBench201Space  # noqa: E402
from nni_cnas.spaces import nb201  # noqa: E402
from nni_cnas.arch.sampling import space_options, uniform_samples  # noqa: E402


def nchw_pool_forward(self, x):
    return self.pool(x if self.preprocess is None else self.preprocess(x))


@contextlib.contextmanager
def before():
    """The ops as they were: NNI's stack-and-sum cell forward and the NCHW pool."""
    saved = nb201.SearchCell.forward, nb201.AvgPool.forward
    nb201.SearchCell.forward, nb201.AvgPool.forward = NasBench201Cell.forward, nchw_pool_forward
    try:
        yield
    finally:
        nb201.SearchCell.forward, nb201.AvgPool.forward = saved


def seconds_per_call(fn, inner: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def side_by_side(old, new, repeats: int, inner: int = 1):
    """Median seconds per call of ``old`` and ``new``, each warmed up once, then alternating."""
    old(), new()
    samples = {'before': [], 'after': []}
    for _ in range(repeats):
        samples['before'].append(seconds_per_call(old, inner))
        samples['after'].append(seconds_per_call(new, inner))
    return {k: statistics.median(v) for k, v in samples.items()}


def patched(run):
    """``run`` with the ops as they were."""
    def run_before():
        with before():
            run()
    return run_before


def op_rows(channels: int, repeats: int):
    rows = []
    pool = nb201.AvgPool(1, 1, affine=False, track=False)
    for width, size in [(channels, 32), (channels * 2, 16), (channels * 4, 8)]:
        x = torch.randn(64, width, size, size, requires_grad=True)

        def pool_step():
            torch.autograd.grad(pool(x).sum(), x)

        def pool_forward():
            with torch.no_grad():
                pool(x)

        rows.append({'op': f'avg_pool_3x3 forward 64x{width}x{size}x{size}',
                     **side_by_side(patched(pool_forward), pool_forward, repeats, inner=10)})
        rows.append({'op': f'avg_pool_3x3 forward+backward 64x{width}x{size}x{size}',
                     **side_by_side(patched(pool_step), pool_step, repeats, inner=10)})
    for count in (2, 3):
        tensors = [torch.randn(64, channels, 32, 32) for _ in range(count)]
        rows.append({'op': f'node sum of {count} x 64x{channels}x32x32',
                     **side_by_side(lambda: torch.sum(torch.stack(tensors), 0), lambda: nb201.sum_nodes(tensors),
                                    repeats, inner=10)})
    return rows


def network_rows(channels: int, cells: int, networks: int, repeats: int):
    seed_everything(0)
    kwargs = dict(channels=channels, cells=cells, num_classes=10, in_channels=3)
    archs = uniform_samples(space_options(NasBench201Space(**kwargs)), networks, random.Random(0))
    nets = [NasBench201Space(**kwargs).freeze(arch) for arch in archs]
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))

    def eval_forwards():
        with torch.no_grad():
            for net in nets:
                F.cross_entropy(net.eval()(x), y, reduction='none')

    def train_steps():
        for net in nets:
            net.train().zero_grad()
            F.cross_entropy(net(x), y).backward()

    return [{'op': f'{networks} random C={channels} N={cells} networks: eval forward (no_grad)',
             **side_by_side(patched(eval_forwards), eval_forwards, repeats)},
            {'op': f'{networks} random C={channels} N={cells} networks: training step',
             **side_by_side(patched(train_steps), train_steps, repeats)}]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, default=16)
    parser.add_argument('--cells', type=int, default=5)
    parser.add_argument('--networks', type=int, default=5, help='random cells per whole-network measurement')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    rows = op_rows(args.channels, args.repeats) + network_rows(args.channels, args.cells, args.networks, args.repeats)
    print(f'\ncpu ({torch.get_num_threads()} threads), median of {args.repeats}; milliseconds\n')
    print('| measured | before | after | before / after |')
    print('|---|---|---|---|')
    for row in rows:
        print(f"| {row['op']} | {row['before'] * 1e3:.2f} | {row['after'] * 1e3:.2f} | "
              f"{row['before'] / row['after']:.2f}x |")
    if args.json:
        atomic_write_json(args.json, {'args': vars(args), 'threads': torch.get_num_threads(), 'rows': rows})


if __name__ == '__main__':
    main()
