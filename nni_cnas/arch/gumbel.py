"""Hard Gumbel-softmax draws with straight-through gradients (GDAS' op choice, CLOSE's block gate)."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ['straight_through_gumbel']


def straight_through_gumbel(logits: torch.Tensor, tau: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One Gumbel-softmax draw along the last dimension: ``(weights, index)``, where ``weights`` is
    one-hot in value (``hard - soft.detach() + soft``) and carries the soft sample's gradient to
    every logit, as xautodl's GDAS draws. Draws with a non-finite value are redrawn."""
    while True:
        gumbels = -torch.empty_like(logits).exponential_().log()
        probs = F.softmax((logits.log_softmax(dim=-1) + gumbels) / tau, dim=-1)
        if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
            break
    index = probs.argmax(dim=-1)
    hard = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return hard - probs.detach() + probs, index
