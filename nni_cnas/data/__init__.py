"""Search datasets: NATS-Bench's search splits of CIFAR-10/100 and ImageNet16-120, image folders,
and scikit-learn's digits, as on-device loaders.

Search splits (the data a search trains on; the benchmark's test accuracy comes from the look-up):

- ``cifar10``: CIFAR-10's training set in two halves, search-train and search-valid ("cifar10-valid");
- ``cifar100``, ``imagenet16-120``: the training set, and half of the test/validation set;
- ``folder``: an image folder or zip's ``train/`` in two halves;
- ``digits``: the 1,797 digits in two halves (embedded, no download).

The halves come from a fixed permutation (seed 0), the same on every machine. NATS-Bench ships its
own split files; ours are not those files, so search-valid samples differ from theirs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from ..paths import shared_data_dir
from ..resources import available_bytes, format_bytes
from .loader import Augmentation, TensorImageLoader
from .sources import ImageSet, read_cifar, read_digits, read_image_folder, read_imagenet16

__all__ = ['DATASETS', 'RETRAIN_DATASETS', 'SearchData', 'load_search_data', 'load_retrain_data', 'Augmentation', 'TensorImageLoader', 'ImageSet']

_CIFAR10_STATS = ((125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255))
_CIFAR100_STATS = ((129.3 / 255, 124.1 / 255, 112.4 / 255), (68.2 / 255, 65.4 / 255, 70.4 / 255))
_IMAGENET16_STATS = ((122.68 / 255, 116.66 / 255, 104.01 / 255), (63.22 / 255, 61.26 / 255, 65.09 / 255))


@dataclasses.dataclass
class SearchData:
    """The two halves a search uses, with what is needed to build and normalise its loaders."""

    name: str
    train: ImageSet
    val: ImageSet
    num_classes: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    augment: Optional[Augmentation]
    #: The NAS-Bench-201 dataset whose accuracies describe this search, if any.
    benchmark: Optional[str]

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    def device_bytes(self) -> int:
        """Bytes of the splits once on the device (the memory estimate of :mod:`nni_cnas.run.memory`)."""
        return sum(s.images.numel() * s.images.element_size() + s.labels.numel() * s.labels.element_size()
                   for s in (self.train, self.val))

    def as_rgb(self) -> 'SearchData':
        """The same grey images with their one channel repeated three times (for spaces whose stems
        take RGB); mean and std per channel repeat with it, so the normalised inputs are the same."""
        if self.in_channels != 1:
            raise ValueError(f'as_rgb repeats one grey channel; {self.name} has {self.in_channels}')
        rgb = lambda split: ImageSet(split.images.expand(-1, 3, -1, -1).contiguous(), split.labels)  # noqa: E731
        return dataclasses.replace(self, train=rgb(self.train), val=rgb(self.val), mean=self.mean * 3, std=self.std * 3)

    def meta_batch(self, batch_size: int) -> torch.Tensor:
        """A batch of images with this data's shape, as the network sees them (float)."""
        return torch.empty(batch_size, self.in_channels, self.image_size, self.image_size)

    def loaders(self, batch_size: int, seed: int) -> Dict[str, TensorImageLoader]:
        """``train`` (shuffled, augmented, with indices) and ``val`` (shuffled and augmented too:
        the architecture step's data, as in NATS-Bench's search loader)."""
        common = dict(mean=self.mean, std=self.std)
        train = TensorImageLoader(self.train.images, self.train.labels, batch_size, shuffle=True,
                                  augment=self.augment, seed=seed, with_index=True, **common)
        val = TensorImageLoader(self.val.images, self.val.labels, batch_size, shuffle=True,
                                augment=self.augment, seed=seed + 1, with_index=False, **common)
        return {'train': train, 'val': val}


