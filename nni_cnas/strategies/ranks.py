"""One search state on every DDP rank: what each part keeps equal across ranks is registered here
once, and shared from rank 0 when the fit starts; the supernet's buffers before each forward."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .. import distributed

__all__ = ['RankKeeper']


class RankKeeper:
    """Keeps the search's state equal across DDP's ranks. A stateful part registers its state with
    :meth:`share` (a getter and a setter); :meth:`start` gives every rank rank 0's values of all of
    them in one broadcast, whatever each process was seeded with. Nothing happens in a single process."""

    def __init__(self):
        self._shared: Dict[str, Tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self._buffers: Optional[List[torch.Tensor]] = None

    def share(self, name: str, get: Callable[[], Any], set: Callable[[Any], None]) -> None:
        """Register a state that every rank must hold as rank 0 does when the fit starts."""
        if name in self._shared:
            raise ValueError(f'a state named {name!r} is already shared across the ranks')
        self._shared[name] = (get, set)

    def start(self, buffers: List[torch.Tensor]) -> bool:
        """Rank 0's registered states on every rank; the supernet's ``buffers`` kept for
        :meth:`share_buffers`. Returns whether the search runs on several ranks."""
        if not distributed.is_distributed():
            return False
        names = list(self._shared)
        values = distributed.broadcast_object([self._shared[name][0]() for name in names])
        for name, value in zip(names, values):
            self._shared[name][1](value)
        self._buffers = buffers
        return True

    def share_buffers(self) -> None:
        """As DistributedDataParallel does before each forward: rank 0's buffers of the supernet
        (batch-norm statistics) on every rank, so that every rank holds one supernet."""
        if self._buffers is not None:
            distributed.broadcast_tensors(self._buffers)
