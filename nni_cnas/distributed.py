"""One search on several processes (Lightning's DDP): the collectives the search modules make.

Why not torch's ``DistributedDataParallel`` wrapper, as Lightning's ``ddp`` does: its reducer
expects one backward pass per forward, and a search step makes several (DARTS' architecture step
and weight step, DARTS-V2's and Amended-DARTS' hypergradients written to ``.grad`` after the
backward, ENAS' controller steps). Under the wrapper the hypergradient is never averaged, ENAS
crashes on undefined gradients and single-path searches fail on unused parameters. So the search
modules average the gradients themselves, right before each optimiser step
(:func:`average_gradients`), and :class:`nni_cnas.strategies.ddp.SearchDDPStrategy` is Lightning's
DDP strategy (process group, ranks, distributed samplers, rank-zero checkpoints and loggers)
without the wrapper.

Every helper here is a no-op in a single process.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Sequence

import torch

__all__ = ['is_distributed', 'rank_and_world', 'average_gradients', 'all_reduce_sum',
           'broadcast_tensors', 'broadcast_object', 'merge_max_seen']


def is_distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


def rank_and_world() -> tuple:
    """``(rank, world size)`` of the process group, ``(0, 1)`` without one."""
    if not is_distributed():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each parameter's ``.grad`` by its mean over the ranks, in one all-reduce. Every rank
    trains the same architecture each step, so the same parameters have gradients on every rank."""
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= torch.distributed.get_world_size()
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum each tensor over the ranks, in place."""
    if is_distributed():
        for tensor in tensors:
            torch.distributed.all_reduce(tensor)


def broadcast_tensors(tensors: Sequence[torch.Tensor]) -> None:
    """Rank 0's values of ``tensors`` on every rank, in place (one broadcast per dtype)."""
    if not is_distributed() or not tensors:
        return
    by_dtype = {}
    for tensor in tensors:
        by_dtype.setdefault(tensor.dtype, []).append(tensor)
    for dtype, group in by_dtype.items():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        if dtype == torch.bool:  # not every backend sends bool
            flat = flat.to(torch.uint8)
        torch.distributed.broadcast(flat, 0)
        offset = 0
        for tensor in group:
            with torch.no_grad():
                tensor.copy_(flat[offset:offset + tensor.numel()].view_as(tensor))
            offset += tensor.numel()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not is_distributed():
        return value
    box: List[Any] = [value]
    torch.distributed.broadcast_object_list(box, 0)
    return box[0]


def merge_max_seen(values: torch.Tensor, seen: torch.Tensor) -> None:
    """Combine per-sample state that each rank updated for its own samples: for every column, the
    values of the rank(s) that saw the sample most often (their mean where several did), in place.
    ``values`` is ``[R, N]``, ``seen`` is ``[N]`` (how often each sample was recorded)."""
    if not is_distributed():
        return
    most = seen.clone()
    torch.distributed.all_reduce(most, op=torch.distributed.ReduceOp.MAX)
    holder = (seen == most).to(values.dtype)
    values.mul_(holder)
    torch.distributed.all_reduce(values)
    torch.distributed.all_reduce(holder)
    values.div_(holder.clamp(min=1))
    seen.copy_(most)
