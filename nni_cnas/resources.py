"""What this process may still allocate, on the CPU or a GPU, and byte counts as people read them."""

from __future__ import annotations

import resource

__all__ = ['available_bytes', 'format_bytes']


def format_bytes(count: float) -> str:
    for unit, scale in (('TB', 1e12), ('GB', 1e9), ('MB', 1e6)):
        if count >= scale:
            return f'{count / scale:.1f} {unit}'
    return f'{count / 1e3:.0f} kB'


def available_bytes(device) -> int:
    """Memory this process can still take: the GPU's free memory, or the machine's available
    memory (capped by an address-space limit such as ``ulimit -v``)."""
    import torch

    if getattr(device, 'type', device) == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    available = psutil.virtual_memory().available
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        available = min(available, max(soft - psutil.Process().memory_info().vms, 0))
    return int(available)
