"""Readers for the datasets we search on, each into ``uint8 [N, C, H, W]`` tensors.

- CIFAR-10/100 in the standard python-pickle layout (``cifar-10-batches-py``, ``cifar-100-python``);
- ImageNet16-120 in NATS-Bench's layout (``train_data_batch_1..10``, ``val_data``);
- image folders ``train/<class>/*.jpg`` (and ``test/`` or ``val/``), as a directory or a zip file
  (such as the JPEG CIFAR-10 in ``../shared/data/cifar10/``); decoded zips are cached;
- scikit-learn's digits, embedded, for demos and tests.

Every problem with a data directory is a :class:`~nni_cnas.errors.UserError` naming the layout
that was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import UserError

__all__ = ['ImageSet', 'read_cifar', 'read_imagenet16', 'read_image_folder', 'read_digits', 'cache_dir']

_logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp')


@dataclasses.dataclass
class ImageSet:
    """A split: ``images`` ``uint8 [N, C, H, W]``, ``labels`` ``int64 [N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Sequence[int]) -> 'ImageSet':
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageSet(self.images[index], self.labels[index])


def _from_numpy(images: np.ndarray, labels: Sequence[int]) -> ImageSet:
    return ImageSet(torch.from_numpy(np.ascontiguousarray(images)), torch.as_tensor(np.asarray(labels), dtype=torch.long))


def _load_pickle(path: Path, encoding: str):
    try:
        with open(path, 'rb') as f:
            return pickle.load(f, encoding=encoding)
    except FileNotFoundError:
        raise
    except Exception as error:  # any unpickling failure means a corrupt or foreign file
        raise UserError(f'{path} is not a readable dataset pickle ({type(error).__name__}: {error}); '
                        're-download or re-extract it') from None


def _field(entry: dict, name: str):
    value = entry.get(name, entry.get(name.encode()))
    if value is None:
        raise UserError(f'dataset pickle has no {name!r} field; is this the python version of the dataset?')
    return value


# ---------------------------------------------------------------------------------------------- CIFAR

_CIFAR = {
    'cifar10': ('cifar-10-batches-py', [f'data_batch_{i}' for i in range(1, 6)], ['test_batch'], 'labels'),
    'cifar100': ('cifar-100-python', ['train'], ['test'], 'fine_labels'),
}


