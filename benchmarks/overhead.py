"""Cost of the curriculum: one search epoch of X and of CL-X, side by side, and their peak memory.

For each strategy X, variants are X (plain), CL-X with the ``epoch`` schedule, CL-X with the
``batch`` schedule (K=5), for single-path strategies CL-X with the amortised estimator, and the
ranking study's data variants (PA&DA, pacing, disagreement over uniform subnets and its pass-free
twin) (``--variants`` picks a subset; plain is always run). Timing: the variants run interleaved in one process, each a fresh search
of 3 epochs on the same data; the time of the middle epoch is kept (a weighted epoch that ends with
the epoch schedule's uncertainty pass, as every epoch but the last does). Reported: the median over
``--repeats`` and the ratio CL-X / X of medians. Memory: each variant runs once more in its own
child process; peak RSS minus the RSS after set-up (data, supernet built) is the search's own peak.

    python benchmarks/overhead.py --channels 8 --cells 1 --samples 1280 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch
from pytorch_lightning.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.cli.common import names  # noqa: E402
from nni_cnas.quiet import quiet_libraries  # noqa: E402
from nni_cnas.data import Augmentation, ImageSet, SearchData  # noqa: E402
from nni_cnas.run.evaluator import ChannelsLast, SearchClassificationModule, build_evaluator  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402
from nni_cnas.run.config import SearchConfig
from nni_cnas.run.search import build_strategy, seed_everything  # noqa: E402
from nni_cnas.spaces import NasBench201Space  # noqa: E402

#: (key, the search options of the variant); the ranking study's as its protocol files set them.
VARIANTS = (('none', dict(curriculum='none')), ('epoch', dict(curriculum='epoch')), ('batch', dict(curriculum='batch')),
            ('amortised', dict(curriculum='epoch', measure='amortised')),
            ('pada', dict(curriculum='sample', measure='margin', weighting='ramp')),
            ('pacing', dict(curriculum='sample', measure='random', weighting='self-paced')),
            ('disagreement', dict(curriculum='epoch', measure='disagreement', measure_options='subnets=uniform')),
            ('disagreement-history', dict(curriculum='epoch', measure='disagreement-history')))
#: Variants of the default (first) table; the others are measured when --variants names them.
DEFAULT_VARIANTS = ('epoch', 'batch', 'amortised')
#: Measures that need a single-path weight step.
SINGLE_PATH_MEASURES = ('amortised', 'disagreement-history')
SINGLE_PATH = ('rsps', 'gdas', 'enas', 'setn')


def variants_of(strategy_name: str, wanted=None):
    """The variants measured for a strategy: plain always (every ratio is against it), then the
    wanted ones (the first table's by default) that apply to it."""
    wanted = DEFAULT_VARIANTS if wanted is None else wanted
    return [key for key, options in VARIANTS
            if (options.get('measure') not in SINGLE_PATH_MEASURES or strategy_name in SINGLE_PATH)
            and (key == 'none' or key in wanted)]


def synthetic(samples: int, size: int = 32) -> SearchData:
    """Random CIFAR-shaped data: the cost of a step does not depend on the pixels."""
    generator = torch.Generator().manual_seed(0)

    def split():
        return ImageSet(torch.randint(0, 256, (samples, 3, size, size), dtype=torch.uint8, generator=generator),
                        torch.randint(0, 10, (samples,), generator=generator))

    return SearchData('synthetic', split(), split(), 10, (0.5,) * 3, (0.25,) * 3, Augmentation(4, True), None)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class EpochTimer(Callback):
    """Wall time and CPU time (all threads of the process) of each epoch. CPU time barely moves
    when other work shares the machine; wall time is what a user waits."""

    def __init__(self):
        self.durations = []

    def on_train_epoch_start(self, trainer, pl_module):
        _synchronize()
        self._start = (time.perf_counter(), time.process_time())

    def on_train_epoch_end(self, trainer, pl_module):
        _synchronize()  # a GPU's queued work belongs to the epoch
        wall, cpu = self._start
        self.durations.append((time.perf_counter() - wall, time.process_time() - cpu))


def build(args, strategy_name: str, variant: str, data: SearchData, epochs: int, callbacks=()):
    controller = dict(controller_steps=args.controller_steps, controller_aggregate=args.controller_aggregate) \
        if strategy_name == 'enas' else {}
    options = dict(VARIANTS)[variant]
    exact = options['curriculum'] != 'none' and options.get('measure', 'uncertainty') == 'uncertainty'
    config = SearchConfig(strategy=strategy_name, k=None if options['curriculum'] == 'none' else args.k,
                          uncertainty_precision=args.uncertainty_precision if exact else 'auto',
                          epochs=epochs, channels=args.channels, cells=args.cells, batch_size=args.batch_size,
                          out='unused', **options, **controller).resolve()
    seed_everything(0)
    space = NasBench201Space(channels=args.channels, cells=args.cells, num_classes=10, in_channels=3)
    strategy = build_strategy(config)
    loaders = data.loaders(args.batch_size, 0)
    callbacks = list(callbacks)
    if args.channels_last:  # as nni-cnas search --channels-last
        for loader in loaders.values():
            loader.memory_format = torch.channels_last
        callbacks.append(ChannelsLast())
    evaluator = build_evaluator(SearchClassificationModule(10), loaders, max_epochs=epochs, accelerator='auto',
                                callbacks=callbacks)
    supernet = strategy.mutate_model(space)
    return strategy.mutate_evaluator(evaluator), supernet


def time_one(args, strategy_name, variant, data):
    timer = EpochTimer()
    evaluator, supernet = build(args, strategy_name, variant, data, epochs=3, callbacks=[timer])
    evaluator.evaluate(supernet)
    return timer.durations[1]


def peak_rss_bytes() -> int:
    """High-water mark of this process's RSS. VmHWM, not ru_maxrss: on Linux ru_maxrss survives
    exec, so a child started from a big parent would report the parent's peak."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(args, strategy_name, variant) -> dict:
    """Runs in a child process: peak RSS of 2 epochs above the RSS after set-up."""
    data = synthetic(args.samples)
    evaluator, supernet = build(args, strategy_name, variant, data, epochs=2)
    setup_rss = psutil.Process().memory_info().rss
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    evaluator.evaluate(supernet)
    peak_rss = peak_rss_bytes()
    result = {'peak_rss_mb': peak_rss / 2 ** 20, 'search_peak_mb': max(peak_rss - setup_rss, 0) / 2 ** 20}
    if torch.cuda.is_available():
        result['cuda_peak_mb'] = torch.cuda.max_memory_allocated() / 2 ** 20
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--strategies', default='rsps,gdas,darts,enas')
    parser.add_argument('--channels', type=int, default=8)
    parser.add_argument('--cells', type=int, default=1)
    parser.add_argument('--samples', type=int, default=1280, help='search-train images per epoch (and as many valid)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--k', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--controller-steps', type=int, default=5,
                        help='ENAS: NATS-Bench does 50x20 controller samples per 391 steps; 5x10 per 20 steps keeps that ratio')
    parser.add_argument('--controller-aggregate', type=int, default=10)
    parser.add_argument('--variants', type=names,
                        help='comma-separated subset of ' + ','.join(v[0] for v in VARIANTS[1:])
                        + ' (plain is always measured); default ' + ','.join(DEFAULT_VARIANTS))
    parser.add_argument('--uncertainty-precision', default='auto', choices=('auto', 'fp32', 'bf16'),
                        help='arithmetic of the exact estimator\'s passes (auto: bf16 on a GPU that computes it natively)')
    parser.add_argument('--channels-last', action='store_true', help='the supernet and batches in NHWC')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--memory-child', nargs=2, metavar=('STRATEGY', 'VARIANT'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    quiet_libraries()
    unknown = set(args.variants or ()) - {v[0] for v in VARIANTS}
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(sorted(unknown))}; choose from "
                     + ','.join(v[0] for v in VARIANTS[1:]))

    if args.memory_child:
        print(json.dumps(memory_child(args, *args.memory_child)))
        return

    strategies = args.strategies.split(',')
    data = synthetic(args.samples)
    measured = {s: variants_of(s, args.variants) for s in strategies}
    times = {(s, variant): [] for s in strategies for variant in measured[s]}
    for repeat in range(args.repeats):
        for strategy_name in strategies:
            for variant in measured[strategy_name]:
                times[strategy_name, variant].append(time_one(args, strategy_name, variant, data))
        print(f'repeat {repeat + 1}/{args.repeats} done', file=sys.stderr, flush=True)

    memory = {}
    if not args.skip_memory:
        forwarded = [a for a in sys.argv[1:] if a not in ('--skip-memory',)]
        for strategy_name in strategies:
            for variant in measured[strategy_name]:
                child = subprocess.run([sys.executable, __file__, *forwarded, '--memory-child', strategy_name, variant],
                                       capture_output=True, text=True, check=True)
                memory[strategy_name, variant] = json.loads(child.stdout.strip().splitlines()[-1])

    device = 'cuda' if torch.cuda.is_available() else f'cpu ({torch.get_num_threads()} threads)'
    print(f'\nNB201 C={args.channels} N={args.cells}, {args.samples} images/epoch, batch {args.batch_size}, '
          f'K={args.k}, {device}, median of {args.repeats}; seconds per epoch, wall (CPU time)\n')
    keys = [key for key, _ in VARIANTS if any(key in measured[s] for s in strategies)]
    print('| strategy | ' + ' | '.join('X' if c == 'none' else f'CL-X {c}' for c in keys) + ' | '
          + ' | '.join(f'{c} / X' for c in keys[1:]) + ' | peak MB ' + ' / '.join(keys) + ' |')
    print('|---' * (2 * len(keys) + 1) + '|')
    rows = []
    for strategy_name in strategies:
        wall = {c: statistics.median(t[0] for t in times[strategy_name, c]) for c in measured[strategy_name]}
        cpu = {c: statistics.median(t[1] for t in times[strategy_name, c]) for c in measured[strategy_name]}
        peaks = [memory.get((strategy_name, c), {}).get('search_peak_mb') for c in keys]
        peak_text = ' / '.join('-' if p is None else f'{p:.0f}' for p in peaks)
        cells = ' | '.join(f'{wall[c]:.2f} ({cpu[c]:.2f})' if c in wall else '-' for c in keys)
        ratios = ' | '.join(f'{wall[c] / wall["none"]:.2f}x ({cpu[c] / cpu["none"]:.2f}x)' if c in wall else '-'
                            for c in keys[1:])
        print(f'| {strategy_name} | {cells} | {ratios} | {peak_text} |')
        rows.append({'strategy': strategy_name, 'seconds': {c: times[strategy_name, c] for c in measured[strategy_name]},
                     'median_wall': wall, 'median_cpu': cpu,
                     'memory': {c: memory.get((strategy_name, c)) for c in measured[strategy_name]}})
    if args.json:
        atomic_write_json(args.json, {'args': vars(args), 'device': device, 'rows': rows})


if __name__ == '__main__':
    main()
