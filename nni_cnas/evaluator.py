"""The evaluator of a search: NNI's classification module with NATS-Bench's weight optimiser.

NNI's ``Classification`` evaluator builds ``optimizer(params, lr, weight_decay)`` with no momentum
and no schedule. NATS-Bench's weight-sharing searches use SGD (momentum 0.9, Nesterov, weight decay
5e-4) with a cosine schedule from 0.025 to 0.001, updated every step; this module does that and is
otherwise NNI's ``ClassificationModule`` (same criterion, metrics and logged names).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import nni
import torch
import torch.nn as nn
from nni.nas.evaluator.pytorch import Lightning, Trainer
from nni.nas.evaluator.pytorch.lightning import ClassificationModule

__all__ = ['SearchClassificationModule', 'CosineToMin', 'build_evaluator']


class CosineToMin:
    """Learning-rate factor of a cosine schedule over ``total`` steps, ending at ``min_factor``."""

    def __init__(self, total: int, min_factor: float):
        self.total, self.min_factor = max(int(total), 1), min_factor

    def __call__(self, step: int) -> float:
        progress = min(step, self.total) / self.total
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


@nni.trace
class SearchClassificationModule(ClassificationModule):
    def __init__(self, num_classes: int, learning_rate: float = 0.025, momentum: float = 0.9,
                 nesterov: bool = True, weight_decay: float = 5e-4, eta_min: float = 0.001):
        super().__init__(criterion=nn.CrossEntropyLoss, learning_rate=learning_rate, weight_decay=weight_decay,
                         optimizer=torch.optim.SGD, export_onnx=False, num_classes=num_classes)
        self.momentum, self.nesterov, self.eta_min = momentum, nesterov, eta_min

    def configure_optimizers(self):
        lr = self.hparams.learning_rate
        optimizer = torch.optim.SGD(self.parameters(), lr=lr, momentum=self.momentum,
                                    weight_decay=self.hparams.weight_decay, nesterov=self.nesterov)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, CosineToMin(self.trainer.estimated_stepping_batches, self.eta_min / lr))
        return [optimizer], [{'scheduler': schedule, 'interval': 'step'}]


def build_evaluator(module: SearchClassificationModule, loaders: Dict[str, Any], *, max_epochs: int,
                    accelerator: str = 'auto', callbacks: Optional[List] = None,
                    progress_bar: bool = False, logger: Any = False) -> Lightning:
    """NNI's Lightning evaluator around ``module``, on ``accelerator`` (GPU when there is one)."""
    trainer = Trainer(
        max_epochs=max_epochs, accelerator=accelerator, devices=1, logger=logger,
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=progress_bar,
        num_sanity_val_steps=0, callbacks=callbacks or [],
    )
    return Lightning(module, trainer, train_dataloaders=loaders['train'], val_dataloaders=loaders['val'])
