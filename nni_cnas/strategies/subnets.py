"""What K subnets do with the supernet's shared weights: on one batch, or over the training split
with each batch's outputs reduced per sample. The curriculum's measures are its clients: they get
the outputs (:class:`~nni_cnas.curriculum.measures.SubnetOutputs`) and compute their own quantity."""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
from nni.mutable import Sample

from .. import distributed
from ..arch.supernet import fixed_architecture
from ..curriculum.measures import Reduce, SubnetOutputs, loss_sums
from ..data.batches import rank_batches, unpack
from ..progress import progress
from .loaders import loader_length
from .losses import evaluation_mode

__all__ = ['SubnetRunner']


class SubnetRunner:
    """Runs lists of architectures in evaluation mode. ``module`` is the search module: its ``model``,
    ``losses``, ``curriculum`` (the passes' precision), ``loader('train')`` and ``device``."""

    def __init__(self, module):
        self.module = module

    def outputs(self, archs: Sequence[Sample], batch) -> SubnetOutputs:
        """``[K, B]`` per-sample losses of a batch under each architecture and, for a classifier,
        ``[K, B, C]`` logits and the targets."""
        module = self.module
        bf16 = module.curriculum.uses_bf16(module.device)
        with evaluation_mode(module), torch.autocast(module.device.type, dtype=torch.bfloat16, enabled=bf16):
            losses, logits, targets = [], [], None
            for arch in archs:
                with fixed_architecture(module.model, arch):
                    loss, out, targets = module.losses.subnet_output(batch, bf16)
                    losses.append(loss)
                    if out is not None:
                        logits.append(out)
        classifier = (bool(logits) and logits[0].dim() == 2 and targets is not None and targets.dim() == 1
                      and not torch.is_floating_point(targets))  # class indices, not a regression's targets
        return SubnetOutputs(torch.stack(losses), torch.stack(logits) if classifier else None,
                             targets if classifier else None)

    def over_split(self, archs: Sequence[Sample], num_samples: int,
                   reduce: Reduce = loss_sums) -> Tuple[torch.Tensor, torch.Tensor]:
        """One pass over the training split, each batch through ``archs``, reduced per sample by
        ``reduce``: ``(sums, counts)`` of ``num_samples`` samples over the split (all ranks' under
        DDP; default: the losses' sums, Eq. 10's)."""
        module = self.module
        sums = torch.zeros(num_samples, device=module.device, dtype=torch.float64)
        counts = torch.zeros(num_samples, device=module.device, dtype=torch.float64)
        loader = module.loader('train')
        batches = rank_batches(loader)  # under DDP each rank passes over its share
        for batch in progress(batches, module.progress_bar, f'uncertainty pass (K={len(archs)})', loader_length(loader), 'batch'):
            batch, index = unpack(module.device_batch(batch))
            if len(index) == 0:
                continue
            values, seen = reduce(self.outputs(archs, batch))
            index = index.to(module.device)
            sums.index_add_(0, index, values.to(torch.float64))
            counts.index_add_(0, index, seen.to(torch.float64))
        distributed.all_reduce_sum(sums, counts)  # sample indices are global: the sums of the whole split
        return sums, counts
