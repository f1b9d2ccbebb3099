"""The loaders of a search: which ones the one-shot module iterates itself (the whole training
split for the epoch schedule, validation batches for selection and ENAS' controller), sample
indices for the curriculum, and the combined ``{'train', 'val'}`` batches of the differentiable
algorithms."""

from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Tuple

from ..data.indexed import dataset_size, with_indices, yields_indices

__all__ = ['split_batch', 'SearchLoaders', 'search_loaders', 'loader_length', 'NoValidationBatches']


class NoValidationBatches(list):
    """The validation loader given to Lightning where the module has a ``validation_step``: empty, so
    Lightning runs no validation loop (the module scores subnets itself). Lightning warns of an empty
    loader by its class name; :func:`nni_cnas.quiet.silence_known_noise` hides that warning for this
    class only."""


def split_batch(batch, combined: bool) -> Tuple[Any, Optional[Any]]:
    """``(train_batch, val_batch)`` of a step: from the ``{'train', 'val'}`` batch of the loaders
    :func:`search_loaders` combined, else the training batch alone (which may itself be a dict)."""
    if combined:
        return batch['train'], batch.get('val')
    return batch, None


class SearchLoaders:
    """The loaders the search module iterates itself (``train``, ``val``, ``selection``), their
    epochs aligned with the search's, their data on the module's device, their shares under DDP."""

    def __init__(self):
        self._loaders: Dict[str, Any] = {}

    def attach(self, train, val, selection=None) -> None:
        self._loaders = {'train': train, 'val': val, 'selection': selection if selection is not None else val}

    def attached(self) -> Dict[str, Any]:
        return {name: loader for name, loader in self._loaders.items() if loader is not None}

    def has(self, name: str) -> bool:
        return self._loaders.get(name) is not None

    def train_size(self) -> int:
        return dataset_size(self._loaders['train'])

    def get(self, name: str, epoch: int):
        """An attached loader. Its epoch is set to the search's: Lightning sets it for the loaders it
        iterates, but not for those only the module iterates (ENAS' validation loader), whose passes
        would otherwise depend on the run's history."""
        loader = self._loaders.get(name)
        if loader is None:
            raise RuntimeError(f'the search needs a {name} loader; give the evaluator val_dataloaders')
        sampler = getattr(loader, 'sampler', None)
        if hasattr(sampler, 'set_epoch') and getattr(sampler, 'epoch', None) != epoch:
            sampler.set_epoch(epoch)
        return loader

    def to_device(self, device) -> None:
        """Loaders that hold their data as tensors (nni_cnas.data) move it to the device once."""
        for loader in self._loaders.values():
            if hasattr(loader, 'to_device'):
                loader.to_device(device)

    def shard(self, rank: int, world: int, validation_in_batches: bool) -> None:
        """Each rank's share of the training batches (and of the validation ones where they come with
        them): nni_cnas' tensor loaders shard themselves; Lightning shards torch DataLoaders."""
        for name in ('train', 'val') if validation_in_batches else ('train',):
            loader = self._loaders.get(name)
            if hasattr(loader, 'shard'):
                loader.shard(rank, world)


def loader_length(loader) -> Optional[int]:
    """The loader's number of batches, or None for one without a length (over an IterableDataset)."""
    try:
        return len(loader)
    except TypeError:
        return None


def search_loaders(module, train, val, *, selection_size: int, validation_batches: bool, name: str):
    """What the strategy's ``train_dataloader`` hook returns, after attaching the loaders to
    ``module``: the training loader (with sample indices when the curriculum needs them), zipped
    with the validation loader when the algorithm steps its architecture on validation batches."""
    curriculum = module.curriculum
    if curriculum.enabled and loader_length(train) is None:
        # The epoch's end (the epoch schedule's pass and weights, curriculum_start's progress, the
        # epoch's record) comes at the last batch Lightning counts; a loader without a length has none.
        raise ValueError(f'{name}\'s curriculum needs the end of each epoch, which a training loader without a '
                         'length never reaches (a DataLoader over an IterableDataset): give a DataLoader over a '
                         'map-style Dataset, or curriculum=None for the plain strategy')
    if curriculum.samples:
        # The next epoch's samples are drawn in the loader itself, deterministically per epoch, so that
        # every rank and a resumed search draw the same: nni_cnas' tensor loaders (what the command
        # line and nni_cnas.data give) have that hook; a torch DataLoader's sampler has not.
        sampler = getattr(train, 'sampler', None)
        if not (hasattr(sampler, 'draw') and yields_indices(train)):
            raise ValueError(f'{name}\'s sample schedule draws each epoch\'s samples in nni_cnas\' tensor loaders '
                             f'(nni_cnas.data.SearchData.loaders), not in a {type(train).__name__}: use those '
                             'loaders, or the epoch schedule, which weighs the same samples\' losses instead')
        sampler.draw = curriculum.sampling_order
    if curriculum.needs_indices and not yields_indices(train):
        indexed = with_indices(train)
        if indexed is None and curriculum.amortised:
            raise ValueError('the amortised estimator keeps losses per sample and needs a training loader that '
                             'can carry sample indices (a torch DataLoader over a map-style dataset)')
        if indexed is None:
            warnings.warn(
                'the epoch curriculum needs sample indices and this training loader cannot be wrapped to add '
                'them (use a torch DataLoader over a map-style dataset); falling back to the batch schedule',
                UserWarning,
            )
            curriculum.fall_back_to_batch()
        else:
            train = indexed
    # Candidates are scored on the validation split in order and without augmentation, as
    # NATS-Bench scores them; nni_cnas loaders give that view for free, others are used as given.
    selection = val.view(shuffle=False, augment=None, batch_size=selection_size) if hasattr(val, 'view') else val
    module.attach_loaders(train, val, selection)
    module.validation_in_batches = validation_batches
    if validation_batches:
        if val is None:
            raise ValueError(f'{name} needs val_dataloaders in the evaluator for its architecture step')
        return {'train': train, 'val': val}
    return train