def _halves(n: int) -> Tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(0).permutation(n)
    return order[: (n + 1) // 2], order[(n + 1) // 2:]


def _channel_stats(images: torch.Tensor) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    x = images.double() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(mean.tolist()), tuple(std.tolist())


def _require_dir(data_dir: Optional[Path], name: str, default: Optional[Path] = None) -> Path:
    path = data_dir or default
    if path is None:
        raise UserError(f'--data-dir is required for {name}: the folder (or zip) that holds it')
    if not path.exists():
        raise UserError(f'data directory {path} does not exist; give the folder that holds {name} with --data-dir')
    return path


def _digits(data_dir: Optional[Path]) -> SearchData:
    data = read_digits()
    first, second = _halves(len(data))
    mean, std = _channel_stats(data.images)
    return SearchData('digits', data.subset(first), data.subset(second), 10, mean, std,
                      Augmentation(pad=1, flip=False), None)


def _read_cifar10(data_dir: Optional[Path]) -> Tuple[Path, ImageSet, Optional[ImageSet]]:
    """``(root, train, test)`` of CIFAR-10: an image folder or zip (the JPEG copy in ../shared/data
    by default), or the python pickles."""
    shared = shared_data_dir()
    default = shared / 'cifar10' / 'cifar10_images_jpg.zip' if shared else None
    root = _require_dir(data_dir, 'CIFAR-10', default if default and default.exists() else None)
    if root.is_file() or (root / 'train').is_dir():
        train, test, classes = read_image_folder(root)
        if len(classes) != 10:
            raise UserError(f'{root}: CIFAR-10 has 10 classes, found {len(classes)}')
        return root, train, test
    return (root,) + read_cifar(root, 'cifar10')


def _cifar10(data_dir: Optional[Path]) -> SearchData:
    _, train, _ = _read_cifar10(data_dir)
    first, second = _halves(len(train))
    return SearchData('cifar10', train.subset(first), train.subset(second), 10, *_CIFAR10_STATS,
                      Augmentation(pad=4, flip=True), 'cifar10')


def _cifar100(data_dir: Optional[Path]) -> SearchData:
    train, test = read_cifar(_require_dir(data_dir, 'CIFAR-100'), 'cifar100')
    valid, _ = _halves(len(test))
    return SearchData('cifar100', train, test.subset(valid), 100, *_CIFAR100_STATS,
                      Augmentation(pad=4, flip=True), 'cifar100')


def _imagenet16(data_dir: Optional[Path]) -> SearchData:
    train, val = read_imagenet16(_require_dir(data_dir, 'ImageNet16-120'), 120)
    valid, _ = _halves(len(val))
    return SearchData('imagenet16-120', train, val.subset(valid), 120, *_IMAGENET16_STATS,
                      Augmentation(pad=2, flip=True), 'imagenet16-120')


def _folder(data_dir: Optional[Path]) -> SearchData:
    root = _require_dir(data_dir, 'an image folder')
    train, _, classes = read_image_folder(root)
    first, second = _halves(len(train))
    mean, std = _channel_stats(train.images)
    pad = max(1, train.images.shape[-1] // 8)
    return SearchData('folder', train.subset(first), train.subset(second), len(classes), mean, std,
                      Augmentation(pad=pad, flip=True), None)


DATASETS: Dict[str, Callable[[Optional[Path]], SearchData]] = {
    'digits': _digits,
    'cifar10': _cifar10,
    'cifar100': _cifar100,
    'imagenet16-120': _imagenet16,
    'folder': _folder,
}


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-downsampled (or bilinearly upsampled) copies of ``uint8 [N, C, H, W]`` images."""
    mode = 'area' if size < images.shape[-1] else 'bilinear'
    resized = F.interpolate(images.float(), size=(size, size), mode=mode,
                            **({} if mode == 'area' else {'align_corners': False}))
    return resized.round().clamp(0, 255).to(torch.uint8)


def check_resize(count: int, channels: int, size: int, available: Optional[int] = None) -> None:
    """Refuse resizing ``count`` images to ``size`` pixels a side when the copies (uint8, and the
    float images the resize works on) cannot fit."""
    needed = count * channels * size * size * (1 + 4)
    available = available_bytes('cpu') if available is None else available
    if needed > available:
        fits = int((available / (count * channels * 5)) ** 0.5)
        raise UserError(f'--image-size {size} needs {format_bytes(needed)} to resize the {count} images and '
                        f'{format_bytes(available)} is available; --image-size {fits} or less fits')


def load_search_data(name: str, data_dir: Optional[Path] = None, subset: Optional[int] = None,
                     image_size: Optional[int] = None, readers=None) -> SearchData:
    """The search splits of dataset ``name``; ``subset`` keeps that many samples of each half;
    ``image_size`` resizes the images (a CPU-sized proxy of the search), scaling the crop padding."""
    readers = DATASETS if readers is None else readers
    if name not in readers:
        raise UserError(f'unknown dataset {name!r}; choose one of {", ".join(readers)}')
    if subset is not None and subset < 1:
        raise UserError(f'--subset must be a positive number of samples, not {subset}')
    data = readers[name](Path(data_dir) if data_dir is not None else None)
    if len(data.train) == 0 or len(data.val) == 0:
        raise UserError(f'dataset {name} has an empty search split; check the data directory')
    if subset is not None:
        data.train = data.train.subset(range(min(subset, len(data.train))))
        data.val = data.val.subset(range(min(subset, len(data.val))))
    if image_size is not None and image_size != data.image_size:
        if image_size < 4:
            raise UserError(f'--image-size must be at least 4 pixels, not {image_size}')
        original = data.image_size
        check_resize(len(data.train) + len(data.val), data.in_channels, image_size)
        data.train = ImageSet(_resize(data.train.images, image_size), data.train.labels)
        data.val = ImageSet(_resize(data.val.images, image_size), data.val.labels)
        if data.augment is not None and data.augment.pad > 0:
            data.augment = dataclasses.replace(data.augment, pad=max(1, round(data.augment.pad * image_size / original)))
    return data


def _retrain_cifar10(data_dir: Optional[Path]) -> SearchData:
    root, train, test = _read_cifar10(data_dir)
    if test is None:
        raise UserError(f'{root} has no test/ (or val/) split to measure the retrained network on')
    return SearchData('cifar10', train, test, 10, *_CIFAR10_STATS, Augmentation(pad=4, flip=True), None)


def _retrain_cifar100(data_dir: Optional[Path]) -> SearchData:
    train, test = read_cifar(_require_dir(data_dir, 'CIFAR-100'), 'cifar100')
    return SearchData('cifar100', train, test, 100, *_CIFAR100_STATS, Augmentation(pad=4, flip=True), None)


#: Retraining datasets: ``train`` is the whole training set, ``val`` holds the test set (digits:
#: the search halves, first to train, second to test).
RETRAIN_DATASETS: Dict[str, Callable[[Optional[Path]], SearchData]] = {
    'digits': _digits,
    'cifar10': _retrain_cifar10,
    'cifar100': _retrain_cifar100,
}


def load_retrain_data(name: str, data_dir: Optional[Path] = None, subset: Optional[int] = None,
                      image_size: Optional[int] = None) -> SearchData:
    """Training and test set for retraining a found cell (``val`` is the test set)."""
    if name not in RETRAIN_DATASETS:
        raise UserError(f'unknown retraining dataset {name!r}; choose one of {", ".join(RETRAIN_DATASETS)}')
    if name == 'digits' and data_dir is not None:
        raise UserError('digits is embedded and takes no --data-dir')
    return load_search_data(name, data_dir, subset, image_size, readers=RETRAIN_DATASETS)
