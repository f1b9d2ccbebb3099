"""The on-device tensor loader against a per-sample PIL + DataLoader pipeline.

Both produce the same kind of batch from the same CIFAR-sized uint8 images: random crop after 4
pixels of zero padding, horizontal flip with probability 1/2, scaling to [0, 1] and per-channel
normalisation, shuffled, batch 64.

- ``tensor``: nni_cnas' ``TensorImageLoader`` (one gather and a batched crop/flip per batch);
- ``pil-wN``: the usual torchvision CIFAR recipe, one sample at a time in PIL
  (``ImageOps.expand`` + ``crop`` + ``transpose``, then to a tensor), in a ``DataLoader`` with N
  worker processes. torchvision is not a dependency here, so its three transforms are written out
  with the PIL calls they make.

Each variant iterates a full epoch over ``--samples`` images; variants interleaved, median of
``--repeats``; wall and CPU time (CPU time of this process only: worker processes are not counted).

    python benchmarks/data_path.py --samples 10000 --repeats 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni_cnas.data import TensorImageLoader  # noqa: E402
from nni_cnas.data.loader import Augmentation  # noqa: E402
from nni_cnas.files import atomic_write_json  # noqa: E402

MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


class PilCifar(Dataset):
    """CIFAR images as PIL images, augmented one at a time as torchvision's transforms do."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pad: int = 4):
        from PIL import Image

        self.images = [Image.fromarray(image) for image in images.permute(0, 2, 3, 1).numpy()]
        self.labels = labels.tolist()
        self.pad = pad
        self.mean = torch.tensor(MEAN).view(3, 1, 1)
        self.std = torch.tensor(STD).view(3, 1, 1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        from PIL import Image, ImageOps

        image = ImageOps.expand(self.images[index], border=self.pad, fill=0)  # RandomCrop(32, padding=4)
        top, left = random.randint(0, 2 * self.pad), random.randint(0, 2 * self.pad)
        image = image.crop((left, top, left + 32, top + 32))
        if random.random() < 0.5:  # RandomHorizontalFlip
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)  # ToTensor
        return (x - self.mean) / self.std, self.labels[index]  # Normalize


def cifar_images(samples: int):
    """The first ``samples`` training images of the shared JPEG CIFAR-10, else random ones."""
    from nni_cnas.paths import shared_data_dir

    shared = shared_data_dir()
    archive = shared / 'cifar10' / 'cifar10_images_jpg.zip' if shared else None
    if archive is not None and archive.is_file():
        from nni_cnas.data.sources import read_image_folder

        train, _, _ = read_image_folder(archive)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:samples]
        return train.images[order], train.labels[order], 'CIFAR-10 (JPEG copy)'
    generator = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (samples, 3, 32, 32), dtype=torch.uint8, generator=generator),
            torch.randint(0, 10, (samples,), generator=generator), 'random uint8 images')


def epoch_time(loader) -> tuple:
    start = (time.perf_counter(), time.process_time())
    count = 0
    for batch in loader:
        count += len(batch[1])
    return time.perf_counter() - start[0], time.process_time() - start[1], count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--samples', type=int, default=10000)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--workers', default='0,2', help='DataLoader worker counts for the PIL pipeline')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()

    images, labels, source = cifar_images(args.samples)
    tensor = TensorImageLoader(images, labels, args.batch_size, shuffle=True, augment=Augmentation(pad=4, flip=True),
                               mean=MEAN, std=STD, seed=0)
    pil = PilCifar(images, labels)
    variants = {'tensor': tensor}
    for workers in [int(w) for w in args.workers.split(',')]:
        variants[f'pil-w{workers}'] = DataLoader(pil, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                                                 persistent_workers=workers > 0)
    times = {name: [] for name in variants}
    for repeat in range(args.repeats + 1):  # the first round warms up (worker start-up, caches)
        for name, loader in variants.items():
            if name == 'tensor':
                loader.sampler.set_epoch(repeat)
            wall, cpu, count = epoch_time(loader)
            assert count == args.samples
            if repeat:
                times[name].append((wall, cpu))
    summary = {}
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        summary[name] = {'wall': wall, 'cpu': cpu, 'images_per_second': args.samples / wall, 'repeats': values}
    base = summary['tensor']['wall']
    print(f'{args.samples} images of {source}, batch {args.batch_size}, median of {args.repeats} epochs')
    print(f'{"loader":<10} {"wall s":>8} {"CPU s":>8} {"images/s":>10} {"wall / tensor":>14}')
    for name, row in summary.items():
        print(f'{name:<10} {row["wall"]:8.3f} {row["cpu"]:8.3f} {row["images_per_second"]:10.0f} {row["wall"] / base:13.1f}x')
    if args.json:
        atomic_write_json(args.json, {'args': vars(args), 'source': source, 'results': summary})


if __name__ == '__main__':
    main()
