"""DARTS-V2 (second order, Liu et al., ICLR 2019) with the data curriculum.

NNI 3.0's ``DARTS`` strategy is first order only (NNI 2's unrolled trainer is gone), so the
unrolled architecture gradient is ours. It follows xautodl's NATS-Bench implementation
(``backward_step_unrolled``): one virtual SGD step of the weights with the weight optimiser's
learning rate, momentum and weight decay, then ``grad_a L_val(w', a) - lr * [grad_a L_train(w+, a) -
grad_a L_train(w-, a)] / (2 eps)`` with ``w+- = w +- eps grad_w' L_val(w', a)``, ``eps = 0.01 / ||grad||``.
The weights are swapped in place and restored exactly; the network is never copied.
"""

from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import torch

from .hypergradient import finite_difference_product, grads_or_zeros, perturbed
from .darts import DARTS, DartsModule

__all__ = ['DARTSV2', 'DartsV2Module', 'unrolled_gradient']


class DartsV2Module(DartsModule):
    """DARTS with the unrolled (second-order) architecture gradient.

    The virtual step uses the *unweighted* training loss, as the authors' released code does: the
    curriculum reweights the real weight step only.
    """

    def __init__(self, training_module, *, finite_difference_r: float = 0.01, **kwargs):
        super().__init__(training_module, **kwargs)
        self.finite_difference_r = finite_difference_r

    def virtual_step(self, train_batch) -> Tuple[List[torch.nn.Parameter], List[torch.Tensor]]:
        """The weights and their values after one SGD step on the unweighted training loss:
        ``w - lr * (momentum * buffer + grad + weight_decay * w)`` per parameter group."""
        optimizer = self.weight_optimizer()
        weights, stepped = [], []
        grads = grads_or_zeros(self.losses.plain_loss(train_batch), self.weight_parameters())
        position = 0
        with torch.no_grad():
            for group in optimizer.param_groups:
                lr, momentum = group['lr'], group.get('momentum', 0.0)
                weight_decay = group.get('weight_decay', 0.0)
                for weight in group['params']:
                    step = grads[position] + weight_decay * weight
                    buffer = optimizer.state.get(weight, {}).get('momentum_buffer')
                    if momentum and buffer is not None:
                        step = step + momentum * buffer
                    weights.append(weight)
                    stepped.append(weight - lr * step)
                    position += 1
        return weights, stepped

    def learning_rates(self) -> List[float]:
        return [group['lr'] for group in self.weight_optimizer().param_groups for _ in group['params']]

    second_order = True

    def architecture_gradient(self, batch, batch_idx: int, train_batch) -> None:
        if train_batch is None:
            raise RuntimeError('DARTS-V2 needs the training batch for its virtual step')
        alphas = self.arch_parameters()
        weights, stepped = self.virtual_step(train_batch)

        def val_loss():
            loss = self.architecture_loss(batch, batch_idx)
            self.check_finite(loss, 'architecture', batch_idx)
            return loss

        grads = unrolled_gradient(val_loss, lambda: self.losses.plain_loss(train_batch), weights, alphas, stepped,
                                  self.learning_rates(), self.finite_difference_r)
        for alpha, grad in zip(alphas, grads):
            alpha.grad = grad


def unrolled_gradient(val_loss_fn: Callable[[], torch.Tensor], train_loss_fn: Callable[[], torch.Tensor],
                      weights: Sequence[torch.Tensor], alphas: Sequence[torch.Tensor],
                      stepped: Sequence[torch.Tensor], learning_rates: Sequence[float], r: float = 0.01) -> List[torch.Tensor]:
    """DARTS-V2's architecture gradient: ``grad_a L_val(w', a) - [d/da (grad_w L_train(w, a) . lr v)]``
    with ``v = grad_w' L_val(w', a)``, the mixed product by central differences.

    ``stepped`` holds ``w'``, the weights after the virtual step; ``learning_rates`` one rate per
    weight (``d w'/d a = -lr d2 L_train / dw da``; one scalar in the paper, per parameter group here).
    The weights are back at ``w`` on return.
    """
    originals = [w.detach().clone() for w in weights]
    with perturbed(weights, originals):
        with torch.no_grad():
            for weight, value in zip(weights, stepped):
                weight.copy_(value)
        grads = grads_or_zeros(val_loss_fn(), list(alphas) + list(weights))
    direct, v = grads[:len(alphas)], grads[len(alphas):]
    vector = [lr * g for lr, g in zip(learning_rates, v)]
    implicit = finite_difference_product(train_loss_fn, weights, alphas, vector, r=r)
    return [d - i for d, i in zip(direct, implicit)]


class DARTSV2(DARTS):
    """DARTS-V2 (second-order DARTS) with Curriculum-NAS; ``curriculum=None`` is plain DARTS-V2.

    Same arguments as :class:`~nni_cnas.DARTS` (except ``penalty``), plus ``finite_difference_r``
    (0.01: the perturbation is ``r / ||grad||``).
    """

    module_class = DartsV2Module

    def __init__(self, *, finite_difference_r: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        if self.penalty is not None:
            raise ValueError('DARTS-V2 does not support NNI penalties; use the first-order DARTS strategy')
        if not finite_difference_r > 0:
            raise ValueError(f'finite_difference_r must be positive, got {finite_difference_r}')
        self.finite_difference_r = finite_difference_r

    def module_kwargs(self):
        return dict(super().module_kwargs(), finite_difference_r=self.finite_difference_r)