def read_cifar(root: Path, name: str) -> Tuple[ImageSet, ImageSet]:
    """``(train, test)`` of CIFAR-10/100 from the python pickles in ``root`` (or its standard subfolder)."""
    folder, train_files, test_files, label_key = _CIFAR[name]
    base = root / folder if (root / folder).is_dir() else root
    missing = [f for f in train_files + test_files if not (base / f).is_file()]
    if missing:
        raise UserError(f'{root} does not hold {name} in the python-pickle layout (missing {", ".join(missing)}); '
                        f'point --data-dir at the folder with {folder}/, or at an image folder or zip')

    def read(files):
        images, labels = [], []
        for file in files:
            entry = _load_pickle(base / file, 'bytes')
            data = np.asarray(_field(entry, 'data'), dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise UserError(f'{base / file}: expected rows of 3072 pixels, got shape {data.shape}')
            images.append(data.reshape(-1, 3, 32, 32))
            labels.extend(int(v) for v in _field(entry, label_key))
        return _from_numpy(np.concatenate(images), labels)

    return read(train_files), read(test_files)


# ------------------------------------------------------------------------------------- ImageNet16-120

def read_imagenet16(root: Path, num_classes: int = 120) -> Tuple[ImageSet, ImageSet]:
    """``(train, val)`` of ImageNet16 in NATS-Bench's layout, keeping labels ``1..num_classes``."""
    train_files = [f'train_data_batch_{i}' for i in range(1, 11)]
    base = root / 'ImageNet16' if (root / 'ImageNet16').is_dir() else root
    missing = [f for f in train_files + ['val_data'] if not (base / f).is_file()]
    if missing:
        raise UserError(f'{root} does not hold ImageNet16 in NATS-Bench\'s layout (missing {", ".join(missing[:3])}'
                        f'{"..." if len(missing) > 3 else ""}); prepare it as NATS-Bench describes')

    def read(files):
        images, labels = [], []
        for file in files:
            entry = _load_pickle(base / file, 'latin1')
            data = np.asarray(_field(entry, 'data'), dtype=np.uint8).reshape(-1, 3, 16, 16)
            ys = np.asarray(_field(entry, 'labels'), dtype=np.int64)
            keep = (ys >= 1) & (ys <= num_classes)
            images.append(data[keep])
            labels.append(ys[keep] - 1)
        return _from_numpy(np.concatenate(images), np.concatenate(labels))

    return read(train_files), read(['val_data'])


# -------------------------------------------------------------------------------------- image folders

def cache_dir() -> Path:
    """Where decoded image archives are cached: ``$NNI_CNAS_CACHE`` or ``~/.cache/nni_cnas``."""
    return Path(os.environ.get('NNI_CNAS_CACHE', Path.home() / '.cache' / 'nni_cnas'))


def _split_of(parts: Sequence[str]) -> Optional[Tuple[str, str]]:
    """``(split, class)`` of a member path ``[prefix/]split/class/file``."""
    for i, part in enumerate(parts[:-2]):
        if part in ('train', 'test', 'val'):
            return part, parts[i + 1]
    return None


def _decode(blobs: List[bytes], where: str, names: Sequence[str]) -> np.ndarray:
    """The images of ``blobs`` (the files ``names`` of ``where``), each named if it cannot be decoded."""
    from PIL import Image

    arrays = []
    for blob, name in zip(blobs, names):
        try:
            with Image.open(io.BytesIO(blob)) as image:
                arrays.append(np.asarray(image.convert('RGB')))
        except Exception as error:
            raise UserError(f'{where}/{name}: the image cannot be decoded ({error}); replace or remove the file') from None
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise UserError(f'{where}: images have different sizes {sorted(shapes)[:3]}; resize them to one size first')
    return np.stack(arrays).transpose(0, 3, 1, 2)


def _members(root: Path) -> Dict[str, Dict[str, List[Tuple[str, str]]]]:
    """``{split: {class: [(member, ...)]}}`` of a folder or zip in the image-folder layout."""
    if root.is_file():
        with zipfile.ZipFile(root) as archive:
            names = archive.namelist()
    else:
        names = [str(p.relative_to(root)) for p in root.rglob('*') if p.is_file()]
    layout: Dict[str, Dict[str, List[str]]] = {}
    for name in sorted(names):
        if not name.lower().endswith(IMAGE_SUFFIXES):
            continue
        found = _split_of(Path(name).parts)
        if found:
            layout.setdefault(found[0], {}).setdefault(found[1], []).append(name)
    return layout


def _class_folders(root: Path, split: str) -> List[str]:
    """The class folders of a split (``[prefix/]split/class/``), whether or not they hold images."""
    if root.is_file():
        with zipfile.ZipFile(root) as archive:
            names = archive.namelist()
    else:
        names = [str(p.relative_to(root)) + ('/' if p.is_dir() else '') for p in root.rglob('*')]
    found = set()
    for name in names:
        parts = Path(name).parts
        for i, part in enumerate(parts[:-1]):
            if part == split and not parts[i + 1].startswith('.') and (i + 2 < len(parts) or name.endswith('/')):
                found.add(parts[i + 1])
                break
    return sorted(found)


def _read_cache(cached: Path, counts: Dict[str, int]) -> Optional[Dict[str, np.ndarray]]:
    """The decoded images of an archive from the cache, or None when there are none, or when the
    file is damaged or holds another number of images than the archive (a warning names it): the
    archive is then decoded again."""
    if not cached.is_file():
        return None
    try:
        with np.load(cached) as stored:
            arrays = {k: stored[k] for k in stored.files}
        found = {split: len(arrays[f'{split}_labels']) for split in counts}
        if found != counts or any(len(arrays[f'{split}_images']) != count for split, count in counts.items()):
            raise ValueError(f'{found} images where the archive has {counts}')
        return arrays
    except Exception as error:  # noqa: BLE001  (a damaged cache of any kind is decoded again)
        _logger.warning('the decoded images in %s cannot be used (%s); decoding the archive again', cached, error)
        return None


def _write_cache(cached: Path, arrays: Dict[str, np.ndarray]) -> None:
    """Cache decoded images (whole or not at all: a failed write, such as a full disk, only warns)."""
    partial = cached.with_suffix(f'.{os.getpid()}.partial.npz')
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(partial, **arrays)
        os.replace(partial, cached)
    except OSError as error:
        partial.unlink(missing_ok=True)
        _logger.warning('the decoded images cannot be cached in %s (%s); they are decoded again next time',
                        cached.parent, error.strerror or error)


def read_image_folder(root: Path) -> Tuple[ImageSet, Optional[ImageSet], List[str]]:
    """``(train, test_or_val, classes)`` from ``train/<class>/*`` (+ ``test/`` or ``val/``), a folder
    or a zip file. Classes are sorted by name, as torchvision's ImageFolder sorts them."""
    try:
        layout = _members(root)
    except zipfile.BadZipFile:
        raise UserError(f'{root} is not a valid zip file') from None
    if 'train' not in layout:
        raise UserError(f'{root} has no train/<class>/<image> files; an image dataset needs that layout')
    classes = sorted(layout['train'])
    empty = sorted(set(_class_folders(root, 'train')) - set(classes))
    if empty:
        raise UserError(f'{root}: class folder train/{empty[0]} holds no images; add images or remove the folder '
                        f'(an empty class would shift the labels of the classes after it)')
    if len(classes) < 2:
        raise UserError(f'{root}: train/ has {len(classes)} class folder{"" if len(classes) == 1 else "s"} with images; '
                        'a classifier needs at least 2 (train/<class>/<image>)')
    other = 'test' if 'test' in layout else ('val' if 'val' in layout else None)
    if other and not set(layout[other]) <= set(classes):
        raise UserError(f'{root}: classes in {other}/ that are not in train/: {sorted(set(layout[other]) - set(classes))}')

    key = hashlib.sha256(f'{root.resolve()}|{root.stat().st_size}|{root.stat().st_mtime_ns}'.encode()).hexdigest()[:20]
    cached = cache_dir() / f'images-{key}.npz'
    splits = ['train'] + ([other] if other else [])
    arrays = _read_cache(cached, {split: sum(map(len, layout[split].values())) for split in splits}) \
        if root.is_file() else None
    if arrays is None:
        arrays = {}
        archive = zipfile.ZipFile(root) if root.is_file() else None
        try:
            for split in splits:
                names = [(n, classes.index(c)) for c in sorted(layout[split]) for n in layout[split][c]]
                read = archive.read if archive else (lambda n: (root / n).read_bytes())
                arrays[f'{split}_images'] = _decode([read(n) for n, _ in names], str(root), [n for n, _ in names])
                arrays[f'{split}_labels'] = np.asarray([label for _, label in names], dtype=np.int64)
        finally:
            if archive:
                archive.close()
        if root.is_file():
            _write_cache(cached, arrays)
    train = _from_numpy(arrays['train_images'], arrays['train_labels'])
    test = _from_numpy(arrays[f'{other}_images'], arrays[f'{other}_labels']) if other else None
    return train, test, classes


# ------------------------------------------------------------------------------------------- digits

def read_digits() -> ImageSet:
    """scikit-learn's 1,797 handwritten digits, 8x8, one channel, pixel values scaled to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * 16.0, 0, 255).astype(np.uint8)[:, None, :, :]
    return _from_numpy(images, digits.target)
