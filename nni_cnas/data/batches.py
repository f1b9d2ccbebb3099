"""What a batch is, whatever structure the user's evaluator gives it.

NNI's evaluators accept batches whose input is a tensor, a tuple, a list or a dict of tensors
(``Regression`` over ``((q, k, v), target)``), and a user's own LightningModule may take batches
without labels at all. Every part of a search that looks inside a batch (the curriculum's sample
indices, the uncertainty passes, the selection batch, DDP's split of a pass) does it through the
functions here, so that a new structure is handled in one place.

A batch that carries sample indices (the ``epoch`` schedule's) is an :class:`IndexedBatch`: the
user's batch untouched, and the index of each of its samples beside it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import torch
from lightning_utilities.core.apply_func import apply_to_collection

__all__ = ['IndexedBatch', 'unpack', 'inputs_and_targets', 'tensors', 'batch_size', 'batch_device',
           'map_samples', 'take', 'concat', 'head', 'rank_batches']


class IndexedBatch(NamedTuple):
    """A batch of the user's structure, and the index (in the training split) of each sample.
    A named tuple, so that Lightning moves it to the device as it is."""

    batch: Any
    index: torch.Tensor


def unpack(batch) -> Tuple[Any, Optional[torch.Tensor]]:
    """``(the user's batch, sample indices or None)``."""
    if isinstance(batch, IndexedBatch):
        return batch.batch, batch.index
    return batch, None


def inputs_and_targets(batch) -> Tuple[Any, Any]:
    """``(inputs, targets)`` of a supervised batch, as NNI's ``SupervisedLearningModule`` reads
    it (``x, y = batch``); the inputs may be any structure of tensors."""
    batch, _ = unpack(batch)
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f'a supervised evaluator needs batches (inputs, targets); this one is {_describe(batch)}')
    return batch[0], batch[1]


def tensors(data) -> List[torch.Tensor]:
    """The tensors of a structure, in order."""
    found: List[torch.Tensor] = []
    apply_to_collection(data, torch.Tensor, found.append)
    return found


def batch_size(data) -> int:
    """Samples in a batch (or its inputs): the first dimension of its first tensor."""
    found = tensors(data)
    if not found or found[0].dim() == 0:
        raise TypeError(f'cannot tell how many samples this batch holds: {_describe(data)}')
    return found[0].shape[0]


def batch_device(data) -> torch.device:
    found = tensors(data)
    return found[0].device if found else torch.device('cpu')


def map_samples(data, function: Callable[[torch.Tensor], torch.Tensor]):
    """The structure with ``function`` applied to each tensor that has a sample dimension."""
    return apply_to_collection(data, torch.Tensor, lambda t: function(t) if t.dim() > 0 else t)


def take(data, rows) -> Any:
    """The samples ``rows`` (a boolean mask or indices) of every tensor of a structure."""
    return map_samples(data, lambda t: t[rows])


def head(data, n: int) -> Any:
    """The first ``n`` samples of a structure."""
    return map_samples(data, lambda t: t[:n])


def concat(parts: Sequence[Any]) -> Any:
    """One structure from several of the same shape, each tensor concatenated along samples."""
    if not parts:
        raise ValueError('nothing to concatenate')
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(list(parts))
    if isinstance(first, dict):
        return type(first)((key, concat([p[key] for p in parts])) for key in first)
    if isinstance(first, (tuple, list)):  # named tuples (an IndexedBatch) keep their type
        joined = [concat([p[i] for p in parts]) for i in range(len(first))]
        return type(first)(*joined) if hasattr(first, '_fields') else type(first)(joined)
    return first


def rank_batches(loader) -> Iterable[IndexedBatch]:
    """This rank's share of a pass over ``loader``, whose batches carry global sample indices: all
    of it where the loader is sharded already (an nni_cnas tensor loader, a torch DataLoader with a
    distributed sampler); else each rank keeps the samples whose index is its own modulo the world
    size, which splits the split exactly whatever order each rank's sampler draws."""
    from ..distributed import rank_and_world

    rank, world = rank_and_world()
    if world == 1 or getattr(loader, 'shard_of', (0, 1))[1] == world or \
            isinstance(getattr(loader, 'sampler', None), torch.utils.data.DistributedSampler):
        yield from loader
        return
    for batch in loader:
        mine = batch.index % world == rank
        yield IndexedBatch(take(batch.batch, mine), batch.index[mine])


def _describe(data) -> str:
    if isinstance(data, torch.Tensor):
        return f'a tensor of shape {tuple(data.shape)}'
    if isinstance(data, (tuple, list)):
        return f'a {type(data).__name__} of {len(data)}'
    return f'a {type(data).__name__}'
