"""Second-order pieces of the architecture gradient: Hessian-vector products, exact and by finite
differences, with in-place weight perturbation (no copy of the network).

Notation: ``L(w, a)`` a loss of the weights ``w`` and the architecture parameters ``a``;
``H = d2L/dw2``; ``B v = d/da (dL/dw . v)`` the mixed product (what DARTS-V2 and Amended-DARTS need).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, List, Optional, Sequence

import torch

from ..registry import HVP_METHODS

__all__ = ['HVP_METHODS', 'grads_or_zeros', 'perturbed', 'finite_difference_product', 'differentiable_grads', 'product_of_grads',
           'exact_mixed_product']

Tensors = List[torch.Tensor]

#: How second-order products are taken: double backward, or central finite differences.


def grads_or_zeros(output: torch.Tensor, inputs: Sequence[torch.Tensor], **kwargs) -> Tensors:
    """``torch.autograd.grad`` with zeros for inputs the output does not depend on (a pruned op,
    an edge whose ``none`` op won: their gradient is zero, not missing)."""
    grads = torch.autograd.grad(output, list(inputs), allow_unused=True, **kwargs)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]


def _norm(vector: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((v.detach().double() ** 2).sum() for v in vector))


@contextlib.contextmanager
def perturbed(weights: Sequence[torch.Tensor], originals: Sequence[torch.Tensor]) -> Iterator[None]:
    """Inside the block the weights hold whatever the caller writes into them; afterwards their
    saved values come back exactly (a copy, not ``+ eps v - eps v``, which rounds)."""
    try:
        yield
    finally:
        with torch.no_grad():
            for weight, original in zip(weights, originals):
                weight.copy_(original)


def finite_difference_product(loss_fn: Callable[[], torch.Tensor], weights: Sequence[torch.Tensor],
                              wrt: Sequence[torch.Tensor], vector: Sequence[torch.Tensor],
                              r: float = 0.01) -> Tensors:
    """``d/d(wrt) (dL/dw . v)`` by central differences, as DARTS does:
    ``[grad_wrt L(w + eps v) - grad_wrt L(w - eps v)] / (2 eps)`` with ``eps = r / ||v||``.

    With ``wrt`` the architecture parameters this is DARTS-V2's mixed product; with ``wrt = weights``
    it is the Hessian-vector product ``H v``. A zero vector gives zeros.

    ``eps`` stays a device tensor (no host read): a zero vector's huge ``eps`` moves nothing (``eps * 0``),
    so both losses are equal and the product is 0 without a branch on the norm.
    """
    eps = r / _norm(vector).clamp_min(torch.finfo(torch.float32).tiny)  # finite in fp32 too
    originals = [w.detach().clone() for w in weights]
    with perturbed(weights, originals):
        with torch.no_grad():
            for w, v in zip(weights, vector):
                w.add_(v * eps.to(w.dtype))
        plus = grads_or_zeros(loss_fn(), wrt)
        with torch.no_grad():
            for w, original, v in zip(weights, originals, vector):
                w.copy_(original).sub_(v * eps.to(w.dtype))
        minus = grads_or_zeros(loss_fn(), wrt)
    return [(p - m) / (2 * eps).to(p.dtype) for p, m in zip(plus, minus)]


def differentiable_grads(loss: torch.Tensor, weights: Sequence[torch.Tensor]) -> List[Optional[torch.Tensor]]:
    """``dL/dw`` with its graph kept, for products by double backward."""
    return list(torch.autograd.grad(loss, list(weights), create_graph=True, allow_unused=True))


def product_of_grads(grads: Sequence[Optional[torch.Tensor]], wrt: Sequence[torch.Tensor],
                     vector: Sequence[torch.Tensor], retain_graph: bool = False) -> Tensors:
    """``d/d(wrt) (grads . v)`` for ``grads`` from :func:`differentiable_grads`."""
    pairs = [(g, v) for g, v in zip(grads, vector) if g is not None and g.requires_grad]
    if not pairs:
        return [torch.zeros_like(x) for x in wrt]
    dot = sum((g * v.detach()).sum() for g, v in pairs)
    return grads_or_zeros(dot, wrt, retain_graph=retain_graph)


def exact_mixed_product(loss: torch.Tensor, weights: Sequence[torch.Tensor], wrt: Sequence[torch.Tensor],
                        vector: Sequence[torch.Tensor]) -> Tensors:
    """``d/d(wrt) (dL/dw . v)`` by double backward; ``wrt = weights`` gives ``H v``."""
    return product_of_grads(differentiable_grads(loss, weights), wrt, vector)
