"""An image loader that keeps the whole dataset on the device and augments whole batches there.

CIFAR-sized datasets fit in device memory as one ``uint8`` tensor; a batch is then one gather, a
batched pad-crop and flip, and a normalisation: no worker processes and no per-sample Python.

All randomness comes from generators seeded by ``(seed, epoch, pass)`` (order) and
``(seed, epoch, pass, batch)`` (augmentation), drawn on the CPU: the same seed gives the same batches on any device, nothing touches the global
RNG (so an extra pass for the curriculum does not change the search's own random stream), and a
run resumed at an epoch boundary sees exactly the batches of an uninterrupted one. Lightning calls
``loader.sampler.set_epoch(epoch)`` at the start of every epoch, including after a resume.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['Augmentation', 'EpochSampler', 'TensorImageLoader']


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random crop after zero padding by ``pad`` pixels, and horizontal flip with probability 0.5."""

    pad: int = 4
    flip: bool = True

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images``: ``uint8 [B, C, H, W]`` on any device; random numbers drawn from ``generator`` (CPU)."""
        b, _, h, w = images.shape
        device = images.device
        if self.pad > 0:
            padded = F.pad(images, (self.pad,) * 4)
            offsets = torch.randint(0, 2 * self.pad + 1, (2, b), generator=generator).to(device)
            rows = offsets[0, :, None] + torch.arange(h, device=device)
            cols = offsets[1, :, None] + torch.arange(w, device=device)
        else:
            padded = images
            rows = torch.arange(h, device=device).expand(b, h)
            cols = torch.arange(w, device=device).expand(b, w)
        if self.flip:
            flips = (torch.rand(b, generator=generator) < 0.5).to(device)
            cols = torch.where(flips[:, None], cols.flip(1), cols)
        batch = torch.arange(b, device=device)[:, None, None]
        # Advanced indexing with the channel slice in the middle gives [B, H, W, C].
        cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]
        return cropped.permute(0, 3, 1, 2).contiguous()


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


class EpochSampler:
    """Seeds for the passes over a dataset: pass ``p`` of epoch ``e`` has its own order, and its
    batch ``b`` its own augmentation generator, so any batch can be reproduced without the others."""

    def __init__(self, num_samples: int, shuffle: bool, seed: int):
        self.num_samples, self.shuffle, self.seed = num_samples, shuffle, seed
        self.epoch = 0
        self.passes = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.passes = 0

    def __len__(self) -> int:
        return self.num_samples

    def order(self, pass_index: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(_seed(self.seed, self.epoch, pass_index))
        return torch.randperm(self.num_samples, generator=generator)

    def batch_generator(self, pass_index: int, batch_index: int) -> torch.Generator:
        return torch.Generator().manual_seed(_seed(self.seed, self.epoch, pass_index, batch_index))


class TensorImageLoader:
    """Batches ``(x, y, index)`` (or ``(x, y)``) of a ``uint8 [N, C, H, W]`` image tensor.

    Parameters
    ----------
    images, labels
        The whole split; moved to the training device once by :meth:`to_device`.
    batch_size, shuffle, drop_last
        As in ``torch.utils.data.DataLoader``.
    augment
        Batched augmentation, or None.
    mean, std
        Per-channel normalisation of ``[0, 1]`` pixel values.
    seed
        Seed of the order and augmentation.
    with_index
        Append the sample indices to each batch (the epoch curriculum needs them).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool,
                 augment: Optional[Augmentation], mean: Sequence[float], std: Sequence[float],
                 seed: int = 0, drop_last: bool = False, with_index: bool = True):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f'images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}')
        if len(images) != len(labels):
            raise ValueError(f'{len(images)} images but {len(labels)} labels')
        if batch_size < 1:
            raise ValueError('batch_size must be positive')
        self.images, self.labels = images, labels.long()
        self.batch_size, self.drop_last, self.augment = batch_size, drop_last, augment
        channels = images.shape[1]
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(1, channels, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(1, channels, 1, 1)
        self.sampler = EpochSampler(len(images), shuffle, seed)
        self.yields_indices = with_index
        self._position = (0, 0, 0)  # (epoch, pass, batches served) of the current pass
        self._resume: Optional[dict] = None
        self._source: Optional['TensorImageLoader'] = None  # the loader this one is a view of

    @property
    def num_samples(self) -> int:
        return len(self.images)

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def to_device(self, device) -> 'TensorImageLoader':
        if self._source is not None:  # a view: share the source's tensors, never copy them twice
            self._source.to_device(device)
            source = self._source
            self.images, self.labels, self.mean, self.std = source.images, source.labels, source.mean, source.std
            return self
        self.images, self.labels = self.images.to(device), self.labels.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def view(self, *, shuffle: bool = False, augment: Optional[Augmentation] = None,
             batch_size: Optional[int] = None, with_index: Optional[bool] = None) -> 'TensorImageLoader':
        """Another loader over the same tensors (no copy), e.g. unshuffled and unaugmented."""
        other = TensorImageLoader(
            self.images, self.labels, batch_size or self.batch_size, shuffle=shuffle, augment=augment,
            mean=self.mean.flatten().tolist(), std=self.std.flatten().tolist(), seed=self.sampler.seed,
            drop_last=self.drop_last, with_index=self.yields_indices if with_index is None else with_index,
        )
        other.mean, other.std = self.mean, self.std
        other._source = self._source or self
        return other

    def __iter__(self) -> Iterator[tuple]:
        sampler = self.sampler
        resume, self._resume = self._resume, None
        if resume is not None and resume['epoch'] == sampler.epoch:
            pass_index, skip = resume['pass'], resume['served']  # continue an interrupted pass
        else:
            pass_index, skip = sampler.passes, 0
        sampler.passes = pass_index + 1
        order = sampler.order(pass_index)
        device = self.images.device
        self._position = (sampler.epoch, pass_index, skip)
        for batch_index, start in enumerate(range(0, self.num_samples, self.batch_size)):
            if batch_index < skip:
                continue
            index = order[start:start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                break
            index = index.to(device)
            x = self.images[index]
            if self.augment is not None:
                x = self.augment(x, sampler.batch_generator(pass_index, batch_index))
            x = (x.float().div_(255.0) - self.mean) / self.std
            y = self.labels[index]
            self._position = (sampler.epoch, pass_index, batch_index + 1)
            yield (x, y, index) if self.yields_indices else (x, y)

    # Lightning saves and restores the state of loaders that have these two methods, so a search
    # stopped in the middle of an epoch continues with the next batch of the same pass.
    def state_dict(self) -> dict:
        epoch, pass_index, served = self._position
        return {'epoch': epoch, 'pass': pass_index, 'served': served}

    def load_state_dict(self, state: dict) -> None:
        self._resume = dict(state)
