"""Sample indices for the ``epoch`` schedule, whatever loader the user's evaluator holds.

The epoch schedule keeps one weight per training sample, so each batch must say which samples it
holds. nni_cnas' own loaders yield ``IndexedBatch((x, y), index)``; a user's torch ``DataLoader`` over a
map-style dataset is rebuilt around an :class:`IndexedDataset` with the same sampler, batch size,
workers and collate function.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .batches import IndexedBatch

__all__ = ['IndexedDataset', 'with_indices', 'yields_indices', 'dataset_size']


class IndexedDataset(Dataset):
    """``(dataset[i], i)``: the user's item untouched, whatever its structure."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index], index


class _CollateWithIndex:
    """The user's collate function over the items without their index; the indices beside."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items) -> IndexedBatch:
        indices = torch.tensor([index for _, index in items], dtype=torch.long)
        return IndexedBatch(self.collate([item for item, _ in items]), indices)


def yields_indices(loader: Any) -> bool:
    """Whether batches of ``loader`` already carry sample indices as their third element."""
    return bool(getattr(loader, 'yields_indices', False))


def with_indices(loader: Any) -> Optional[DataLoader]:
    """The same loader, yielding :class:`IndexedBatch` es; None when it cannot be rebuilt that way."""
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return None
    collate = _CollateWithIndex(loader.collate_fn)
    common = dict(
        num_workers=loader.num_workers, collate_fn=collate, pin_memory=loader.pin_memory,
        timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context, generator=loader.generator,
        persistent_workers=loader.persistent_workers if loader.num_workers > 0 else False,
    )
    if loader.num_workers > 0:
        common['prefetch_factor'] = loader.prefetch_factor
    dataset = IndexedDataset(loader.dataset)
    if loader.batch_size is None:
        return DataLoader(dataset, batch_sampler=loader.batch_sampler, **common)
    return DataLoader(dataset, batch_size=loader.batch_size, sampler=loader.sampler,
                      drop_last=loader.drop_last, **common)


def dataset_size(loader: Any) -> int:
    """Number of samples behind a loader (nni_cnas loaders, or any loader with a sized dataset)."""
    size = getattr(loader, 'num_samples', None)
    if size is None:
        dataset = getattr(loader, 'dataset', None)
        if dataset is None:
            raise TypeError(f'cannot tell how many samples {type(loader).__name__} holds')
        size = len(dataset)
    return int(size)
