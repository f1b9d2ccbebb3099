"""Hard Gumbel-softmax draws with straight-through gradients (GDAS' op choice, CLOSE's block gate)."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ['straight_through_gumbel']


def straight_through_gumbel(logits: torch.Tensor, tau: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One Gumbel-softmax draw along the last dimension: ``(weights, index)``, where ``weights`` is
    one-hot in value (``hard - soft.detach() + soft``) and carries the soft sample's gradient to
    every logit, as xautodl's GDAS draws. xautodl redraws a non-finite draw; here the exponential
    draw is kept off 0 instead (the only way the Gumbel noise is infinite), so that no value is
    read back to the host."""
    gumbels = -torch.empty_like(logits).exponential_().clamp_min(torch.finfo(logits.dtype).tiny).log()
    probs = F.softmax((logits.log_softmax(dim=-1) + gumbels) / tau, dim=-1)
    index = probs.argmax(dim=-1)
    hard = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return hard - probs.detach() + probs, index
