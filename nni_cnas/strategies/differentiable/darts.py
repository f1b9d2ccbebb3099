"""DARTS-V1 (first order) with the data curriculum: a drop-in for ``nni.nas.strategy.DARTS``."""

from __future__ import annotations

import contextlib
from typing import List

import nni.nas.strategy as nni_strategy
import torch
from nni.nas.oneshot.pytorch.differentiable import DartsLightningModule
from nni.nas.oneshot.pytorch.supermodule.differentiable import (
    DifferentiableMixedCell, DifferentiableMixedInput, DifferentiableMixedLayer, DifferentiableMixedRepeat,
)

from ...arch.supernet import (
    FixableDifferentiablePolicy, FixableMixedCell, FixableMixedInput, FixableMixedLayer, FixableMixedRepeat,
    alphas_on_host,
)
from ... import distributed
from ...arch.sampling import most_probable
from ..base import CurriculumStrategy, Sample, SearchModule

__all__ = ['DARTS', 'DartsModule']


class DartsModule(SearchModule, DartsLightningModule):
    """NNI's DARTS module with the curriculum's weight step. Top-K: the K most probable
    architectures under the softmax of the alphas (exact, without enumerating the space)."""

    def architecture_step(self, batch, batch_idx: int, train_batch=None) -> None:
        # As NNI's DartsLightningModule.training_step phase 1 (same order, same loss), unweighted.
        if self.warmup_epochs and self.current_epoch < self.warmup_epochs:
            return
        arc_optim = self.architecture_optimizers()
        self.resample()
        arc_optim.zero_grad()
        # Second-order terms (finite differences, double backward) stay in fp32 under any
        # --precision: eps = 0.01 / ||grad|| perturbations vanish in bf16 and fp16.
        with torch.autocast(self.device.type, enabled=False) if self.second_order else contextlib.nullcontext():
            self.architecture_gradient(batch, batch_idx, train_batch)
        # Under DDP each rank's gradient (hypergradient) is of its own batches: their mean, as DDP's.
        distributed.average_gradients(self.arch_parameters())
        arc_optim.step()

    #: Whether :meth:`architecture_gradient` takes second-order terms (then it runs without autocast).
    second_order = False

    def architecture_gradient(self, batch, batch_idx: int, train_batch) -> None:
        """Fill the alphas' ``.grad``. DARTS-V1: the gradient of the validation loss (plus NNI's
        penalty, if any); second-order algorithms override this."""
        loss = self.architecture_loss(batch, batch_idx)
        if self.penalty is not None:
            loss, details = self.penalty(loss, self.export_probs())
            self.log_dict({f'penalty/{k}': v for k, v in details.items()})
        self.check_finite(loss, 'architecture', batch_idx)
        self.manual_backward(loss)

    def architecture_loss(self, batch, batch_idx: int):
        return self.losses.step_loss(batch, 2 * batch_idx, self.summary.arch,
                                     forward=self.compiler.forward('architecture')).loss

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if batch_idx % self.log_prob_every_n_step == 0:
            self.log_probs(self.export_probs())
        return loss

    def export_probs(self):
        # NNI's own, with the alphas read back to the host once for all labels (arch.supernet).
        with alphas_on_host(self.arch_parameters()):
            return super().export_probs()

    def arch_parameters(self) -> List[torch.nn.Parameter]:
        # NNI returns list(set(...)), whose order changes from process to process: a resumed
        # search would restore Adam's state onto the wrong alphas. Same parameters, module order.
        unique = {}
        for module in self.supernet_modules():
            for parameter in getattr(module, 'arch_parameters', lambda: ())():
                unique.setdefault(id(parameter), parameter)
        return list(unique.values())

    def curriculum_subnets(self, k: int) -> List[Sample]:
        return self.most_probable(k)

    def most_probable(self, k: int, what: str = 'k') -> List[Sample]:
        """The K most probable architectures under the policy (exact; ``what`` names K in errors)."""
        probs = self.decisions.probabilities(self.export_probs())
        return [self.expand(decided) for _, decided in most_probable(probs, k, what)]

    def direct_export(self) -> Sample:
        # The most probable valid architecture: NNI's argmax per label where labels are the
        # decisions (NAS-Bench-201), DARTS' two-strongest-edges derivation on DARTS cells.
        return self.most_probable(1)[0]

    def current_architecture(self) -> Sample:
        return self.most_probable(1)[0]

    def policy(self):
        return self.export_probs()

    def weight_parameters(self) -> List[torch.nn.Parameter]:
        """The supernet weights, in the weight optimiser's order (NNI removes the alphas from it)."""
        return [p for group in self.weight_optimizer().param_groups for p in group['params']]

    def weight_optimizer(self) -> torch.optim.Optimizer:
        weight_optimizers = self.weight_optimizers()
        if len(weight_optimizers) != 1:
            raise ValueError(f'{type(self).__name__} needs exactly one weight optimiser, got {len(weight_optimizers)}')
        return getattr(weight_optimizers[0], 'optimizer', weight_optimizers[0])


class DARTS(CurriculumStrategy, nni_strategy.DARTS):
    """DARTS-V1 with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain DARTS.

    Accepts every argument of ``nni.nas.strategy.DARTS`` (``arc_learning_rate``,
    ``gradient_clip_val``, ``warmup_epochs``, ``penalty``, ...) and those of
    :class:`~nni_cnas.strategies.base.CurriculumStrategy` (``curriculum``, ``k``, ...).
    The architecture step is NNI's, on the unweighted validation loss; only the weight step is
    weighted.
    """

    module_class = DartsModule
    _replacements = {
        DifferentiableMixedLayer: FixableMixedLayer,
        DifferentiableMixedInput: FixableMixedInput,
        DifferentiableMixedCell: FixableMixedCell,
        DifferentiableMixedRepeat: FixableMixedRepeat,
    }

    def default_mutation_hooks(self):
        # NNI's own hook list, with its differentiable modules swapped for ones that can also run
        # a fixed architecture (nni_cnas.arch.supernet).
        replace = {cls.mutate: new.mutate for cls, new in self._replacements.items()}
        return [replace.get(hook, hook) for hook in super().default_mutation_hooks()]

    def run_hook(self, hook, name, module, memo):
        # NNI's DARTS.run_hook passes its differentiable policy of mixed operations to every hook;
        # ours is that policy with a fixed-architecture switch (nni_cnas.arch.supernet).
        def with_fixable_policy(module, name, memo, kwargs):
            return hook(module, name, memo, dict(kwargs, mixed_op_sampling=FixableDifferentiablePolicy))

        return super().run_hook(with_fixable_policy, name, module, memo)

    def module_kwargs(self):
        return dict(
            super().module_kwargs(),
            arc_learning_rate=self.arc_learning_rate,
            gradient_clip_val=self.gradient_clip_val,
            log_prob_every_n_step=self.log_prob_every_n_step,
            warmup_epochs=self.warmup_epochs,
            penalty=self.penalty,
        )
