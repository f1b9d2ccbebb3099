"""The weight step's optimiser: NNI's ``advance_optimization`` (Lightning 2) with the gradients
averaged over DDP's ranks between the backward pass and the clipping, where DistributedDataParallel
would average them; NNI's has no hook there, so the step is ours."""

from __future__ import annotations

from .. import distributed

__all__ = ['weight_optimizers', 'step_weight_optimizer']


def weight_optimizers(module) -> list:
    """Lightning's optimisers of a one-shot module but the architecture's (NNI marks those ``is_arch_optimizer``)."""
    optimizers = module.optimizers()
    optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
    return [opt for opt in optimizers if not getattr(opt, 'is_arch_optimizer', False)]


def step_weight_optimizer(module, loss, batch_idx: int, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
    """Backward, average the gradients over the ranks, clip and step the one weight optimiser (as NNI requires one)."""
    optimizers = weight_optimizers(module)
    if not module.training_module.automatic_optimization:
        raise ValueError('Evaluator module with manual optimization is not compatible with one-shot algorithms.')
    if len(optimizers) != 1:
        raise ValueError('More than one optimizer returned by evaluator. This is not supported in NAS.')
    optimizer = optimizers[0]
    module.training_module.optimizer_zero_grad(module.trainer.current_epoch, batch_idx, optimizer)
    module.manual_backward(loss)
    distributed.average_gradients(p for group in optimizer.param_groups for p in group['params'])
    module.training_module.configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
    module.training_module.optimizer_step(module.trainer.current_epoch, batch_idx, optimizer)
    module._optimizer_progress += 1  # NNI's counter of manual steps
