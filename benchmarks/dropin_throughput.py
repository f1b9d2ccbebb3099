"""Plain throughput of the drop-in strategies against NNI's own, side by side, on NNI's hub DARTS space.

Each pair (NNI's strategy, its nni_cnas counterpart without the curriculum) trains in NNI's tutorial
pattern (hub ``DARTS``, NNI's ``Classification`` evaluator, ``NasExperiment``) on the same generated
CIFAR-sized batches; a Lightning callback times each training step after the first (warm-up). The
pairs run interleaved, ``--repeats`` times, and the medians are reported as images per second and
as the ratio ours / NNI's. Run it alone on the machine (one thread by default).

    .venv/bin/python benchmarks/dropin_throughput.py --out benchmarks/results/dropin-throughput.json
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

PAIRS = {
    'DARTS': ('DARTS', 'DARTS'),
    'GDAS / GumbelDARTS': ('GumbelDARTS', 'GDAS'),
    'RSPS / RandomOneShot': ('RandomOneShot', 'RSPS'),
    'Proxyless': ('Proxyless', 'Proxyless'),
}


def step_seconds(make_strategy, space_kwargs, images: int, batch: int, accelerator: str = 'cpu') -> list:
    import torch
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment
    from nni.nas.hub.pytorch import DARTS as HubDarts, NasBench201
    from pytorch_lightning import Callback
    from torch.utils.data import TensorDataset

    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(images, 3, 32, 32, generator=generator),
                         torch.randint(0, 10, (images,), generator=generator))
    times = []

    class Timer(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if accelerator != 'cpu':
                torch.cuda.synchronize()
            self.started = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if accelerator != 'cpu':
                torch.cuda.synchronize()  # the step's queued GPU work belongs to it
            if batch_idx > 0:
                times.append(time.perf_counter() - self.started)

    evaluator = Classification(train_dataloaders=DataLoader(data, batch_size=batch),
                               val_dataloaders=DataLoader(data, batch_size=batch), max_epochs=1, num_classes=10,
                               accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                               enable_progress_bar=False, callbacks=[Timer()])
    space = NasBench201(**space_kwargs) if 'stem_out_channels' in space_kwargs else HubDarts(**space_kwargs)
    with tempfile.TemporaryDirectory() as folder:
        experiment = NasExperiment(space, evaluator, make_strategy())
        experiment.config.experiment_working_directory = folder
        experiment.run()
        experiment.stop()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--images', type=int, default=160)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--accelerator', default='cpu', help='Lightning\'s accelerator: cpu, or gpu (one GPU)')
    parser.add_argument('--out', type=Path)
    args = parser.parse_args()

    import torch
    import nni.nas.strategy as nni_strategy

    import nni_cnas

    torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    for name in ('pytorch_lightning', 'lightning_fabric', 'nni'):
        logging.getLogger(name).setLevel(logging.ERROR)
    spaces = {'DARTS': dict(width=8, num_cells=3, dataset='cifar'),
              'Proxyless': dict(stem_out_channels=8, num_modules_per_stack=1)}
    rows = []
    for label, (theirs, ours) in PAIRS.items():
        space = spaces.get(label, spaces['DARTS'])
        medians = {'nni': [], 'nni_cnas': []}
        for _ in range(args.repeats):
            for side, make in (('nni', lambda: getattr(nni_strategy, theirs)()),
                               ('nni_cnas', lambda: getattr(nni_cnas, ours)(curriculum=None, num_candidates=1))):
                medians[side].append(statistics.median(step_seconds(make, space, args.images, args.batch_size,
                                                                    args.accelerator)))
        nni_s, ours_s = statistics.median(medians['nni']), statistics.median(medians['nni_cnas'])
        row = dict(pair=label, space='hub DARTS(width=8, num_cells=3)' if label != 'Proxyless' else 'hub NasBench201(8, 1)',
                   nni_images_per_s=args.batch_size / nni_s, nni_cnas_images_per_s=args.batch_size / ours_s,
                   ratio=nni_s / ours_s, repeats=medians)
        rows.append(row)
        print(f'{label:22s} NNI {row["nni_images_per_s"]:7.1f} img/s   nni_cnas {row["nni_cnas_images_per_s"]:7.1f} img/s   '
              f'ours/NNI {row["ratio"]:.2f}', flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(accelerator=args.accelerator, threads=args.threads, batch_size=args.batch_size, images=args.images,
                                            rows=rows), indent=1) + '\n')


if __name__ == '__main__':
    main()
