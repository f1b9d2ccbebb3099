"""How many CPU threads a search uses, so that searches sharing a machine do not collapse.

PyTorch's OpenMP threads spin while they wait for work. Two processes that each run one thread
per core on the same cores slow each other down 8-46x (BENCHMARKS.md, "Threads"). The policy:

- OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE``) unless the user configured OpenMP
  (``OMP_WAIT_POLICY`` or ``OMP_NUM_THREADS`` set); it must be set before torch is imported, so the
  ``nni-cnas`` command sets it first thing;
- torch uses the cores this process may run on divided by the searches that share them
  (``share``: ``--jobs``, an nnictl experiment's concurrent trials), at least one;
- ``--threads N`` sets the count; ``--threads 0`` keeps torch's own default.
"""

from __future__ import annotations

import os
from typing import Optional

__all__ = ['prepare_environment', 'usable_cores', 'default_threads', 'apply_thread_policy']


def prepare_environment() -> None:
    """Passive OpenMP waits, unless the user configured OpenMP; call before torch is imported."""
    if 'OMP_WAIT_POLICY' not in os.environ and 'OMP_NUM_THREADS' not in os.environ:
        os.environ['OMP_WAIT_POLICY'] = 'PASSIVE'


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or ``taskset``'s share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(share: int = 1) -> int:
    return max(1, usable_cores() // max(1, share))


def apply_thread_policy(threads: Optional[int], share: int = 1) -> int:
    """Set torch's intra-op threads: ``threads``, or (None) the policy's count; 0 leaves torch's.
    Returns the count in force."""
    import torch

    if threads == 0:
        return torch.get_num_threads()
    count = threads if threads is not None else default_threads(share)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
