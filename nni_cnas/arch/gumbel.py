"""Hard Gumbel-softmax draws with straight-through gradients (GDAS' op choice, CLOSE's block gate)."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ['gumbel_noise', 'straight_through', 'straight_through_gumbel']


def gumbel_noise(logits: torch.Tensor) -> torch.Tensor:
    """Gumbel noise of ``logits``' shape. The exponential draw is kept off 0 (the only way the noise
    is infinite), so that no draw needs a check read back to the host (xautodl redraws instead)."""
    return -torch.empty_like(logits).exponential_().clamp_min(torch.finfo(logits.dtype).tiny).log()


def straight_through(logits: torch.Tensor, gumbels: torch.Tensor, tau: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The draw of ``logits`` with the noise ``gumbels``, along the last dimension: ``(weights, index)``,
    where ``weights`` is one-hot in value (``hard - soft.detach() + soft``) and carries the soft
    sample's gradient to every logit, as xautodl's GDAS draws."""
    probs = F.softmax((logits.log_softmax(dim=-1) + gumbels) / tau, dim=-1)
    index = probs.argmax(dim=-1)
    hard = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return hard - probs.detach() + probs, index


def straight_through_gumbel(logits: torch.Tensor, tau: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One hard Gumbel-softmax draw (:func:`straight_through` with fresh :func:`gumbel_noise`)."""
    return straight_through(logits, gumbel_noise(logits), tau)
