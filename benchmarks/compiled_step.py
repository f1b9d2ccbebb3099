"""The mixed supernet's step, eager against compiled: one forward and backward of a batch through
the NAS-Bench-201 supernet of DARTS (every op mixed on every edge, a static graph), eager, under
``torch.compile`` and, on a CUDA GPU, under ``torch.compile(mode='reduce-overhead')`` (CUDA graphs).
Side by side in one process, on the same supernet and batch: the median of ``--repeats`` timed steps
after ``--warmup`` untimed ones, and the seconds of the first call (the compile) apart. Each size's
line is written as soon as it is measured, so a run stopped by a time limit keeps what it finished.

    .venv/bin/python benchmarks/compiled_step.py --sizes 8x1x16,16x5x32 --json benchmarks/results/compiled-step-cpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.files import atomic_write_json  # noqa: E402
from nni_cnas.quiet import quiet_libraries  # noqa: E402


def parse_size(text: str):
    """``CxNxS``: channels, cells per stage, image side."""
    try:
        channels, cells, side = (int(part) for part in text.split('x'))
    except ValueError:
        raise SystemExit(f'a size is CxNxS (channels, cells, image side), e.g. 8x1x16, not {text!r}') from None
    return channels, cells, side


def add_step_arguments(parser: argparse.ArgumentParser, sizes: str, warmup: int, repeats: int) -> None:
    """The options of the step benchmarks (this one and compiled_path.py)."""
    parser.add_argument('--sizes', default=sizes, help='comma-separated CxNxS (channels, cells, side)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--warmup', type=int, default=warmup)
    parser.add_argument('--repeats', type=int, default=repeats)
    parser.add_argument('--threads', type=int, help='CPU threads of torch (default: torch\'s)')
    parser.add_argument('--backend', default='inductor', help='torch.compile\'s backend (aot_eager to test the script)')
    parser.add_argument('--json', type=Path, help='write the results to this JSON file (after each size)')


def start(args, device: torch.device):
    """The sizes asked for, and the results' header; torch's threads set."""
    quiet_libraries()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [parse_size(text) for text in args.sizes.split(',')]
    return sizes, {'args': {k: str(v) for k, v in vars(args).items()}, 'torch': torch.__version__,
                   'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else
                   f'cpu ({torch.get_num_threads()} threads)', 'sizes': []}


def mixed_supernet(channels: int, cells: int, device: torch.device) -> torch.nn.Module:
    import nni_cnas
    from nni_cnas.spaces import NasBench201Space

    space = NasBench201Space(channels=channels, cells=cells, num_classes=10, in_channels=3)
    return nni_cnas.DARTS(curriculum=None).mutate_model(space).to(device)


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_steps(model, x, y, warmup: int, repeats: int, device: torch.device) -> dict:
    """Seconds of the first step (a compile, where there is one) and the median of the timed ones."""
    def one_step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    synchronize(device)
    started = time.perf_counter()
    one_step()
    synchronize(device)
    first = time.perf_counter() - started
    for _ in range(warmup):
        one_step()
    times = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        one_step()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return {'first_s': first, 'median_s': statistics.median(times), 'times_s': times}


def variants(device: torch.device, backend: str = 'inductor') -> dict:
    """How the step is run: eager, compiled, and on a CUDA GPU compiled with CUDA graphs (inductor's)."""
    found = {'eager': lambda model: model, 'compiled': lambda model: torch.compile(model, backend=backend)}
    if device.type == 'cuda' and backend == 'inductor':
        found['cuda-graphs'] = lambda model: torch.compile(model, mode='reduce-overhead')
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_step_arguments(parser, '8x1x16,16x5x32', warmup=2, repeats=8)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes, results = start(args, device)
    print('| C x N, side | ' + ' | '.join(f'{name} ms (first s)' for name in variants(device, args.backend)) + ' | speed-up |')
    print('|---' * (len(variants(device, args.backend)) + 2) + '|')
    for channels, cells, side in sizes:
        torch.manual_seed(0)
        model = mixed_supernet(channels, cells, device)
        x = torch.randn(args.batch_size, 3, side, side, device=device)
        y = torch.randint(0, 10, (args.batch_size,), device=device)
        measured = {}
        for name, wrap in variants(device, args.backend).items():
            torch._dynamo.reset()  # each variant compiles from nothing
            measured[name] = time_steps(wrap(model), x, y, args.warmup, args.repeats, device)
        eager = measured['eager']['median_s']
        best = min(value['median_s'] for name, value in measured.items() if name != 'eager')
        results['sizes'].append({'channels': channels, 'cells': cells, 'side': side, 'variants': measured,
                                 'speedup': eager / best})
        cells_text = ' | '.join(f'{value["median_s"] * 1e3:.1f} ({value["first_s"]:.0f})' for value in measured.values())
        print(f'| C={channels} N={cells}, {side}x{side} | {cells_text} | {eager / best:.2f}x |', flush=True)
        if args.json:
            atomic_write_json(args.json, results)


if __name__ == '__main__':
    main()
