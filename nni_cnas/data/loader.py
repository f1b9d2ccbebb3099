"""Loaders that keep the whole dataset on the device; images are augmented as whole batches there.

CIFAR-sized datasets fit in device memory as one ``uint8`` tensor; a batch is then one gather, a
batched pad-crop and flip, and a normalisation: no worker processes and no per-sample Python.

All randomness comes from generators seeded by ``(seed, epoch, pass)`` (order) and
``(seed, epoch, pass, batch)`` (augmentation), drawn on the CPU: the same seed gives the same batches on any device, nothing touches the global
RNG (so an extra pass for the curriculum does not change the search's own random stream), and a
run resumed at an epoch boundary sees exactly the batches of an uninterrupted one. Lightning calls
``loader.sampler.set_epoch(epoch)`` at the start of every epoch, including after a resume.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .batches import IndexedBatch

__all__ = ['Augmentation', 'EpochSampler', 'TensorLoader', 'TensorImageLoader']


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random crop after zero padding by ``pad`` pixels, and horizontal flip with probability 0.5."""

    pad: int = 4
    flip: bool = True

    def draw(self, b: int, generator: torch.Generator) -> torch.Tensor:
        """The random numbers of a batch of ``b`` images, on the CPU: ``[3, b]`` (row and column
        offsets, flip or not), drawn from ``generator`` in this order."""
        offsets = torch.randint(0, 2 * self.pad + 1, (2, b), generator=generator) if self.pad > 0 \
            else torch.zeros(2, b, dtype=torch.long)
        flips = (torch.rand(b, generator=generator) < 0.5).long() if self.flip else torch.zeros(1, b, dtype=torch.long)
        return torch.cat([offsets, flips.view(1, b)])

    def __call__(self, images: torch.Tensor, generator: torch.Generator, drawn: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``images``: ``uint8 [B, C, H, W]`` on any device; random numbers drawn from ``generator``
        (CPU), or given as ``drawn`` (:meth:`draw`'s, already on the images' device)."""
        b, _, h, w = images.shape
        device = images.device
        drawn = self.draw(b, generator).to(device) if drawn is None else drawn
        if self.pad > 0:
            padded = F.pad(images, (self.pad,) * 4)
            rows = drawn[0, :, None] + torch.arange(h, device=device)
            cols = drawn[1, :, None] + torch.arange(w, device=device)
        else:
            padded = images
            rows = torch.arange(h, device=device).expand(b, h)
            cols = torch.arange(w, device=device).expand(b, w)
        if self.flip:
            cols = torch.where(drawn[2, :, None].bool(), cols.flip(1), cols)
        batch = torch.arange(b, device=device)[:, None, None]
        # Advanced indexing with the channel slice in the middle gives [B, H, W, C].
        cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]
        return cropped.permute(0, 3, 1, 2).contiguous()


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device``: through pinned memory and a non-blocking copy to a GPU."""
    if device.type == 'cuda':
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


class EpochSampler:
    """Seeds for the passes over a dataset: pass ``p`` of epoch ``e`` has its own order, and its
    batch ``b`` its own augmentation generator, so any batch can be reproduced without the others.

    ``draw`` (set by a curriculum that chooses the samples, the ``sample`` schedule) gives the
    order of each epoch's first pass, the one training iterates, from the epoch alone (None: the
    sampler's own); the module's own later passes over the split keep the sampler's orders."""

    def __init__(self, num_samples: int, shuffle: bool, seed: int):
        self.num_samples, self.shuffle, self.seed = num_samples, shuffle, seed
        self.epoch = 0
        self.passes = 0
        self.draw: Optional[Callable[[int], Optional[torch.Tensor]]] = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.passes = 0

    def __len__(self) -> int:
        return self.num_samples

    def order(self, pass_index: int) -> torch.Tensor:
        drawn = self.draw(self.epoch) if pass_index == 0 and self.draw is not None else None
        if drawn is not None:
            if len(drawn) != self.num_samples:
                raise ValueError(f'a drawn order has {len(drawn)} samples; the split has {self.num_samples}')
            return drawn
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(_seed(self.seed, self.epoch, pass_index))
        return torch.randperm(self.num_samples, generator=generator)

    def batch_generator(self, pass_index: int, batch_index: int) -> torch.Generator:
        return torch.Generator().manual_seed(_seed(self.seed, self.epoch, pass_index, batch_index))


class TensorLoader:
    """Batches ``IndexedBatch((x, y), index)`` (or ``(x, y)``) of two tensors held whole on the device: inputs
    ``[N, ...]`` and targets ``[N, ...]`` (token sequences and their next tokens, for example).

    Parameters
    ----------
    inputs, targets
        The whole split; moved to the training device once by :meth:`to_device`.
    batch_size, shuffle, drop_last
        As in ``torch.utils.data.DataLoader``.
    seed
        Seed of the order (and of the subclasses' augmentation).
    with_index
        Append the sample indices to each batch (the epoch curriculum needs them).
    """

    #: Tensors that live on the training device (a view shares them with its source).
    _device_tensors: Tuple[str, ...] = ('inputs', 'targets')
    #: Batched augmentation (images); plain tensors have none, so ``view(augment=None)`` fits any loader.
    augment: Optional[Augmentation] = None

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, *, shuffle: bool,
                 seed: int = 0, drop_last: bool = False, with_index: bool = True):
        if len(inputs) != len(targets):
            raise ValueError(f'{len(inputs)} inputs but {len(targets)} targets')
        if batch_size < 1:
            raise ValueError('batch_size must be positive')
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler = EpochSampler(len(inputs), shuffle, seed)
        self.yields_indices = with_index
        self._position = (0, 0, 0)  # (epoch, pass, batches served) of the current pass
        self._resume: Optional[dict] = None
        self._source: Optional['TensorLoader'] = None  # the loader this one is a view of
        #: ``(rank, world)``: this process' share of each pass under DDP (:meth:`shard`).
        self.shard_of = (0, 1)

    @property
    def num_samples(self) -> int:
        return len(self.inputs)

    def _pass_batches(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __len__(self) -> int:
        return math.ceil(self._pass_batches() / self.shard_of[1])

    def shard(self, rank: int, world: int) -> 'TensorLoader':
        """Serve this rank's share of every pass: batches ``rank, rank + world, ...`` of the pass'
        one order (the same on every rank), so ``world`` ranks together take a pass of global
        batches ``world`` times as large; each rank serves the same number of batches (the last
        ones wrap round to the pass' start, as torch's DistributedSampler pads)."""
        if not 0 <= rank < world:
            raise ValueError(f'rank {rank} is not one of {world} ranks')
        self.shard_of = (rank, world)
        return self

    def to_device(self, device) -> 'TensorLoader':
        if self._source is not None:  # a view: share the source's tensors, never copy them twice
            self._source.to_device(device)
            for name in self._device_tensors:
                setattr(self, name, getattr(self._source, name))
            return self
        for name in self._device_tensors:
            setattr(self, name, getattr(self, name).to(device))
        return self

    def view(self, *, shuffle: bool = False, batch_size: Optional[int] = None,
             with_index: Optional[bool] = None, **changes) -> 'TensorLoader':
        """Another loader over the same tensors (no copy), e.g. unshuffled (and, for images,
        ``augment=None``)."""
        other = copy.copy(self)
        for name, value in changes.items():
            if not hasattr(self, name):
                raise TypeError(f'{type(self).__name__} has no option {name!r}')
            setattr(other, name, value)
        other.batch_size = batch_size or self.batch_size
        other.sampler = EpochSampler(self.num_samples, shuffle, self.sampler.seed)
        other.yields_indices = self.yields_indices if with_index is None else with_index
        other._position, other._resume = (0, 0, 0), None
        other._source = self._source or self
        other.shard_of = (0, 1)  # a view (the selection batches) is the whole split on every rank
        return other

    def prepare(self, x: torch.Tensor, pass_index: int, batch_index: int, drawn=None) -> torch.Tensor:
        """The batch's inputs as the model takes them (images: augmented and normalised); ``drawn``:
        the batch's share of :meth:`pass_draws`."""
        return x

    def pass_draws(self, pass_index: int, batches) -> Optional[list]:
        """Random numbers of a pass' ``batches`` (``(batch index, size)``), drawn at its start, or
        None (plain tensors draw none)."""
        return None

    def __iter__(self) -> Iterator[tuple]:
        sampler = self.sampler
        resume, self._resume = self._resume, None
        if resume is not None and resume['epoch'] == sampler.epoch:
            pass_index, skip = resume['pass'], resume['served']  # continue an interrupted pass
        else:
            pass_index, skip = sampler.passes, 0
        sampler.passes = pass_index + 1
        order = sampler.order(pass_index)
        device = self.inputs.device
        self._position = (sampler.epoch, pass_index, skip)
        rank, world = self.shard_of
        total = self._pass_batches()
        batches = [(rank + served * world) % total for served in range(skip, len(self))]  # this rank's share
        # On a GPU the pass' order and its augmentation's random numbers go over in one pinned,
        # non-blocking copy each, not three small copies per batch.
        order = _to_device(order, device)
        sizes = [min(self.batch_size, self.num_samples - b * self.batch_size) for b in batches]
        draws = self.pass_draws(pass_index, list(zip(batches, sizes)))
        for position, (served, batch_index) in enumerate(zip(range(skip, len(self)), batches)):
            index = order[batch_index * self.batch_size:(batch_index + 1) * self.batch_size]
            x = self.prepare(self.inputs[index], pass_index, batch_index, None if draws is None else draws[position])
            y = self.targets[index]
            self._position = (sampler.epoch, pass_index, served + 1)
            yield IndexedBatch((x, y), index) if self.yields_indices else (x, y)

    # Lightning saves and restores the state of loaders that have these two methods, so a search
    # stopped in the middle of an epoch continues with the next batch of the same pass.
    def state_dict(self) -> dict:
        epoch, pass_index, served = self._position
        return {'epoch': epoch, 'pass': pass_index, 'served': served}

    def load_state_dict(self, state: dict) -> None:
        self._resume = dict(state)


class TensorImageLoader(TensorLoader):
    """Batches of a ``uint8 [N, C, H, W]`` image tensor and its labels, augmented and normalised
    as whole batches on the device.

    Parameters (beyond :class:`TensorLoader`'s)
    ----------
    augment
        Batched augmentation, or None.
    mean, std
        Per-channel normalisation of ``[0, 1]`` pixel values.
    """

    _device_tensors = ('inputs', 'targets', 'mean', 'std')
    #: The batches' memory format: ``torch.channels_last`` (NHWC, the layout of a GPU's tensor-core
    #: convolutions), or the default (NCHW).
    memory_format = torch.contiguous_format

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool,
                 augment: Optional[Augmentation], mean: Sequence[float], std: Sequence[float],
                 seed: int = 0, drop_last: bool = False, with_index: bool = True):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f'images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}')
        super().__init__(images, labels.long(), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                         with_index=with_index)
        self.augment = augment
        channels = images.shape[1]
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(1, channels, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(1, channels, 1, 1)

    def pass_draws(self, pass_index, batches):
        if self.augment is None or not batches:
            return None
        drawn = [self.augment.draw(size, self.sampler.batch_generator(pass_index, b)) for b, size in batches]
        on_device = _to_device(torch.cat(drawn, dim=1), self.inputs.device)
        return list(on_device.split([size for _, size in batches], dim=1))

    def prepare(self, x, pass_index, batch_index, drawn=None):
        if self.augment is not None:
            x = self.augment(x, self.sampler.batch_generator(pass_index, batch_index), drawn)
        x = (x.float().div_(255.0) - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format) if self.memory_format is not torch.contiguous_format else x
