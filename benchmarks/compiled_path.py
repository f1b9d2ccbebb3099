"""Whether a path strategy's step gains from compiled pieces: RSPS' weight step (one random path of the
NAS-Bench-201 supernet per step, the graph different at every step) eager, against the same step with
each piece compiled once and reused by every path that passes through it: each candidate op of each
edge (ReLU-conv-BN, the pooling) and the fixed modules around the cells (stem, reduction blocks,
head). The supernet as a whole is not compiled: it would compile again for each new path.

Side by side in one process, on the same supernet, batch and sequence of paths: the seconds until
every piece has been compiled (five paths that together take every op on every edge), then the median
of ``--repeats`` timed steps on random paths after ``--warmup`` untimed ones; torch.compile's
recompiles counted. Each size's line is written as soon as it is measured.

    .venv/bin/python benchmarks/compiled_path.py --sizes 8x1x16 --threads 2 --json benchmarks/results/compiled-path-cpu.json
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiled_step import add_step_arguments, start  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402


def path_supernet(channels: int, cells: int):
    import nni_cnas
    from nni_cnas.spaces import NasBench201Space

    space = NasBench201Space(channels=channels, cells=cells, num_classes=10, in_channels=3)
    return nni_cnas.RSPS(curriculum=None).mutate_model(space)


def compile_pieces(model: torch.nn.Module, backend: str = 'inductor') -> int:
    """Each candidate op of every mixed layer and each module outside the cells' mixed layers, compiled
    in place (``nn.Module.compile``); returns how many."""
    from nni.nas.oneshot.pytorch.supermodule.sampling import PathSamplingLayer

    pieces = []
    for layer in (module for module in model.modules() if isinstance(module, PathSamplingLayer)):
        pieces += [op for op in layer.children() if any(True for _ in op.parameters()) or list(op.children())]
    mixed_cells = {id(module) for module in model.modules() if any(isinstance(child, PathSamplingLayer)
                                                                  for child in module.modules())}
    pieces += [module for module in model.children() if id(module) not in mixed_cells and module is not model]
    for name, child in model.named_children():
        if name == 'cells':  # the reduction blocks between the searched cells
            pieces += [cell for cell in child if id(cell) not in mixed_cells]
    for piece in pieces:
        piece.compile(backend=backend, dynamic=False)
    return len(pieces)


def covering_paths(options) -> list:
    """Paths that together take every option of every decision (the i-th option where there is one)."""
    widest = max(len(values) for values in options.values())
    return [{label: values[i % len(values)] for label, values in options.items()} for i in range(widest)]


def time_paths(model, paths, x, y, warmup: int, repeats: int, first_paths) -> dict:
    from nni_cnas.arch.supernet import apply_architecture

    def one_step(path):
        apply_architecture(model, path)
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    started = time.perf_counter()
    for path in first_paths:
        one_step(path)
    first = time.perf_counter() - started
    for path in paths[:warmup]:
        one_step(path)
    times = []
    for path in paths[warmup:warmup + repeats]:
        started = time.perf_counter()
        one_step(path)
        times.append(time.perf_counter() - started)
    return {'first_s': first, 'median_s': statistics.median(times), 'times_s': times}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_step_arguments(parser, '8x1x16', warmup=3, repeats=20)
    args = parser.parse_args()
    from torch._dynamo.utils import counters

    from nni_cnas.arch.decisions import decisions_of
    from nni_cnas.arch.sampling import uniform_samples

    sizes, results = start(args, torch.device('cpu'))
    print('| C x N, side | eager ms (first s) | pieces compiled ms (first s) | speed-up | pieces | recompiles |')
    print('|---|---|---|---|---|---|')
    for channels, cells, side in sizes:
        torch.manual_seed(0)
        model = path_supernet(channels, cells)
        decisions = decisions_of(model)
        rng = random.Random(0)
        paths = [decisions.expand(sample) for sample in uniform_samples(decisions.options, args.warmup + args.repeats, rng)]
        first_paths = [decisions.expand(sample) for sample in covering_paths(decisions.options)]
        x, y = torch.randn(args.batch_size, 3, side, side), torch.randint(0, 10, (args.batch_size,))
        torch._dynamo.reset()
        eager = time_paths(model, paths, x, y, args.warmup, args.repeats, first_paths)
        counters.clear()
        pieces = compile_pieces(model, args.backend)
        compiled = time_paths(model, paths, x, y, args.warmup, args.repeats, first_paths)
        recompiles = sum(counters['stats'].get(key, 0) for key in ('unique_graphs',))
        row = {'channels': channels, 'cells': cells, 'side': side, 'eager': eager, 'pieces_compiled': compiled,
               'pieces': pieces, 'graphs_compiled': recompiles, 'speedup': eager['median_s'] / compiled['median_s']}
        results['sizes'].append(row)
        print(f'| C={channels} N={cells}, {side}x{side} | {eager["median_s"] * 1e3:.1f} ({eager["first_s"]:.0f}) | '
              f'{compiled["median_s"] * 1e3:.1f} ({compiled["first_s"]:.0f}) | {row["speedup"]:.2f}x | {pieces} | '
              f'{recompiles} |', flush=True)
        if args.json:
            atomic_write_json(args.json, results)


if __name__ == '__main__':
    main()
