"""Cost of one search step (architecture step + weight step) of the second-order DARTS variants
relative to DARTS-V1, and of NNI's own stock DARTS strategy, side by side in one process on the
same data and supernet size (all without the curriculum).

Each variant trains one epoch of ``--steps`` steps, the variants interleaved, ``--repeats`` times;
the first two steps of each epoch are dropped (warm-up) and the median step time is reported.

    python benchmarks/step_cost.py --channels 8 --cells 1 --steps 10 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from pytorch_lightning.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import build, synthetic  # noqa: E402
from nni_cnas.quiet import quiet_libraries  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402

STRATEGIES = ('darts', 'nni-darts', 'darts-v2', 'amended-darts')


def build_nni_darts(args, data, callbacks):
    """NNI 3.0's ``nni.nas.strategy.DARTS()`` on the same space, evaluator and data."""
    import nni.nas.strategy as nni_strategy

    from nni_cnas.run.evaluator import SearchClassificationModule, build_evaluator
    from nni_cnas.run.search import seed_everything
    from nni_cnas.spaces import NasBench201Space

    seed_everything(0)
    space = NasBench201Space(channels=args.channels, cells=args.cells, num_classes=10, in_channels=3)
    strategy = nni_strategy.DARTS()
    loaders = data.loaders(args.batch_size, 0)
    # NNI's module takes (x, y) batches: the same loader without sample indices.
    loaders['train'] = loaders['train'].view(shuffle=True, augment=data.augment, with_index=False)
    evaluator = build_evaluator(SearchClassificationModule(10), loaders, max_epochs=1,
                                accelerator='auto', callbacks=list(callbacks))
    supernet = strategy.mutate_model(space)
    return strategy.mutate_evaluator(evaluator), supernet


class StepTimer(Callback):
    def __init__(self):
        self.wall, self.cpu = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, default=8)
    parser.add_argument('--cells', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    quiet_libraries()
    # overhead.build reads these; the step cost is measured without the curriculum.
    args.k, args.controller_steps, args.controller_aggregate = 0, 1, 1
    data = synthetic(args.steps * args.batch_size)
    wall = {s: [] for s in STRATEGIES}
    cpu = {s: [] for s in STRATEGIES}
    for repeat in range(args.repeats):
        for name in STRATEGIES:
            timer = StepTimer()
            if name == 'nni-darts':
                evaluator, supernet = build_nni_darts(args, data, [timer])
            else:
                evaluator, supernet = build(args, name, 'none', data, epochs=1, callbacks=[timer])
            evaluator.evaluate(supernet)
            wall[name] += timer.wall[2:]
            cpu[name] += timer.cpu[2:]
        print(f'repeat {repeat + 1}/{args.repeats} done', file=sys.stderr, flush=True)
    device = 'cuda' if torch.cuda.is_available() else f'cpu ({torch.get_num_threads()} threads)'
    print(f'\nNB201 C={args.channels} N={args.cells}, batch {args.batch_size}, {device}; median seconds per step '
          f'over {len(wall["darts"])} steps, wall (CPU time)\n')
    print('| strategy | seconds per step | relative to DARTS-V1 |')
    print('|---|---|---|')
    base_wall, base_cpu = statistics.median(wall['darts']), statistics.median(cpu['darts'])
    rows = []
    for name in STRATEGIES:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f'| {name} | {w:.3f} ({c:.3f}) | {w / base_wall:.2f}x ({c / base_cpu:.2f}x) |')
        rows.append({'strategy': name, 'median_wall': w, 'median_cpu': c, 'wall': wall[name], 'cpu': cpu[name]})
    if args.json:
        atomic_write_json(args.json, {'args': vars(args), 'device': device, 'rows': rows})


if __name__ == '__main__':
    main()
