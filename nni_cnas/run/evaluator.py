"""The evaluator of a search: NNI's classification module with NATS-Bench's weight optimiser, and a
language-model module (token sequences) with DARTS' recurrent search settings.

NNI's ``Classification`` evaluator builds ``optimizer(params, lr, weight_decay)`` with no momentum
and no schedule. NATS-Bench's weight-sharing searches use SGD (momentum 0.9, Nesterov, weight decay
5e-4) with a cosine schedule from 0.025 to 0.001, updated every step; this module does that and is
otherwise NNI's ``ClassificationModule`` (same criterion, metrics and logged names).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Dict, List, Optional

import nni
import torch
import torch.nn as nn
import torch.nn.functional as F
from nni.nas.evaluator.pytorch import Lightning, Trainer
from nni.nas.evaluator.pytorch.lightning import ClassificationModule, SupervisedLearningModule
from pytorch_lightning.callbacks import Callback, Checkpoint

from ..strategies.ddp import SearchDDPStrategy

__all__ = ['SearchClassificationModule', 'LanguageModelModule', 'SequenceCrossEntropy', 'CosineToMin', 'ChannelsLast',
           'build_evaluator']


class CosineToMin:
    """Learning-rate factor of a cosine schedule over ``total`` steps, ending at ``min_factor``.

    ``total`` may be set after construction (before the first step): LambdaLR evaluates step 0
    at once, whose factor is 1 whatever the length.
    """

    def __init__(self, min_factor: float, total: Optional[int] = None):
        self.min_factor, self.total = min_factor, total

    def __call__(self, step: int) -> float:
        if step == 0:
            return 1.0
        if not self.total:
            raise RuntimeError('the cosine schedule needs its total number of steps before the first step')
        progress = min(step, self.total) / self.total
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


class _SearchOptimiser:
    """Mixin for NNI's supervised modules: SGD (momentum, Nesterov when there is momentum, weight
    decay) with a cosine schedule to ``eta_min`` updated every step (``eta_min == learning_rate``:
    a constant rate), and NNI's final report only when nobody else reports."""

    def _set_optimiser(self, momentum: float, nesterov: bool, eta_min: float) -> None:
        self.momentum, self.nesterov, self.eta_min = momentum, nesterov and momentum > 0, eta_min
        #: Off when the caller reports to NNI itself (an ``nni-cnas trial``), so a trial has one final result.
        self.nni_final_report = True

    def configure_optimizers(self):
        lr = self.hparams.learning_rate
        optimizer = torch.optim.SGD(self.parameters(), lr=lr, momentum=self.momentum,
                                    weight_decay=self.hparams.weight_decay, nesterov=self.nesterov)
        self._lr_factor = CosineToMin(self.eta_min / lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        return [optimizer], [{'scheduler': schedule, 'interval': 'step'}]

    def on_train_start(self):
        # The schedule's length is read here, not in configure_optimizers: asking Lightning for
        # estimated_stepping_batches there loads the train loader before a checkpoint's loader
        # positions are restored, and Lightning then never restores them (a resume mid-epoch
        # would replay the epoch's first batches).
        self._lr_factor.total = max(int(self.trainer.estimated_stepping_batches), 1)
        return super().on_train_start()

    def _final_report(self):
        # NNI's report (inside an NNI trial only) reads this fit's logged train/val metric. A search
        # resumed from the checkpoint of its last epoch runs no step and has none: it was reported
        # (or the trial died) before, so there is nothing new to report, rather than a KeyError.
        if not self.nni_final_report or nni.get_current_parameter() is None:
            return
        try:
            result = self._get_result_for_report()
        except KeyError:
            return
        nni.report_final_result(result)


@nni.trace
class SearchClassificationModule(_SearchOptimiser, ClassificationModule):
    def __init__(self, num_classes: int, learning_rate: float = 0.025, momentum: float = 0.9,
                 nesterov: bool = True, weight_decay: float = 5e-4, eta_min: float = 0.001):
        super().__init__(criterion=nn.CrossEntropyLoss, learning_rate=learning_rate, weight_decay=weight_decay,
                         optimizer=torch.optim.SGD, export_onnx=False, num_classes=num_classes)
        self._set_optimiser(momentum, nesterov, eta_min)


class SequenceCrossEntropy(nn.Module):
    """Token cross-entropy of next-token logits ``[B, T, V]`` against targets ``[B, T]``;
    ``reduction='none'`` gives ``[B, T]`` (a sequence's loss is then its mean)."""

    def __init__(self, reduction: str = 'mean'):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction='none')
        if self.reduction == 'none':
            return loss.view(targets.shape)
        return loss.sum() if self.reduction == 'sum' else loss.mean()


@nni.trace
class LanguageModelModule(_SearchOptimiser, SupervisedLearningModule):
    """NNI's supervised module for next-token prediction: token cross-entropy, perplexity as its
    metric. Defaults are DARTS' recurrent search: SGD at a constant 20, weight decay 5e-7."""

    #: Targets are token sequences: the search reports perplexity (exp of the mean token loss).
    sequence_task = True

    def __init__(self, learning_rate: float = 20.0, momentum: float = 0.0, weight_decay: float = 5e-7,
                 eta_min: Optional[float] = None):
        super().__init__(criterion=SequenceCrossEntropy, metrics={}, learning_rate=learning_rate,
                         weight_decay=weight_decay, optimizer=torch.optim.SGD, export_onnx=False)
        self._set_optimiser(momentum, False, learning_rate if eta_min is None else eta_min)

    def _get_result_for_report(self):
        stage = 'val' if self.trainer.val_dataloaders else 'train'
        return math.exp(self.trainer.callback_metrics[f'{stage}_loss'].item())


class ChannelsLast(Callback):
    """``--channels-last``: the supernet's 4-D weights in NHWC once it is on its device."""

    def on_fit_start(self, trainer, pl_module):
        pl_module.to(memory_format=torch.channels_last)


def build_evaluator(module, loaders: Dict[str, Any], *, max_epochs: int,
                    accelerator: str = 'auto', devices: Any = 1, num_nodes: int = 1, callbacks: Optional[List] = None,
                    progress_bar: bool = False, logger: Any = False, precision: str = '32',
                    collective_timeout: Optional[float] = None) -> Lightning:
    """NNI's Lightning evaluator around ``module``, on ``accelerator`` (GPU when there is one) and
    Lightning's ``devices`` (one, ``[I]`` for GPU I, or N processes per machine on ``num_nodes``
    machines: DDP without the wrapper, :mod:`nni_cnas.distributed`), with Lightning's
    ``precision`` of the training steps. ``collective_timeout`` (seconds) bounds how long a rank waits
    for the others (torch's default is 30 minutes)."""
    callbacks = list(callbacks or [])
    several = (devices if isinstance(devices, int) else len(devices)) * num_nodes > 1
    trainer = Trainer(
        max_epochs=max_epochs, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
        strategy=(SearchDDPStrategy(timeout=timedelta(seconds=collective_timeout)) if collective_timeout
                  else SearchDDPStrategy()) if several else 'auto', logger=logger, precision=precision,
        # Checkpoints only through a callback we pass (nni_cnas.run.checkpoint), never Lightning's default one.
        enable_checkpointing=any(isinstance(cb, Checkpoint) for cb in callbacks),
        enable_model_summary=False, enable_progress_bar=progress_bar, num_sanity_val_steps=0, callbacks=callbacks,
        log_every_n_steps=1,  # the per-epoch summary is logged within the epoch's last step
    )
    return Lightning(module, trainer, train_dataloaders=loaders['train'], val_dataloaders=loaders['val'])
