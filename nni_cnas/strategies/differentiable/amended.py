"""Amended-DARTS (Bi et al., "Stabilizing DARTS with amended gradient estimation on architectural
parameters", 2019) with the data curriculum.

At the optimum of the weights, ``dL_val/da = grad_a L_val - B H^-1 grad_w L_val`` with ``H`` the
Hessian of ``L_train`` in ``w`` and ``B = d2 L_train / da dw``. DARTS-V1 drops the second term;
Amended-DARTS replaces ``H^-1`` by ``eta * H``:

    g = grad_a L_val(w, a) - eta * B (H grad_w L_val(w, a))

Both products are taken by double backward (``hvp='exact'``) or by central finite differences
(``hvp='finite-difference'``, for supernets whose ops have no second derivative).

The paper's Eq. 8 states that the amended term has a non-negative inner product with the true
one. That holds when ``H`` is a multiple of the identity (or ``w`` is one number), not for every
positive definite ``H``: ``tests/test_hypergradient.py`` shows both.
"""

from __future__ import annotations

import warnings
from typing import Callable, List, Optional, Sequence

import torch

from .hypergradient import (
    HVP_METHODS, differentiable_grads, finite_difference_product, grads_or_zeros, product_of_grads,
)
from ..registry import defaults
from .darts import DARTS, DartsModule

__all__ = ['AmendedDARTS', 'AmendedDartsModule', 'amended_gradient']

_DEFAULTS = defaults('amended-darts')


class DoubleBackwardUnavailable(RuntimeError):
    """An op of the space has no double backward in torch (``hardsigmoid``, in MobileNetV3), so the
    exact Hessian-vector products cannot be taken."""


def _amended_term(train_loss_fn, weights, alphas, g, hvp: str, r: float) -> List[torch.Tensor]:
    """``B (H g)``: the mixed second derivative of the training loss times its Hessian times ``g``."""
    if hvp == 'exact':
        try:
            train_grads = differentiable_grads(train_loss_fn(), weights)
            hg = product_of_grads(train_grads, weights, g, retain_graph=True)
            return product_of_grads(train_grads, alphas, hg)
        except RuntimeError as error:
            if 'not implemented' in str(error):
                raise DoubleBackwardUnavailable(str(error).splitlines()[0]) from error
            raise
    hg = finite_difference_product(train_loss_fn, weights, weights, g, r=r)
    return finite_difference_product(train_loss_fn, weights, alphas, hg, r=r)


def amended_gradient(val_loss: torch.Tensor, train_loss_fn: Callable[[], torch.Tensor],
                     weights: Sequence[torch.Tensor], alphas: Sequence[torch.Tensor], eta: float,
                     hvp: str = _DEFAULTS['hvp'], r: float = 0.01,
                     on_fallback: Optional[Callable[[DoubleBackwardUnavailable], None]] = None) -> List[torch.Tensor]:
    """``grad_a L_val - eta * B (H grad_w L_val)`` at the current weights (see the module docstring).
    ``train_loss_fn`` recomputes the unweighted training loss (finite differences call it four times).
    Where exact products are impossible, ``on_fallback`` (if given) is told and finite differences
    are taken instead."""
    if hvp not in HVP_METHODS:
        raise ValueError(f'hvp must be one of {HVP_METHODS}, got {hvp!r}')
    grads = grads_or_zeros(val_loss, list(alphas) + list(weights))
    direct, g = grads[:len(alphas)], grads[len(alphas):]
    try:
        amended = _amended_term(train_loss_fn, weights, alphas, g, hvp, r)
    except DoubleBackwardUnavailable as error:
        if on_fallback is None:
            raise
        on_fallback(error)
        amended = _amended_term(train_loss_fn, weights, alphas, g, 'finite-difference', r)
    return [d - eta * a for d, a in zip(direct, amended)]


class AmendedDartsModule(DartsModule):
    """DARTS whose architecture gradient carries the amended second-order term. Its training loss
    (inside the term) is unweighted, as DARTS-V2's virtual step: the curriculum reweights the weight
    step only."""

    def __init__(self, training_module, *, eta: float = _DEFAULTS['eta'], hvp: str = _DEFAULTS['hvp'], **kwargs):
        super().__init__(training_module, **kwargs)
        self.eta, self.hvp = eta, hvp

    second_order = True

    def architecture_gradient(self, batch, batch_idx: int, train_batch) -> None:
        if train_batch is None:
            raise RuntimeError('Amended-DARTS needs the training batch for its second-order term')
        alphas = self.arch_parameters()
        val_loss = self.architecture_loss(batch, batch_idx)
        self.check_finite(val_loss, 'architecture', batch_idx)
        grads = amended_gradient(val_loss, lambda: self.losses.plain_loss(train_batch), self.weight_parameters(), alphas,
                                 self.eta, self.hvp, on_fallback=self._finite_differences_from_now_on)
        for alpha, grad in zip(alphas, grads):
            alpha.grad = grad


    def _finite_differences_from_now_on(self, error: DoubleBackwardUnavailable) -> None:
        warnings.warn(f'Amended-DARTS: exact Hessian-vector products are impossible on this space ({error}); '
                      'taking finite differences from now on (hvp="finite-difference")')
        self.hvp = 'finite-difference'


class AmendedDARTS(DARTS):
    """Amended-DARTS with Curriculum-NAS; ``curriculum=None`` is plain Amended-DARTS.

    Same arguments as :class:`~nni_cnas.DARTS` (except ``penalty``), plus ``eta`` (0.1) and ``hvp``
    (``'exact'``: double backward; ``'finite-difference'``).
    """

    module_class = AmendedDartsModule

    def __init__(self, *, eta: float = _DEFAULTS['eta'], hvp: str = _DEFAULTS['hvp'], **kwargs):
        super().__init__(**kwargs)
        if self.penalty is not None:
            raise ValueError('Amended-DARTS does not support NNI penalties; use the first-order DARTS strategy')
        if hvp not in HVP_METHODS:
            raise ValueError(f'hvp must be one of {HVP_METHODS}, got {hvp!r}')
        if not eta >= 0:
            raise ValueError(f'eta must be >= 0, got {eta}')
        self.eta, self.hvp = eta, hvp

    def module_kwargs(self):
        return dict(super().module_kwargs(), eta=self.eta, hvp=self.hvp)
