"""Wall time of a whole drop-in search in NNI's tutorial pattern, ENAS against RSPS and DARTS.

NNI's hub DARTS space (``width=8, num_cells=3``, CIFAR stem, 32 px), NNI's ``Classification``
evaluator, ``NasExperiment``; one epoch of ``--train-batches`` training batches of 16 generated
images and as many validation batches; each strategy with its defaults (the curriculum on, as a
user who swaps the strategy line gets it). ENAS' controller trains after the epoch on one sample per
validation batch (its drop-in default), or with ``--controller-steps 50`` on NATS-Bench's 50 x 20.
The strategies run interleaved, ``--repeats`` times; medians. Run it alone (one thread by default).

    .venv/bin/python benchmarks/dropin_search_time.py --out benchmarks/results/dropin-search-time.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

STRATEGIES = ('ENAS', 'RSPS', 'DARTS')


def search_seconds(name: str, train_batches: int, controller_steps) -> float:
    import torch
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment
    from nni.nas.hub.pytorch import DARTS as HubDarts
    from torch.utils.data import TensorDataset

    import nni_cnas

    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16 * train_batches, 3, 32, 32, generator=generator),
                         torch.randint(0, 10, (16 * train_batches,), generator=generator))
    evaluator = Classification(train_dataloaders=DataLoader(data, batch_size=16),
                               val_dataloaders=DataLoader(data, batch_size=16), max_epochs=1, num_classes=10,
                               accelerator='cpu', logger=False, enable_checkpointing=False,
                               enable_model_summary=False, enable_progress_bar=False)
    options = {'controller_steps': controller_steps} if name == 'ENAS' and controller_steps else {}
    strategy = getattr(nni_cnas, name)(**options)
    with tempfile.TemporaryDirectory() as folder:
        experiment = NasExperiment(HubDarts(width=8, num_cells=3, dataset='cifar'), evaluator, strategy)
        experiment.config.experiment_working_directory = folder
        started = time.perf_counter()
        experiment.run()
        seconds = time.perf_counter() - started
        experiment.stop()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--train-batches', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--controller-steps', type=int, default=None,
                        help="ENAS' controller_steps (default: one sample per validation batch)")
    parser.add_argument('--out', type=Path, default=None, help='write the raw and median seconds as JSON here')
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    for name in ('pytorch_lightning', 'lightning_fabric', 'nni', 'nni_cnas'):
        logging.getLogger(name).setLevel(logging.ERROR)
    runs = {name: [] for name in STRATEGIES}
    for _ in range(args.repeats):
        for name in STRATEGIES:
            runs[name].append(search_seconds(name, args.train_batches, args.controller_steps))
    medians = {name: statistics.median(seconds) for name, seconds in runs.items()}
    print('| strategy | seconds (median) | runs | / RSPS |')
    print('|---|---|---|---|')
    for name in STRATEGIES:
        print(f'| {name} | {medians[name]:.1f} | {", ".join(f"{s:.1f}" for s in runs[name])} | '
              f'{medians[name] / medians["RSPS"]:.2f}x |')
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({'args': {k: str(v) for k, v in vars(args).items()}, 'seconds': runs,
                                        'medians': medians}, indent=2) + '\n')


if __name__ == '__main__':
    main()
