"""ENAS (Pham et al., 2018) with the data curriculum, as NATS-Bench runs it on NAS-Bench-201.

Each training step trains the shared weights on one controller-sampled path. After each epoch the
controller is trained with REINFORCE on validation accuracy: ``controller_steps`` updates, each
averaging ``controller_aggregate`` sampled architectures, reward = accuracy + entropy_weight *
entropy, moving-average baseline, gradient norm clipped at 5, Adam(lr 1e-3, betas (0.5, 0.999),
eps 1e-3). Top-K = the first K controller samples; final = best of ``num_candidates`` samples.

NNI's own ``ENAS`` needs tianshou 0.4 and gym (undeclared by NNI) and used a PPO policy; it also
breaks on Lightning >= 2.1. This controller is small, has no extra dependency, is the REINFORCE
controller of the paper and of NATS-Bench, and keeps its state in Lightning checkpoints.
"""

from __future__ import annotations

import itertools
import random
from typing import List, Optional

import nni.nas.strategy as nni_strategy
import torch
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule

from ...arch.supernet import fixed_architecture
from ...progress import progress
from ..base import CurriculumStrategy, Sample
from ..losses import evaluation_mode
from ..registry import defaults
from .controller import LstmController
from .path import PathSamplingSearch

__all__ = ['ENAS', 'EnasModule']

_DEFAULTS = defaults('enas')


class EnasModule(PathSamplingSearch, RandomSamplingLightningModule):

    def __init__(self, training_module, *, ctrl_learning_rate: float = _DEFAULTS['ctrl_learning_rate'],
                 ctrl_eps: float = 1e-3, ctrl_weight_decay: float = 0.0,
                 controller_steps: int = _DEFAULTS['controller_steps'],
                 controller_aggregate: int = _DEFAULTS['controller_aggregate'],
                 baseline_decay: float = 0.99, entropy_weight: float = 1e-4, ctrl_grad_clip: float = 5.0,
                 warmup_epochs: int = 0, **kwargs):
        super().__init__(training_module, **kwargs)
        self.ctrl_learning_rate, self.ctrl_eps, self.ctrl_weight_decay = ctrl_learning_rate, ctrl_eps, ctrl_weight_decay
        self.controller_steps, self.controller_aggregate = controller_steps, controller_aggregate
        self.baseline_decay, self.entropy_weight, self.ctrl_grad_clip = baseline_decay, entropy_weight, ctrl_grad_clip
        self.warmup_epochs = warmup_epochs
        self.controller: Optional[LstmController] = None

    def set_model(self, model) -> None:
        super().set_model(model)
        self._cache.pop('decisions', None)
        self.controller = LstmController(self.options)

    def configure_architecture_optimizers(self):
        return torch.optim.Adam(self.controller.parameters(), lr=self.ctrl_learning_rate, betas=(0.5, 0.999),
                                eps=self.ctrl_eps, weight_decay=self.ctrl_weight_decay)

    def draw(self, rng: random.Random) -> Sample:
        was_training = self.controller.training
        self.controller.eval()
        try:
            return self.expand(self.controller.sample(rng))
        finally:
            self.controller.train(was_training)

    def top_k(self, k: int) -> List[Sample]:
        return [self.draw(self.curriculum_rng) for _ in range(k)]

    def export_candidates(self) -> List[Sample]:
        rng = self.candidate_rng()
        return [self.draw(rng) for _ in range(self.num_candidates)]

    def current_architecture(self) -> Sample:
        with torch.no_grad():
            return self.expand(self.controller(greedy=True)[2])

    def end_of_epoch(self) -> None:
        if self.current_epoch < self.warmup_epochs:
            return
        self.train_controller()

    def train_controller(self) -> None:
        """REINFORCE on validation batches, with the supernet in eval mode; the reward is
        validation accuracy (``80 / perplexity`` for a language model, as ENAS on PTB)."""
        optimizer = self.architecture_optimizers().optimizer
        controller = self.controller
        batches = itertools.cycle(self.loader('val'))
        rewards = []
        controller.train()
        optimizer.zero_grad()
        steps = self.controller_steps * self.controller_aggregate
        for step in progress(range(steps), self.progress_bar, 'ENAS controller', steps, 'sample'):
            x, y = self._device_batch(next(batches))[:2]
            log_prob, entropy, sample = controller(self.rng)
            with evaluation_mode(self.training_module), fixed_architecture(self.model, self.expand(sample)):
                quality = self.reward(self.training_module(x), y)
            reward = quality + self.entropy_weight * float(entropy.detach())
            baseline = controller.update_baseline(reward, self.baseline_decay)
            loss = -log_prob * (reward - baseline) / self.controller_aggregate
            loss.backward()
            rewards.append(reward)
            if (step + 1) % self.controller_aggregate == 0:
                torch.nn.utils.clip_grad_norm_(controller.parameters(), self.ctrl_grad_clip)
                optimizer.step()
                optimizer.zero_grad()
        if rewards:
            self.log('controller/reward', sum(rewards) / len(rewards))
            self.log('controller/baseline', float(controller.baseline))


class ENAS(CurriculumStrategy, nni_strategy.RandomOneShot):
    """ENAS with Curriculum-NAS; ``curriculum=None`` (or ``k=0``) is plain ENAS.

    Use it where ``nni.nas.strategy.ENAS`` is used; it needs no ``reward_metric_name`` (the reward
    is validation accuracy) and no tianshou. Controller options: ``ctrl_learning_rate``,
    ``controller_steps``, ``controller_aggregate`` (defaults in :mod:`nni_cnas.strategies.registry`),
    ``ctrl_eps`` (1e-3), ``ctrl_weight_decay`` (0), ``baseline_decay`` (0.99), ``entropy_weight`` (1e-4),
    ``warmup_epochs`` (0); ``gradient_clip_val`` clips the weight gradients' norm.
    """

    module_class = EnasModule
    needs_validation_batches = False
    _controller_options = ('ctrl_learning_rate', 'ctrl_eps', 'ctrl_weight_decay', 'controller_steps',
                           'controller_aggregate', 'baseline_decay', 'entropy_weight', 'warmup_epochs')

    def __init__(self, *, gradient_clip_val=None, **kwargs):
        own = {key: kwargs.pop(key) for key in self._controller_options if key in kwargs}
        super().__init__(**kwargs)
        self.gradient_clip_val = gradient_clip_val
        self.controller_options = own

    def module_kwargs(self):
        return dict(super().module_kwargs(), gradient_clip_val=self.gradient_clip_val, **self.controller_options)
